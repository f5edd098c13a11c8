package modtlsredis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// Errors of Open, for errors.Is. Their texts are mod_redis's.
var (
	// ErrDisabled: the main server says "RedisEngine off".
	ErrDisabled = errors.New("Redis support disabled (see RedisEngine directive)") //nolint:staticcheck // ProFTPD's text
	// ErrNoServer: neither RedisServer nor RedisSentinel is configured.
	ErrNoServer = errors.New("No server configured") //nolint:staticcheck // ProFTPD's text
)

// ClientOptions returns the go-redis options the settings describe: one
// RedisServer line is a plain Redis (Simple), several are the seed nodes
// of a Redis Cluster (Cluster), and RedisSentinel finds a master through
// the Sentinels (Failover); redis.NewUniversalClient picks the same way.
// The timeouts are RedisTimeouts' (500 ms each by default; 0 means the
// default), RESP2 is spoken as by mod_redis, a command that failed on a
// broken connection is retried once unless RedisOptions says NoReconnect,
// and the options make the client honour the caches' per-operation
// deadlines (ContextTimeoutEnabled).
//
// Only a Sentinel setup without "master NAME" does network I/O here: it
// asks the Sentinels in turn for the first master they monitor.
func (s *Settings) ClientOptions(ctx context.Context) (*redis.UniversalOptions, error) {
	if s == nil {
		s = DefaultSettings()
	}
	connectTimeout, ioTimeout := s.timeouts()
	maxRetries := 1 // one retry of a command that failed on a broken connection
	if s.NoReconnect {
		maxRetries = -1
	}
	var ep Endpoint
	if len(s.Servers) > 0 {
		ep = s.Servers[0]
	}
	if ep.badDB != "" {
		return nil, fmt.Errorf("RedisServer %s: db-index '%s' is not a number", ep.Addr, ep.badDB)
	}
	o := &redis.UniversalOptions{
		Username:              ep.Username,
		Password:              ep.Password,
		DB:                    ep.DB,
		Protocol:              2,
		MaxRetries:            maxRetries,
		DialTimeout:           connectTimeout,
		DialerRetries:         1,
		ReadTimeout:           ioTimeout,
		WriteTimeout:          ioTimeout,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		// Not for Failover, which has no such option.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	var err error
	switch {
	case len(s.Sentinels) > 0:
		files := ep.TLS
		if !files.Enabled {
			files = s.SentinelTLS
		}
		if o.TLSConfig, err = tlsConfig(files, ""); err != nil {
			return nil, err
		}
		o.Addrs = s.Sentinels
		if o.MasterName = s.MasterName; o.MasterName == "" {
			if o.MasterName, err = firstMaster(ctx, o); err != nil {
				return nil, err
			}
		}

	case len(s.Servers) == 1:
		if o.TLSConfig, err = tlsConfig(ep.TLS, ep.Addr); err != nil {
			return nil, err
		}
		// A socket path ("/...") is a unix socket to go-redis too.
		o.Addrs = []string{ep.Addr}

	case len(s.Servers) > 1:
		for _, e := range s.Servers {
			if e.Network != "tcp" {
				return nil, fmt.Errorf("Redis Cluster node %s: cluster nodes must be host:port", e.Addr) //nolint:staticcheck // product name
			}
			if e.DB != 0 {
				return nil, fmt.Errorf("Redis Cluster node %s: a cluster has only database 0, not %d", e.Addr, e.DB) //nolint:staticcheck // product name
			}
			o.Addrs = append(o.Addrs, e.Addr)
		}
		if o.TLSConfig, err = tlsConfig(ep.TLS, ""); err != nil {
			return nil, err
		}

	default:
		return nil, ErrNoServer
	}
	return o, nil
}

// timeouts returns RedisTimeouts, with the default for 0: the caches never
// wait without bound.
func (s *Settings) timeouts() (connect, io time.Duration) {
	connect, io = s.ConnectTimeout, s.IOTimeout
	if connect <= 0 {
		connect = DefaultTimeout
	}
	if io <= 0 {
		io = DefaultTimeout
	}
	return connect, io
}

// cacheOptions returns the Options of a cache opened from the settings:
// every operation bounded by a dial, the AUTH/SELECT exchange of a new
// connection and the command's own exchange (a retry happens only within
// what is left), and a Redis that is down at startup tolerated, as the
// server must start anyway.
func (s *Settings) cacheOptions(o *redis.UniversalOptions, env modtls.Env) Options {
	connect, io := s.timeouts()
	return Options{
		Timeout:       connect + 2*io,
		Server:        describe(o),
		OpenWhileDown: true,
		CloseClient:   true,
		Log:           env.Log,
		Trace:         env.Trace,
	}
}

// describe says where a client made from o goes, for the status output.
func describe(o *redis.UniversalOptions) string {
	switch {
	case o.MasterName != "":
		return fmt.Sprintf("master '%s' via Sentinel %s", o.MasterName, strings.Join(o.Addrs, ", "))
	case len(o.Addrs) > 1:
		return "cluster " + strings.Join(o.Addrs, ", ")
	case len(o.Addrs) == 1:
		return o.Addrs[0]
	}
	return ""
}

// describeClient says where client goes, for a cache opened without
// Options.Server.
func describeClient(client redis.UniversalClient) string {
	switch c := client.(type) {
	case *redis.Client:
		if addr := c.Options().Addr; addr != "FailoverClient" { // go-redis's name for sentinel-backed clients
			return addr
		}
		return "master via Sentinel"
	case *redis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ", ")
	}
	return fmt.Sprintf("%T", client)
}

// firstMaster asks each Sentinel of o in turn for the masters it
// monitors and returns the first one's name, as mod_redis does when
// RedisSentinel names no master (but stopping at the first Sentinel that
// answers).
func firstMaster(ctx context.Context, o *redis.UniversalOptions) (string, error) {
	var errs []error
	for _, addr := range o.Addrs {
		so := o.Simple()
		so.Addr, so.Username, so.Password, so.DB = addr, o.SentinelUsername, o.SentinelPassword, 0
		so.MaxRetries = -1
		sc := redis.NewSentinelClient(so)
		cctx, cancel := context.WithTimeout(ctx, o.DialTimeout+2*o.ReadTimeout)
		masters, err := sc.Masters(cctx).Result()
		cancel()
		_ = sc.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("Sentinel %s: %w", addr, err)) //nolint:staticcheck // product name
			continue
		}
		for _, m := range masters {
			if name := masterName(m); name != "" {
				return name, nil
			}
		}
		errs = append(errs, fmt.Errorf("Sentinel %s: no masters", addr)) //nolint:staticcheck // product name
	}
	return "", fmt.Errorf("find Redis master through Sentinels: %w", errors.Join(errs...))
}

// masterName finds the "name" field of one SENTINEL MASTERS entry (a flat
// list of field, value pairs in RESP2, a map in RESP3).
func masterName(m any) string {
	switch v := m.(type) {
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			if k, _ := v[i].(string); k == "name" {
				name, _ := v[i+1].(string)
				return name
			}
		}
	case map[any]any:
		name, _ := v["name"].(string)
		return name
	case map[string]any:
		name, _ := v["name"].(string)
		return name
	}
	return ""
}

// tlsConfig builds the client TLS configuration of ssl:true, or nil for
// plain TCP. addr, if given, supplies the name to verify.
func tlsConfig(f TLSFiles, addr string) (*tls.Config, error) {
	if !f.Enabled {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		conf.ServerName = host
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("Redis ssl-ca: %w", err) //nolint:staticcheck // product name
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Redis ssl-ca %s: no PEM certificates", f.CA) //nolint:staticcheck // product name
		}
		conf.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		key := f.Key
		if key == "" {
			key = f.Cert
		}
		cert, err := tls.LoadX509KeyPair(f.Cert, key)
		if err != nil {
			return nil, fmt.Errorf("Redis ssl-cert/ssl-key: %w", err) //nolint:staticcheck // product name
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
