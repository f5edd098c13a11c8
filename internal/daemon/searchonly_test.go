package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSearchOnlyHomeNotRoot: started by an ordinary user (every session
// acts as that user, in the daemon's own processes), a home under a
// directory the user may search but not read works, with and without
// DefaultRoot, with workers and without: upload, download, listing. As
// root the daemon runs as alice and the directory is root's (0711);
// otherwise the directory is the user's own without read permission
// (0311). The privilege-separated path (brokers) is
// servetest.TestSearchOnlyHome.
func TestSearchOnlyHomeNotRoot(t *testing.T) {
	dir := worldDir(t)
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var cred *syscall.Credential
	mode := os.FileMode(0o311)
	if os.Geteuid() == 0 {
		uid, gid = aliceUID, aliceGID
		cred = &syscall.Credential{Uid: uid, Gid: gid}
		mode = 0o711
	}
	outer := filepath.Join(dir, "outer")
	home := filepath.Join(outer, "alice")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, int(uid), int(gid))
	if err := os.WriteFile(filepath.Join(home, "f.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(home, "f.txt"), int(uid), int(gid))
	if err := os.Chmod(outer, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(outer, 0o755) })
	users := writeUsers(t, dir, ftpUser{"alice", "alice-pw", uid, gid, home})
	os.Chown(users, int(uid), int(gid)) // the daemon runs as alice
	for _, defaultRoot := range []bool{false, true} {
		for _, workers := range []int{0, 2} {
			t.Run(fmt.Sprintf("DefaultRoot=%v/workers=%d", defaultRoot, workers), func(t *testing.T) {
				extra := ""
				if defaultRoot {
					extra = "DefaultRoot ~\n"
				}
				conf := writeConf(t, dir, fmt.Sprintf("ServerName \"searchonly\"\nAuthUserFile %s\nRequireValidShell off\n%s", users, extra))
				os.Chmod(conf, 0o644)
				d := launchDaemonAs(t, cred, testOptions{ConfigPath: conf, Workers: workers})
				d.waitReady()
				f := dialFTP(t, d.addr)
				f.greeting()
				f.login("alice", "alice-pw")
				name := fmt.Sprintf("up-%v-%d.txt", defaultRoot, workers)
				if code, msg := f.stor(name, []byte("uploaded")); code != 226 {
					t.Fatalf("STOR: %d %s\n%s", code, msg, d.log)
				}
				if b, err := os.ReadFile(filepath.Join(home, name)); err != nil || string(b) != "uploaded" {
					t.Fatalf("uploaded file: %q, %v", b, err)
				}
				if code, msg, b := f.retr("f.txt"); code != 226 || string(b) != "hello" {
					t.Fatalf("RETR: %d %s %q", code, msg, b)
				}
				dc := f.pasv()
				f.expect(150, "NLST")
				list, _ := io.ReadAll(dc)
				dc.Close()
				if code, msg := f.reply(); code != 226 {
					t.Fatalf("NLST: %d %s", code, msg)
				}
				if !strings.Contains(string(list), "f.txt\r\n") || !strings.Contains(string(list), name+"\r\n") {
					t.Errorf("NLST: %q", list)
				}
				d.signal(syscall.SIGTERM)
				if code, err := d.exit(); code != 0 {
					t.Fatalf("exit status %d (%v)", code, err)
				}
			})
		}
	}
}
