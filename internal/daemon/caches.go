package daemon

import (
	"fmt"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// OpenSessionCache opens the main server's TLSSessionCache directly
// through its provider, without the rest of mod_tls (no certificates are
// loaded): what the cache controls and the default configuration's
// cleanup need. It returns a nil cache and no error when no shared cache
// is configured (no directive, "off", or "internal", which lives inside
// one process).
func OpenSessionCache(cfg *directives.Config, env modtls.Env) (modtls.SessionCache, string, error) {
	spec := modtls.SettingsOf(cfg.Main).SessionCache
	if !spec.Configured || spec.Off || spec.Provider == modtls.InternalCache {
		return nil, "", nil
	}
	p, err := modtls.LookupSessionCache(spec.Provider)
	if err != nil {
		return nil, spec.Provider, err
	}
	if env.Config == nil {
		env.Config = cfg // providers read their own directives (RedisServer, ...) from it
	}
	c, err := p.Open(spec.Info, spec.Timeout, env)
	if err != nil {
		return nil, spec.Provider, fmt.Errorf("error opening '%s' TLSSessionCache: %w", spec.Provider, err)
	}
	return c, spec.Provider, nil
}

// OpenOCSPCache is OpenSessionCache for TLSStaplingCache.
func OpenOCSPCache(cfg *directives.Config, env modtls.Env) (modtls.OCSPCache, string, error) {
	spec := modtls.SettingsOf(cfg.Main).StaplingCache
	if !spec.Configured || spec.Off {
		return nil, "", nil
	}
	p, err := modtls.LookupOCSPCache(spec.Provider)
	if err != nil {
		return nil, spec.Provider, err
	}
	if env.Config == nil {
		env.Config = cfg
	}
	c, err := p.Open(spec.Info, env)
	if err != nil {
		return nil, spec.Provider, fmt.Errorf("error opening '%s' TLSStaplingCache: %w", spec.Provider, err)
	}
	return c, spec.Provider, nil
}

// removeCaches destroys the configuration's shared caches: the default
// configuration's cleanup, whose cache files go away with its directory.
func removeCaches(cfg *directives.Config) error {
	var first error
	if c, _, err := OpenSessionCache(cfg, modtls.Env{}); err != nil {
		first = err
	} else if c != nil {
		if err := c.Remove(); err != nil {
			first = err
		}
	}
	if c, _, err := OpenOCSPCache(cfg, modtls.Env{}); err != nil {
		if first == nil {
			first = err
		}
	} else if c != nil {
		if err := c.Remove(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
