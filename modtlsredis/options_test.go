package modtlsredis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// TestNewCacheOptions: the Go constructors on a caller's client.
func TestNewCacheOptions(t *testing.T) {
	r := startRedis(t)
	newClient := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}

	if _, err := NewSessionCache(nil, Options{}); err == nil {
		t.Error("NewSessionCache(nil) succeeded")
	}

	t.Run("defaults", func(t *testing.T) {
		client := newClient(r.addr())
		c, err := NewSessionCache(client, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c.s.timeout != DefaultOperationTimeout || c.s.server != r.addr() {
			t.Errorf("timeout %v, server %q; want %v, %q", c.s.timeout, c.s.server, DefaultOperationTimeout, r.addr())
		}
		var b strings.Builder
		if err := c.Status(&b, false); err != nil || !strings.Contains(b.String(), "\nRedis server: "+r.addr()+"\n") {
			t.Errorf("Status = %q, %v", b.String(), err)
		}
		// Close leaves the caller's client open.
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := client.Ping(bg()).Err(); err != nil {
			t.Errorf("the caller's client after Close: %v", err)
		}
	})

	t.Run("CloseClient", func(t *testing.T) {
		client := newClient(r.addr())
		c, err := NewOCSPCache(client, Options{CloseClient: true, Server: "the cache", Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if c.s.timeout != 3*time.Second || c.s.server != "the cache" {
			t.Errorf("timeout %v, server %q", c.s.timeout, c.s.server)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := client.Ping(bg()).Err(); !errors.Is(err, redis.ErrClosed) {
			t.Errorf("client after Close with CloseClient: %v, want redis.ErrClosed", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		down := "127.0.0.1:" + itoa(freePort(t))
		client := newClient(down)
		if c, err := NewSessionCache(client, Options{}); err == nil {
			c.Close()
			t.Error("NewSessionCache on an unreachable Redis succeeded without OpenWhileDown")
		}
		// The failed constructor did not close the caller's client.
		if err := client.Ping(bg()).Err(); errors.Is(err, redis.ErrClosed) {
			t.Error("a failed constructor closed the caller's client")
		}
		c, err := NewSessionCache(client, Options{OpenWhileDown: true})
		if err != nil {
			t.Fatalf("OpenWhileDown: %v", err)
		}
		defer c.Close()
		if c.s.failures.Load() != 1 {
			t.Errorf("failures %d, want 1 (the PING)", c.s.failures.Load())
		}
	})

	t.Run("error reply fails either way", func(t *testing.T) {
		auth := startRedis(t, "--requirepass", "s3cret")
		for _, whileDown := range []bool{false, true} {
			if c, err := NewSessionCache(newClient(auth.addr()), Options{OpenWhileDown: whileDown}); err == nil {
				c.Close()
				t.Errorf("OpenWhileDown %v: NOAUTH did not fail the constructor", whileDown)
			}
		}
	})

	t.Run("cluster client", func(t *testing.T) {
		// A ClusterClient on a plain Redis fails at its first command,
		// but is described as a cluster.
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.addr(), "127.0.0.1:1"}})
		t.Cleanup(func() { cc.Close() })
		if got := describeClient(cc); got != "cluster "+r.addr()+", 127.0.0.1:1" {
			t.Errorf("describeClient = %q", got)
		}
	})
}

// TestClientOptions: what each mod_redis setup becomes in go-redis's
// terms, and which client redis.NewUniversalClient makes of it.
func TestClientOptions(t *testing.T) {
	tests := []struct {
		name       string
		lines      []string
		addrs      []string
		master     string
		db         int
		user, pass string
		dial, io   time.Duration
		retries    int
		kind       string // the client's type
		server     string // the status's "Redis server:"
	}{
		{
			name: "one server", lines: []string{`RedisServer 10.0.0.5 ftpd pw 3`, "RedisTimeouts 300 100"},
			addrs: []string{"10.0.0.5:6379"}, db: 3, user: "ftpd", pass: "pw", dial: 300 * time.Millisecond, io: 100 * time.Millisecond,
			retries: 1, kind: "*redis.Client", server: "10.0.0.5:6379",
		},
		{
			name: "unix socket, NoReconnect, zero timeouts", lines: []string{"RedisServer /run/redis.sock", "RedisOptions NoReconnect", "RedisTimeouts 0 0"},
			addrs: []string{"/run/redis.sock"}, dial: DefaultTimeout, io: DefaultTimeout, retries: -1, kind: "*redis.Client", server: "/run/redis.sock",
		},
		{
			name: "cluster", lines: []string{"RedisServer 10.0.0.1:7000", "RedisServer [::1]:7001"},
			addrs: []string{"10.0.0.1:7000", "[::1]:7001"}, dial: DefaultTimeout, io: DefaultTimeout, retries: 1,
			kind: "*redis.ClusterClient", server: "cluster 10.0.0.1:7000, [::1]:7001",
		},
		{
			name: "sentinel", lines: []string{`RedisServer 10.0.0.5 "" pw 2`, "RedisSentinel 127.0.0.1 127.0.0.2:26380 master mymaster"},
			addrs: []string{"127.0.0.1:26379", "127.0.0.2:26380"}, master: "mymaster", db: 2, pass: "pw", dial: DefaultTimeout, io: DefaultTimeout,
			retries: 1, kind: "*redis.Client", server: "master 'mymaster' via Sentinel 127.0.0.1:26379, 127.0.0.2:26380",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			s := SettingsOf(cfg.Main)
			o, err := s.ClientOptions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(o.Addrs, " ") != strings.Join(tt.addrs, " ") || o.MasterName != tt.master || o.DB != tt.db ||
				o.Username != tt.user || o.Password != tt.pass {
				t.Errorf("Addrs %q master %q db %d user %q password %q", o.Addrs, o.MasterName, o.DB, o.Username, o.Password)
			}
			if o.DialTimeout != tt.dial || o.ReadTimeout != tt.io || o.WriteTimeout != tt.io || o.MaxRetries != tt.retries ||
				!o.ContextTimeoutEnabled || o.Protocol != 2 {
				t.Errorf("dial %v read %v write %v retries %d context %v protocol %d", o.DialTimeout, o.ReadTimeout, o.WriteTimeout,
					o.MaxRetries, o.ContextTimeoutEnabled, o.Protocol)
			}
			client := redis.NewUniversalClient(o)
			defer client.Close()
			if got := typeName(client); got != tt.kind {
				t.Errorf("client %s, want %s", got, tt.kind)
			}
			co := s.cacheOptions(o, modtls.Env{})
			if co.Timeout != tt.dial+2*tt.io || co.Server != tt.server || !co.OpenWhileDown || !co.CloseClient {
				t.Errorf("cache options %+v", co)
			}
		})
	}

	for _, bad := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"no server", nil, ErrNoServer.Error()},
		{"db not a number", []string{`RedisServer 10.0.0.5 "" pw x`}, "db-index 'x' is not a number"},
		{"cluster with a database", []string{"RedisServer 10.0.0.1:7000 \"\" \"\" 1", "RedisServer 10.0.0.2:7000"}, "a cluster has only database 0"},
		{"cluster with a socket", []string{"RedisServer /run/redis.sock", "RedisServer 10.0.0.2:7000"}, "cluster nodes must be host:port"},
	} {
		cfg, err := parse(t, bad.lines...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SettingsOf(cfg.Main).ClientOptions(context.Background()); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.name, err, bad.want)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}
