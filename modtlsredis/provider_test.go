package modtlsredis

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/modtls"
)

func TestRegistration(t *testing.T) {
	for _, m := range []string{RedisModuleName, ModuleName} {
		if !slices.Contains(directives.Registered(), m) {
			t.Errorf("module %s not registered with the parser", m)
		}
	}
	sp, err := modtls.LookupSessionCache(ProviderName)
	if err != nil {
		t.Fatal(err)
	}
	op, err := modtls.LookupOCSPCache(ProviderName)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Module() != "mod_tls_redis.c" || op.Module() != "mod_tls_redis.c" {
		t.Errorf("Module() = %q, %q", sp.Module(), op.Module())
	}
	for _, p := range []any{sp, op} {
		ic, ok := p.(modtls.InfoChecker)
		if !ok {
			t.Fatalf("%T is not an InfoChecker", p)
		}
		if w := ic.CheckInfo("/json"); len(w) != 0 {
			t.Errorf("CheckInfo(/json) = %q", w)
		}
		// As ProFTPD's server log prints them, with the module prefix.
		if w := ic.CheckInfo("10.0.0.1:6379"); len(w) != 1 || !strings.HasPrefix(w[0], ModuleVersion+": ") {
			t.Errorf("CheckInfo of an address = %q, want one warning starting %q", w, ModuleVersion+": ")
		}
	}
	// mod_tls_redis needs mod_tls before it, and not mod_redis, as the
	// real LoadModule does.
	_, err = directives.Parse(strings.NewReader("LoadModule mod_redis.c\nLoadModule mod_tls.c\nLoadModule mod_tls_redis.c\nTLSSessionCache redis:\n"), "/etc/proftpd/t.conf", directives.Options{})
	if err != nil {
		t.Errorf("config loading all three modules: %v", err)
	}
	_, err = directives.Parse(strings.NewReader("LoadModule mod_tls_redis.c\nLoadModule mod_tls.c\n"), "/etc/proftpd/t.conf", directives.Options{})
	var req *directives.RequiresError
	if !errors.As(err, &req) || req.Requires != modtls.ModuleName {
		t.Errorf("mod_tls_redis.c before mod_tls.c: %v, want it to require %s", err, modtls.ModuleName)
	}
}

// TestWithoutModRedis: like ProFTPD, a configuration may load
// mod_tls_redis without mod_redis and name a "redis:" cache; with no
// RedisServer to write, the cache fails to open when the server starts.
func TestWithoutModRedis(t *testing.T) {
	cfg, err := directives.Parse(strings.NewReader("LoadModule mod_tls.c\nLoadModule mod_tls_redis.c\n"+
		"TLSSessionCache redis: 600\nTLSStaplingCache redis:\n"), "/etc/proftpd/t.conf", directives.Options{})
	if err != nil {
		t.Fatalf("mod_tls_redis without mod_redis: %v", err)
	}
	if cfg.ModuleLoaded(RedisModuleName) || !cfg.ModuleLoaded(ModuleName) {
		t.Fatalf("loaded modules %v", cfg.LoadedModules())
	}
	sp, _ := modtls.LookupSessionCache(ProviderName)
	if _, err := sp.Open("", 600*time.Second, modtls.Env{Server: cfg.Main}); !errors.Is(err, ErrNoServer) {
		t.Errorf("session cache open: %v, want ErrNoServer", err)
	}
	op, _ := modtls.LookupOCSPCache(ProviderName)
	if _, err := op.Open("", modtls.Env{Server: cfg.Main}); !errors.Is(err, ErrNoServer) {
		t.Errorf("OCSP cache open: %v, want ErrNoServer", err)
	}
	// And mod_redis's directives are unknown then, as in ProFTPD.
	_, err = directives.Parse(strings.NewReader("LoadModule mod_tls.c\nLoadModule mod_tls_redis.c\nRedisServer 127.0.0.1:6379\n"),
		"/etc/proftpd/t.conf", directives.Options{})
	if !errors.Is(err, directives.ErrUnknownDirective) {
		t.Errorf("RedisServer without mod_redis: %v, want an unknown directive", err)
	}
}

// TestProviderUsesMainServerSettings opens the provider as modtls does,
// with the main server in Env.
func TestProviderUsesMainServerSettings(t *testing.T) {
	r := startRedis(t)
	cfg, err := parse(t, "RedisServer "+r.addr()+` "" "" 5`, "RedisTimeouts 300 100")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := modtls.LookupSessionCache(ProviderName)
	sc, err := sp.Open("/json", time.Hour, modtls.Env{Server: cfg.Main})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if got := sc.(*SessionCache).s.timeout; got != 500*time.Millisecond {
		t.Errorf("operation bound %v, want 300ms + 2*100ms", got)
	}
	id := randomID(t)
	if err := sc.Add(id, time.Now().Add(time.Hour), goState(30)); err != nil {
		t.Fatal(err)
	}
	db5 := redis.NewClient(&redis.Options{Addr: r.addr(), DB: 5, Protocol: 2, DisableIdentity: true})
	defer db5.Close()
	if db5.Exists(bg(), string(appendSessionKey(nil, id))).Val() != 1 {
		t.Error("session not in database 5")
	}

	// No configuration: no server.
	if _, err := sp.Open("", time.Hour, modtls.Env{}); !errors.Is(err, ErrNoServer) {
		t.Errorf("Open without a server: %v, want ErrNoServer", err)
	}
	// A caller that sets only the deprecated Env.Config still works.
	old, err := sp.Open("", time.Hour, modtls.Env{Config: cfg}) //nolint:staticcheck // the deprecated field
	if err != nil {
		t.Fatalf("Open with Env.Config: %v", err)
	}
	if got := old.(*SessionCache).s.server; got != r.addr() {
		t.Errorf("Open with Env.Config: server %q, want %q", got, r.addr())
	}
	old.Close()
	// RedisEngine off in the main server refuses, as mod_tls_redis does.
	off, err := parse(t, "RedisEngine off", "RedisServer "+r.addr())
	if err != nil {
		t.Fatal(err)
	}
	op, _ := modtls.LookupOCSPCache(ProviderName)
	if _, err := op.Open("", modtls.Env{Server: off.Main}); !errors.Is(err, ErrDisabled) {
		t.Errorf("Open with RedisEngine off: %v, want ErrDisabled", err)
	}
}

// TestOpenWhileRedisDown: the cache opens without Redis, fails fast, and
// works as soon as Redis starts.
func TestOpenWhileRedisDown(t *testing.T) {
	bin := testpeers.Need(t, "redis-server", "/usr/bin/redis-server")
	r := &redisProc{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	t.Cleanup(r.stop)
	logger, hook := logtest.NewNullLogger()
	c, err := OpenSessionCache(serverSettings(r.addr()), "", modtls.Env{Log: logger})
	if err != nil {
		t.Fatalf("OpenSessionCache without Redis: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if c.s.failures.Load() != 1 {
		t.Errorf("failures after opening without Redis: %d, want 1 (the PING)", c.s.failures.Load())
	}
	// It fails fast: on the refused connection, not at a deadline.
	if _, _, err := c.Get(randomID(t)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Get without Redis: %v, want connection refused", err)
	}
	r.start()
	id := randomID(t)
	waitFor(t, "Add succeeds once Redis runs", time.Minute, func() bool {
		return c.Add(id, time.Now().Add(time.Hour), goState(30)) == nil
	})
	if _, _, err := c.Get(id); err != nil {
		t.Errorf("Get after Redis started: %v", err)
	}
	// One line when the outage began, one when it ended.
	var levels []string
	for _, e := range hook.AllEntries() {
		levels = append(levels, e.Level.String()+": "+e.Message)
	}
	if len(levels) != 2 || !strings.HasPrefix(levels[0], "warning: mod_tls_redis/0.1: Redis "+r.addr()+" failed") ||
		!strings.HasPrefix(levels[1], "info: mod_tls_redis/0.1: Redis "+r.addr()+" is back") {
		t.Errorf("log lines %q, want one warning and one info", levels)
	}
}
