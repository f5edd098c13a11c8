package modtls

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The one place where a configured cache (a TLSSessionCache or
// TLSStaplingCache line, or its text) becomes an open cache through the
// provider registry: Open, the daemon and the cache controls all come
// here.

// ParseCacheSpec parses the value of TLSSessionCache or TLSStaplingCache
// as mod_tls does: "off" (or another false boolean), or
// "<provider>:<info>"; timeout is the session lifetime (0:
// DefaultSessionCacheTimeout). It does not check that the provider is
// registered.
func ParseCacheSpec(value string, timeout time.Duration) (CacheSpec, error) {
	if timeout <= 0 {
		timeout = DefaultSessionCacheTimeout
	}
	spec := CacheSpec{Configured: true, Timeout: timeout}
	if on, ok := boolArg(value); ok && !on {
		spec.Off = true
		return spec, nil
	}
	provider, info, found := strings.Cut(value, ":")
	if !found {
		return spec, errBadlyFormatted
	}
	spec.Provider, spec.Info = provider, info
	return spec, nil
}

// shared reports whether spec names a provider (rather than no cache,
// "off", or the in-process "internal:").
func (spec CacheSpec) shared() bool {
	return !spec.Off && spec.Provider != "" && spec.Provider != InternalCache
}

// OpenSessionCache opens the session cache spec names through the
// provider registered under spec.Provider, with spec.Info and
// spec.Timeout (from Go, only those fields matter:
// CacheSpec{Provider: "shm", Info: "/file=/var/run/ftpd/sessions"}). It fails with ErrNotImplemented when spec names no
// provider (no directive, "off", or "internal:", which lives inside one
// process: see NewMemoryCache), with ErrNotFound when the provider is not
// linked in (its package not imported), and with UnavailableError when
// it belongs to a ProFTPD module ftpdtls does not implement.
func OpenSessionCache(spec CacheSpec, env Env) (SessionCache, error) {
	p, err := sessionProvider(spec)
	if err != nil {
		return nil, err
	}
	return p.Open(spec.Info, spec.Timeout, env)
}

// OpenOCSPCache is OpenSessionCache for TLSStaplingCache.
func OpenOCSPCache(spec CacheSpec, env Env) (OCSPCache, error) {
	p, err := ocspProvider(spec)
	if err != nil {
		return nil, err
	}
	return p.Open(spec.Info, env)
}

func sessionProvider(spec CacheSpec) (SessionCacheProvider, error) {
	if !spec.shared() {
		return nil, ErrNotImplemented
	}
	if m := unavailableModule("session", spec.Provider); m != "" {
		return nil, &UnavailableError{Module: m, Provider: spec.Provider, Directive: "TLSSessionCache"}
	}
	return LookupSessionCache(spec.Provider)
}

func ocspProvider(spec CacheSpec) (OCSPCacheProvider, error) {
	if spec.Off || spec.Provider == "" {
		return nil, ErrNotImplemented
	}
	if m := unavailableModule("OCSP", spec.Provider); m != "" {
		return nil, &UnavailableError{Module: m, Provider: spec.Provider, Directive: "TLSStaplingCache"}
	}
	return LookupOCSPCache(spec.Provider)
}

// A CacheControl is a configured shared cache as the cache controls
// (`ftpdtls sesscache|ocspcache info|clear|remove`) act on it. Looking at
// or clearing a cache never creates it when the provider can open an
// existing cache only (SessionCacheExistingOpener, ...), and removing
// works even when the cache cannot be opened, when the provider can
// remove by info string (InfoRemover).
type CacheControl struct {
	Provider  string // "shm", "redis", ...
	Info      string // the text after "provider:"
	Directive string // TLSSessionCache or TLSStaplingCache

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

// SessionCacheControl returns the controls of the session cache spec
// names: nil and no error when it names no shared cache; an error
// matching ErrNotFound when its provider is not linked in.
func SessionCacheControl(spec CacheSpec, env Env) (*CacheControl, error) {
	if !spec.shared() {
		return nil, nil
	}
	p, err := sessionProvider(spec)
	if err != nil {
		return nil, err
	}
	h := &CacheControl{Provider: spec.Provider, Info: spec.Info, Directive: "TLSSessionCache"}
	h.open = func(existing bool) (controlCache, error) {
		if eo, ok := p.(SessionCacheExistingOpener); ok && existing {
			return eo.OpenExisting(spec.Info, spec.Timeout, env)
		}
		return p.Open(spec.Info, spec.Timeout, env)
	}
	if si, ok := p.(SessionCacheStatusInfo); ok {
		h.statusInfo = func(w io.Writer, verbose bool) error { return si.StatusInfo(spec.Info, spec.Timeout, env, w, verbose) }
	}
	if ri, ok := p.(InfoRemover); ok {
		h.removeInfo = func() error { return ri.RemoveInfo(spec.Info) }
	}
	return h, nil
}

// OCSPCacheControl is SessionCacheControl for TLSStaplingCache.
func OCSPCacheControl(spec CacheSpec, env Env) (*CacheControl, error) {
	if spec.Off || spec.Provider == "" {
		return nil, nil
	}
	p, err := ocspProvider(spec)
	if err != nil {
		return nil, err
	}
	h := &CacheControl{Provider: spec.Provider, Info: spec.Info, Directive: "TLSStaplingCache"}
	h.open = func(existing bool) (controlCache, error) {
		if eo, ok := p.(OCSPCacheExistingOpener); ok && existing {
			return eo.OpenExisting(spec.Info, env)
		}
		return p.Open(spec.Info, env)
	}
	if si, ok := p.(OCSPCacheStatusInfo); ok {
		h.statusInfo = func(w io.Writer, verbose bool) error { return si.StatusInfo(spec.Info, env, w, verbose) }
	}
	if ri, ok := p.(InfoRemover); ok {
		h.removeInfo = func() error { return ri.RemoveInfo(spec.Info) }
	}
	return h, nil
}

func (h *CacheControl) openErr(err error) error {
	return &CacheOpenError{Directive: h.Directive, Provider: h.Provider, Err: err}
}

// Status writes the cache's status text; a cache that does not exist yet
// is described, not created (when the provider has StatusInfo).
func (h *CacheControl) Status(w io.Writer, verbose bool) error {
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
func (h *CacheControl) Clear() (int, error) {
	c, err := h.open(true)
	if errors.Is(err, ErrNoStorage) {
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
// it by info string; that still refuses storage that is not this cache's,
// and says what to do instead.
func (h *CacheControl) Remove() error {
	c, err := h.open(true)
	if err == nil {
		return c.Remove()
	}
	if h.removeInfo == nil {
		return h.openErr(err)
	}
	if rerr := h.removeInfo(); rerr != nil {
		if errors.Is(err, ErrNoStorage) {
			return rerr
		}
		return fmt.Errorf("%w (opening it failed too: %v)", rerr, err)
	}
	return nil
}
