package modtlsredis

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ocsp"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// OCSPCache is the "redis" TLSStaplingCache: DER OCSP responses in Redis,
// keyed by certificate fingerprint, in mod_tls_redis's format (see
// entry.go). It is safe for concurrent use.
type OCSPCache struct {
	s *store
}

var (
	_ modtls.OCSPCache     = (*OCSPCache)(nil)
	_ modtls.StatsReporter = (*OCSPCache)(nil)
)

// noNextUpdateTTL is how long a response without a nextUpdate (or one
// that is not a successful response, such as a fake tryLater) stays in
// Redis after it was obtained. mod_tls calls such responses stale after
// an hour (five minutes for unsuccessful ones) and replaces them.
const noNextUpdateTTL = time.Hour

// ocspExpiry returns when a cached response should leave Redis: at its
// nextUpdate, after which mod_tls calls it EXPIRED and deletes it, or
// noNextUpdateTTL after it was obtained when it has none.
func ocspExpiry(der []byte, cached time.Time) time.Time {
	if resp, err := ocsp.ParseResponse(der, nil); err == nil && !resp.NextUpdate.IsZero() {
		return resp.NextUpdate
	}
	return cached.Add(noNextUpdateTTL)
}

// Add stores der for fingerprint, with cached (the response's "age") in
// the "expires" field as mod_tls_redis does, and a Redis expiry from
// ocspExpiry.
func (c *OCSPCache) Add(fingerprint string, der []byte, cached time.Time) error {
	s := c.s
	s.ch.Msg(9, "adding response to Redis ocsp cache %p", c)
	ctx, cancel := s.ctx()
	defer cancel()
	if len(der) > MaxResponseSize {
		if s.ch.Enabled(2) {
			s.ch.Msg(2, "length of serialized OCSP response data (%d) exceeds maximum size (%d), unable to add to shared Redis", len(der), MaxResponseSize)
		}
		s.exceeded(ctx, len(der))
		return fmt.Errorf("add OCSP response to Redis: %d bytes: %w (%d)", len(der), ErrTooLarge, MaxResponseSize)
	}
	now := time.Now()
	expires := ocspExpiry(der, cached).Unix()
	if expires <= now.Unix() {
		s.ch.Msg(4, "not adding expired OCSP response for fingerprint '%s' (expires %d <= now %d)", fingerprint, expires, now.Unix())
		return nil
	}
	key := string(appendOCSPKey(nil, fingerprint))
	value := ocspFormat.appendValue(nil, cached.Unix(), der)
	if err := s.client.SetArgs(ctx, key, value, redis.SetArgs{ExpireAt: time.Unix(expires, 0)}).Err(); err != nil {
		s.failed("SET", err)
		if isReply(err) {
			s.count(cacheErrors)
		}
		s.ch.Msg(2, "error adding response to Redis: %v", err)
		return fmt.Errorf("add OCSP response to Redis: %w", err)
	}
	s.succeeded()
	s.ch.Msg(9, "stored OCSP JSON response data in cache")
	s.count(cacheStores)
	return nil
}

// Get returns the response cached for fingerprint and when it was
// obtained. Judging its freshness is mod_tls's business, as in ProFTPD.
func (c *OCSPCache) Get(fingerprint string) ([]byte, time.Time, error) {
	s := c.s
	s.ch.Msg(9, "getting response from Redis ocsp cache %p", c)
	ctx, cancel := s.ctx()
	defer cancel()
	key := string(appendOCSPKey(nil, fingerprint))
	value, err := s.client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		s.succeeded()
		s.ch.Msg(3, "no matching Redis entry found for fingerprint '%s'", fingerprint)
		s.count(cacheMisses)
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	if err != nil {
		s.failed("GET", err)
		return nil, time.Time{}, fmt.Errorf("get OCSP response from Redis: %w", err)
	}
	s.succeeded()
	e, err := ocspFormat.decode(value)
	if err != nil {
		s.ch.Msg(2, "error retrieving response from cache: %v", err)
		s.count(cacheErrors)
		s.count(cacheMisses)
		return nil, time.Time{}, fmt.Errorf("%w: %w", modtls.ErrCacheMiss, err)
	}
	s.ch.Msg(9, "retrieved JSON response data from cache")
	s.count(cacheHits)
	return e.data, time.Unix(e.expires, 0), nil
}

// Delete removes the response cached for fingerprint; a missing one is
// not an error.
func (c *OCSPCache) Delete(fingerprint string) error {
	s := c.s
	s.ch.Msg(9, "deleting response from Redis ocsp cache %p", c)
	ctx, cancel := s.ctx()
	defer cancel()
	n, err := s.client.Del(ctx, string(appendOCSPKey(nil, fingerprint))).Result()
	if err != nil {
		s.failed("DEL", err)
		return fmt.Errorf("delete OCSP response from Redis: %w", err)
	}
	s.succeeded()
	if n == 0 {
		s.ch.Msg(2, "unable to remove Redis entry for fingerprint '%s': No such file or directory", fingerprint)
		return nil
	}
	s.count(cacheDeletes)
	return nil
}

// Clear removes every response from Redis (the counters stay) and
// returns how many there were.
func (c *OCSPCache) Clear() (int, error) {
	c.s.ch.Msg(9, "clearing Redis ocsp cache %p", c)
	return c.s.clear()
}

// Remove removes every response and the counters, and closes the cache.
func (c *OCSPCache) Remove() error {
	c.s.ch.Msg(9, "removing Redis ocsp cache %p", c)
	err := c.s.remove()
	if cerr := c.s.close(); err == nil {
		err = cerr
	}
	return err
}

// Status writes mod_tls_redis's OCSP status lines.
func (c *OCSPCache) Status(w io.Writer, verbose bool) error {
	c.s.ch.Msg(9, "checking Redis ocsp cache %p", c)
	st, err := c.s.Counters()
	if err != nil {
		return err
	}
	return writeStatus(w, &ocspLabels, c.s.server, st)
}

// Stats returns the cache's counters as modtls.Stats, read from Redis in
// one round trip; it implements modtls.StatsReporter.
func (c *OCSPCache) Stats() (modtls.Stats, error) { return c.s.stats() }

// Counters returns the counters as mod_tls_redis keeps them, with the
// failures of this process.
func (c *OCSPCache) Counters() (Counters, error) { return c.s.Counters() }

// Close closes the cache's connections; the entries stay in Redis.
func (c *OCSPCache) Close() error {
	c.s.ch.Msg(9, "closing Redis ocsp cache %p", c)
	return c.s.close()
}
