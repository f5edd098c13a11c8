package modtlsredis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/trace"
)

// TraceChannel is the trace channel of both caches, as in mod_tls_redis.
const TraceChannel = "tls.redis"

// clearTimeout bounds clear and remove, which walk the keyspace.
const clearTimeout = time.Minute

// store is what the session and OCSP caches share: a Redis client, a
// namespace, its counters, and the bookkeeping of Redis failures.
type store struct {
	client      redis.UniversalClient
	server      string        // where the client goes, for the status output
	timeout     time.Duration // bounds every operation, retries included
	closeClient bool          // close closes the client

	kind         string // "session" or "OCSP", for messages
	format       *entryFormat
	counterKeys  [numCounters]string
	counterNames [numCounters]string

	ch  *trace.Channel
	log logrus.FieldLogger

	failures atomic.Uint64 // operations that failed for want of Redis
	down     atomic.Bool   // the last operation failed; logged once per outage

	pending    [numCounters]atomic.Int64 // counter increments not yet sent
	flushEvery time.Duration             // flushInterval when the cache opened
	flushMu    sync.Mutex                // one flush at a time; remove waits for it
	stop       chan struct{}             // closed by close: flushLoop ends
	stopped    chan struct{}             // closed by flushLoop when it is done
	closeOnce  sync.Once
	closeErr   error
}

// close stops the counter flushing, after a last flush, and closes the
// client if the cache owns it. Later calls return the first call's result.
func (s *store) close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
		if s.closeClient {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// ctx returns the deadline of one cache operation.
func (s *store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// failed records an operation that Redis did not carry out: a connection
// failure, a timeout, or an error reply (NOAUTH, READONLY, OOM, ...). The
// first failure of an outage is logged; the TLS handshake goes on without
// the cache.
func (s *store) failed(cmd string, err error) {
	s.failures.Add(1)
	s.ch.Msg(2, "error executing %s command: %v", cmd, err)
	if s.down.CompareAndSwap(false, true) && s.log != nil {
		s.log.Warnf("%s: Redis %s failed for the %s cache (%v); TLS handshakes go on without it until it is back",
			ModuleVersion, s.server, s.kind, err)
	}
}

// succeeded marks Redis as working again after failures.
func (s *store) succeeded() {
	if s.down.Load() && s.down.CompareAndSwap(true, false) && s.log != nil {
		s.log.Infof("%s: Redis %s is back for the %s cache", ModuleVersion, s.server, s.kind)
	}
}

// isReply reports whether err is an error reply from Redis, as opposed to
// a connection failure; after a reply, counting the error in Redis may
// still work.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil)
}

// ping checks the connection at open. An error reply (wrong password,
// unknown database) is a configuration error and fails the open; a
// connection failure only means Redis is down for now, which fails the
// open unless whileDown, since the pool recovers from it.
func (s *store) ping(whileDown bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.client.Ping(ctx).Err()
	switch {
	case err == nil:
		return nil
	case isReply(err) || !whileDown:
		return err
	default:
		s.failed("PING", err)
		return nil
	}
}

// clear unlinks every entry of the namespace, not the counters, and
// returns how many there were. It walks the keyspace with SCAN (on every
// master of a cluster) and unlinks each batch in one pipeline, so it
// never blocks Redis, and it stops after clearTimeout.
func (s *store) clear() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clearTimeout)
	defer cancel()
	// Neither the namespace nor "{" is special in a SCAN pattern.
	pattern := s.format.prefix + "{*"
	var total atomic.Int64
	clearNode := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 512).Result()
			if err != nil {
				return fmt.Errorf("SCAN: %w", err)
			}
			if len(keys) > 0 {
				// One UNLINK per key: a cluster refuses multi-key
				// commands across hash slots.
				cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						p.Unlink(ctx, k)
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("UNLINK: %w", err)
				}
				for _, cmd := range cmds {
					total.Add(cmd.(*redis.IntCmd).Val())
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, clearNode)
	case *redis.Client:
		err = clearNode(ctx, c)
	default:
		err = fmt.Errorf("unexpected Redis client %T", s.client)
	}
	if err != nil {
		s.failed("SCAN", err)
		return int(total.Load()), fmt.Errorf("clear Redis %s cache: %w", s.kind, err)
	}
	s.succeeded()
	return int(total.Load()), nil
}

// remove clears the namespace and unlinks its counters as well, with
// the increments not yet sent.
func (s *store) remove() error {
	if _, err := s.clear(); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for i := range s.pending {
		s.pending[i].Store(0)
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range s.counterKeys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	if err != nil {
		s.failed("UNLINK", err)
		return fmt.Errorf("remove Redis %s cache counters: %w", s.kind, err)
	}
	return nil
}

// Counters reads the cache's counters from Redis.
func (s *store) Counters() (Counters, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.counters(ctx)
}
