package conformance

import (
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon/daemontest"
)

// TestMain: this test binary is also the worker and broker program of
// the daemons the client tests run in this process (daemon.Run), and the
// launcher of a server that sees test files at the machine's paths
// (bindMountsEnv).
func TestMain(m *testing.M) {
	if spec := os.Getenv(bindMountsEnv); spec != "" {
		os.Exit(bindMountsAndExec(spec))
	}
	daemontest.Main(m)
}
