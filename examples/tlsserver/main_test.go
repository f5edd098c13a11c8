package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// The test runs the program in two processes: the test binary itself,
// re-executed with TLSSERVER_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("TLSSERVER_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// start runs the program and returns the address it listens on.
func start(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "TLSSERVER_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, a, ok := strings.Cut(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("the server exited before listening")
		}
		return a
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start")
	}
	return ""
}

// TestSessionsResumeAcrossProcesses: a session made with one process
// resumes on the other, on TLS 1.2 and TLS 1.3.
func TestSessionsResumeAcrossProcesses(t *testing.T) {
	ca := testpki.NewCA()
	certFile, keyFile := ca.Server(testpki.ECDSA).Files(t)
	cacheFile := filepath.Join(t.TempDir(), "sessions")
	t.Cleanup(func() { modtlsshm.RemoveSessionCache("/file=" + cacheFile) })
	args := []string{"-cache", cacheFile, "-cert", certFile, "-key", keyFile}
	a, b := start(t, args...), start(t, args...)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: v, MaxVersion: v,
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		for i, addr := range []string{a, b} {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, client)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if b, err := io.ReadAll(c); err != nil || string(b) != "hello\n" {
				t.Fatalf("read %q, %v", b, err)
			}
			if resumed := c.ConnectionState().DidResume; resumed != (i == 1) {
				t.Fatalf("TLS %x, process %d: resumed=%v", v, i+1, resumed)
			}
			c.Close()
		}
	}
}
