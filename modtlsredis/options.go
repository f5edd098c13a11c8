package modtlsredis

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"

	"time"
)

// DefaultOperationTimeout bounds each cache operation when Options.Timeout
// is zero: mod_redis's default connect timeout plus twice its default I/O
// timeout.
const DefaultOperationTimeout = 3 * DefaultTimeout

// Options are what NewSessionCache and NewOCSPCache need besides a Redis
// client. The zero value is ready to use.
type Options struct {
	// Timeout bounds every cache operation, retries included, through the
	// operation's context; zero means DefaultOperationTimeout. A TLS
	// handshake waits at most this long for the cache. The client must
	// honour context deadlines (go-redis: ContextTimeoutEnabled) for the
	// bound to hold; otherwise its own read and write timeouts apply.
	Timeout time.Duration
	// Server names the Redis after "Redis server:" in Status; empty means
	// the client's address.
	Server string
	// OpenWhileDown opens the cache even when Redis cannot be reached at
	// open; operations then fail fast until it answers, and the cache
	// works from then on without a restart. By default (false) the
	// constructor fails instead. A Redis that answers with an error (wrong
	// password, unknown database) fails the constructor either way. The
	// proftpd.conf route sets it, because the server must start anyway.
	OpenWhileDown bool
	// CloseClient makes the cache's Close (and Remove) close the client
	// too. Leave it false for a client the application shares.
	CloseClient bool
	// Log receives the notices: the start and the end of a Redis outage,
	// once each. Nil discards.
	Log logrus.FieldLogger
	// Trace receives mod_tls_redis's trace messages on channel
	// "tls.redis" (never a session or a response). Nil discards.
	Trace *trace.Tracer
}

// NewSessionCache returns a session cache keeping its entries in Redis
// through client, in mod_tls_redis's format: give it to modtls as the
// session cache (it implements modtls.SessionCache and
// modtls.StatsReporter). client may be any go-redis client (a Client, a
// sentinel-backed failover Client, a ClusterClient), for example
// redis.NewUniversalClient(&redis.UniversalOptions{...}); see Options for
// what the constructor checks and who closes the client.
func NewSessionCache(client redis.UniversalClient, opts Options) (*SessionCache, error) {
	st, err := newStore(client, opts, "session", &sessionFormat, "cache_max_sess_len")
	if err != nil {
		return nil, err
	}
	return &SessionCache{s: st}, nil
}

// NewOCSPCache returns an OCSP response cache keeping its entries in
// Redis through client; see NewSessionCache.
func NewOCSPCache(client redis.UniversalClient, opts Options) (*OCSPCache, error) {
	st, err := newStore(client, opts, "OCSP", &ocspFormat, "cache_max_resp_len")
	if err != nil {
		return nil, err
	}
	return &OCSPCache{s: st}, nil
}

// OpenSessionCache opens a session cache with the given mod_redis
// settings (nil for the defaults, which have no server), as the
// proftpd.conf route does: it makes the client that ClientOptions
// describes and calls NewSessionCache with it, the Options it implies
// (RedisTimeouts' bound, OpenWhileDown, CloseClient) and env's log and
// trace. info is the text after "redis:", which, as in mod_tls_redis,
// only appears in the trace. There is no timeout: each entry expires at
// the time Add is given (mod_tls's TLSSessionCache timeout after the
// session began).
func OpenSessionCache(settings *Settings, info string, env modtls.Env) (*SessionCache, error) {
	client, opts, err := settings.client(info, "session", env)
	if err != nil {
		return nil, err
	}
	return NewSessionCache(client, opts)
}

// OpenOCSPCache opens an OCSP response cache with the given mod_redis
// settings; see OpenSessionCache.
func OpenOCSPCache(settings *Settings, info string, env modtls.Env) (*OCSPCache, error) {
	client, opts, err := settings.client(info, "OCSP", env)
	if err != nil {
		return nil, err
	}
	return NewOCSPCache(client, opts)
}

// client makes the client and options of a cache opened from settings.
func (s *Settings) client(info, kind string, env modtls.Env) (redis.UniversalClient, Options, error) {
	if s == nil {
		s = DefaultSettings()
	}
	ch := env.Trace.Channel(TraceChannel)
	ch.Msg(9, "opening Redis cache (info '%s')", info)
	if s.EngineSet && !s.Engine {
		ch.Msg(2, "%s", ErrDisabled.Error())
		return nil, Options{}, fmt.Errorf("open Redis %s cache: %w", kind, ErrDisabled)
	}
	o, err := s.ClientOptions(context.Background())
	if err != nil {
		ch.Msg(2, "error connecting to Redis: %v", err)
		return nil, Options{}, fmt.Errorf("open Redis %s cache: %w", kind, err)
	}
	return redis.NewUniversalClient(o), s.cacheOptions(o, env), nil
}

// newStore is NewSessionCache and NewOCSPCache: a store on client, checked
// with a PING.
func newStore(client redis.UniversalClient, opts Options, kind string, format *entryFormat, maxLenName string) (*store, error) {
	if client == nil {
		return nil, fmt.Errorf("open Redis %s cache: %w", kind, errNilClient)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultOperationTimeout
	}
	if opts.Server == "" {
		opts.Server = describeClient(client)
	}
	s := &store{
		client:       client,
		server:       opts.Server,
		timeout:      opts.Timeout,
		closeClient:  opts.CloseClient,
		kind:         kind,
		format:       format,
		counterNames: counterNames(maxLenName),
		ch:           opts.Trace.Channel(TraceChannel),
		log:          opts.Log,
		flushEvery:   flushInterval,
	}
	for i, name := range s.counterNames {
		s.counterKeys[i] = format.prefix + name
	}
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.flushLoop()
	if err := s.ping(opts.OpenWhileDown); err != nil {
		s.ch.Msg(2, "error connecting to Redis: %v", err)
		_ = s.close()
		return nil, fmt.Errorf("open Redis %s cache on %s: %w", kind, s.server, err)
	}
	return s, nil
}

var errNilClient = errors.New("no Redis client")
