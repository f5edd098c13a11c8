package modtlsshm

import (
	"os"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// TestMain fails the run if a test leaves a shm cache segment behind.
func TestMain(m *testing.M) { os.Exit(testpeers.CheckNoLeakedSegments(m)) }
