package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/privsep"
)

// Identities of the privilege tests: an FTP user that exists nowhere but
// in the AuthUserFile, and a group of the AuthGroupFile.
const (
	aliceUID, aliceGID, staffGID = 54321, 54322, 54323
	nobodyID                     = 65534
)

// writeConf writes a configuration file into dir.
func writeConf(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrivilegeSeparation: started as root, workers run as nobody/nogroup
// for good, every session's files are handled with the AuthUserFile
// entry's uid, gid and AuthGroupFile groups, and a uid 0 entry cannot log
// in.
func TestPrivilegeSeparation(t *testing.T) {
	requireRoot(t)
	dir := worldDir(t)
	home := filepath.Join(dir, "alice")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, aliceUID, aliceGID); err != nil {
		t.Fatal(err)
	}
	// A root-owned 0600 file in the user's home, and a directory the
	// user's uid cannot write.
	if err := os.WriteFile(filepath.Join(home, "root-only"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(home, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ftpd.group"), []byte(fmt.Sprintf("staff:x:%d:bob,alice\n", staffGID)), 0o600); err != nil {
		t.Fatal(err)
	}
	users := writeUsers(t, dir,
		ftpUser{"alice", "alice-pw", aliceUID, aliceGID, home},
		ftpUser{"toor", "toor-pw", 0, 0, home})
	conf := writeConf(t, dir, fmt.Sprintf("ServerName \"privsep\"\nAuthUserFile %s\nRequireValidShell off\nAuthGroupFile %s/ftpd.group\nDefaultRoot ~\n", users, dir))
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 2})
	d.waitLog(`notice: no User/Group configured: workers serve as nobody/nogroup`)

	// The workers have dropped to nobody/nogroup for good, in every
	// thread, and cannot gain privileges.
	workers := d.workerPIDs()
	if len(workers) != 2 {
		t.Fatalf("%d workers running, want 2", len(workers))
	}
	for _, pid := range workers {
		st := procStatus(t, pid)
		for _, id := range append(st.Uid[:], st.Gid[:]...) {
			if id != nobodyID {
				t.Errorf("worker %d: uids %v gids %v, want all %d", pid, st.Uid, st.Gid, nobodyID)
				break
			}
		}
		if !slices.Equal(st.Groups, []uint32{nobodyID}) || privsep.NoNewPrivsAllThreads() && !st.NoNewPrivs {
			t.Errorf("worker %d: groups %v, no_new_privs %v", pid, st.Groups, st.NoNewPrivs)
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, task := range tasks {
			if st, err := readStatus(task); err == nil && (st.Uid[0] != nobodyID || st.Uid[1] != nobodyID || st.Uid[2] != nobodyID) {
				t.Errorf("worker %d thread %s: uids %v", pid, task, st.Uid)
			}
		}
	}

	f := dialFTP(t, d.addr)
	if g := f.greeting(); !strings.Contains(g, "(privsep)") {
		t.Fatalf("greeting %q", g)
	}
	f.login("alice", "alice-pw")
	if code, msg, b := f.retr("root-only"); code != 550 || len(b) > 0 {
		t.Errorf("RETR of a root-owned 0600 file: %d %s (%q), want 550", code, msg, b)
	}
	if code, msg := f.stor("upload.txt", []byte("uploaded by alice\n")); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(home, "upload.txt"), &st); err != nil || st.Uid != aliceUID || st.Gid != aliceGID {
		t.Errorf("uploaded file owned by %d:%d (%v), want %d:%d", st.Uid, st.Gid, err, aliceUID, aliceGID)
	}
	if code, msg := f.stor("ro/x.txt", []byte("x")); code != 550 {
		t.Errorf("STOR into a directory alice cannot write: %d %s, want 550", code, msg)
	}
	if code, msg := f.cmd("MKD ro/sub"); code != 550 {
		t.Errorf("MKD in a directory alice cannot write: %d %s, want 550", code, msg)
	}
	if _, err := os.Stat(filepath.Join(ro, "x.txt")); err == nil {
		t.Error("a file appeared in the directory alice cannot write")
	}
	// DefaultRoot ~: the session cannot leave the home.
	f.expect(250, "CWD ../..")
	if msg := f.expect(257, "PWD"); !strings.HasPrefix(msg, `"/"`) {
		t.Errorf("PWD after CWD ../..: %s", msg)
	}
	if code, _, b := f.retr("/root-only"); code == 226 || len(b) > 0 {
		t.Errorf("RETR /root-only: %d", code)
	}

	// The user's broker has exactly the entry's identity.
	brokers := d.brokerPIDs()
	if len(brokers) != 1 {
		t.Fatalf("%d brokers, want 1", len(brokers))
	}
	bst := procStatus(t, brokers[0])
	if err := bst.Is(credOf(aliceUID, aliceGID, aliceGID, staffGID)); err != nil {
		t.Errorf("broker: %v", err)
	}

	// RootLogin is off: an entry with uid 0 is refused.
	r := dialFTP(t, d.addr)
	r.greeting()
	r.expect(331, "USER toor")
	if code, msg := r.cmd("PASS toor-pw"); code != 530 || msg != "Login incorrect." {
		t.Errorf("login of a uid 0 entry: %d %s, want 530 Login incorrect.", code, msg)
	}
	d.waitLog(`SECURITY VIOLATION: Root login attempted`)
	for _, pid := range d.brokerPIDs() {
		if st := procStatus(t, pid); st.Uid[0] == 0 || st.Uid[1] == 0 {
			t.Errorf("broker %d runs as root", pid)
		}
	}
	f.expect(221, "QUIT")
	d.signal(syscall.SIGTERM)
	if code, err := d.exit(); code != 0 {
		t.Fatalf("exit status %d (%v) after SIGTERM", code, err)
	}
}

// TestRootLoginOn: with RootLogin on, ProFTPD lets a uid 0 entry log in
// (with a warning); its broker is then the only process that acts as
// root for a session.
func TestRootLoginOn(t *testing.T) {
	requireRoot(t)
	dir := worldDir(t)
	home := filepath.Join(dir, "root-home")
	os.Mkdir(home, 0o700)
	os.WriteFile(filepath.Join(home, "root-only"), []byte("secret"), 0o600)
	users := writeUsers(t, dir, ftpUser{"toor", "toor-pw", 0, 0, home})
	conf := writeConf(t, dir, fmt.Sprintf("AuthUserFile %s\nRequireValidShell off\nDefaultRoot ~\nRootLogin on\n", users))
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1})
	f := dialFTP(t, d.addr)
	f.greeting()
	f.login("toor", "toor-pw")
	f.expect(200, "TYPE I")
	if code, msg, b := f.retr("root-only"); code != 226 || string(b) != "secret" {
		t.Errorf("RETR as a RootLogin user: %d %s %q", code, msg, b)
	}
	d.waitLog(`warning: ROOT FTP login successful`)
	brokers := d.brokerPIDs()
	if len(brokers) != 1 || procStatus(t, brokers[0]).Uid[1] != 0 {
		t.Errorf("brokers %v: want one, as root", brokers)
	}
	for _, pid := range d.workerPIDs() {
		if procStatus(t, pid).Uid[1] == 0 {
			t.Errorf("worker %d runs as root", pid)
		}
	}
}
