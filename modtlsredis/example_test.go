package modtlsredis_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsredis"
)

// redisAddr is the address of a Redis to run the examples against; the
// package's tests start one on 127.0.0.1 (a program would say
// "10.0.0.5:6379").
func redisAddr() string { return os.Getenv("MODTLSREDIS_EXAMPLE_REDIS") }

// A session cache on a go-redis client the application already has: the
// cache uses it and leaves it open. Any redis.UniversalClient works: a
// Client, a sentinel-backed failover Client, a ClusterClient.
func ExampleNewSessionCache() {
	client := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer client.Close()

	cache, err := modtlsredis.NewSessionCache(client, modtlsredis.Options{
		Timeout: 2 * time.Second, // a handshake waits at most this long for Redis
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()

	// What modtls takes; here the cache is also used by hand.
	_ = modtls.Config{SessionCache: cache, SessionCacheName: "redis"}

	// The counters, for metrics, are shared by every server on this Redis;
	// Stats reads them in one round trip.
	var stats modtls.StatsReporter = cache
	before, _ := stats.Stats()

	// modtls stores and finds sessions through the modtls.SessionCache
	// interface; here by hand.
	var sc modtls.SessionCache = cache
	id := []byte("an example session id, 32 bytes")
	if err := sc.Add(id, time.Now().Add(time.Hour), []byte{3, 4, 1, 'x'}); err != nil {
		fmt.Println(err)
		return
	}
	state, _, err := sc.Get(id)
	fmt.Printf("state %q, err %v\n", state, err)
	_ = sc.Delete(id)

	after, err := stats.Stats()
	fmt.Println("stored", after.Stored-before.Stored, "hits", after.Hits-before.Hits, "deleted", after.Deleted-before.Deleted, err)
	// Output:
	// state "\x03\x04\x01x", err <nil>
	// stored 1 hits 1 deleted 1 <nil>
}

// An OCSP response cache on a client made from go-redis options; the
// cache owns it (CloseClient) and closes it with itself.
func ExampleNewOCSPCache() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{redisAddr()}, // several addresses: a Redis Cluster
		DialTimeout:           2 * time.Second,
		ReadTimeout:           2 * time.Second,
		ContextTimeoutEnabled: true,
	})
	cache, err := modtlsredis.NewOCSPCache(client, modtlsredis.Options{CloseClient: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()

	var oc modtls.OCSPCache = cache
	fingerprint := "d5a9c2cc0d1c5b4f6c8ab1c2b9f3e6a1a2b3d356" // SHA-1 of the certificate
	tryLater := []byte{0x30, 0x03, 0x0a, 0x01, 0x03}
	if err := oc.Add(fingerprint, tryLater, time.Now()); err != nil {
		fmt.Println(err)
		return
	}
	der, _, err := oc.Get(fingerprint)
	fmt.Printf("% x %v\n", der, err)
	// Output: 30 03 0a 01 03 <nil>
}

// By default the constructor fails when Redis cannot be reached;
// OpenWhileDown opens anyway, and the cache works once Redis answers.
func ExampleOptions_openWhileDown() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer client.Close()
	_, err := modtlsredis.NewSessionCache(client, modtlsredis.Options{})
	fmt.Println("strict:", err != nil)

	cache, err := modtlsredis.NewSessionCache(client, modtlsredis.Options{OpenWhileDown: true})
	fmt.Println("while down:", err)
	_, _, err = cache.Get([]byte("id"))
	fmt.Println("lookup fails fast:", err != nil)
	cache.Close()
	// Output:
	// strict: true
	// while down: <nil>
	// lookup fails fast: true
}

// The proftpd.conf route: importing the package registers mod_redis's
// directives and the "redis" provider; modtls.Open opens the cache that
// TLSSessionCache names with the main server's Redis settings, which
// become these go-redis options.
func Example() {
	conf := `
LoadModule mod_redis.c
LoadModule mod_tls.c
LoadModule mod_tls_redis.c
RedisServer 10.0.0.5:6379 "" s3cret 2
RedisTimeouts 250 250
TLSSessionCache redis: 1800
`
	cfg, err := directives.Parse(strings.NewReader(conf), "/etc/proftpd/proftpd.conf", directives.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	o, err := modtlsredis.SettingsOf(cfg.Main).ClientOptions(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.Addrs, o.DB, o.Password != "", o.DialTimeout, o.ReadTimeout)
	// Output: [10.0.0.5:6379] 2 true 250ms 250ms
}

// Opening a cache from mod_redis settings written in Go, as the
// proftpd.conf route does.
func ExampleOpenSessionCache() {
	settings := modtlsredis.DefaultSettings()
	settings.Servers = []modtlsredis.Endpoint{{Network: "tcp", Addr: redisAddr()}}
	cache, err := modtlsredis.OpenSessionCache(settings, "", modtls.Env{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer cache.Close()
	var b strings.Builder
	_ = cache.Status(&b, false)
	fmt.Println(strings.SplitN(b.String(), "\n", 2)[0])
	// Output: Redis SSL session cache provided by mod_tls_redis/0.1
}
