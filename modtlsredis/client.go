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
)

// Errors of Open, for errors.Is. Their texts are mod_redis's.
var (
	// ErrDisabled: the main server says "RedisEngine off".
	ErrDisabled = errors.New("Redis support disabled (see RedisEngine directive)") //nolint:staticcheck // ProFTPD's text
	// ErrNoServer: neither RedisServer nor RedisSentinel is configured.
	ErrNoServer = errors.New("No server configured") //nolint:staticcheck // ProFTPD's text
)

// connection is a client for one cache with what the cache needs to know
// about it.
type connection struct {
	client redis.UniversalClient
	// server describes where the client goes, for the status output.
	server string
	// timeout bounds every cache operation, retries included: a dial, the
	// AUTH/SELECT of a new connection, and the command.
	timeout time.Duration
}

// connect builds the client the settings describe. It dials nothing: the
// pool connects on first use and reconnects (with backoff) after
// failures, so a Redis that is down at startup is picked up when it comes
// back. Only a Sentinel setup without a master name asks the Sentinels
// now, to learn the name.
func connect(ctx context.Context, s *Settings) (*connection, error) {
	connectTimeout, ioTimeout := s.ConnectTimeout, s.IOTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultTimeout
	}
	if ioTimeout <= 0 {
		ioTimeout = DefaultTimeout
	}
	maxRetries := 1 // one retry of a command that failed on a broken connection
	if s.NoReconnect {
		maxRetries = -1
	}
	// A new connection costs a dial and the AUTH/SELECT exchange before the
	// command's own exchange; a retry happens only within what is left.
	c := &connection{timeout: connectTimeout + 2*ioTimeout}
	var ep Endpoint
	if len(s.Servers) > 0 {
		ep = s.Servers[0]
	}
	if ep.badDB != "" {
		return nil, fmt.Errorf("RedisServer %s: db-index '%s' is not a number", ep.Addr, ep.badDB)
	}
	// What all three kinds of client share.
	var (
		dialTimeout = connectTimeout
		rwTimeout   = ioTimeout
		maint       = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	)

	switch {
	case len(s.Sentinels) > 0:
		files := ep.TLS
		if !files.Enabled {
			files = s.SentinelTLS
		}
		tlsConf, err := tlsConfig(files, "")
		if err != nil {
			return nil, err
		}
		master := s.MasterName
		if master == "" {
			if master, err = firstMaster(ctx, s.Sentinels, tlsConf, dialTimeout, rwTimeout); err != nil {
				return nil, err
			}
		}
		c.client = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            master,
			SentinelAddrs:         s.Sentinels,
			Username:              ep.Username,
			Password:              ep.Password,
			DB:                    ep.DB,
			Protocol:              2,
			MaxRetries:            maxRetries,
			DialTimeout:           dialTimeout,
			DialerRetries:         1,
			ReadTimeout:           rwTimeout,
			WriteTimeout:          rwTimeout,
			ContextTimeoutEnabled: true,
			TLSConfig:             tlsConf,
			DisableIdentity:       true,
		})
		c.server = fmt.Sprintf("master '%s' via Sentinel %s", master, strings.Join(s.Sentinels, ", "))

	case len(s.Servers) == 1:
		tlsConf, err := tlsConfig(ep.TLS, ep.Addr)
		if err != nil {
			return nil, err
		}
		c.client = redis.NewClient(&redis.Options{
			Network:                  ep.Network,
			Addr:                     ep.Addr,
			Username:                 ep.Username,
			Password:                 ep.Password,
			DB:                       ep.DB,
			Protocol:                 2,
			MaxRetries:               maxRetries,
			DialTimeout:              dialTimeout,
			DialerRetries:            1,
			ReadTimeout:              rwTimeout,
			WriteTimeout:             rwTimeout,
			ContextTimeoutEnabled:    true,
			TLSConfig:                tlsConf,
			DisableIdentity:          true,
			MaintNotificationsConfig: maint,
		})
		c.server = ep.Addr

	case len(s.Servers) > 1:
		addrs := make([]string, len(s.Servers))
		for i, e := range s.Servers {
			if e.Network != "tcp" {
				return nil, fmt.Errorf("Redis Cluster node %s: cluster nodes must be host:port", e.Addr) //nolint:staticcheck // product name
			}
			if e.DB != 0 {
				return nil, fmt.Errorf("Redis Cluster node %s: a cluster has only database 0, not %d", e.Addr, e.DB) //nolint:staticcheck // product name
			}
			addrs[i] = e.Addr
		}
		tlsConf, err := tlsConfig(ep.TLS, "")
		if err != nil {
			return nil, err
		}
		c.client = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                    addrs,
			Username:                 ep.Username,
			Password:                 ep.Password,
			Protocol:                 2,
			MaxRetries:               maxRetries,
			MaxRedirects:             3,
			DialTimeout:              dialTimeout,
			DialerRetries:            1,
			ReadTimeout:              rwTimeout,
			WriteTimeout:             rwTimeout,
			ContextTimeoutEnabled:    true,
			TLSConfig:                tlsConf,
			DisableIdentity:          true,
			MaintNotificationsConfig: maint,
		})
		c.server = "cluster " + strings.Join(addrs, ", ")

	default:
		return nil, ErrNoServer
	}
	return c, nil
}

// firstMaster asks each Sentinel in turn for the masters it monitors and
// returns the first one's name, as mod_redis does when RedisSentinel names
// no master (but stopping at the first Sentinel that answers).
func firstMaster(ctx context.Context, sentinels []string, tlsConf *tls.Config, dial, rw time.Duration) (string, error) {
	var errs []error
	for _, addr := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{
			Addr: addr, Protocol: 2, DialTimeout: dial, DialerRetries: 1, ReadTimeout: rw, WriteTimeout: rw,
			MaxRetries: -1, TLSConfig: tlsConf, DisableIdentity: true,
		})
		cctx, cancel := context.WithTimeout(ctx, dial+2*rw)
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
