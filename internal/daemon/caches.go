package daemon

import (
	"errors"
	"fmt"
	"io"

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
	var errs []error
	for _, handle := range []func(*directives.Config, modtls.Env) (*CacheHandle, error){SessionCacheHandle, OCSPCacheHandle} {
		h, err := handle(cfg, modtls.Env{})
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

// A CacheHandle is a configured shared cache as the cache controls
// (`ftpdtls sesscache|ocspcache info|clear|remove`) act on it. Looking at
// or clearing a cache never creates it when the provider can open an
// existing cache only, and removing works even when the cache cannot be
// opened, when the provider can remove by info string (the optional
// provider methods declared in modtls/provider.go).
type CacheHandle struct {
	Provider string // "shm", "redis", ...
	Info     string // the text after "provider:"
	// Directive is TLSSessionCache or TLSStaplingCache.
	Directive string

	open       func(existing bool) (controlCache, error)
	statusInfo func(w io.Writer, verbose bool) error // nil: open and Status
	removeInfo func() error                          // nil: the provider has none
}

// controlCache is what the controls need of either kind of open cache.
type controlCache interface {
	Clear() (int, error)
	Remove() error
	Status(w io.Writer, verbose bool) error
	Close() error
}

// SessionCacheHandle returns the configuration's TLSSessionCache for the
// controls: nil and no error when no shared cache is configured; an
// error matching modtls.ErrNotFound when its provider is not linked.
func SessionCacheHandle(cfg *directives.Config, env modtls.Env) (*CacheHandle, error) {
	spec := modtls.SettingsOf(cfg.Main).SessionCache
	if !spec.Configured || spec.Off || spec.Provider == modtls.InternalCache {
		return nil, nil
	}
	p, err := modtls.LookupSessionCache(spec.Provider)
	if err != nil {
		return nil, err
	}
	if env.Config == nil {
		env.Config = cfg
	}
	h := &CacheHandle{Provider: spec.Provider, Info: spec.Info, Directive: "TLSSessionCache"}
	h.open = func(existing bool) (controlCache, error) {
		var c modtls.SessionCache
		var err error
		if eo, ok := p.(modtls.SessionCacheExistingOpener); ok && existing {
			c, err = eo.OpenExisting(spec.Info, spec.Timeout, env)
		} else {
			c, err = p.Open(spec.Info, spec.Timeout, env)
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if si, ok := p.(modtls.SessionCacheStatusInfo); ok {
		h.statusInfo = func(w io.Writer, verbose bool) error { return si.StatusInfo(spec.Info, spec.Timeout, env, w, verbose) }
	}
	if ri, ok := p.(modtls.InfoRemover); ok {
		h.removeInfo = func() error { return ri.RemoveInfo(spec.Info) }
	}
	return h, nil
}

// OCSPCacheHandle is SessionCacheHandle for TLSStaplingCache.
func OCSPCacheHandle(cfg *directives.Config, env modtls.Env) (*CacheHandle, error) {
	spec := modtls.SettingsOf(cfg.Main).StaplingCache
	if !spec.Configured || spec.Off {
		return nil, nil
	}
	p, err := modtls.LookupOCSPCache(spec.Provider)
	if err != nil {
		return nil, err
	}
	if env.Config == nil {
		env.Config = cfg
	}
	h := &CacheHandle{Provider: spec.Provider, Info: spec.Info, Directive: "TLSStaplingCache"}
	h.open = func(existing bool) (controlCache, error) {
		var c modtls.OCSPCache
		var err error
		if eo, ok := p.(modtls.OCSPCacheExistingOpener); ok && existing {
			c, err = eo.OpenExisting(spec.Info, env)
		} else {
			c, err = p.Open(spec.Info, env)
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if si, ok := p.(modtls.OCSPCacheStatusInfo); ok {
		h.statusInfo = func(w io.Writer, verbose bool) error { return si.StatusInfo(spec.Info, env, w, verbose) }
	}
	if ri, ok := p.(modtls.InfoRemover); ok {
		h.removeInfo = func() error { return ri.RemoveInfo(spec.Info) }
	}
	return h, nil
}

func (h *CacheHandle) openErr(err error) error {
	return fmt.Errorf("error opening '%s' %s: %w", h.Provider, h.Directive, err)
}

// Status writes the cache's status text; a cache that does not exist yet
// is described, not created (when the provider has StatusInfo).
func (h *CacheHandle) Status(w io.Writer, verbose bool) error {
	if h.statusInfo != nil {
		if err := h.statusInfo(w, verbose); err != nil {
			return h.openErr(err)
		}
		return nil
	}
	c, err := h.open(false)
	if err != nil {
		return h.openErr(err)
	}
	defer c.Close()
	return c.Status(w, verbose)
}

// Clear empties the cache and returns how many entries it held; a cache
// that does not exist holds none and is not created.
func (h *CacheHandle) Clear() (int, error) {
	c, err := h.open(true)
	if errors.Is(err, modtls.ErrNoStorage) {
		return 0, nil
	}
	if err != nil {
		return 0, h.openErr(err)
	}
	defer c.Close()
	return c.Clear()
}

// Remove destroys the cache. When it cannot be opened (a segment of
// another size, a damaged header, ...) the provider's RemoveInfo removes
// it by info string; that still refuses a segment that is not this
// file's cache (another program's), and says what to do instead.
func (h *CacheHandle) Remove() error {
	c, err := h.open(true)
	if err == nil {
		return c.Remove()
	}
	if h.removeInfo == nil {
		return h.openErr(err)
	}
	if rerr := h.removeInfo(); rerr != nil {
		if errors.Is(err, modtls.ErrNoStorage) {
			return rerr
		}
		return fmt.Errorf("%w (opening it failed too: %v)", rerr, err)
	}
	return nil
}
