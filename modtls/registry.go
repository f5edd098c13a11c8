package modtls

import (
	"fmt"
	"sort"
	"sync"

	"github.com/ftpdtls/ftpdtls/directives"
)

// registry maps provider names to providers. ProFTPD keeps a linked list
// whose unlink drops neighbours (bug M1); a map under a lock cannot.
type registry[P any] struct {
	mu sync.RWMutex
	m  map[string]P
}

func (r *registry[P]) register(kind, name string, p P) error {
	if name == "" {
		return fmt.Errorf("register %s cache: empty name", kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("register %s cache %q: %w", kind, name, ErrAlreadyRegistered)
	}
	if r.m == nil {
		r.m = make(map[string]P)
	}
	r.m[name] = p
	return nil
}

func (r *registry[P]) unregister(kind, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; !ok {
		return fmt.Errorf("unregister %s cache %q: %w", kind, name, ErrNotFound)
	}
	delete(r.m, name)
	return nil
}

func (r *registry[P]) lookup(kind, name string) (P, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.m[name]
	if !ok {
		return p, fmt.Errorf("%s cache %q: %w", kind, name, ErrNotFound)
	}
	return p, nil
}

func (r *registry[P]) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	sessionCaches registry[SessionCacheProvider]
	ocspCaches    registry[OCSPCacheProvider]
)

// RegisterSessionCache makes a session cache type available to
// TLSSessionCache under name, as tls_sess_cache_register does. It fails
// with ErrAlreadyRegistered if the name is taken.
func RegisterSessionCache(name string, p SessionCacheProvider) error {
	return sessionCaches.register("session", name, p)
}

// UnregisterSessionCache removes a session cache type; ErrNotFound if absent.
func UnregisterSessionCache(name string) error { return sessionCaches.unregister("session", name) }

// LookupSessionCache returns the provider registered under name, or ErrNotFound.
func LookupSessionCache(name string) (SessionCacheProvider, error) {
	return sessionCaches.lookup("session", name)
}

// SessionCacheNames lists the registered session cache types, sorted.
func SessionCacheNames() []string { return sessionCaches.names() }

// RegisterOCSPCache makes an OCSP response cache type available to
// TLSStaplingCache under name, as tls_ocsp_cache_register does.
func RegisterOCSPCache(name string, p OCSPCacheProvider) error {
	return ocspCaches.register("OCSP", name, p)
}

// UnregisterOCSPCache removes an OCSP cache type; ErrNotFound if absent.
func UnregisterOCSPCache(name string) error { return ocspCaches.unregister("OCSP", name) }

// LookupOCSPCache returns the provider registered under name, or ErrNotFound.
func LookupOCSPCache(name string) (OCSPCacheProvider, error) { return ocspCaches.lookup("OCSP", name) }

// OCSPCacheNames lists the registered OCSP cache types, sorted.
func OCSPCacheNames() []string { return ocspCaches.names() }

// proftpdCacheModules names the ProFTPD module behind each cache type
// ProFTPD 1.3.8 ships, so that a type whose module is loaded but that no
// linked package provides is told apart from a type nobody knows.
var proftpdCacheModules = map[string]string{
	"shm":      "mod_tls_shmcache.c",
	"redis":    "mod_tls_redis.c",
	"memcache": "mod_tls_memcache.c",
	"fs":       "mod_tls_fscache.c", // OCSP responses only
}

// UnavailableError is the error for a cache type of a ProFTPD module that
// ftpdtls does not provide ("memcache:" of mod_tls_memcache.c): the
// configuration is valid for ProFTPD, which `ftpdtls check -proftpd`
// says, but `ftpdtls serve` cannot open it. It matches ErrNotFound.
type UnavailableError struct {
	Module    string // "mod_tls_memcache.c"
	Provider  string // "memcache"
	Directive string // TLSSessionCache or TLSStaplingCache
}

func (e *UnavailableError) Error() string { return e.Module + " is not available in ftpdtls" }

// Unwrap makes the error match ErrNotFound.
func (e *UnavailableError) Unwrap() error { return ErrNotFound }

// unavailableModule returns the module of a ProFTPD cache type that is not
// registered for the kind ("session" or "OCSP"), or "".
func unavailableModule(kind, provider string) string {
	module, ok := proftpdCacheModules[provider]
	if !ok {
		return ""
	}
	var err error
	if kind == "session" {
		_, err = LookupSessionCache(provider)
	} else {
		_, err = LookupOCSPCache(provider)
	}
	if err == nil {
		return ""
	}
	return module
}

// UnavailableCaches reports the configured TLSSessionCache and
// TLSStaplingCache of cfg's main server whose type belongs to a ProFTPD
// module ftpdtls does not provide (a configuration parsed for `proftpd
// -t`'s verdict accepts them, as ProFTPD does): each error is an
// *UnavailableError, for `ftpdtls serve` to refuse the configuration
// with.
func UnavailableCaches(cfg *directives.Config) []error {
	if cfg == nil || cfg.Main == nil {
		return nil
	}
	st := SettingsOf(cfg.Main)
	var errs []error
	for _, c := range []struct {
		kind, directive string
		spec            CacheSpec
	}{
		{"session", "TLSSessionCache", st.SessionCache},
		{"OCSP", "TLSStaplingCache", st.StaplingCache},
	} {
		if !c.spec.Configured || c.spec.Off || c.spec.Provider == InternalCache {
			continue
		}
		if m := unavailableModule(c.kind, c.spec.Provider); m != "" {
			errs = append(errs, &UnavailableError{Module: m, Provider: c.spec.Provider, Directive: c.directive})
		}
	}
	return errs
}
