package daemon

import (
	"errors"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// ErrNotRunning: no running `ftpdtls serve` has published its state for
// the configuration.
var ErrNotRunning = errors.New("no ftpdtls serve is running with this configuration")

// CacheState is how a running server uses one configured cache.
type CacheState struct {
	Directive string // "TLSSessionCache" or "TLSStaplingCache"
	Provider  string // "shm", "redis", "internal", ...
	// Shared is true when every process of the server uses the
	// configured cache; false when it fell back to a per-process cache.
	Shared bool
	// Reason says why the configured cache is not in use, when Shared is
	// false: the error that opening it returned.
	Reason string
}

// ServerState is what a running `ftpdtls serve` publishes about itself,
// so that the cache controls can say whether the cache they look at is
// the one the server uses.
type ServerState struct {
	PID     int
	Started time.Time
	Caches  []CacheState
}

// RunningState returns the state published by the server that runs cfg,
// or an error matching ErrNotRunning.
func RunningState(cfg *directives.Config) (*ServerState, error) {
	return nil, ErrNotRunning
}
