// Package testpeers finds the external programs that tests talk to
// (proftpd, curl, lftp, openssl, redis-server). A test that needs one
// skips with a clear message when it is missing, unless
// FTPDTLS_REQUIRE_PEERS=1 is set (as CI does), in which case it fails, so
// that nothing silently stops being checked.
package testpeers

import (
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Required reports whether missing peers must fail tests rather than skip them.
func Required() bool { return os.Getenv("FTPDTLS_REQUIRE_PEERS") == "1" }

// Need returns the path of program, looked up in PATH and then in the
// given extra locations (e.g. "/usr/sbin/proftpd"). When it is absent the
// test is skipped, or fails under FTPDTLS_REQUIRE_PEERS=1.
func Need(t testing.TB, program string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, p := range extra {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if Required() {
		t.Fatalf("%s is not installed, and FTPDTLS_REQUIRE_PEERS=1 requires it (install it: see .ci/run)", program)
	}
	t.Skipf("skipping: %s is not installed (set FTPDTLS_REQUIRE_PEERS=1 to make this a failure)", program)
	return ""
}

// Serve listens on 127.0.0.1 and runs handle for each connection, in its
// own goroutine, with a deadline of timeout; handle need not close the
// connection. At the test's cleanup the listener closes and every handler
// is waited for. It returns the listener's address.
func Serve(t testing.TB, timeout time.Duration, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(timeout))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}
