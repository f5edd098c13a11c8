// Package servetest runs `ftpdtls serve` as a user would, for end-to-end
// tests: it builds the ftpdtls binary once per test binary, writes a
// proftpd.conf with one user, a served home directory and (optionally) a
// throwaway certificate, starts the daemon on 127.0.0.1 with the number
// of workers asked for, and gives a line-level FTP client that shows every
// reply and can close data connections the ways real clients do.
//
// The shortest use, in a _test.go file of any package:
//
//	func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		d := servetest.Start(t, servetest.Options{Workers: 2, TLS: true})
//		c := d.Dial(t)
//		c.AuthTLS(tls.VersionTLS13)
//		c.Login()
//		c.Stor("f.txt", []byte("data"))
//	}
//
// Started as root, the daemon's master and workers are root and nobody,
// and the user is uid/gid 65534 (so that its files are handled with those
// rights); otherwise everything runs as the invoking user. Everything a
// daemon made is removed when the test ends, and the daemon is stopped
// (SIGTERM, then SIGKILL if it does not stop within a minute).
package servetest

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// Deadline bounds every wait: generous, so that a loaded machine does not
// fail a test, while a hang still does.
const Deadline = 60 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Binary returns the path of an ftpdtls binary built from this source
// tree, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ftpdtls-servetest-")
		if buildErr != nil {
			return
		}
		// The directory must be searchable by the workers' user (they
		// re-execute the binary).
		os.Chmod(buildDir, 0o755)
		buildBin = filepath.Join(buildDir, "ftpdtls")
		cmd := exec.Command("go", "build", "-o", buildBin, "github.com/ftpdtls/ftpdtls/cmd/ftpdtls")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Main runs the tests and removes the binary Binary built. Use it from
// TestMain: os.Exit(servetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Cleanup removes the binary Binary built (for a TestMain that runs the
// tests some other way).
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Options describe a daemon.
type Options struct {
	// Workers is serve's -workers.
	Workers int
	// TLS turns mod_tls on (TLSRequired on, TLS 1.2 and 1.3, a
	// throwaway certificate, data connections resuming the control
	// connection's session, TLSLog in Dir/tls.log).
	TLS bool
	// Conf is appended to the generated configuration. "%[1]s" in it is
	// the daemon's directory (Dir).
	Conf string
	// NoFile, if not 0, is the daemon's descriptor limit (RLIMIT_NOFILE).
	NoFile int
	// Grace is serve's -grace, if not 0.
	Grace time.Duration
	// NoDefaultRoot leaves out "DefaultRoot ~": the session's root is the
	// real "/" and it starts in the home.
	NoDefaultRoot bool
}

// Daemon is one running `ftpdtls serve`.
type Daemon struct {
	Addr string // 127.0.0.1:port
	Dir  string // configuration, certificate, logs (xferlog, tls.log)
	Home string // the user's home, which is their root
	Conf string // the proftpd.conf

	User, Pass string
	Uid, Gid   int
	// Roots trusts the daemon's certificate (TLS).
	Roots *x509.CertPool
	// Log is what the daemon wrote to its stdout and stderr.
	Log *syncbuf.Buffer

	cmd    *exec.Cmd
	waited chan error
	once   sync.Once
	err    error
}

// Start writes the configuration and starts the daemon; it returns once
// the daemon greets clients.
func Start(t testing.TB, opt Options) *Daemon {
	t.Helper()
	d := &Daemon{Dir: t.TempDir(), Log: &syncbuf.Buffer{}}
	searchable(t, d.Dir)
	d.writeUser(t)
	port := freePort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", port)
	var conf strings.Builder
	fmt.Fprintf(&conf, "ServerName \"servetest\"\nDefaultAddress 127.0.0.1\nPort %s\n", port)
	// The user's shell is /bin/false: an FTP-only account, as operators
	// write it.
	fmt.Fprintf(&conf, "AuthUserFile %[1]s/ftpd.passwd\nAuthGroupFile %[1]s/ftpd.group\nRequireValidShell off\n", d.Dir)
	if !opt.NoDefaultRoot {
		conf.WriteString("DefaultRoot ~\n")
	}
	fmt.Fprintf(&conf, "TransferLog %s/xferlog\n", d.Dir)
	if opt.TLS {
		cert := testpki.SelfSigned(testpki.ECDSA)
		cert.WriteFiles(t, d.Dir, "server")
		d.Roots = cert.Roots()
		fmt.Fprintf(&conf, "TLSEngine on\nTLSRequired on\nTLSProtocol TLSv1.2 TLSv1.3\n"+
			"TLSECCertificateFile %[1]s/server.pem\nTLSECCertificateKeyFile %[1]s/server.key\nTLSLog %[1]s/tls.log\n", d.Dir)
	}
	if opt.Conf != "" {
		conf.WriteString(strings.ReplaceAll(opt.Conf, "%[1]s", d.Dir))
		conf.WriteString("\n")
	}
	d.Conf = filepath.Join(d.Dir, "proftpd.conf")
	if err := os.WriteFile(d.Conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start(t, opt)
	return d
}

// start runs the binary and waits for its greeting.
func (d *Daemon) start(t testing.TB, opt Options) {
	t.Helper()
	args := []string{"serve", "-c", d.Conf, "-workers", fmt.Sprint(opt.Workers)}
	if opt.Grace > 0 {
		args = append(args, "-grace", opt.Grace.String())
	}
	bin := Binary(t)
	if opt.NoFile > 0 {
		// The shell's ulimit sets both limits; exec keeps the pid.
		args = append([]string{"-c", fmt.Sprintf("ulimit -n %d && exec \"$0\" \"$@\"", opt.NoFile), bin}, args...)
		bin = "/bin/sh"
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.Log, d.Log
	orphanGuard(d.cmd)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.waited = make(chan error, 1)
	go func() { d.waited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("ftpdtls serve: %v\n%s", err, d.Log)
		}
	})
	deadline := time.Now().Add(Deadline)
	for {
		if greets(d.Addr) {
			return
		}
		select {
		case err := <-d.waited:
			d.waited <- err
			t.Fatalf("ftpdtls serve exited while starting: %v\n%s", err, d.Log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ftpdtls serve did not greet within %v:\n%s", Deadline, d.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// greets reports whether a 220 greeting comes from addr.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	n, _ := c.Read(b)
	if n < 4 || string(b) != "220 " {
		return false
	}
	c.Write([]byte("QUIT\r\n"))
	return true
}

// Stop stops the daemon with SIGTERM and waits for it (a minute, then
// SIGKILL). It returns the daemon's exit error, if any.
func (d *Daemon) Stop() error {
	d.once.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case d.err = <-d.waited:
		case <-time.After(Deadline):
			d.cmd.Process.Kill()
			<-d.waited
			d.err = fmt.Errorf("did not stop within %v of SIGTERM", Deadline)
		}
	})
	return d.err
}

// Signal sends sig to the daemon (its master).
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// Wait waits for the daemon to exit by itself.
func (d *Daemon) Wait(timeout time.Duration) (error, bool) {
	select {
	case err := <-d.waited:
		d.waited <- err
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// writeUser writes the AuthUserFile and AuthGroupFile with one user,
// "tester" of group "testers", whose home is Dir/home.
func (d *Daemon) writeUser(t testing.TB) {
	t.Helper()
	d.User, d.Pass = "tester", authfile.RandomString(12)
	d.Uid, d.Gid = os.Getuid(), os.Getgid()
	if d.Uid == 0 {
		d.Uid, d.Gid = 65534, 65534
	}
	d.Home = filepath.Join(d.Dir, "home")
	if err := os.Mkdir(d.Home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d.Home, d.Uid, d.Gid); err != nil {
		t.Fatal(err)
	}
	hash, err := authfile.SHA512Crypt(d.Pass, "$6$"+authfile.RandomString(16))
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s:%s:%d:%d:servetest user:%s:/bin/false\n", d.User, hash, d.Uid, d.Gid, d.Home)
	if err := os.WriteFile(filepath.Join(d.Dir, "ftpd.passwd"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	group := fmt.Sprintf("testers:x:%d:%s\n", d.Gid, d.User)
	if err := os.WriteFile(filepath.Join(d.Dir, "ftpd.group"), []byte(group), 0o600); err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes a file in the user's home, owned by the user.
func (d *Daemon) WriteFile(t testing.TB, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(d.Home, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	for q := p; q != d.Home; q = filepath.Dir(q) {
		if err := os.Chown(q, d.Uid, d.Gid); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Dial connects a client and reads the greeting.
func (d *Daemon) Dial(t testing.TB) *Client {
	t.Helper()
	c := Dial(t, d.Addr)
	c.User, c.Pass, c.Roots = d.User, d.Pass, d.Roots
	return c
}

// searchable makes dir and its parents searchable by the unprivileged
// users the daemon switches to.
func searchable(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// CanBind reports whether ip is usable on this machine (127.0.0.2 for
// connections from a foreign address).
func CanBind(ip string) bool {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
