package modtls

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

type nopOCSPProvider struct{}

func (nopOCSPProvider) Module() string                      { return "" }
func (nopOCSPProvider) Open(string, Env) (OCSPCache, error) { return nil, ErrNotImplemented }
func (nopOCSPProvider) CheckInfo(info string) []string      { return nil }
func nopSessionProvider(module string) *funcProvider {
	return &funcProvider{module: module, open: nopOpen}
}
func nopOpen(string, time.Duration, Env) (SessionCache, error) { return nil, ErrNotImplemented }
func registryName(t *testing.T, s string) string               { return fmt.Sprintf("%s-%s", t.Name(), s) }

func TestRegistrySessionCache(t *testing.T) {
	a, b, c := registryName(t, "a"), registryName(t, "b"), registryName(t, "c")
	pa := nopSessionProvider("mod_a.c")
	registerSessionCache(t, a, pa)
	registerSessionCache(t, b, nopSessionProvider("mod_b.c"))
	registerSessionCache(t, c, nopSessionProvider("mod_c.c"))

	if got, err := LookupSessionCache(a); err != nil || got != SessionCacheProvider(pa) {
		t.Fatalf("lookup %s = %v, %v", a, got, err)
	}
	if err := RegisterSessionCache(a, nopSessionProvider("")); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("duplicate register: %v, want ErrAlreadyRegistered", err)
	}
	if err := RegisterSessionCache("", pa); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := UnregisterSessionCache(registryName(t, "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unregister unknown: %v, want ErrNotFound", err)
	}
	if _, err := LookupSessionCache(registryName(t, "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup unknown: %v, want ErrNotFound", err)
	}
	// ProFTPD's M1: unregistering a non-head entry dropped the entries
	// registered after it. Here removing the middle one keeps the others.
	if err := UnregisterSessionCache(b); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{a, c} {
		if _, err := LookupSessionCache(n); err != nil {
			t.Fatalf("unregistering %s dropped %s: %v", b, n, err)
		}
	}
	names := SessionCacheNames()
	if !slices.Contains(names, a) || slices.Contains(names, b) || !slices.Contains(names, c) || !slices.IsSorted(names) {
		t.Fatalf("names %v", names)
	}
}

func TestRegistryOCSPCache(t *testing.T) {
	a, b := registryName(t, "a"), registryName(t, "b")
	for _, n := range []string{a, b} {
		if err := RegisterOCSPCache(n, nopOCSPProvider{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { UnregisterOCSPCache(a); UnregisterOCSPCache(b) })
	if err := RegisterOCSPCache(a, nopOCSPProvider{}); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := UnregisterOCSPCache(a); err != nil {
		t.Fatal(err)
	}
	if err := UnregisterOCSPCache(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unregister: %v", err)
	}
	if _, err := LookupOCSPCache(b); err != nil {
		t.Fatalf("unregistering %s dropped %s", a, b)
	}
	if !slices.Contains(OCSPCacheNames(), b) {
		t.Fatal("names lack", b)
	}
	// A session cache of the same name is a different registry.
	if _, err := LookupSessionCache(b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OCSP provider visible as session cache: %v", err)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	const workers, rounds = 8, 200
	stable := registryName(t, "stable")
	registerSessionCache(t, stable, nopSessionProvider(""))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				name := fmt.Sprintf("%s-%d-%d", t.Name(), w, i)
				if err := RegisterSessionCache(name, nopSessionProvider("")); err != nil {
					errs <- err
					return
				}
				if _, err := LookupSessionCache(name); err != nil {
					errs <- err
					return
				}
				if _, err := LookupSessionCache(stable); err != nil {
					errs <- fmt.Errorf("stable provider lost: %w", err)
					return
				}
				_ = SessionCacheNames()
				if err := UnregisterSessionCache(name); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, n := range SessionCacheNames() {
		if n != stable && len(n) > len(t.Name()) && n[:len(t.Name())] == t.Name() {
			t.Fatalf("left behind: %s", n)
		}
	}
}

func TestInternalCache(t *testing.T) {
	clock := newFakeClock()
	c := NewMemoryCache(3, clock.now)
	exp := clock.now().Add(time.Minute)
	for i := byte(1); i <= 3; i++ {
		if err := c.Add([]byte{i}, exp, []byte{i, i}); err != nil {
			t.Fatal(err)
		}
	}
	if got, e, err := c.Get([]byte{2}); err != nil || string(got) != "\x02\x02" || !e.Equal(exp) {
		t.Fatalf("get 2 = %q %v %v", got, e, err)
	}
	// Full: adding a fourth evicts the oldest.
	c.Add([]byte{4}, exp, []byte{4})
	if _, _, err := c.Get([]byte{1}); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("oldest not evicted: %v", err)
	}
	if len(c.entries) != 3 {
		t.Fatalf("%d entries, cap 3", len(c.entries))
	}
	// Expiry.
	clock.advance(time.Minute)
	if _, _, err := c.Get([]byte{4}); !errors.Is(err, ErrCacheMiss) {
		t.Fatalf("expired entry returned: %v", err)
	}
	if err := c.Add(make([]byte, 33), exp, nil); err == nil {
		t.Fatal("33-byte id accepted")
	}
	c.Add([]byte{9}, clock.now().Add(time.Hour), []byte{9})
	if err := c.Delete([]byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete([]byte{9}); err != nil {
		t.Fatal("deleting a missing id is an error:", err)
	}
	c.Add([]byte{7}, clock.now().Add(time.Hour), []byte{7})
	if n, err := c.Clear(); err != nil || n != 3 {
		// 2 and 3 expired but not yet flushed, plus 7.
		t.Fatalf("clear = %d, %v; want 3", n, err)
	}
	if err := c.Status(io.Discard, true); err != nil {
		t.Fatal(err)
	}
}
