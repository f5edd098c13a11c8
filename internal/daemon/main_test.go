package daemon

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// TestMain plays the worker or broker a test's master starts (as
// /proc/self/exe, this test binary), and otherwise fails the run if a
// test leaves a shm cache segment behind.
func TestMain(m *testing.M) {
	if IsChild() {
		if err := Run(context.Background(), Options{}); err != nil {
			fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}
