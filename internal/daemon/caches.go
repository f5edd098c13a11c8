package daemon

import (
	"errors"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// The configuration's shared caches, for what acts on them without the
// rest of mod_tls (no certificates are loaded): the cache controls and the
// default configuration's cleanup. The provider step itself is modtls's
// (OpenSessionCache, SessionCacheControl, ...); this file only reads the
// main server's directives and hands providers the main server, from
// which they read their own directives (RedisServer, ...).

// cacheEnv is env with the server whose settings providers read.
func cacheEnv(cfg *directives.Config, env modtls.Env) modtls.Env {
	if env.Server == nil {
		env.Server = cfg.Main
	}
	return env
}

// SessionCacheControl returns the configuration's TLSSessionCache for the
// cache controls: nil and no error when no shared cache is configured; an
// error matching modtls.ErrNotFound when its provider is not linked in.
func SessionCacheControl(cfg *directives.Config, env modtls.Env) (*modtls.CacheControl, error) {
	return modtls.SessionCacheControl(modtls.SettingsOf(cfg.Main).SessionCache, cacheEnv(cfg, env))
}

// OCSPCacheControl is SessionCacheControl for TLSStaplingCache.
func OCSPCacheControl(cfg *directives.Config, env modtls.Env) (*modtls.CacheControl, error) {
	return modtls.OCSPCacheControl(modtls.SettingsOf(cfg.Main).StaplingCache, cacheEnv(cfg, env))
}

// RemoveCaches destroys the configuration's shared caches (one never
// created is no error): the default configuration's cleanup, whose cache
// files go away with its directory, and tests'.
func RemoveCaches(cfg *directives.Config) error {
	var errs []error
	for _, control := range []func(*directives.Config, modtls.Env) (*modtls.CacheControl, error){SessionCacheControl, OCSPCacheControl} {
		h, err := control(cfg, modtls.Env{})
		if err == nil && h != nil {
			err = h.Remove()
		}
		if errors.Is(err, modtls.ErrNoStorage) {
			err = nil // never created: nothing to remove
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
