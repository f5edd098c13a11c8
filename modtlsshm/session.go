package modtlsshm

import (
	"io"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// SessionProvider is the "shm" TLSSessionCache type.
type SessionProvider struct{ p *provider }

// NewSessionProvider returns a provider of shm session caches. The
// package registers one under "shm" in init; tests and programs that
// want their own "previously configured file" memory may make others.
func NewSessionProvider() *SessionProvider { return &SessionProvider{p: newProvider(sessionKind)} }

// Module is the module a configuration must load to use the provider.
func (sp *SessionProvider) Module() string { return ModuleName }

// Open attaches to (creating if needed) the segment for info
// ("/file=PATH[&size=BYTES]"); timeout is the TLSSessionCache timeout,
// shown by the verbose status. It reads info as ProFTPD does (a size it
// ignores is ignored, with its trace line), then calls OpenSessionCache
// with the Options that info says. The error is an *OpenError.
func (sp *SessionProvider) Open(info string, timeout time.Duration, env modtls.Env) (modtls.SessionCache, error) {
	opts, err := sp.p.options(info, env)
	if err != nil {
		return nil, err
	}
	c, err := OpenSessionCache(opts, timeout)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenExisting is Open without creating anything: when the cache file or
// its segment does not exist, the error (an *OpenError) matches
// ErrNoSegment. `ftpdtls sesscache clear` uses it, so that clearing a
// cache that is not there does not make one.
func (sp *SessionProvider) OpenExisting(info string, timeout time.Duration, env modtls.Env) (modtls.SessionCache, error) {
	c, err := openMode(sp.p, info, timeout, env, true)
	if err != nil {
		return nil, err
	}
	return &SessionCache{c: c}, nil
}

// StatusInfo writes the status of the cache info names, as Status does,
// without creating anything (`ftpdtls sesscache info`): when no segment
// exists it writes the title line and "No shared memory segment exists
// for 'PATH' ..." and returns nil. An existing segment that Open would
// refuse (another size, say) is the same error as Open's.
func (sp *SessionProvider) StatusInfo(info string, timeout time.Duration, env modtls.Env, w io.Writer, verbose bool) error {
	return statusInfo(sp.p, info, timeout, env, w, verbose)
}

// CheckInfo reports, without creating anything, what opening info would
// get wrong (see checkInfo).
func (sp *SessionProvider) CheckInfo(info string) []string { return checkInfo(info, sessionKind) }

// RemoveInfo removes the segment and file that info names without
// opening the cache, whatever the segment's size: what `ftpdtls sesscache
// remove` must do when Open refuses the segment (after a size change, say).
// It is RemoveSessionCache.
func (sp *SessionProvider) RemoveInfo(info string) error { return RemoveSessionCache(info) }

// SessionCache is an open shm session cache; it implements
// modtls.SessionCache and is safe for concurrent use.
type SessionCache struct{ c *cache }

// Add stores state under id until expires, replacing an entry with the
// same id. States over 10 KiB are kept in this process only (and counted
// as exceeding the maximum entry size).
func (s *SessionCache) Add(id []byte, expires time.Time, state []byte) error {
	c := s.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "adding session to shmcache session cache %p", c)
	}
	if err := c.checkKey(id); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.put(id, state, expires.Unix())
}

// Get returns a copy of the state stored under id, or modtls.ErrCacheMiss.
func (s *SessionCache) Get(id []byte) ([]byte, time.Time, error) {
	c := s.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "getting session from shmcache session cache %p", c)
	}
	if len(id) == 0 || len(id) > c.k.maxKey {
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, when, err := c.fetch(id)
	if err != nil {
		return nil, time.Time{}, err
	}
	return v, time.Unix(when, 0), nil
}

// Delete removes id's entry; a missing id is not an error.
func (s *SessionCache) Delete(id []byte) error {
	c := s.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "removing session from shmcache session cache %p", c)
	}
	if len(id) == 0 || len(id) > c.k.maxKey {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.drop(id)
}

// Clear removes and zeroes every session, returning how many there were.
func (s *SessionCache) Clear() (int, error) { return s.c.clearAll() }

// Remove zeroes and destroys the segment (IPC_RMID), removes the cache
// file and closes the handle.
func (s *SessionCache) Remove() error { return s.c.remove() }

// Close detaches this process from the segment; the sessions stay.
func (s *SessionCache) Close() error { return s.c.close() }

// Status writes ProFTPD's `tls sesscache info` text, then lines of ours.
func (s *SessionCache) Status(w io.Writer, verbose bool) error { return s.c.status(w, verbose) }

// Stats returns the cache's counters and fill in modtls's terms
// (modtls.StatsReporter). It takes no lock unless writes keep
// overlapping its read; it is cheap enough to be scraped often.
func (s *SessionCache) Stats() (modtls.Stats, error) { return s.c.stats() }

// SegmentStats returns every counter of the segment (hits and misses
// summed over all processes), its geometry and fill, and this process's
// oversize list: what the status prints.
func (s *SessionCache) SegmentStats() (Stats, error) { return s.c.segmentStats() }
