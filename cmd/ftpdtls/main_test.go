package main

import (
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon/daemontest"
)

// TestMain: this test binary is also the worker and broker program of
// the serves its tests start.
func TestMain(m *testing.M) { daemontest.Main(m) }
