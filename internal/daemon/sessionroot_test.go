package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
)

// daemonModes are the ways serve runs sessions: as root, the brokers of
// privilege separation (workers=1); started by an ordinary user, in one
// process (workers=0) or in workers (workers=2). As root the ordinary
// user is alice.
type daemonMode struct {
	name    string
	cred    *syscall.Credential
	workers int
}

func daemonModes(t *testing.T) (modes []daemonMode, uid, gid uint32) {
	uid, gid = uint32(os.Getuid()), uint32(os.Getgid())
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		modes = append(modes, daemonMode{"root/workers=1", nil, 1})
		uid, gid = aliceUID, aliceGID
		cred = &syscall.Credential{Uid: uid, Gid: gid}
	}
	modes = append(modes, daemonMode{"unprivileged/workers=0", cred, 0}, daemonMode{"unprivileged/workers=2", cred, 2})
	return modes, uid, gid
}

// TestDefaultRootUnusable: a DefaultRoot the user cannot use (here one
// that does not exist) refuses the login as ProFTPD does: its three log
// lines, "530 Login incorrect." and the end of the connection.
func TestDefaultRootUnusable(t *testing.T) {
	modes, uid, gid := daemonModes(t)
	dir := worldDir(t)
	home := filepath.Join(dir, "alice")
	os.Mkdir(home, 0o755)
	os.Chown(home, int(uid), int(gid))
	users := writeUsers(t, dir, ftpUser{"alice", "alice-pw", uid, gid, home})
	os.Chown(users, int(uid), int(gid))
	conf := writeConf(t, dir, fmt.Sprintf("ServerName \"defaultroot\"\nAuthUserFile %s\nRequireValidShell off\nDefaultRoot ~/missing\n", users))
	os.Chmod(conf, 0o644)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			d := launchDaemonAs(t, m.cred, testOptions{ConfigPath: conf, Workers: m.workers})
			d.waitReady()
			f := dialFTP(t, d.addr)
			f.greeting()
			f.expect(331, "USER alice")
			if code, msg := f.cmd("PASS alice-pw"); code != 530 || msg != "Login incorrect." {
				t.Fatalf("PASS: %d %s", code, msg)
			}
			if _, err := bufioLine(f); err == nil {
				t.Error("the connection stayed open after the refused DefaultRoot")
			}
			q := regexp.QuoteMeta
			d.waitLog(q("notice: unable to use DefaultRoot '~/missing/' [resolved to '" + home + "/missing/']: No such file or directory"))
			d.waitLog(q("chroot to '~/missing/' failed for user 'alice': No such file or directory"))
			d.waitLog(q("error: unable to set DefaultRoot directory"))
		})
	}
}

// TestDirectoryTildeFromAuthUserFile: <Directory ~name> is resolved with
// the AuthUserFile's home of name (ProFTPD asks its authentication
// modules), in every process model: a user the system does not know.
func TestDirectoryTildeFromAuthUserFile(t *testing.T) {
	modes, uid, gid := daemonModes(t)
	dir := worldDir(t)
	alice := ftpUser{"alice", "alice-pw", uid, gid, filepath.Join(dir, "alice")}
	other := ftpUser{"ftpdtls-nobody-knows", "x-pw", uid, gid, filepath.Join(dir, "other")}
	for _, h := range []string{alice.home, other.home} {
		os.Mkdir(h, 0o777)
		os.Chmod(h, 0o777)
	}
	users := writeUsers(t, dir, alice, other)
	os.Chown(users, int(uid), int(gid))
	conf := writeConf(t, dir, fmt.Sprintf("ServerName \"tilde\"\nAuthUserFile %s\nRequireValidShell off\n<Directory ~%s>\n  <Limit STOR>\n    DenyAll\n  </Limit>\n</Directory>\n", users, other.name))
	os.Chmod(conf, 0o644)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			d := launchDaemonAs(t, m.cred, testOptions{ConfigPath: conf, Workers: m.workers})
			d.waitReady()
			f := dialFTP(t, d.addr)
			f.greeting()
			f.login("alice", "alice-pw")
			name := strings.ReplaceAll(m.name, "/", "-")
			if code, msg := f.stor(filepath.Join(other.home, name), []byte("x")); code != 550 {
				t.Errorf("STOR in ~%s under <Limit STOR> DenyAll: %d %s", other.name, code, msg)
			}
			if code, msg := f.stor(filepath.Join(alice.home, name), []byte("x")); code != 226 {
				t.Errorf("STOR in alice's home: %d %s", code, msg)
			}
		})
	}
}

// TestLoadReportsEveryAccessError: serve refuses a configuration with
// every access-control line it cannot apply, as CheckServe (and so
// `ftpdtls check`) reports them, not only the first.
func TestLoadReportsEveryAccessError(t *testing.T) {
	dir := worldDir(t)
	users := writeUsers(t, dir, sessionUser(t, dir))
	conf := writeConf(t, dir, fmt.Sprintf("ServerName \"access\"\nAuthUserFile %s\nRequireValidShell off\n<Limit SYST>\n  DenyAll\n</Limit>\n<Limit TYPE>\n  DenyAll\n</Limit>\n", users))
	log := logrus.New()
	log.Out = io.Discard
	c, err := Load(conf, "", log)
	if c != nil {
		c.Close()
	}
	if err == nil {
		t.Fatal("Load accepted <Limit SYST> and <Limit TYPE>")
	}
	for _, want := range []string{"<Limit SYST>", "<Limit TYPE>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load's error does not name %s:\n%v", want, err)
		}
	}
	cfg, perr := Parse(conf, "")
	if perr != nil {
		t.Fatal(perr)
	}
	errs, _ := CheckServe(cfg)
	for _, e := range errs {
		if !strings.Contains(err.Error(), e.Error()) {
			t.Errorf("CheckServe reports %q, Load does not:\n%v", e, err)
		}
	}
}
