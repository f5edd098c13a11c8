package modtlsshm

import (
	"io"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// keyBytes views a fingerprint as bytes without copying; the cache
// never writes to a key.
func keyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// OCSPProvider is the "shm" TLSStaplingCache type.
type OCSPProvider struct{ p *provider }

// NewOCSPProvider returns a provider of shm OCSP response caches; the
// package registers one under "shm" in init.
func NewOCSPProvider() *OCSPProvider { return &OCSPProvider{p: newProvider(ocspKind)} }

// Module is the module a configuration must load to use the provider.
func (op *OCSPProvider) Module() string { return ModuleName }

// Open attaches to (creating if needed) the segment for info: it calls
// OpenOCSPCache with the Options that info says, as SessionProvider.Open
// does.
func (op *OCSPProvider) Open(info string, env modtls.Env) (modtls.OCSPCache, error) {
	opts, err := op.p.options(info, env)
	if err != nil {
		return nil, err
	}
	c, err := OpenOCSPCache(opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenExisting is Open without creating anything; a missing cache file
// or segment is an *OpenError matching ErrNoSegment (`ftpdtls ocspcache
// clear`).
func (op *OCSPProvider) OpenExisting(info string, env modtls.Env) (modtls.OCSPCache, error) {
	c, err := openMode(op.p, info, 0, env, true)
	if err != nil {
		return nil, err
	}
	return &OCSPCache{c: c}, nil
}

// StatusInfo is SessionProvider.StatusInfo for the OCSP cache (`ftpdtls
// ocspcache info`; verbose adds nothing).
func (op *OCSPProvider) StatusInfo(info string, env modtls.Env, w io.Writer, verbose bool) error {
	return statusInfo(op.p, info, 0, env, w, false)
}

// CheckInfo reports, without creating anything, what opening info would
// get wrong.
func (op *OCSPProvider) CheckInfo(info string) []string { return checkInfo(info, ocspKind) }

// RemoveInfo removes the segment and file that info names without
// opening the cache (`ftpdtls ocspcache remove` after a failed open). It
// is RemoveOCSPCache.
func (op *OCSPProvider) RemoveInfo(info string) error { return RemoveOCSPCache(info) }

// OCSPCache is an open shm OCSP response cache; it implements
// modtls.OCSPCache and is safe for concurrent use. Keys are certificate
// fingerprints of up to 128 characters (SHA-512 in hex).
type OCSPCache struct{ c *cache }

// Add stores der for fingerprint, replacing an older response; cached is
// when it was obtained. When the cache is full the oldest responses go
// (ProFTPD dropped the newest, B14).
func (o *OCSPCache) Add(fingerprint string, der []byte, cached time.Time) error {
	c := o.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "adding response to shmcache ocsp cache %p", c)
	}
	key := keyBytes(fingerprint)
	if err := c.checkKey(key); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.put(key, der, cached.Unix())
}

// Get returns a copy of the response for fingerprint and when it was
// cached, or modtls.ErrCacheMiss.
func (o *OCSPCache) Get(fingerprint string) ([]byte, time.Time, error) {
	c := o.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "getting response from shmcache ocsp cache %p", c)
	}
	if len(fingerprint) == 0 || len(fingerprint) > c.k.maxKey {
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, when, err := c.fetch(keyBytes(fingerprint))
	if err != nil {
		return nil, time.Time{}, err
	}
	return v, time.Unix(when, 0), nil
}

// Delete removes the response for fingerprint; a response cached over an
// hour ago counts as expired, a younger one as deleted (B15).
func (o *OCSPCache) Delete(fingerprint string) error {
	c := o.c
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "removing response from shmcache ocsp cache %p", c)
	}
	if len(fingerprint) == 0 || len(fingerprint) > c.k.maxKey {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.drop(keyBytes(fingerprint))
}

// Clear removes and zeroes every response, returning how many there were.
func (o *OCSPCache) Clear() (int, error) { return o.c.clearAll() }

// Remove zeroes and destroys the segment, removes the file and closes.
func (o *OCSPCache) Remove() error { return o.c.remove() }

// Close detaches this process from the segment; the responses stay.
func (o *OCSPCache) Close() error { return o.c.close() }

// Status writes ProFTPD's `tls ocspcache info` text, then lines of ours
// (verbose adds nothing, as in ProFTPD).
func (o *OCSPCache) Status(w io.Writer, verbose bool) error { return o.c.status(w, false) }

// Stats returns the cache's counters and fill in modtls's terms
// (modtls.StatsReporter). It takes no lock unless writes keep
// overlapping its read; it is cheap enough to be scraped often.
func (o *OCSPCache) Stats() (modtls.Stats, error) { return o.c.stats() }

// SegmentStats returns every counter of the segment (hits and misses
// summed over all processes), its geometry and fill, and this process's
// oversize list: what the status prints.
func (o *OCSPCache) SegmentStats() (Stats, error) { return o.c.segmentStats() }
