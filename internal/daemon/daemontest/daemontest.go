// Package daemontest is the TestMain of test binaries that start
// `ftpdtls serve` with themselves as its program.
package daemontest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// Main plays the worker or broker that a serve started by a test
// re-executes (the test binary is then their program, as ftpdtls is in
// production); otherwise it runs the tests and fails the run if one
// leaves a shm cache segment behind. It does not return. Use it as
//
//	func TestMain(m *testing.M) { daemontest.Main(m) }
func Main(m *testing.M) {
	if daemon.IsChild() {
		if err := daemon.Run(context.Background(), daemon.Options{}); err != nil {
			fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}
