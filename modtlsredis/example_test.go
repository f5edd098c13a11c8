package modtlsredis_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsredis"
)

// The usual way: importing the package registers mod_redis's directives
// and the "redis" provider; modtls opens the cache that TLSSessionCache
// names, with the main server's Redis settings.
func Example() {
	conf := `
LoadModule mod_redis.c
LoadModule mod_tls.c
LoadModule mod_tls_redis.c
RedisServer 127.0.0.1:6379
RedisTimeouts 250 250
TLSSessionCache redis: 1800
`
	cfg, err := directives.Parse(strings.NewReader(conf), "/etc/proftpd/proftpd.conf", directives.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// modtls.Open(cfg, modtls.Env{Config: cfg}, ...) opens the cache with
	// these settings.
	s := modtlsredis.SettingsOf(cfg.Main)
	fmt.Println(s.Servers[0].Addr, s.ConnectTimeout, s.IOTimeout)
	// Output: 127.0.0.1:6379 250ms 250ms
}

// Opening a cache directly, without a configuration file.
func ExampleOpenSessionCache() {
	settings := modtlsredis.DefaultSettings()
	settings.Servers = []modtlsredis.Endpoint{{Network: "tcp", Addr: "127.0.0.1:6379"}}
	cache, err := modtlsredis.OpenSessionCache(settings, "", modtls.Env{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer cache.Close()
	_ = cache.Status(os.Stdout, false)
}
