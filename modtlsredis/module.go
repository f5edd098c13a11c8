package modtlsredis

import (
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// The two ProFTPD modules this package stands for, and the provider name.
const (
	// RedisModuleName and RedisModuleVersion are mod_redis's, which owns
	// the Redis* directives.
	RedisModuleName    = "mod_redis.c"
	RedisModuleVersion = "mod_redis/0.2"
	// ModuleName and ModuleVersion are mod_tls_redis's, which provides
	// the caches; ModuleVersion starts its log lines and status header.
	ModuleName    = "mod_tls_redis.c"
	ModuleVersion = "mod_tls_redis/0.1"
	// ProviderName is the cache type of "TLSSessionCache redis:" and
	// "TLSStaplingCache redis:".
	ProviderName = "redis"
)

func init() {
	directives.Register(&directives.Module{
		Name:       RedisModuleName,
		Version:    RedisModuleVersion,
		Directives: redisDirectives(),
	})
	// Like ProFTPD's, mod_tls_redis needs only mod_tls loaded before it:
	// the Redis client is part of the core. Without mod_redis there is no
	// RedisServer to write, so a "redis:" cache fails to open when the
	// server starts (ErrNoServer), as ProFTPD's does.
	directives.Register(&directives.Module{
		Name:     ModuleName,
		Version:  ModuleVersion,
		Requires: []string{modtls.ModuleName},
	})
	if err := modtls.RegisterSessionCache(ProviderName, sessionProvider{}); err != nil {
		panic(err)
	}
	if err := modtls.RegisterOCSPCache(ProviderName, ocspProvider{}); err != nil {
		panic(err)
	}
}

// sessionProvider opens SessionCaches with the main server's mod_redis
// settings, from env.Server.
type sessionProvider struct{}

func (sessionProvider) Module() string { return ModuleName }

func (sessionProvider) Open(info string, timeout time.Duration, env modtls.Env) (modtls.SessionCache, error) {
	c, err := OpenSessionCache(mainSettings(env), info, env)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (sessionProvider) CheckInfo(info string) []string { return checkInfo(info) }

// ocspProvider opens OCSPCaches with the main server's mod_redis settings.
type ocspProvider struct{}

func (ocspProvider) Module() string { return ModuleName }

func (ocspProvider) Open(info string, env modtls.Env) (modtls.OCSPCache, error) {
	c, err := OpenOCSPCache(mainSettings(env), info, env)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (ocspProvider) CheckInfo(info string) []string { return checkInfo(info) }

// mainSettings returns the main server's mod_redis settings, which
// govern the caches (as main_server's do in ProFTPD): env.Server's, or,
// from a caller that still sets only the deprecated env.Config, its main
// server's.
func mainSettings(env modtls.Env) *Settings {
	if env.Server == nil && env.Config != nil {
		return SettingsOf(env.Config.Main)
	}
	return SettingsOf(env.Server)
}

// checkInfo warns about an info string other than the documented ones:
// mod_tls_redis ignores it, and always uses JSON. Its lines carry the
// module prefix, as modtls.InfoChecker asks.
func checkInfo(info string) []string {
	if info == "" || info == "/json" {
		return nil
	}
	return []string{ModuleVersion + ": the text after 'redis:' ('" + info + "') is ignored: mod_tls_redis always stores JSON"}
}
