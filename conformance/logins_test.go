package conformance

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// bindMountsEnv makes TestMain a launcher: in the private mount namespace
// it was started in, it bind-mounts each "SRC=DST" line's file over DST,
// then executes its arguments. The server it runs sees the test's files
// at the machine's paths (/etc/shells, /etc/ftpusers), and nothing else
// on the machine does.
const bindMountsEnv = "FTPDTLS_TEST_BIND_MOUNTS"

// bindMountsAndExec is the launcher; it returns only on failure.
func bindMountsAndExec(spec string) int {
	for _, l := range strings.Split(spec, "\n") {
		src, dst, _ := strings.Cut(l, "=")
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			fmt.Fprintf(os.Stderr, "bind %s over %s: %v\n", src, dst, err)
			return 2
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, bindMountsEnv+"=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], env)
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", os.Args[1], err)
	return 2
}

// loginServer is a server of TestLoginChecksMatchProFTPD.
type loginServer struct {
	name, addr, sysLog string
	out                *cliLog
}

// startWithFiles runs argv, a server listening on addr, with the files
// of mounts ("SRC=DST" lines) bind-mounted in its own mount namespace,
// and waits until it greets.
func startWithFiles(t *testing.T, name, addr, sysLog, mounts string, argv ...string) *loginServer {
	t.Helper()
	s := &loginServer{name: name, addr: addr, sysLog: sysLog, out: &cliLog{}}
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: append([]string{"bind-mounts"}, argv...), Dir: "/"}
	cmd.Env = append(os.Environ(), bindMountsEnv+"="+mounts)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// Its own mount namespace (made private by os/exec).
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	exited := testpeers.StartGroup(t, cmd, name, 30*time.Second, nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			_, _, err := textproto.NewReader(bufio.NewReader(c)).ReadResponse(220)
			c.Close()
			if err == nil {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before serving:\n%s", name, s.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve on %s:\n%s", name, addr, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// login logs user in with password on a connection of its own and
// returns PASS's reply.
func (s *loginServer) login(t *testing.T, user, password string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("%s: greeting: %v", s.name, err)
	}
	for _, cmd := range []string{"USER " + user, "PASS " + password} {
		if err := tp.PrintfLine("%s", cmd); err != nil {
			t.Fatal(err)
		}
		code, msg, err := tp.ReadResponse(0)
		if code == 0 {
			t.Fatalf("%s: %s: %v", s.name, strings.Fields(cmd)[0], err)
		}
		if strings.HasPrefix(cmd, "PASS") {
			tp.PrintfLine("QUIT")
			return fmt.Sprintf("%d %s", code, msg)
		}
	}
	return ""
}

// loginFailed matches mod_auth's log line for a refused login.
var loginFailed = regexp.MustCompile(`(?m)USER (\S+) \(Login failed\): (.*)$`)

// failures waits until the server's SystemLog has n refused logins and
// returns their reasons by user.
func (s *loginServer) failures(t *testing.T, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(s.sysLog)
		if m := loginFailed.FindAllStringSubmatch(string(b), -1); len(m) >= n {
			out := map[string]string{}
			for _, x := range m {
				out[x[1]] = x[2]
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d refused logins logged:\n%s\n%s", s.name, n, b, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLoginChecksMatchProFTPD: after the password, ProFTPD 1.3.8 checks
// the user's shell against /etc/shells (RequireValidShell, on by default:
// whole lines, not getusershell(3)'s reading) and the user's name against
// /etc/ftpusers (UseFtpUsers, on by default). Given the same files,
// bind-mounted over the machine's for both servers, ftpdtls serve and the
// real proftpd let in and refuse the same users, with the same reply and
// the same logged reason; with both directives off, both let everyone in.
func TestLoginChecksMatchProFTPD(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if os.Geteuid() != 0 {
		if testpeers.Required() {
			t.Fatal("bind-mounting /etc/shells and /etc/ftpusers for the servers needs root, and FTPDTLS_REQUIRE_PEERS=1 requires it")
		}
		t.Skip("skipping: bind-mounting /etc/shells and /etc/ftpusers for the servers needs root")
	}
	for _, f := range []string{authfile.ShellsPath, authfile.FtpUsersPath} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: %v (a file is bind-mounted over it)", err)
		}
	}
	bin := cliBinary(t)
	dir := t.TempDir()
	rcPrepareDir(t, dir)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Lines that glibc's getusershell(3) would read as /bin/indented,
	// /bin/commented and /bin/junk; ProFTPD compares whole lines.
	shells := write("shells", "# test shells\n/bin/sh\n  /bin/indented\n/bin/commented # a comment\njunk/bin/junk\n/bin/crlf\r\n", 0o644)
	ftpusers := write("ftpusers", "# test ftpusers\n\n  banned\ntrailing \n#hashed\nboth\n", 0o644)
	users := []struct{ name, shell string }{
		{"plain", "/bin/sh"},
		{"false", "/bin/false"},
		{"indented", "/bin/indented"},
		{"commented", "/bin/commented"},
		{"junk", "/bin/junk"},
		{"crlf", "/bin/crlf"},
		{"noshell", ""},
		{"banned", "/bin/sh"},
		{"trailing", "/bin/sh"},
		{"hashed", "/bin/sh"},
		{"both", "/bin/false"}, // the shell is checked first
	}
	password := authfile.RandomString(12)
	var passwd strings.Builder
	for _, u := range users {
		hash, err := authfile.SHA512Crypt(password, "$6$"+authfile.RandomString(16))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&passwd, "%s:%s:65534:65534:login checks:%s:%s\n", u.name, hash, home, u.shell)
	}
	// ProFTPD refuses a world-readable AuthUserFile.
	userFile := write("ftpd.passwd", passwd.String(), 0o600)
	mounts := shells + "=" + authfile.ShellsPath + "\n" + ftpusers + "=" + authfile.FtpUsersPath

	for _, sc := range []struct{ name, lines string }{
		{"defaults", ""},
		{"off", "RequireValidShell off\nUseFtpUsers off\n"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			var servers []*loginServer
			for _, name := range []string{"proftpd", "ftpdtls"} {
				sdir := filepath.Join(dir, sc.name+"-"+name)
				if err := os.Mkdir(sdir, 0o755); err != nil {
					t.Fatal(err)
				}
				addr := freeAddr(t)
				_, port, _ := net.SplitHostPort(addr)
				sysLog := filepath.Join(sdir, "system.log")
				text := fmt.Sprintf("ServerName \"login checks\"\nDefaultAddress 127.0.0.1\nPort %s\nSystemLog %s\nTransferLog none\nWtmpLog off\nUseReverseDNS off\nAuthOrder mod_auth_file.c\nAuthUserFile %s\n%s",
					port, sysLog, userFile, sc.lines)
				argv := []string{bin, "serve", "-workers", "1", "-c", filepath.Join(sdir, "proftpd.conf")}
				if name == "proftpd" {
					text = fmt.Sprintf("ServerType standalone\nSocketBindTight on\nUseIPv6 off\nUser nobody\nGroup nogroup\n"+
						"PidFile %[1]s/proftpd.pid\nScoreboardFile %[1]s/proftpd.scoreboard\nDelayTable %[1]s/proftpd.delay\n"+
						"<IfModule mod_delay.c>\n  DelayEngine off\n</IfModule>\n<IfModule mod_ident.c>\n  IdentLookups off\n</IfModule>\n", sdir) + text
					argv = []string{proftpd, "-n", "-q", "-c", filepath.Join(sdir, "proftpd.conf")}
				} else {
					text += "DelayEngine off\n"
				}
				if err := os.WriteFile(filepath.Join(sdir, "proftpd.conf"), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				servers = append(servers, startWithFiles(t, name, addr, sysLog, mounts, argv...))
			}
			replies := map[string][]string{}
			refused := make([]int, len(servers))
			for _, u := range users {
				for i, s := range servers {
					r := s.login(t, u.name, password)
					replies[u.name] = append(replies[u.name], r)
					if strings.HasPrefix(r, "530") {
						refused[i]++
					}
				}
			}
			reasons := []map[string]string{servers[0].failures(t, refused[0]), servers[1].failures(t, refused[1])}
			for _, u := range users {
				r := replies[u.name]
				if r[0][:3] != r[1][:3] || reasons[0][u.name] != reasons[1][u.name] {
					t.Errorf("%s (shell %q): proftpd %q, logged %q; ftpdtls %q, logged %q",
						u.name, u.shell, r[0], reasons[0][u.name], r[1], reasons[1][u.name])
				}
			}
			// What ProFTPD did, so that a change of the peer shows.
			want := map[string]string{}
			if sc.lines == "" {
				want = map[string]string{
					"false": "Invalid shell: '/bin/false'", "indented": "Invalid shell: '/bin/indented'",
					"commented": "Invalid shell: '/bin/commented'", "junk": "Invalid shell: '/bin/junk'",
					"noshell": "Invalid shell: ''", "banned": "User in /etc/ftpusers", "both": "Invalid shell: '/bin/false'",
				}
			}
			if fmt.Sprint(reasons[0]) != fmt.Sprint(want) {
				t.Errorf("proftpd refused %v, want %v", reasons[0], want)
			}
		})
	}
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
