package modtls

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

var providerSeq atomic.Int64

// testCacheProvider registers a provider (no module needed) whose caches
// are faultyCaches around the internal cache, and returns its name and a
// function giving the cache last opened.
func testCacheProvider(t *testing.T, now func() time.Time) (string, func() *faultyCache) {
	t.Helper()
	name := fmt.Sprintf("test%d", providerSeq.Add(1))
	var last atomic.Pointer[faultyCache]
	registerSessionCache(t, name, &funcProvider{open: func(info string, timeout time.Duration, env Env) (SessionCache, error) {
		f := &faultyCache{SessionCache: NewMemoryCache(100, now)}
		last.Store(f)
		return f, nil
	}})
	return name, last.Load
}

func versionName(v uint16) string { return VersionName(v) }

// caFile writes the CA certificate to a file and returns its path.
func caFile(t *testing.T, p *testPKI) string {
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caCert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResumptionThroughProvider(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, kind := range []string{"ecdsa", "rsa"} {
			for _, mtls := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/mtls=%v", versionName(version), kind, mtls)
				t.Run(name, func(t *testing.T) {
					provider, cache := testCacheProvider(t, time.Now)
					st := DefaultSettings()
					st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 600 * time.Second}
					var clientCert *tls.Certificate
					if mtls {
						st.VerifyClient = VerifyClientOn
						st.CACertificateFile = caFile(t, pki)
						c := pki.issue(t, kind, certOpts{client: true, ownKey: true})
						clientCert = &c
					}
					eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, kind, certOpts{})))
					if err != nil {
						t.Fatal(err)
					}
					defer eng.Close()
					if c, n := eng.SessionCache(); c == nil || n != provider {
						t.Fatalf("session cache = %v %q, want provider %q", c, n, provider)
					}
					srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
					ccfg := clientConfig(pki, version, clientCert)
					var resumed []bool
					for i := 0; i < 3; i++ {
						cs, sc, err := srv.dial(t, ccfg)
						if err != nil {
							t.Fatalf("connection %d: %v", i+1, err)
						}
						ss := sc.ConnectionState()
						if ss.DidResume != cs.DidResume {
							t.Fatalf("connection %d: server DidResume=%v, client %v", i+1, ss.DidResume, cs.DidResume)
						}
						if ss.Version != version {
							t.Fatalf("version %x, want %x", ss.Version, version)
						}
						if mtls && (len(ss.PeerCertificates) == 0 || !ss.PeerCertificates[0].Equal(clientCert.Leaf)) {
							t.Fatalf("connection %d: server lost the client certificate (resumed=%v)", i+1, ss.DidResume)
						}
						resumed = append(resumed, cs.DidResume)
					}
					if resumed[0] || !resumed[1] || !resumed[2] {
						t.Fatalf("DidResume = %v, want [false true true]", resumed)
					}
					gets, adds := cache().counts()
					if gets < 2 || adds < 1 {
						t.Fatalf("provider saw %d gets and %d adds, want >= 2 and >= 1", gets, adds)
					}
					t.Logf("%s: DidResume %v, provider gets=%d adds=%d", name, resumed, gets, adds)
				})
			}
		}
	}
}

func TestResumptionExpiry(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			clock := newFakeClock()
			provider, _ := testCacheProvider(t, clock.now)
			st := DefaultSettings()
			st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 60 * time.Second}
			eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, cert), WithClock(clock.now))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
			ccfg := clientConfig(pki, version, nil)
			steps := []struct {
				advance time.Duration
				resume  bool
			}{{0, false}, {30 * time.Second, true}, {0, true}}
			if version == tls.VersionTLS12 {
				// TLS 1.2 keeps the first session's creation time across
				// resumptions, so 31 s later it is 61 s old: expired.
				steps = append(steps, struct {
					advance time.Duration
					resume  bool
				}{31 * time.Second, false})
			} else {
				// TLS 1.3 makes a new session on every resumption; the
				// last one is 61 s old after this step.
				steps = append(steps, struct {
					advance time.Duration
					resume  bool
				}{61 * time.Second, false})
			}
			for i, s := range steps {
				clock.advance(s.advance)
				cs, _, err := srv.dial(t, ccfg)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if cs.DidResume != s.resume {
					t.Fatalf("step %d (+%v): DidResume=%v, want %v", i, s.advance, cs.DidResume, s.resume)
				}
			}
		})
	}
}

// mapCache is a SessionCache that ignores expiry, to show that modtls
// checks the session's age itself.
type mapCache struct {
	SessionCache
	m map[string][]byte
}

func (c *mapCache) Add(id []byte, _ time.Time, state []byte) error {
	c.m[string(id)] = state
	return nil
}

func (c *mapCache) Get(id []byte) ([]byte, time.Time, error) {
	s, ok := c.m[string(id)]
	if !ok {
		return nil, time.Time{}, ErrCacheMiss
	}
	return s, time.Now().Add(1000 * time.Hour), nil
}

func TestResumptionExpiryCheckedDespiteProvider(t *testing.T) {
	pki := newPKI(t)
	clock := newFakeClock()
	name := fmt.Sprintf("forever%d", providerSeq.Add(1))
	registerSessionCache(t, name, &funcProvider{open: func(string, time.Duration, Env) (SessionCache, error) {
		return &mapCache{SessionCache: NewMemoryCache(10, nil), m: map[string][]byte{}}, nil
	}})
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: name, Timeout: 60 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	ccfg := clientConfig(pki, tls.VersionTLS12, nil)
	if _, _, err := srv.dial(t, ccfg); err != nil {
		t.Fatal(err)
	}
	clock.advance(61 * time.Second)
	cs, _, err := srv.dial(t, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if cs.DidResume {
		t.Fatal("a session older than the TLSSessionCache timeout was resumed")
	}
}

func TestResumptionCacheFaults(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	boom := errors.New("shm segment gone")
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, fault := range []string{"get", "add"} {
			t.Run(versionName(version)+"/"+fault, func(t *testing.T) {
				provider, cache := testCacheProvider(t, time.Now)
				st := DefaultSettings()
				st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 600 * time.Second}
				var tlsLog captureLog
				eng, err := Open(testConfig(st, 0), Env{TLSLog: tlsLog.logger()}, WithCertificates(nil, cert))
				if err != nil {
					t.Fatal(err)
				}
				defer eng.Close()
				srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
				ccfg := clientConfig(pki, version, nil)
				if fault == "add" {
					cache().set(nil, boom)
				}
				if _, _, err := srv.dial(t, ccfg); err != nil {
					t.Fatal(err)
				}
				if fault == "get" {
					cache().set(boom, nil)
				}
				for i := 0; i < 2; i++ {
					cs, _, err := srv.dial(t, ccfg)
					if err != nil {
						t.Fatalf("handshake aborted by a cache fault: %v", err)
					}
					if cs.DidResume {
						t.Fatal("resumed although the cache failed")
					}
				}
				want := fmt.Sprintf("error retrieving session from '%s' cache: %v", provider, boom)
				if fault == "add" {
					want = fmt.Sprintf("error adding session to '%s' cache: %v", provider, boom)
				}
				if !tlsLog.has(want) {
					t.Fatalf("TLSLog lacks %q; has %q", want, tlsLog.all())
				}
				// Healed cache: resumption works again.
				cache().set(nil, nil)
				srv.dial(t, ccfg)
				cs, _, err := srv.dial(t, ccfg)
				if err != nil || !cs.DidResume {
					t.Fatalf("after the fault: DidResume=%v err=%v", cs.DidResume, err)
				}
			})
		}
	}
}

func TestResumptionBoundToVirtualHost(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			provider, _ := testCacheProvider(t, time.Now)
			st := DefaultSettings()
			st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 600 * time.Second}
			cfg := testConfig(st, 1)
			vhost := cfg.VirtualHosts[0]
			eng, err := Open(cfg, Env{}, WithCertificates(cfg.Main, cert), WithCertificates(vhost, cert))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			mainSrv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(cfg.Main) })
			vhostSrv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(vhost) })
			ccfg := clientConfig(pki, version, nil) // one client cache for both addresses
			if _, _, err := mainSrv.dial(t, ccfg); err != nil {
				t.Fatal(err)
			}
			cs, _, err := vhostSrv.dial(t, ccfg)
			if err != nil {
				t.Fatal(err)
			}
			if cs.DidResume {
				t.Fatal("a session of the main server was resumed on the virtual host")
			}
			cs, _, err = vhostSrv.dial(t, ccfg)
			if err != nil || !cs.DidResume {
				t.Fatalf("the virtual host's own session: DidResume=%v err=%v", cs.DidResume, err)
			}
		})
	}
}

func TestOpenFailureFallsBackToInternalWithTimeout(t *testing.T) {
	pki := newPKI(t)
	name := fmt.Sprintf("broken%d", providerSeq.Add(1))
	registerSessionCache(t, name, &funcProvider{open: func(string, time.Duration, Env) (SessionCache, error) {
		return nil, errors.New("Invalid argument")
	}})
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: name, Info: "/file=x", Timeout: 777 * time.Second}
	var serverLog captureLog
	eng, err := Open(testConfig(st, 0), Env{Log: serverLog.logger()}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, want := range []string{
		fmt.Sprintf("mod_tls/2.9.2: opening '%s' TLSSessionCache", name),
		fmt.Sprintf("mod_tls/2.9.2: error opening '%s' TLSSessionCache: Invalid argument", name),
	} {
		if !serverLog.has(want) {
			t.Errorf("server log lacks %q; has %q", want, serverLog.all())
		}
	}
	if c, n := eng.SessionCache(); c == nil || n != InternalCache {
		t.Fatalf("after a failed open the cache is %q, want the internal one (provider deselected)", n)
	}
	if got := eng.SessionTimeout(); got != 777*time.Second {
		t.Fatalf("fallback timeout %v, want the configured 777s", got)
	}
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	srv.dial(t, ccfg)
	if cs, _, err := srv.dial(t, ccfg); err != nil || !cs.DidResume {
		t.Fatalf("internal fallback does not resume: %v %v", cs.DidResume, err)
	}
}

func TestCacheDefaultsAndOff(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})

	eng, err := Open(testConfig(nil, 0), Env{}, WithCertificates(nil, cert))
	if err != nil {
		t.Fatal(err)
	}
	if _, n := eng.SessionCache(); n != InternalCache || eng.SessionTimeout() != NoDirectiveSessionTimeout {
		t.Fatalf("no directive: cache %q timeout %v, want internal and %v", n, eng.SessionTimeout(), NoDirectiveSessionTimeout)
	}
	if !eng.NewControl(nil).ReuseRequired() {
		t.Fatal("reuse not required by default")
	}
	eng.Close()

	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Off: true, Timeout: DefaultSessionCacheTimeout}
	var serverLog captureLog
	eng, err = Open(testConfig(st, 0), Env{Log: serverLog.logger()}, WithCertificates(nil, cert))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	want := "mod_tls/2.9.2: TLSSessionCache off, disabling TLS session caching and setting NoSessionReuseRequired TLSOption"
	if !serverLog.has(want) {
		t.Fatalf("server log lacks %q", want)
	}
	if c, _ := eng.SessionCache(); c != nil {
		t.Fatal("TLSSessionCache off left a cache open")
	}
	if eng.NewControl(nil).ReuseRequired() {
		t.Fatal("TLSSessionCache off must turn the reuse requirement off")
	}
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := clientConfig(pki, v, nil)
		srv.dial(t, ccfg)
		if cs, _, err := srv.dial(t, ccfg); err != nil || cs.DidResume {
			t.Fatalf("%s with caching off: DidResume=%v err=%v", versionName(v), cs.DidResume, err)
		}
	}
}

func TestSessionTicketsMode(t *testing.T) {
	pki := newPKI(t)
	provider, cache := testCacheProvider(t, time.Now)
	st := DefaultSettings()
	st.SessionTickets = true
	st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 600 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := clientConfig(pki, v, nil)
		srv.dial(t, ccfg)
		if cs, _, err := srv.dial(t, ccfg); err != nil || !cs.DidResume {
			t.Fatalf("%s with TLSSessionTickets on: DidResume=%v err=%v", versionName(v), cs.DidResume, err)
		}
	}
	if gets, adds := cache().counts(); gets != 0 || adds != 0 {
		t.Fatalf("ticket resumption used the session cache (%d gets, %d adds)", gets, adds)
	}
}

func TestOpenPassesInfoTimeoutAndConfig(t *testing.T) {
	name := fmt.Sprintf("args%d", providerSeq.Add(1))
	var gotInfo string
	var gotTimeout time.Duration
	var gotEnv Env
	registerSessionCache(t, name, &funcProvider{open: func(info string, timeout time.Duration, env Env) (SessionCache, error) {
		gotInfo, gotTimeout, gotEnv = info, timeout, env
		return NewMemoryCache(1, nil), nil
	}})
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: name, Info: "/file=/a:b&size=1", Timeout: 42 * time.Second}
	cfg := testConfig(st, 0)
	eng, err := Open(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if gotInfo != "/file=/a:b&size=1" || gotTimeout != 42*time.Second || gotEnv.Config != cfg {
		t.Fatalf("provider opened with %q %v config=%p, want the directive's info, 42s and %p", gotInfo, gotTimeout, gotEnv.Config, cfg)
	}
}

func TestTicketKeyRotation(t *testing.T) {
	pki := newPKI(t)
	// A real server session state to encrypt.
	eng, err := Open(testConfig(nil, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	if _, _, err := srv.dial(t, clientConfig(pki, tls.VersionTLS13, nil)); err != nil {
		t.Fatal(err)
	}
	c, _ := eng.SessionCache()
	state := c.(*MemoryCache).order.Front().Value.(*memoryEntry).state

	clock := newFakeClock()
	k := newTicketKeys(2*time.Hour, 3, clock.now)
	ticket := func() []byte {
		ss, err := tls.ParseSessionState(state)
		if err != nil {
			t.Fatal(err)
		}
		b, err := k.encrypt(tls.ConnectionState{}, ss)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := ticket()
	clock.advance(59 * time.Minute)
	ticket()
	if len(k.keys) != 1 {
		t.Fatalf("%d keys before an hour passed, want 1", len(k.keys))
	}
	clock.advance(2 * time.Minute)
	second := ticket()
	if len(k.keys) != 2 {
		t.Fatalf("%d keys after an hour, want 2", len(k.keys))
	}
	if k.decrypt(first, tls.ConnectionState{}) == nil || k.decrypt(second, tls.ConnectionState{}) == nil {
		t.Fatal("a ticket of a live key does not decrypt")
	}
	clock.advance(61 * time.Minute) // the first key is now past its 2h age
	if k.decrypt(first, tls.ConnectionState{}) != nil {
		t.Fatal("a ticket of an expired key still decrypts")
	}
	if k.decrypt(second, tls.ConnectionState{}) == nil {
		t.Fatal("the second key expired early")
	}
	for i := 0; i < 5; i++ {
		clock.advance(61 * time.Minute)
		ticket()
		if len(k.keys) > 3 {
			t.Fatalf("%d keys, count is 3", len(k.keys))
		}
	}
	if !k.created[0].Equal(clock.now()) {
		t.Fatal("the newest key does not encrypt (mod_tls's M9 used the oldest)")
	}
}
