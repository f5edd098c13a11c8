package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
)

// loginModes are the two ways serve checks passwords: the master for its
// workers (whose sessions log the master's reason), and a single process.
var loginModes = []struct {
	name string
	to   testOptions
}{
	{"workers", testOptions{Workers: 1}},
	{"single", testOptions{InProcess: true}},
}

// shellUsers writes an AuthUserFile of users with the given shells (the
// passwords are the names with "-pw"), all served by whoever runs the
// test (sessionUser's uid and home).
func shellUsers(t *testing.T, dir string, shells map[string]string) string {
	t.Helper()
	u := sessionUser(t, dir)
	var b strings.Builder
	for name, shell := range shells {
		line, err := authfile.LineFor(name, name+"-pw", u.uid, u.gid, u.home)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.TrimSuffix(line, "/bin/false") + shell + "\n")
	}
	path := filepath.Join(dir, "ftpd.passwd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tryLogin logs name in with its password and returns PASS's reply code.
func tryLogin(t *testing.T, d *daemonProc, name string) int {
	t.Helper()
	f := dialFTP(t, d.addr)
	f.greeting()
	f.expect(331, "USER %s", name)
	code, msg := f.cmd("PASS %s-pw", name)
	if code != 230 && (code != 530 || msg != "Login incorrect.") {
		t.Errorf("PASS for %s: %d %s, want 230 or 530 Login incorrect.", name, code, msg)
	}
	f.cmd("QUIT")
	f.c.Close()
	return code
}

// waitLoginFailed waits for the session's log line of ProFTPD's words.
func waitLoginFailed(d *daemonProc, user, reason string) {
	d.t.Helper()
	d.waitLog(`(?m)\(127\.0\.0\.1\[127\.0\.0\.1\]\): ` + regexp.QuoteMeta(fmt.Sprintf("USER %s (Login failed): %s", user, reason)) + `$`)
}

// TestRequireValidShell: without the directive (ProFTPD's default on), a
// user whose AuthUserFile shell is not a line of /etc/shells is refused
// with ProFTPD's reply and log line; a listed shell logs in; the file is
// read at every login; RequireValidShell off logs everyone in.
func TestRequireValidShell(t *testing.T) {
	for _, mode := range loginModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := worldDir(t)
			shells := filepath.Join(dir, "shells")
			// What the machine's /etc/shells says is not read: bob's shell
			// is listed only here, alice's /bin/false is not, and
			// " /bin/indented" does not list /bin/indented.
			if err := os.WriteFile(shells, []byte("# test shells\n/bin/sh\n/opt/ftponly/bin/shell\n /bin/indented\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ftpusers := filepath.Join(dir, "ftpusers")
			if err := os.WriteFile(ftpusers, []byte("root\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			users := shellUsers(t, dir, map[string]string{"alice": "/bin/false", "bob": "/opt/ftponly/bin/shell", "carol": "/bin/indented"})
			to := mode.to
			to.Shells, to.FtpUsers = shells, ftpusers

			to.ConfigPath = writeConf(t, dir, fmt.Sprintf("ServerName \"shells\"\nAuthUserFile %s\n", users))
			d := startDaemon(t, to)
			if code := tryLogin(t, d, "alice"); code != 530 {
				t.Errorf("alice, shell /bin/false not listed: %d, want 530", code)
			}
			waitLoginFailed(d, "alice", "Invalid shell: '/bin/false'")
			if code := tryLogin(t, d, "carol"); code != 530 {
				t.Errorf("carol, shell listed only with a leading blank: %d, want 530", code)
			}
			waitLoginFailed(d, "carol", "Invalid shell: '/bin/indented'")
			if code := tryLogin(t, d, "bob"); code != 230 {
				t.Errorf("bob, shell listed: %d, want 230", code)
			}
			// Read at every login: listing /bin/false lets alice in
			// without a reload.
			if err := os.WriteFile(shells, []byte("/bin/false\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if code := tryLogin(t, d, "alice"); code != 230 {
				t.Errorf("alice, once /bin/false is listed: %d, want 230", code)
			}
			if code := tryLogin(t, d, "bob"); code != 530 {
				t.Errorf("bob, once his shell is no longer listed: %d, want 530", code)
			}
			waitLoginFailed(d, "bob", "Invalid shell: '/opt/ftponly/bin/shell'")
			// Without the file, every shell is accepted (ProFTPD cannot
			// open it and checks nothing).
			if err := os.Remove(shells); err != nil {
				t.Fatal(err)
			}
			if code := tryLogin(t, d, "carol"); code != 230 {
				t.Errorf("carol without a shells file: %d, want 230", code)
			}
			d.kill()

			if err := os.WriteFile(shells, []byte("/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			to.ConfigPath = writeConf(t, dir, fmt.Sprintf("ServerName \"shells\"\nAuthUserFile %s\nRequireValidShell off\n", users))
			d = startDaemon(t, to)
			for _, name := range []string{"alice", "bob", "carol"} {
				if code := tryLogin(t, d, name); code != 230 {
					t.Errorf("%s with RequireValidShell off: %d, want 230", name, code)
				}
			}
			if strings.Contains(d.log.String(), "Invalid shell") {
				t.Errorf("RequireValidShell off, yet a shell was refused:\n%s", d.log)
			}
		})
	}
}

// TestUseFtpUsers: without the directive (ProFTPD's default on), a user
// named by a line of /etc/ftpusers is refused with ProFTPD's reply and
// log line, after the shell check; UseFtpUsers off does not read it.
func TestUseFtpUsers(t *testing.T) {
	for _, mode := range loginModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := worldDir(t)
			shells := filepath.Join(dir, "shells")
			if err := os.WriteFile(shells, []byte("/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ftpusers := filepath.Join(dir, "ftpusers")
			// Leading blanks are skipped, trailing ones are not, and
			// comments name nobody.
			if err := os.WriteFile(ftpusers, []byte("# banned\n\n  carol\ndave \n#alice\nerin\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			users := shellUsers(t, dir, map[string]string{"alice": "/bin/sh", "carol": "/bin/sh", "dave": "/bin/sh", "erin": "/bin/false"})
			to := mode.to
			to.Shells, to.FtpUsers = shells, ftpusers

			to.ConfigPath = writeConf(t, dir, fmt.Sprintf("ServerName \"ftpusers\"\nAuthUserFile %s\n", users))
			d := startDaemon(t, to)
			if code := tryLogin(t, d, "carol"); code != 530 {
				t.Errorf("carol, in the ftpusers file: %d, want 530", code)
			}
			waitLoginFailed(d, "carol", "User in /etc/ftpusers")
			// The shell is checked first.
			if code := tryLogin(t, d, "erin"); code != 530 {
				t.Errorf("erin, in the ftpusers file with an unlisted shell: %d, want 530", code)
			}
			waitLoginFailed(d, "erin", "Invalid shell: '/bin/false'")
			for _, name := range []string{"alice", "dave"} {
				if code := tryLogin(t, d, name); code != 230 {
					t.Errorf("%s, not in the ftpusers file: %d, want 230", name, code)
				}
			}
			// Read at every login.
			if err := os.WriteFile(ftpusers, []byte("alice\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if code := tryLogin(t, d, "alice"); code != 530 {
				t.Errorf("alice, once in the ftpusers file: %d, want 530", code)
			}
			waitLoginFailed(d, "alice", "User in /etc/ftpusers")
			if code := tryLogin(t, d, "carol"); code != 230 {
				t.Errorf("carol, once out of the ftpusers file: %d, want 230", code)
			}
			d.kill()

			to.ConfigPath = writeConf(t, dir, fmt.Sprintf("ServerName \"ftpusers\"\nAuthUserFile %s\nUseFtpUsers off\n", users))
			d = startDaemon(t, to)
			if code := tryLogin(t, d, "alice"); code != 230 {
				t.Errorf("alice with UseFtpUsers off: %d, want 230", code)
			}
			if strings.Contains(d.log.String(), "User in /etc/ftpusers") {
				t.Errorf("UseFtpUsers off, yet a user was refused:\n%s", d.log)
			}
		})
	}
}

// TestLoginShellAndFtpUsersErrors: RequireValidShell and UseFtpUsers are
// on without the directives, off when written so (in <Global> too), and
// a refusal is ErrLoginIncorrect whose text is ProFTPD's reason alone.
func TestLoginShellAndFtpUsersErrors(t *testing.T) {
	dir := t.TempDir()
	opsUsers(t, dir) // alice, shell /bin/false
	shells := filepath.Join(dir, "shells")
	ftpusers := filepath.Join(dir, "ftpusers")
	os.WriteFile(shells, []byte("/bin/sh\n"), 0o644)
	os.WriteFile(ftpusers, []byte("alice\n"), 0o644)
	login := func(text string) error {
		t.Helper()
		cfg := parseOps(t, dir, "AuthUserFile %{env:DIR}/ftpd.passwd\n"+text)
		policy, errs := access.Compile(cfg, cfg.Main)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		db, err := loadUserDB(cfg, policy, identity{Privileged: true}, logrus.New())
		if err != nil {
			t.Fatal(err)
		}
		if db.shells != authfile.ShellsPath || db.ftpUsers != authfile.FtpUsersPath {
			t.Errorf("files %s and %s, want /etc/shells and /etc/ftpusers", db.shells, db.ftpUsers)
		}
		db.shells, db.ftpUsers = shells, ftpusers
		_, err = db.login("alice", "alice-pw", nil)
		return err
	}
	for _, tc := range []struct{ text, want string }{
		{"", "Invalid shell: '/bin/false'"},
		{"RequireValidShell on\n", "Invalid shell: '/bin/false'"},
		{"RequireValidShell off\n", "User in /etc/ftpusers"},
		{"<Global>\nRequireValidShell off\n</Global>\n", "User in /etc/ftpusers"},
		{"RequireValidShell off\nUseFtpUsers on\n", "User in /etc/ftpusers"},
		{"RequireValidShell off\nUseFtpUsers off\n", ""},
		{"UseFtpUsers off\n", "Invalid shell: '/bin/false'"},
	} {
		err := login(tc.text)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want a login", tc.text, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want || !errors.Is(err, ftpd.ErrLoginIncorrect)):
			t.Errorf("%q: %v, want ErrLoginIncorrect saying %q", tc.text, err, tc.want)
		}
	}
}
