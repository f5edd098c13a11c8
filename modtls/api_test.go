package modtls

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

func goClient(ca *testpki.CA, version uint16) *tls.Config {
	return &tls.Config{
		RootCAs:            ca.Pool(),
		ServerName:         "localhost",
		MinVersion:         version,
		MaxVersion:         version,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}
}

var versions = []uint16{tls.VersionTLS12, tls.VersionTLS13}

func TestNewNeedsCertificate(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("New without a certificate: %v, want ErrNoCertificate", err)
	}
	if _, err := New(Config{VirtualHosts: []ServerConfig{{}}, ServerConfig: ServerConfig{Certificates: []tls.Certificate{testpki.NewCA().Server(testpki.ECDSA).TLS}}}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("New with a virtual host without a certificate: %v", err)
	}
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	for _, c := range []Config{
		{ServerConfig: ServerConfig{GetCertificate: get}},
		{ServerConfig: ServerConfig{Base: &tls.Config{GetCertificate: get}}},
	} {
		t, err := New(c)
		if err != nil {
			panic(err)
		}
		t.Close()
	}
	st := DefaultSettings()
	st.Engine = true
	if _, err := Open(testConfig(st, 0), Env{}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("Open with TLSEngine on and no certificate: %v, want ErrNoCertificate", err)
	}
}

// TestResumesAcrossEngines is two processes sharing one cache, in one
// process: a session made through one engine resumes through the other.
func TestResumesAcrossEngines(t *testing.T) {
	ca := testpki.NewCA()
	cert := ca.Server(testpki.ECDSA).TLS
	cache := NewMemoryCache(0, nil)
	for _, v := range versions {
		var servers []*tlsServer
		for i := 0; i < 2; i++ {
			eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{cert}}, SessionCache: cache})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			servers = append(servers, startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) }))
		}
		client := goClient(ca, v)
		if cs, _, err := servers[0].dial(t, client); err != nil || cs.DidResume {
			t.Fatalf("first: resumed=%v err=%v", cs.DidResume, err)
		}
		if cs, _, err := servers[1].dial(t, client); err != nil || !cs.DidResume {
			t.Fatalf("%s: the other engine did not resume: resumed=%v err=%v", versionName(v), cs.DidResume, err)
		}
	}
	if st, _ := cache.Stats(); st.Hits == 0 || st.Stored == 0 {
		t.Fatalf("cache stats %+v", st)
	}
}

// TestWrapComposes adds caching to a configuration that chooses its own
// certificates and verifies its own connections: the caller's callbacks
// keep running, and sessions resume through the engine's cache.
func TestWrapComposes(t *testing.T) {
	ca := testpki.NewCA()
	a, b := ca.Server(testpki.ECDSA).TLS, ca.Server(testpki.ECDSA).TLS
	cache := NewMemoryCache(0, nil)
	eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{a}}, SessionCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var chosen, certs, verified atomic.Int32
	inner := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { certs.Add(1); return &b, nil },
		VerifyConnection: func(tls.ConnectionState) error {
			verified.Add(1)
			return nil
		},
	}
	mine := &tls.Config{
		Certificates: []tls.Certificate{a},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			chosen.Add(1)
			return inner, nil
		},
	}
	wrapped := eng.Wrap(mine)
	srv := startTLSServer(t, func() *tls.Config { return wrapped })
	for _, v := range versions {
		client := goClient(ca, v)
		cs, _, err := srv.dial(t, client)
		if err != nil {
			t.Fatal(err)
		}
		if !cs.PeerCertificates[0].Equal(b.Leaf) {
			t.Fatal("the certificate of the caller's GetConfigForClient's choice was not served")
		}
		if cs, _, err := srv.dial(t, client); err != nil || !cs.DidResume {
			t.Fatalf("%s: not resumed through the engine: resumed=%v err=%v", versionName(v), cs.DidResume, err)
		}
	}
	if chosen.Load() != 4 || verified.Load() != 4 || certs.Load() < 2 {
		t.Fatalf("caller's callbacks: GetConfigForClient %d, VerifyConnection %d, GetCertificate %d", chosen.Load(), verified.Load(), certs.Load())
	}
	if st, _ := cache.Stats(); st.Hits < 2 {
		t.Fatalf("the sessions did not go through the engine's cache: %+v", st)
	}
}

// TestNestedConfigTrap: returning Control.DataTLSConfig() from one's own
// GetConfigForClient used to disable resumption silently (crypto/tls
// does not call the nested GetConfigForClient). Now such a handshake
// fails loudly, and through TLS.Wrap it works.
func TestNestedConfigTrap(t *testing.T) {
	ca := testpki.NewCA()
	cert := ca.Server(testpki.ECDSA).TLS
	eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, v := range versions {
		ctl := eng.NewControl(nil)
		ctrl := startTLSServer(t, ctl.TLSConfig)
		client := goClient(ca, v)
		if _, _, err := ctrl.dial(t, client); err != nil {
			t.Fatal(err)
		}
		mine := &tls.Config{
			Certificates:       []tls.Certificate{cert},
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return ctl.DataTLSConfig(), nil },
		}
		plain := startTLSServer(t, func() *tls.Config { return mine })
		_, _, err := plain.dial(t, client)
		if err == nil || !strings.Contains(err.Error(), "GetConfigForClient") {
			t.Fatalf("%s: nested DataTLSConfig under plain crypto/tls: %v, want the loud refusal", versionName(v), err)
		}
		// A failed TLS 1.2 resumption makes a Go client forget its session.
		if _, _, err := ctrl.dial(t, client); err != nil {
			t.Fatal(err)
		}
		wrapped := eng.Wrap(mine)
		srv := startTLSServer(t, func() *tls.Config { return wrapped })
		cs, sc, err := srv.dial(t, client)
		if err != nil || !cs.DidResume {
			t.Fatalf("%s: through Wrap: resumed=%v err=%v", versionName(v), cs.DidResume, err)
		}
		if err := ctl.CheckData(sc); err != nil {
			t.Fatalf("%s: the data check did not run inside the wrapped handshake: %v", versionName(v), err)
		}
	}
}

// TestShared is the one-configuration shape: control connections on the
// control port, data connections elsewhere.
func TestShared(t *testing.T) {
	ca := testpki.NewCA()
	cert := ca.Server(testpki.ECDSA).TLS
	for _, v := range versions {
		t.Run(versionName(v), func(t *testing.T) {
			var tlsLog captureLog
			eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{cert}}, TLSLog: tlsLog.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var cfg atomic.Pointer[tls.Config]
			data := startTLSServer(t, func() *tls.Config { return cfg.Load() })
			ctrl := startTLSServer(t, func() *tls.Config { return cfg.Load() })
			ctrlPort, dataPort := portOf(t, ctrl.addr), portOf(t, data.addr)
			sh := eng.NewShared(nil, ctrlPort)
			cfg.Store(sh.TLSConfig())

			alice := goClient(ca, v)
			cache := newCountingCache()
			alice.ClientSessionCache = cache
			if _, _, err := ctrl.dial(t, alice); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(strings.Join(tlsLog.all(), "\n"), "client supports secure renegotiations\n"+VersionName(v)+" connection accepted, using cipher ") {
				t.Fatalf("TLSLog of the control connection: %q", tlsLog.all())
			}
			if cs, _, err := data.dial(t, alice); err != nil || !cs.DidResume {
				t.Fatalf("alice's data connection: resumed=%v err=%v", cs.DidResume, err)
			}
			if puts, _ := cache.counts(); v == tls.VersionTLS13 && puts != 1 {
				t.Fatalf("TLS 1.3 data connection sent a ticket (%d stored)", puts)
			}
			stranger := goClient(ca, v)
			stranger.ClientSessionCache = nil
			if _, _, err := data.dial(t, stranger); !errors.Is(err, ErrDataReuse) {
				t.Fatalf("full-handshake data connection: %v, want refused", err)
			}
			// Mallory has her own control connection; with ExpectData the
			// data port is alice's, so mallory's session is refused.
			mallory := goClient(ca, v)
			if _, _, err := ctrl.dial(t, mallory); err != nil {
				t.Fatal(err)
			}
			aliceCtrl := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1} // not mallory's
			sh.ExpectData(aliceCtrl, dataPort)
			if _, _, err := data.dial(t, mallory); !errors.Is(err, ErrDataReuse) {
				t.Fatalf("data connection on a port expected for another control connection: %v, want refused", err)
			}
			// Without ExpectData, the same address is all Shared can check.
			// (A refused TLS 1.2 resumption makes a Go client forget the
			// session: mallory logs in again.)
			if _, _, err := ctrl.dial(t, mallory); err != nil {
				t.Fatal(err)
			}
			if cs, _, err := data.dial(t, mallory); err != nil || !cs.DidResume {
				t.Fatalf("mallory's own data connection: resumed=%v err=%v", cs.DidResume, err)
			}
			if s := eng.EngineStats(); s.DataRefused < 2 || s.DataAccepted < 2 {
				t.Fatalf("engine stats %+v", s)
			}
		})
	}
}

// TestRevokedClientCertificate: TLSCARevocationFile refuses a revoked
// client certificate and accepts the others.
func TestRevokedClientCertificate(t *testing.T) {
	ca := testpki.NewCA()
	good, revoked := ca.Client(testpki.ECDSA), ca.Client(testpki.ECDSA)
	ca.Revoke(revoked)
	dir := t.TempDir()
	st := DefaultSettings()
	st.Engine = true
	st.VerifyClient = VerifyClientOn
	st.CACertificateFile = ca.WriteFile(t, dir, "ca")
	st.CARevocationFile = ca.WriteCRL(t, dir, "ca")
	var tlsLog captureLog
	eng, err := Open(testConfig(st, 0), Env{TLSLog: tlsLog.logger()}, WithCertificates(nil, ca.Server(testpki.ECDSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	for _, v := range versions {
		client := goClient(ca, v)
		client.Certificates = []tls.Certificate{good.TLS}
		if _, _, err := srv.dial(t, client); err != nil {
			t.Fatalf("%s: good client certificate refused: %v", versionName(v), err)
		}
		client = goClient(ca, v)
		client.Certificates = []tls.Certificate{revoked.TLS}
		_, _, err := srv.dial(t, client)
		if !errors.Is(err, ErrCertificateRevoked) {
			t.Fatalf("%s: revoked client certificate: %v, want refused", versionName(v), err)
		}
	}
	want := fmt.Sprintf("certificate with serial number %d (0x%X) revoked per CRL from issuer '%s'",
		revoked.Leaf.SerialNumber, revoked.Leaf.SerialNumber, x509Oneline(revoked.Leaf.RawIssuer))
	if !tlsLog.has(want) {
		t.Fatalf("TLSLog lacks %q: %q", want, tlsLog.all())
	}
}

func TestProtocolHolesServedExactly(t *testing.T) {
	ca := testpki.NewCA()
	st := DefaultSettings()
	st.Protocols = ProtoTLSv1 | ProtoTLSv13
	st.MinVersion, st.MaxVersion = tls.VersionTLS10, tls.VersionTLS13
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, ca.Server(testpki.ECDSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	for _, tc := range []struct{ min, max, want uint16 }{
		{tls.VersionTLS10, tls.VersionTLS13, tls.VersionTLS13},
		{tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS10}, // TLS 1.2 is the hole
		{tls.VersionTLS12, tls.VersionTLS12, 0},
	} {
		c := goClient(ca, 0)
		c.MinVersion, c.MaxVersion = tc.min, tc.max
		cs, _, err := srv.dial(t, c)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("client %x-%x: served %x, want refused", tc.min, tc.max, cs.Version)
		case tc.want != 0 && (err != nil || cs.Version != tc.want):
			t.Errorf("client %x-%x: version %x err %v, want %x", tc.min, tc.max, cs.Version, err, tc.want)
		}
	}
}

// TestOpenFallbackIsVisible: a TLSSessionCache that cannot be opened is
// logged at notice level in ProFTPD's words and reported by
// SessionCacheFallback.
func TestOpenFallbackIsVisible(t *testing.T) {
	ca := testpki.NewCA()
	name := fmt.Sprintf("broken%d", providerSeq.Add(1))
	registerSessionCache(t, name, &funcProvider{open: func(string, time.Duration, Env) (SessionCache, error) {
		return nil, errors.New("Invalid argument")
	}})
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: name, Timeout: 900 * time.Second}
	var log captureLog
	eng, err := Open(testConfig(st, 0), Env{Log: log.logger()}, WithCertificates(nil, ca.Server(testpki.ECDSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	want := fmt.Sprintf("mod_tls/2.9.2: error opening '%s' TLSSessionCache: Invalid argument", name)
	if !log.has(want) {
		t.Fatalf("server log lacks %q: %q", want, log.all())
	}
	if err := eng.SessionCacheFallback(); err == nil || !strings.Contains(err.Error(), "Invalid argument") {
		t.Fatalf("SessionCacheFallback: %v", err)
	}
	if _, n := eng.SessionCache(); n != InternalCache || eng.SessionTimeout() != 900*time.Second {
		t.Fatalf("fallback cache %q, timeout %v", n, eng.SessionTimeout())
	}
}

func TestStatsPublished(t *testing.T) {
	ca := testpki.NewCA()
	eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{ca.Server(testpki.ECDSA).TLS}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	client := goClient(ca, tls.VersionTLS13)
	srv.dial(t, client)
	srv.dial(t, client)
	var mu sync.Mutex
	current := eng
	name := fmt.Sprintf("modtls_test_%d", providerSeq.Add(1))
	PublishStats(name, func() *TLS { mu.Lock(); defer mu.Unlock(); return current })
	var got statsSnapshot
	if err := json.Unmarshal([]byte(expvar.Get(name).String()), &got); err != nil {
		t.Fatal(err)
	}
	if got.Engine.SessionsIssued < 2 || got.Engine.SessionsResumed < 1 || len(got.Caches) != 1 ||
		got.Caches[0].Provider != InternalCache || got.Caches[0].Hits < 1 || got.Caches[0].Entries < 1 {
		t.Fatalf("published stats %+v", got)
	}
	mu.Lock()
	current = nil
	mu.Unlock()
	if s := expvar.Get(name).String(); s != "null" {
		t.Fatalf("stats of no engine: %s", s)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.Port
}

func TestCheck(t *testing.T) {
	ca := testpki.NewCA()
	certFile, keyFile := ca.Server(testpki.ECDSA).Files(t)
	otherKey := func() string { _, k := ca.Server(testpki.ECDSA).Files(t); return k }()
	for _, tc := range []struct {
		name string
		edit func(*Settings)
		want string // "" for no problem
	}{
		{"good", func(s *Settings) {}, ""},
		{"no certificate", func(s *Settings) { s.RSACertificateFile = "" }, ErrNoCertificate.Error()},
		{"key of another certificate", func(s *Settings) { s.RSACertificateKeyFile = otherKey }, "private key does not match public key"},
		{"TLS 1.3 suites crypto/tls cannot restrict", func(s *Settings) { s.TLS13Ciphers = []string{"TLS_AES_256_GCM_SHA384"} }, "cannot leave"},
		{"TLS 1.3 suites, TLS 1.3 off", func(s *Settings) {
			s.TLS13Ciphers = []string{"TLS_AES_256_GCM_SHA384"}
			s.MaxVersion = tls.VersionTLS12
		}, ""},
		{"memcache", func(s *Settings) { s.SessionCache = CacheSpec{Configured: true, Provider: "memcache"} }, "mod_tls_memcache.c is not available in ftpdtls"},
	} {
		st := DefaultSettings()
		st.Engine = true
		st.RSACertificateFile, st.RSACertificateKeyFile = certFile, keyFile
		tc.edit(st)
		errs := Check(testConfig(st, 0))
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", tc.name, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, errs, tc.want)
		}
	}
}
