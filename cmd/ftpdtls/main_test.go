package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// TestMain plays the worker or broker that a serve started in a test
// re-executes (this test binary is then their program, as ftpdtls is in
// production); otherwise it runs the tests and fails the run if one
// leaves a shm cache segment behind.
func TestMain(m *testing.M) {
	if daemon.IsChild() {
		if err := daemon.Run(context.Background(), daemon.Options{}); err != nil {
			fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}
