package modtlsredis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// counter is one of the seven statistics keys each cache keeps in its
// namespace ("mod_tls_redis.sessions.cache_hits"). They are shared by
// every server using the same Redis database, have no TTL and no NUL, and
// hold ASCII decimals maintained with INCR, so that redis-cli and
// ProFTPD's nodes read the same numbers.
type counter int

const (
	cacheHits counter = iota
	cacheMisses
	cacheStores
	cacheDeletes
	cacheErrors
	cacheExceeds
	cacheMaxLen
	numCounters
)

// counterNames are the key suffixes; the last differs between the caches
// (cache_max_sess_len, cache_max_resp_len).
func counterNames(maxLenName string) [numCounters]string {
	return [numCounters]string{"cache_hits", "cache_misses", "cache_stores", "cache_deletes", "cache_errors", "cache_exceeds", maxLenName}
}

// Counters are a cache's statistics as mod_tls_redis keeps them: the
// shared counters read from Redis, and what this process could not do
// because Redis failed. Stats gives the same figures as a modtls.Stats.
type Counters struct {
	Hits    int64 // lookups that found a live entry
	Misses  int64 // lookups that found none, an expired one or a bad one
	Stores  int64 // entries stored
	Deletes int64 // entries deleted
	Errors  int64 // entries that could not be decoded or stored
	Exceeds int64 // entries too large to store
	MaxLen  int64 // the largest entry that was too large
	// Present has bit 1<<i set for each counter (in the order above) whose
	// key exists in Redis; the status only shows those, as ProFTPD does.
	Present uint8
	// Failures counts the operations of this process that failed because
	// Redis could not be reached or answered with an error; those cannot
	// be counted in Redis itself.
	Failures uint64
}

func (s *Counters) field(c counter) *int64 {
	return [...]*int64{&s.Hits, &s.Misses, &s.Stores, &s.Deletes, &s.Errors, &s.Exceeds, &s.MaxLen}[c]
}

// maxLenScript raises a cache_max_*_len key to ARGV[1] if it is larger,
// atomically, and keeps the value an ASCII decimal.
var maxLenScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local n = tonumber(ARGV[1])
if n > cur then redis.call('SET', KEYS[1], ARGV[1]) return n end
return cur`)

// count adds one to a counter. The increment is kept in this process and
// sent with the others by the next flush (at most flushInterval later, and
// before Stats reads the counters), so that a cache operation costs one
// round trip and busy servers do not all hammer the seven counter keys.
func (s *store) count(c counter) { s.pending[c].Add(1) }

// flushInterval is how often pending counter increments are sent. Tests
// that must see every round trip lengthen it before opening a cache.
var flushInterval = 100 * time.Millisecond

// flushCounters sends the pending increments with one pipelined INCRBY
// per changed counter. Increments that Redis did not take are kept for the
// next flush. Counters are best effort: a failure is only traced.
func (s *store) flushCounters(ctx context.Context) error {
	_, err := s.sync(ctx, false)
	return err
}

// sync sends the pending increments and, if read is set, reads the seven
// counters back in the same pipeline: one round trip either way.
// Increments that did not reach Redis are kept for the next attempt;
// those Redis refused are dropped (a counter key that is not a number
// would refuse them forever).
func (s *store) sync(ctx context.Context, read bool) ([numCounters]*redis.StringCmd, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	var (
		taken [numCounters]int64
		incrs [numCounters]*redis.IntCmd
		gets  [numCounters]*redis.StringCmd
	)
	changed := false
	for i := range taken {
		if taken[i] = s.pending[i].Swap(0); taken[i] != 0 {
			changed = true
		}
	}
	if !changed && !read {
		return gets, nil
	}
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range taken {
			if n != 0 {
				incrs[i] = p.IncrBy(ctx, s.counterKeys[i], n)
			}
		}
		if read {
			for i := range gets {
				gets[i] = p.Get(ctx, s.counterKeys[i])
			}
		}
		return nil
	})
	var first error
	for i, cmd := range incrs {
		if cmd == nil || cmd.Err() == nil {
			continue
		}
		if !isReply(cmd.Err()) {
			s.pending[i].Add(taken[i])
		}
		if first == nil {
			first = cmd.Err()
		}
	}
	if first != nil {
		s.ch.Msg(2, "error incrementing counters: %v", first)
	}
	for _, cmd := range gets {
		if first == nil && cmd != nil && cmd.Err() != nil && !errors.Is(cmd.Err(), redis.Nil) {
			first = cmd.Err()
		}
	}
	return gets, first
}

// flushLoop flushes pending increments until stop is closed, then once
// more.
func (s *store) flushLoop() {
	defer close(s.stopped)
	tick := time.NewTicker(s.flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.stop:
			ctx, cancel := s.ctx()
			_ = s.flushCounters(ctx)
			cancel()
			return
		}
		ctx, cancel := s.ctx()
		_ = s.flushCounters(ctx)
		cancel()
	}
}

// exceeded counts an entry too large to store and records its size.
func (s *store) exceeded(ctx context.Context, size int) {
	s.count(cacheExceeds)
	if err := maxLenScript.Run(ctx, s.client, []string{s.counterKeys[cacheMaxLen]}, size).Err(); err != nil {
		s.ch.Msg(2, "error setting '%s' value: %v", s.counterNames[cacheMaxLen], err)
	}
}

// counters sends this process's pending increments and reads the
// counters back, in one pipelined round trip of INCRBYs and GETs (not
// MGET, which a Redis Cluster refuses across slots).
func (s *store) counters(ctx context.Context) (Counters, error) {
	st := Counters{Failures: s.failures.Load()}
	gets, err := s.sync(ctx, true)
	if err != nil {
		s.failed("GET", err)
		st.Failures = s.failures.Load()
		return st, fmt.Errorf("read %s counters from Redis: %w", s.kind, err)
	}
	for i, cmd := range gets {
		text, err := cmd.Result()
		if err != nil { // redis.Nil: the key does not exist
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			// Not a number we wrote: show the key exists, but not a wrong value.
			s.ch.Msg(2, "ignoring non-decimal '%s' value", s.counterNames[i])
			continue
		}
		*st.field(counter(i)) = n
		st.Present |= 1 << i
	}
	return st, nil
}

// stats reads the counters as a modtls.Stats: each counter as it is,
// with this process's failed operations among the errors. Redis expires
// entries itself and has no capacity, so Expired, Evicted, Entries and
// Capacity are zero.
func (s *store) stats() (modtls.Stats, error) {
	c, err := s.Counters()
	if err != nil {
		return modtls.Stats{}, err
	}
	u := func(n int64) uint64 { return uint64(max(n, 0)) }
	return modtls.Stats{
		Hits:     u(c.Hits),
		Misses:   u(c.Misses),
		Stored:   u(c.Stores),
		Deleted:  u(c.Deletes),
		Errors:   u(c.Errors) + c.Failures,
		TooLarge: u(c.Exceeds),
	}, nil
}

// statusLabels are the status lines' texts for each counter.
type statusLabels struct {
	header string
	lines  [numCounters]string
}

var (
	sessionLabels = statusLabels{
		header: "Redis SSL session cache provided by " + ModuleVersion,
		lines: [numCounters]string{
			"Cache lifetime hits",
			"Cache lifetime misses",
			"Cache lifetime sessions stored",
			"Cache lifetime sessions deleted",
			"Cache lifetime errors handling sessions in cache",
			"Cache lifetime sessions exceeding max entry size",
			"Largest session exceeding max entry size",
		},
	}
	ocspLabels = statusLabels{
		header: "Redis OCSP response cache provided by " + ModuleVersion,
		lines: [numCounters]string{
			"Cache lifetime hits",
			"Cache lifetime misses",
			"Cache lifetime responses stored",
			"Cache lifetime responses deleted",
			"Cache lifetime errors handling responses in cache",
			"Cache lifetime responses exceeding max entry size",
			"Largest response exceeding max entry size",
		},
	}
)

// writeStatus writes mod_tls_redis's status lines: the header, an empty
// line, the server, then one line per counter that exists in Redis. Unlike
// mod_tls_redis it names the server and prints the counters as the
// decimals they are; a last line reports this process's failed operations
// when there were any.
func writeStatus(w io.Writer, labels *statusLabels, server string, st Counters) error {
	var b strings.Builder
	b.WriteString(labels.header)
	b.WriteString("\n\nRedis server: ")
	b.WriteString(server)
	b.WriteByte('\n')
	for i := range numCounters {
		if st.Present&(1<<i) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %d\n", labels.lines[i], *st.field(i))
	}
	if st.Failures > 0 {
		fmt.Fprintf(&b, "Redis operations failed in this process: %d\n", st.Failures)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
