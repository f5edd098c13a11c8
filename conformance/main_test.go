package conformance

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// TestMain plays the worker or broker that daemon.Run, which the client
// tests call in this process, starts by running this test binary again
// (as ftpdtls does in production), or the launcher of a server that sees
// test files at the machine's paths (bindMountsEnv), and otherwise fails
// the run if a test leaves a shm cache segment behind.
func TestMain(m *testing.M) {
	if spec := os.Getenv(bindMountsEnv); spec != "" {
		os.Exit(bindMountsAndExec(spec))
	}
	if daemon.IsChild() {
		if err := daemon.Run(context.Background(), daemon.Options{}); err != nil {
			fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}
