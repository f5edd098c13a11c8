package modtls

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// ---- PKI ----

// testPKI is a testpki.CA with the names these tests use.
type testPKI struct {
	ca     *testpki.CA
	caCert *x509.Certificate
	caKey  crypto.Signer
}

func newKey(t testing.TB, kind string) crypto.Signer { return testpki.NewKey(keyType(kind)) }

func keyType(kind string) testpki.KeyType {
	if kind == "rsa" {
		return testpki.RSA
	}
	return testpki.ECDSA
}

func newPKI(t testing.TB) *testPKI {
	ca := testpki.NewCA()
	return &testPKI{ca: ca, caCert: ca.Cert, caKey: ca.Key}
}

type certOpts struct {
	client     bool
	ocspURL    string
	mustStaple bool
	ownKey     bool // a key no other certificate of the test has
}

// issue makes a leaf certificate for 127.0.0.1/"localhost" signed by the
// CA, with the CA in its chain.
func (p *testPKI) issue(t testing.TB, kind string, o certOpts) tls.Certificate {
	t.Helper()
	var opts []testpki.Option
	if o.ocspURL != "" {
		opts = append(opts, testpki.OCSPServer(o.ocspURL))
	}
	if o.mustStaple {
		opts = append(opts, testpki.MustStaple())
	}
	if o.ownKey {
		opts = append(opts, testpki.WithKey(testpki.NewKey(keyType(kind))))
	}
	if o.client {
		return p.ca.Client(keyType(kind), opts...).TLS
	}
	return p.ca.Server(keyType(kind), opts...).TLS
}

func (p *testPKI) pool() *x509.CertPool { return p.ca.Pool() }

// writePEM writes the certificate chain and key of c to dir and returns
// the paths.
func writePEM(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	var cb []byte
	for _, der := range c.Certificate[:1] {
		cb = append(cb, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, cb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// ---- clock ----

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ---- configuration ----

// testConfig returns a configuration with a main server and n virtual
// hosts, each with a copy of st (nil: defaults).
func testConfig(st *Settings, vhosts int) *directives.Config {
	if st == nil {
		st = DefaultSettings()
	}
	cfg := &directives.Config{Main: &directives.Server{Name: "main", IsMain: true}}
	cp := *st
	cfg.Main.SetValue(settings, &cp)
	for i := 0; i < vhosts; i++ {
		s := &directives.Server{Name: fmt.Sprintf("vhost%d", i+1)}
		cp := *st
		s.SetValue(settings, &cp)
		cfg.VirtualHosts = append(cfg.VirtualHosts, s)
	}
	return cfg
}

// ---- logging ----

// captureLog is a logrus logger whose messages are kept for assertions.
type captureLog struct {
	mu   sync.Mutex
	msgs []string
}

func (c *captureLog) Levels() []logrus.Level { return logrus.AllLevels }
func (c *captureLog) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, e.Message)
	c.mu.Unlock()
	return nil
}

func (c *captureLog) logger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.TraceLevel)
	l.AddHook(c)
	return l
}

func (c *captureLog) has(msg string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

func (c *captureLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// ---- providers ----

// faultyCache wraps a SessionCache and fails on demand.
type faultyCache struct {
	SessionCache
	mu             sync.Mutex
	getErr, addErr error
	gets, adds     int
}

func (f *faultyCache) Add(id []byte, expires time.Time, state []byte) error {
	f.mu.Lock()
	f.adds++
	err := f.addErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.SessionCache.Add(id, expires, state)
}

func (f *faultyCache) Get(id []byte) ([]byte, time.Time, error) {
	f.mu.Lock()
	f.gets++
	err := f.getErr
	f.mu.Unlock()
	if err != nil {
		return nil, time.Time{}, err
	}
	return f.SessionCache.Get(id)
}

func (f *faultyCache) set(getErr, addErr error) {
	f.mu.Lock()
	f.getErr, f.addErr = getErr, addErr
	f.mu.Unlock()
}

func (f *faultyCache) counts() (gets, adds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, f.adds
}

// funcProvider is a SessionCacheProvider made of a function.
type funcProvider struct {
	module string
	open   func(info string, timeout time.Duration, env Env) (SessionCache, error)
	check  func(info string) []string
}

func (p *funcProvider) Module() string { return p.module }
func (p *funcProvider) Open(info string, timeout time.Duration, env Env) (SessionCache, error) {
	return p.open(info, timeout, env)
}

type checkingProvider struct{ *funcProvider }

func (p checkingProvider) CheckInfo(info string) []string { return p.check(info) }

// registerSessionCache registers p under name for the test.
func registerSessionCache(t testing.TB, name string, p SessionCacheProvider) {
	t.Helper()
	if err := RegisterSessionCache(name, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnregisterSessionCache(name) })
}

// ---- handshakes ----

// tlsServer accepts connections on 127.0.0.1 and handshakes each with the
// config returned by cfg; after the handshake it writes one byte (so that
// clients read TLS 1.3 tickets) and reports the connection on conns.
type tlsServer struct {
	addr  string
	conns chan *tls.Conn
	errs  chan error
}

func startTLSServer(t testing.TB, cfg func() *tls.Config) *tlsServer {
	t.Helper()
	s := &tlsServer{conns: make(chan *tls.Conn, 16), errs: make(chan error, 16)}
	s.addr = testpeers.Serve(t, 10*time.Second, func(c net.Conn) {
		tc := tls.Server(c, cfg())
		if err := tc.Handshake(); err != nil {
			s.errs <- err
			return
		}
		tc.Write([]byte{'x'})
		s.conns <- tc
		io.Copy(io.Discard, tc) // until the client closes
	})
	return s
}

// dial handshakes with the server and returns the client's view and the
// server's connection (or the server's handshake error).
func (s *tlsServer) dial(t testing.TB, cfg *tls.Config) (tls.ConnectionState, *tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addr, cfg)
	if err != nil {
		select {
		case serr := <-s.errs:
			return tls.ConnectionState{}, nil, fmt.Errorf("client: %v; server: %w", err, serr)
		case <-time.After(5 * time.Second):
			return tls.ConnectionState{}, nil, err
		}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		// A TLS 1.3 server refuses after the client's handshake is over.
		select {
		case serr := <-s.errs:
			return c.ConnectionState(), nil, fmt.Errorf("client read: %v; server: %w", err, serr)
		case <-time.After(5 * time.Second):
			return tls.ConnectionState{}, nil, fmt.Errorf("client read: %w", err)
		}
	}
	cs := c.ConnectionState()
	select {
	case sc := <-s.conns:
		return cs, sc, nil
	case err := <-s.errs:
		return cs, nil, err
	case <-time.After(5 * time.Second):
		return cs, nil, fmt.Errorf("server did not report the connection")
	}
}

func clientConfig(p *testPKI, version uint16, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		RootCAs:            p.pool(),
		ServerName:         "localhost",
		MinVersion:         version,
		MaxVersion:         version,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: for effects of background work, never for speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
