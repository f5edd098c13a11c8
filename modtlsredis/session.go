package modtlsredis

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// ErrTooLarge: an entry exceeds MaxSessionSize or MaxResponseSize and is
// not stored; it is counted in cache_exceeds.
var ErrTooLarge = errors.New("entry exceeds maximum size")

// SessionCache is the "redis" TLSSessionCache: TLS sessions in Redis,
// shared by every server that uses the same database, in mod_tls_redis's
// format (see entry.go). It is safe for concurrent use.
type SessionCache struct {
	s *store
}

var (
	_ modtls.SessionCache  = (*SessionCache)(nil)
	_ modtls.StatsReporter = (*SessionCache)(nil)
)

// Add stores state under id until expires, with a Redis expiry at the
// same time (SET ... EXAT), and counts it in cache_stores.
func (c *SessionCache) Add(id []byte, expires time.Time, state []byte) error {
	s := c.s
	now := time.Now()
	if s.ch.Enabled(9) {
		s.ch.Msg(9, "adding session to Redis cache %p (expires = %d, now = %d)", c, expires.Unix(), now.Unix())
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if len(state) > MaxSessionSize {
		if s.ch.Enabled(2) {
			s.ch.Msg(2, "length of serialized SSL session data (%d) exceeds maximum size (%d), unable to add to shared Redis", len(state), MaxSessionSize)
		}
		s.exceeded(ctx, len(state))
		return fmt.Errorf("add session to Redis: %d bytes: %w (%d)", len(state), ErrTooLarge, MaxSessionSize)
	}
	exp := expires.Unix()
	if exp <= now.Unix() {
		if s.ch.Enabled(4) {
			s.ch.Msg(4, "not adding expired session (expires %d <= now %d)", exp, now.Unix())
		}
		return nil
	}
	var buf [160]byte
	key := appendSessionKey(buf[:0], id)
	value := sessionFormat.appendValue(make([]byte, 0, 64+base64.StdEncoding.EncodedLen(len(state))), exp, state)
	if err := s.client.SetArgs(ctx, string(key), value, redis.SetArgs{ExpireAt: time.Unix(exp, 0)}).Err(); err != nil {
		s.failed("SET", err)
		if isReply(err) {
			s.count(cacheErrors)
		}
		if s.ch.Enabled(2) {
			s.ch.Msg(2, "error adding session to Redis: %v", err)
		}
		return fmt.Errorf("add session to Redis: %w", err)
	}
	s.succeeded()
	s.ch.Msg(9, "stored JSON session data in cache")
	s.count(cacheStores)
	return nil
}

// Get returns the session stored under id. A missing, expired or
// unusable entry is a miss, counted in cache_misses (an unusable one in
// cache_errors too) and reported as modtls.ErrCacheMiss; a Redis failure
// is returned as it is, and modtls treats it like a miss.
func (c *SessionCache) Get(id []byte) ([]byte, time.Time, error) {
	s := c.s
	if s.ch.Enabled(9) {
		s.ch.Msg(9, "getting session from Redis cache %p", c)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var buf [160]byte
	key := appendSessionKey(buf[:0], id)
	value, err := s.client.Get(ctx, string(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		s.succeeded()
		if s.ch.Enabled(3) {
			s.ch.Msg(3, "no matching Redis entry found for session ID (%d bytes)", len(key)-len(sessionPrefix))
		}
		s.count(cacheMisses)
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	if err != nil {
		s.failed("GET", err)
		return nil, time.Time{}, fmt.Errorf("get session from Redis: %w", err)
	}
	s.succeeded()
	e, err := sessionFormat.decode(value)
	if err == nil && len(e.data) > 0 && e.data[0] == 0x30 {
		// An OpenSSL SSL_SESSION (DER SEQUENCE), stored by a ProFTPD
		// node; crypto/tls states start with their version, 0x03.
		err = errors.New("session data is an OpenSSL session (stored by ProFTPD), not a Go TLS session")
	}
	if err != nil {
		if s.ch.Enabled(2) {
			s.ch.Msg(2, "error retrieving session from cache: %v", err)
		}
		s.count(cacheErrors)
		s.count(cacheMisses)
		return nil, time.Time{}, fmt.Errorf("%w: %w", modtls.ErrCacheMiss, err)
	}
	now := time.Now().Unix()
	if e.expires <= now {
		if s.ch.Enabled(4) {
			s.ch.Msg(4, "ignoring expired cached session data (expires %d <= now %d)", e.expires, now)
		}
		s.count(cacheMisses)
		// Only entries without a real TTL (ProFTPD's) live this long.
		if err := s.client.Unlink(ctx, string(key)).Err(); err != nil {
			s.failed("UNLINK", err)
		}
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	s.ch.Msg(9, "retrieved JSON session data from cache")
	s.count(cacheHits)
	return e.data, time.Unix(e.expires, 0), nil
}

// Delete removes the session stored under id and counts it in
// cache_deletes; a missing id is not an error.
func (c *SessionCache) Delete(id []byte) error {
	s := c.s
	s.ch.Msg(9, "removing session from Redis cache %p", c)
	ctx, cancel := s.ctx()
	defer cancel()
	var buf [160]byte
	key := appendSessionKey(buf[:0], id)
	n, err := s.client.Del(ctx, string(key)).Result()
	if err != nil {
		s.failed("DEL", err)
		return fmt.Errorf("delete session from Redis: %w", err)
	}
	s.succeeded()
	if n == 0 {
		if s.ch.Enabled(2) {
			s.ch.Msg(2, "unable to remove Redis entry for session ID (%d bytes): No such file or directory", len(key)-len(sessionPrefix))
		}
		return nil
	}
	s.count(cacheDeletes)
	return nil
}

// Clear removes every session from Redis (the counters stay) and returns
// how many there were.
func (c *SessionCache) Clear() (int, error) {
	c.s.ch.Msg(9, "clearing Redis session cache %p", c)
	return c.s.clear()
}

// Remove removes every session and the counters, and closes the cache.
func (c *SessionCache) Remove() error {
	c.s.ch.Msg(9, "removing Redis session cache %p", c)
	err := c.s.remove()
	if cerr := c.s.close(); err == nil {
		err = cerr
	}
	return err
}

// Status writes mod_tls_redis's status lines with the counters read from
// Redis. There is no session listing, so verbose changes nothing.
func (c *SessionCache) Status(w io.Writer, verbose bool) error {
	c.s.ch.Msg(9, "checking Redis session cache %p", c)
	st, err := c.s.Counters()
	if err != nil {
		return err
	}
	return writeStatus(w, &sessionLabels, c.s.server, st)
}

// Stats returns the cache's counters as modtls.Stats, read from Redis in
// one round trip; it implements modtls.StatsReporter.
func (c *SessionCache) Stats() (modtls.Stats, error) { return c.s.stats() }

// Counters returns the counters as mod_tls_redis keeps them, with the
// failures of this process.
func (c *SessionCache) Counters() (Counters, error) { return c.s.Counters() }

// Close closes the cache's connections; the entries stay in Redis.
func (c *SessionCache) Close() error {
	c.s.ch.Msg(9, "closing Redis session cache %p", c)
	return c.s.close()
}
