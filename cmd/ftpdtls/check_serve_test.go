package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// TestCheckAgreesWithServe holds `ftpdtls check` (its default mode) to
// what `ftpdtls serve` does with the same file, both run as the built
// command: a file check accepts is served, and a file check refuses is
// refused by serve with check's first fatal line. It covers the shipped
// example, the built-in default configuration and a table of fragments
// added to a configuration serve can run.
func TestCheckAgreesWithServe(t *testing.T) {
	bin := buildFtpdtls(t)
	dir := t.TempDir()
	certFile, keyFile := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	line, err := authfile.Line("alice", "secret", dir)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "ftpd.passwd")
	if err := os.WriteFile(users, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The base serve runs; each fragment is added at its end.
	base := func(port int) string {
		return fmt.Sprintf("ServerName \"agreement\"\nDefaultAddress 127.0.0.1\nPort %d\nAuthUserFile %s\n", port, users)
	}
	tlsOn := fmt.Sprintf("TLSEngine on\nTLSECCertificateFile %s\nTLSECCertificateKeyFile %s\n", certFile, keyFile)

	for _, tc := range []struct {
		name, fragment string
		accept         bool // what both must answer
	}{
		{"base", "", true},
		{"TLS on", tlsOn, true},
		// Issue 13: skipped by proftpd -t without LoadModule mod_tls.c,
		// read by serve, which has mod_tls compiled in.
		{"typo in <IfModule mod_tls.c>", "<IfModule mod_tls.c>\n  TLSEngin on\n</IfModule>\n", false},
		{"LoadModule of linked modules", "LoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\n" + tlsOn, true},
		{"<IfModule !mod_tls.c> is skipped", "<IfModule !mod_tls.c>\n  NoSuchDirective x\n</IfModule>\n", true},
		{"<IfModule mod_tls_shmcache.c> is read", "<IfModule mod_tls_shmcache.c>\n  TLSSessionCache bogus\n</IfModule>\n", false},
		{"unknown directive", "NoSuchDirective x\n", false},
		{"bad value", "Port 65536\n", false},
		{"module of another program", "AdminControlsEngine on\n", false},
		{"bad argument of an unimplemented module", "LoadModule mod_ctrls_admin.c\nAdminControlsEngine maybe\n", false},
		{"memcache session cache", "LoadModule mod_tls_memcache.c\n" + tlsOn + "TLSSessionCache memcache:\n", false},
		{"missing Include (a warning, as in ProFTPD)", "Include " + dir + "/missing.conf\n", true},
		{"trace without a log", "Trace tls:5\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			conf := filepath.Join(t.TempDir(), "proftpd.conf")
			if err := os.WriteFile(conf, []byte(base(port)+tc.fragment), 0o644); err != nil {
				t.Fatal(err)
			}
			c := runCheckCmd(t, bin, conf)
			s := runServeCmd(t, bin, port, "-c", conf)
			if c.accepted != tc.accept {
				t.Errorf("check: status %d, want accepted=%v\n%s", c.status, tc.accept, c.stderr)
			}
			agree(t, c, s)
		})
	}

	t.Run("shipped example", func(t *testing.T) {
		text, err := os.ReadFile("../../examples/proftpd.conf")
		if err != nil {
			t.Fatal(err)
		}
		// The example as shipped, on a free port (it says 21).
		port := freePort(t)
		portLine := regexp.MustCompile(`(?m)^Port[ \t]+\d+$`)
		if !portLine.Match(text) {
			t.Fatal("the example has no Port line; update the test")
		}
		conf := filepath.Join(t.TempDir(), "proftpd.conf")
		text = portLine.ReplaceAll(text, []byte("Port "+strconv.Itoa(port)))
		if err := os.WriteFile(conf, text, 0o644); err != nil {
			t.Fatal(err)
		}
		c := runCheckCmd(t, bin, conf)
		s := runServeCmd(t, bin, port, "-c", conf)
		if s.started {
			// The example's caches outlive the server, by design.
			for _, kind := range []string{"sesscache", "ocspcache"} {
				runFtpdtls(t, bin, dir, kind, "-c", conf, "remove")
			}
		}
		agree(t, c, s)
	})

	t.Run("built-in default", func(t *testing.T) {
		// serve without -c writes its effective configuration and names it
		// in the banner; check accepts that file while it is served. (In
		// this process: the built-in configuration has a fixed port.)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sigs := make(chan os.Signal, 1)
		stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- daemon.Run(context.Background(), daemon.Options{Listener: ln, Signals: sigs, Stdout: stdout, Stderr: stderr,
				Ready: func(net.Addr) { close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("serve with the built-in configuration did not start: %v\n%s", err, stderr)
		}
		defer func() {
			sigs <- syscall.SIGTERM
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}()
		m := regexp.MustCompile(`-c (\S+/proftpd\.conf)`).FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("the banner names no configuration file:\n%s", stdout)
		}
		var out, errOut bytes.Buffer
		if status := checkForServe(m[1], &out, &errOut, func() string { return "" }); status != 0 || errOut.Len() != 0 {
			t.Errorf("check of the running default configuration: status %d\n%s%s", status, out.String(), errOut.String())
		}
	})
}

// checkRun is what `ftpdtls check -plain` answered.
type checkRun struct {
	status   int
	accepted bool
	stderr   string
}

// errors returns check's fatal lines.
func (c checkRun) errors() []string {
	var out []string
	for _, l := range strings.Split(c.stderr, "\n") {
		if strings.HasPrefix(l, "fatal: ") {
			out = append(out, l)
		}
	}
	return out
}

func runCheckCmd(t *testing.T, bin, conf string) checkRun {
	t.Helper()
	status, stdout, stderr := runFtpdtls(t, bin, filepath.Dir(conf), "check", "-plain", "-c", conf)
	c := checkRun{status: status, stderr: stderr, accepted: status == 0}
	if c.accepted != strings.HasSuffix(stdout, complete) || (status != 0 && status != 1) {
		t.Fatalf("check: status %d with stdout %q", status, stdout)
	}
	return c
}

// serveRun is what `ftpdtls serve` did: started (it accepted a
// connection on its port, then was stopped) or exited with an error.
type serveRun struct {
	started bool
	stderr  string
}

func runServeCmd(t *testing.T, bin string, port int, args ...string) serveRun {
	t.Helper()
	s := startServe(t, bin, port, args...)
	started := s.waitStarted(t)
	s.stop()
	return serveRun{started: started, stderr: s.stderr.String()}
}

// agree fails unless serve did what check said: started when check
// accepted; refused, with check's first fatal line, when check did not.
func agree(t *testing.T, c checkRun, s serveRun) {
	t.Helper()
	switch {
	case c.accepted && !s.started:
		t.Errorf("check accepts the file, serve refuses it:\ncheck: %s\nserve: %s", c.stderr, s.stderr)
	case !c.accepted && s.started:
		t.Errorf("check refuses the file, serve runs it:\ncheck: %s\nserve: %s", c.stderr, s.stderr)
	case !c.accepted:
		errs := c.errors()
		if len(errs) == 0 {
			t.Fatalf("check refused without a fatal line:\n%s", c.stderr)
		}
		if !strings.Contains(s.stderr, errs[0]) {
			t.Errorf("serve refuses the file, but not with check's %q:\n%s", errs[0], s.stderr)
		}
	}
}

// serveProc is a running `ftpdtls serve`.
type serveProc struct {
	cmd            *exec.Cmd
	port           int
	stdout, stderr *syncbuf.Buffer
	exited         chan struct{}
	stopped        bool
}

// startServe runs `ftpdtls serve ARGS -workers 0` in the background,
// for a configuration that listens on port.
func startServe(t *testing.T, bin string, port int, args ...string) *serveProc {
	t.Helper()
	return startServeAs(t, bin, port, nil, args...)
}

// startServeAs is startServe as another user (cred), when not nil.
func startServeAs(t *testing.T, bin string, port int, cred *syscall.Credential, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{port: port, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve"}, append(args, "-workers", "0")...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	return s
}

// waitStarted waits until serve accepts a TCP connection on its port
// (started) or exits (refused), with a generous deadline.
func (s *serveProc) waitStarted(t *testing.T) bool {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		select {
		case <-s.exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve neither started nor exited within 60 s:\n%s", s.stderr)
	return false
}

// stop ends serve (SIGTERM to its process group, then SIGKILL after a
// generous grace) and waits for it.
func (s *serveProc) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	select {
	case <-s.exited:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
