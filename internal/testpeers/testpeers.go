// Package testpeers finds the external programs that tests talk to
// (proftpd, curl, lftp, openssl, redis-server). A test that needs one
// skips with a clear message when it is missing, unless
// FTPDTLS_REQUIRE_PEERS=1 is set (as CI does), in which case it fails, so
// that nothing silently stops being checked.
package testpeers

import (
	"os"
	"os/exec"
	"testing"
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
