package modtls

import (
	"fmt"
	"sort"
	"sync"
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
