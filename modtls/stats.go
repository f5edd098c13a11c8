package modtls

import (
	"expvar"
	"sync/atomic"
)

// counters are the engine's own counts, beside the caches' Stats.
type counters struct {
	sessionsIssued    atomic.Uint64
	sessionsResumed   atomic.Uint64
	controlResumed    atomic.Uint64
	dataAccepted      atomic.Uint64
	dataRefused       atomic.Uint64
	handshakeFailures atomic.Uint64
}

// EngineStats are the engine's counters since New.
type EngineStats struct {
	SessionsIssued    uint64 // sessions stored for resumption (tickets issued)
	SessionsResumed   uint64 // handshakes that resumed a session
	ControlResumed    uint64 // control connections that resumed a session (ControlHandshakeDone)
	DataAccepted      uint64 // data connections accepted by the data-channel check
	DataRefused       uint64 // data connections refused by it (reply 425)
	HandshakeFailures uint64 // failed control handshakes (ControlHandshakeDone)
}

// EngineStats returns the engine's counters.
func (t *TLS) EngineStats() EngineStats {
	c := &t.counters
	return EngineStats{
		SessionsIssued:    c.sessionsIssued.Load(),
		SessionsResumed:   c.sessionsResumed.Load(),
		ControlResumed:    c.controlResumed.Load(),
		DataAccepted:      c.dataAccepted.Load(),
		DataRefused:       c.dataRefused.Load(),
		HandshakeFailures: c.handshakeFailures.Load(),
	}
}

// CacheStats are the Stats of one open cache, with what names it.
type CacheStats struct {
	Cache    string // "session" or "ocsp"
	Provider string // "shm", "redis", "internal", ...
	Stats
}

// CacheStats returns the Stats of the engine's caches whose provider
// keeps them (StatsReporter); the first error met is returned with the
// others' stats.
func (t *TLS) CacheStats() ([]CacheStats, error) {
	var out []CacheStats
	var first error
	add := func(cache, provider string, c any) {
		r, ok := c.(StatsReporter)
		if !ok {
			return
		}
		st, err := r.Stats()
		if err != nil {
			if first == nil {
				first = err
			}
			return
		}
		out = append(out, CacheStats{Cache: cache, Provider: provider, Stats: st})
	}
	if t.sessCache != nil {
		add("session", t.sessName, t.sessCache)
	}
	if t.ocspCache != nil {
		add("ocsp", t.ocspName, t.ocspCache)
	}
	return out, first
}

// statsSnapshot is what the expvar variable shows.
type statsSnapshot struct {
	Engine EngineStats  `json:"engine"`
	Caches []CacheStats `json:"caches"`
	Error  string       `json:"error,omitempty"`
}

func (t *TLS) snapshot() statsSnapshot {
	caches, err := t.CacheStats()
	s := statsSnapshot{Engine: t.EngineStats(), Caches: caches}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// PublishStats publishes the engine's statistics through expvar under
// name (served as JSON at /debug/vars by expvar's handler). current is
// called at each read, so a daemon that replaces its engine on reload
// publishes once and returns the engine in use; nil means nothing to
// show. Like expvar.Publish, it panics if the name is taken.
func PublishStats(name string, current func() *TLS) {
	expvar.Publish(name, expvar.Func(func() any {
		t := current()
		if t == nil {
			return nil
		}
		return t.snapshot()
	}))
}
