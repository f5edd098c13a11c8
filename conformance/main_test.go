package conformance

import (
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon/daemontest"
)

// TestMain: this test binary is also the worker and broker program of
// the daemons the client tests run in this process (daemon.Run).
func TestMain(m *testing.M) { daemontest.Main(m) }
