package modtls

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"context"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/trace"
	"strings"
	"sync/atomic"
)

// ---- an OCSP cache provider kept in memory ----

type memOCSPCache struct {
	mu   sync.Mutex
	m    map[string]memOCSPEntry
	gets int
}

type memOCSPEntry struct {
	der []byte
	at  time.Time
}

func (c *memOCSPCache) Add(fp string, der []byte, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[fp] = memOCSPEntry{append([]byte(nil), der...), at}
	return nil
}

func (c *memOCSPCache) Get(fp string) ([]byte, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	e, ok := c.m[fp]
	if !ok {
		return nil, time.Time{}, ErrCacheMiss
	}
	return e.der, e.at, nil
}

func (c *memOCSPCache) Delete(fp string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, fp)
	return nil
}

func (c *memOCSPCache) Clear() (int, error)          { return 0, nil }
func (c *memOCSPCache) Remove() error                { return nil }
func (c *memOCSPCache) Status(io.Writer, bool) error { return nil }
func (c *memOCSPCache) Close() error                 { return nil }
func (c *memOCSPCache) entry(fp string) (memOCSPEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[fp]
	return e, ok
}

type memOCSPProvider struct{ cache *memOCSPCache }

func (p memOCSPProvider) Module() string { return "" }
func (p memOCSPProvider) Open(string, Env) (OCSPCache, error) {
	return p.cache, nil
}

// ---- an in-process OCSP responder ----

type goResponder struct {
	t      *testing.T
	pki    *testPKI
	signer crypto.Signer // the key responses are signed with (the CA's unless rogue)
	clock  *fakeClock

	mu       sync.Mutex
	status   int  // ocsp.Good, ocsp.Revoked
	down     bool // answer HTTP 503
	nonce    string
	validity time.Duration // nextUpdate - thisUpdate; 0 = no nextUpdate
	hits     int
	nonces   [][]byte // nonce extension values of the requests received
	url      string
}

func newGoResponder(t *testing.T, pki *testPKI, clock *fakeClock) *goResponder {
	r := &goResponder{t: t, pki: pki, signer: pki.caKey, clock: clock, status: ocsp.Good, nonce: "echo", validity: 2 * time.Hour}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *goResponder) set(f func(r *goResponder)) {
	r.mu.Lock()
	f(r)
	r.mu.Unlock()
}

func (r *goResponder) hitCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func (r *goResponder) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if r.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var or ocspRequestASN1
	if _, err := asn1.Unmarshal(body, &or); err != nil || len(or.TBSRequest.RequestList) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var nonce []byte
	for _, e := range or.TBSRequest.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			nonce = e.Value
		}
	}
	r.nonces = append(r.nonces, nonce)
	now := r.clock.now()
	tmpl := ocsp.Response{
		Status:       r.status,
		SerialNumber: or.TBSRequest.RequestList[0].Cert.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute).Truncate(time.Second),
	}
	if r.validity > 0 {
		tmpl.NextUpdate = tmpl.ThisUpdate.Add(r.validity)
	}
	if r.status == ocsp.Revoked {
		tmpl.RevokedAt = now.Add(-time.Hour).Truncate(time.Second)
	}
	der, err := ocsp.CreateResponse(r.pki.caCert, r.pki.caCert, tmpl, r.signer)
	if err != nil {
		r.t.Errorf("CreateResponse: %v", err)
		return
	}
	var ext []byte
	switch r.nonce {
	case "echo":
		ext = nonce
	case "wrong":
		ext, _ = asn1.Marshal([]byte("not the nonce you sent"))
	}
	if ext != nil {
		der = withResponseNonce(r.t, der, ext, r.signer)
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

// withResponseNonce adds a nonce to the responseExtensions of a basic
// response made by ocsp.CreateResponse (which cannot) and signs it again.
func withResponseNonce(t *testing.T, der, nonceExt []byte, key crypto.Signer) []byte {
	var resp struct {
		Status   asn1.Enumerated
		Response struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0,optional"`
	}
	var basic struct {
		TBSResponseData    asn1.RawValue
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          asn1.BitString
		Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	var data struct {
		Version     int `asn1:"optional,default:0,explicit,tag:0"`
		ResponderID asn1.RawValue
		ProducedAt  time.Time `asn1:"generalized"`
		Responses   []asn1.RawValue
		Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
	}
	must := func(_ []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(asn1.Unmarshal(der, &resp))
	must(asn1.Unmarshal(resp.Response.Response, &basic))
	must(asn1.Unmarshal(basic.TBSResponseData.FullBytes, &data))
	data.Extensions = []pkix.Extension{{Id: oidOCSPNonce, Value: nonceExt}}
	tbs, err := asn1.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(tbs) // CreateResponse signs ECDSA with SHA-256
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	basic.TBSResponseData = asn1.RawValue{FullBytes: tbs}
	basic.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	resp.Response.Response, err = asn1.Marshal(basic)
	if err != nil {
		t.Fatal(err)
	}
	out, err := asn1.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- the stapling side ----

type staplingSetup struct {
	eng   *TLS
	cache *memOCSPCache
	srv   *tlsServer
	pki   *testPKI
	cert  tls.Certificate
	fp    string
	clock *fakeClock
}

func newStapling(t *testing.T, pki *testPKI, clock *fakeClock, cert tls.Certificate, edit func(*Settings)) *staplingSetup {
	t.Helper()
	name := fmt.Sprintf("ocsptest%d", providerSeq.Add(1))
	cache := &memOCSPCache{m: map[string]memOCSPEntry{}}
	if err := RegisterOCSPCache(name, memOCSPProvider{cache}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnregisterOCSPCache(name) })
	st := DefaultSettings()
	st.Stapling = true
	st.StaplingCache = CacheSpec{Configured: true, Provider: name}
	if edit != nil {
		edit(st)
	}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, cert), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s := &staplingSetup{eng: eng, cache: cache, pki: pki, cert: cert, clock: clock}
	s.fp = eng.servers[0].certs[0].fingerprint
	s.srv = startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	return s
}

// staple makes a full handshake and returns the stapled response.
func (s *staplingSetup) staple(t *testing.T, version uint16) []byte {
	t.Helper()
	ccfg := clientConfig(s.pki, version, nil)
	ccfg.ClientSessionCache = nil
	cs, _, err := s.srv.dial(t, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs.OCSPResponse
}

func parseStaple(t *testing.T, der []byte, s *staplingSetup) *ocsp.Response {
	t.Helper()
	if len(der) == 0 {
		t.Fatal("nothing stapled")
	}
	r, err := ocsp.ParseResponseForCert(der, s.cert.Leaf, s.pki.caCert)
	if err != nil {
		t.Fatalf("stapled response: %v", err)
	}
	return r
}

func TestOCSPGoResponder(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			t.Run("good, then from the cache", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := parseStaple(t, s.staple(t, version), s); got.Status != ocsp.Good {
					t.Fatalf("status %d, want good", got.Status)
				}
				e, ok := s.cache.entry(s.fp)
				if !ok || !e.at.Equal(clock.now()) {
					t.Fatalf("response not cached with age now: %v %v", ok, e.at)
				}
				if len(r.nonces) != 1 || len(r.nonces[0]) == 0 {
					t.Fatal("request carried no nonce")
				}
				clock.advance(30 * time.Minute) // under half of the 2h validity
				parseStaple(t, s.staple(t, version), s)
				if r.hitCount() != 1 {
					t.Fatalf("responder asked %d times, want 1 (cache hit)", r.hitCount())
				}
			})
			t.Run("revoked is stapled and cached", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				r.set(func(r *goResponder) { r.status = ocsp.Revoked })
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := parseStaple(t, s.staple(t, version), s); got.Status != ocsp.Revoked {
					t.Fatalf("status %d, want revoked", got.Status)
				}
				if _, ok := s.cache.entry(s.fp); !ok {
					t.Fatal("revoked response not cached")
				}
			})
			t.Run("stale, then refetched", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				first := s.staple(t, version)
				clock.advance(62 * time.Minute) // past half of 2h after thisUpdate (now-1m)
				if got := s.staple(t, version); !bytes.Equal(got, first) {
					t.Fatal("the stale response was not stapled while the refresh runs")
				}
				waitFor(t, "the background refresh", func() bool {
					e, _ := s.cache.entry(s.fp)
					return r.hitCount() == 2 && !bytes.Equal(e.der, first)
				})
				second := s.staple(t, version)
				if r.hitCount() != 2 {
					t.Fatalf("responder asked %d times, want 2", r.hitCount())
				}
				if bytes.Equal(first, second) {
					t.Fatal("stale response stapled although a fresh one was fetched")
				}
				if got := parseStaple(t, second, s); !got.ThisUpdate.After(parseStaple(t, first, s).ThisUpdate) {
					t.Fatal("second staple is not newer")
				}
				if e, _ := s.cache.entry(s.fp); !bytes.Equal(e.der, second) {
					t.Fatal("cache does not hold the fresh response")
				}
			})
			t.Run("responder down, stale served", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				first := s.staple(t, version)
				r.set(func(r *goResponder) { r.down = true })
				clock.advance(62 * time.Minute)
				if got := s.staple(t, version); !bytes.Equal(got, first) {
					t.Fatal("stale response not served while the responder is down")
				}
				waitFor(t, "the refresh attempt", func() bool { return r.hitCount() == 2 })
				if got := s.staple(t, version); !bytes.Equal(got, first) {
					t.Fatal("stale response not served after the refresh failed")
				}
			})
			t.Run("expired cached response is deleted", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				s.staple(t, version)
				r.set(func(r *goResponder) { r.down = true })
				clock.advance(3 * time.Hour) // past nextUpdate
				if got := s.staple(t, version); !bytes.Equal(got, TryLaterResponse) {
					t.Fatalf("expired response served instead of tryLater: %x", got)
				}
			})
			t.Run("no response: fake tryLater, cached for 300s", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				r.set(func(r *goResponder) { r.down = true })
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := s.staple(t, version); !bytes.Equal(got, TryLaterResponse) {
					t.Fatalf("staple %x, want fake tryLater", got)
				}
				clock.advance(299 * time.Second)
				s.staple(t, version)
				if r.hitCount() != 1 {
					t.Fatalf("responder asked %d times within 300s of a cached tryLater", r.hitCount())
				}
				clock.advance(2 * time.Second)
				s.staple(t, version) // the stale tryLater, while a refresh runs
				waitFor(t, "a second request after 300s", func() bool { return r.hitCount() == 2 })
			})
			t.Run("NoFakeTryLater, and must-staple overrides it", func(t *testing.T) {
				clock := newFakeClock()
				noFake := func(st *Settings) { st.StaplingOptions |= StaplingNoFakeTryLater }
				dead := "http://127.0.0.1:1/" // nothing listens on port 1
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: dead}), noFake)
				if got := s.staple(t, version); got != nil {
					t.Fatalf("stapled %x with NoFakeTryLater", got)
				}
				s = newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: dead, mustStaple: true}), noFake)
				if got := s.staple(t, version); !bytes.Equal(got, TryLaterResponse) {
					t.Fatalf("must-staple certificate got %x, want fake tryLater", got)
				}
			})
			t.Run("nonce mismatch refused, missing nonce allowed", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				r.set(func(r *goResponder) { r.nonce = "wrong" })
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := s.staple(t, version); !bytes.Equal(got, TryLaterResponse) {
					t.Fatal("response with a wrong nonce was stapled")
				}
				r.set(func(r *goResponder) { r.nonce = "omit" })
				s = newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := parseStaple(t, s.staple(t, version), s); got.Status != ocsp.Good {
					t.Fatal("response without nonce refused")
				}
			})
			t.Run("NoNonce", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				r.set(func(r *goResponder) { r.nonce = "wrong" })
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}),
					func(st *Settings) { st.StaplingOptions |= StaplingNoNonce })
				parseStaple(t, s.staple(t, version), s)
				if r.nonces[len(r.nonces)-1] != nil {
					t.Fatal("NoNonce request carried a nonce")
				}
			})
			t.Run("NoVerify", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				r.set(func(r *goResponder) { r.signer = newKey(t, "ecdsa") }) // not the issuer's key
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
				if got := s.staple(t, version); !bytes.Equal(got, TryLaterResponse) {
					t.Fatal("response with a bad signature was stapled")
				}
				s = newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}),
					func(st *Settings) { st.StaplingOptions |= StaplingNoVerify })
				got := s.staple(t, version)
				if bytes.Equal(got, TryLaterResponse) || len(got) == 0 {
					t.Fatal("NoVerify did not accept the response")
				}
			})
			t.Run("TLSStaplingResponder overrides the AIA URL", func(t *testing.T) {
				clock := newFakeClock()
				r := newGoResponder(t, pki, clock)
				s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: "http://127.0.0.1:1/"}),
					func(st *Settings) { st.StaplingResponder = r.url })
				parseStaple(t, s.staple(t, version), s)
				if r.hitCount() != 1 {
					t.Fatal("configured responder not asked")
				}
			})
		})
	}
}

func TestOCSPNotOnResumedHandshake(t *testing.T) {
	pki := newPKI(t)
	clock := newFakeClock()
	r := newGoResponder(t, pki, clock)
	s := newStapling(t, pki, clock, pki.issue(t, "ecdsa", certOpts{ocspURL: r.url}), nil)
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	if _, _, err := s.srv.dial(t, ccfg); err != nil {
		t.Fatal(err)
	}
	s.cache.mu.Lock()
	before := s.cache.gets
	s.cache.mu.Unlock()
	cs, _, err := s.srv.dial(t, ccfg)
	if err != nil || !cs.DidResume {
		t.Fatalf("resumption: %v %v", cs.DidResume, err)
	}
	s.cache.mu.Lock()
	after := s.cache.gets
	s.cache.mu.Unlock()
	if after != before {
		t.Fatal("a resumed TLS 1.3 handshake looked up an OCSP response")
	}
}

func TestOCSPRequestNonce(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	sc := &stapledCert{leaf: cert.Leaf, issuer: pki.caCert}
	ext, _ := asn1.Marshal([]byte("0123456789abcdef"))
	der, err := ocspRequest(sc, ext)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto still reads it (it ignores request extensions)...
	req, err := ocsp.ParseRequest(der)
	if err != nil || req.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 {
		t.Fatalf("ParseRequest: %v", err)
	}
	// ...and the nonce is in requestExtensions.
	var r ocspRequestASN1
	if _, err := asn1.Unmarshal(der, &r); err != nil || len(r.TBSRequest.Extensions) != 1 ||
		!r.TBSRequest.Extensions[0].Id.Equal(oidOCSPNonce) || !bytes.Equal(r.TBSRequest.Extensions[0].Value, ext) {
		t.Fatalf("nonce extension missing: %+v %v", r.TBSRequest.Extensions, err)
	}
}

// unusedPort returns a free 127.0.0.1 port.
func unusedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var _ = x509.Certificate{}

// openSSLResponder answers OCSP requests on 127.0.0.1 by running Debian's
// `openssl ocsp` as the responder, one request at a time through files
// (-reqin/-respout): `openssl ocsp -port` would listen on every address.
type openSSLResponder struct {
	url  string
	mu   sync.Mutex
	hits int
}

func newOpenSSLResponder(t *testing.T, pki *testPKI, good, revoked *x509.Certificate) *openSSLResponder {
	openssl := testpeers.Need(t, "openssl")
	dir := t.TempDir()
	caCert := filepath.Join(dir, "ca.crt")
	caKey := filepath.Join(dir, "ca.key")
	kder, err := x509.MarshalPKCS8PrivateKey(pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.caCert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	serial := func(c *x509.Certificate) string {
		s := fmt.Sprintf("%X", c.SerialNumber)
		if len(s)%2 == 1 {
			s = "0" + s
		}
		return s
	}
	asn1Time := func(t time.Time) string { return t.UTC().Format("060102150405Z") }
	index := fmt.Sprintf("V\t%s\t\t%s\tunknown\t/CN=localhost\nR\t%s\t%s\t%s\tunknown\t/CN=localhost\n",
		asn1Time(good.NotAfter), serial(good),
		asn1Time(revoked.NotAfter), asn1Time(time.Now().Add(-time.Hour)), serial(revoked))
	indexFile := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(indexFile, []byte(index), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &openSSLResponder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits++
		n := r.hits
		r.mu.Unlock()
		reqFile := filepath.Join(dir, fmt.Sprintf("req%d.der", n))
		respFile := filepath.Join(dir, fmt.Sprintf("resp%d.der", n))
		if err := os.WriteFile(reqFile, body, 0o600); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		cmd := exec.CommandContext(req.Context(), openssl, "ocsp", "-index", indexFile,
			"-rsigner", caCert, "-rkey", caKey, "-CA", caCert, "-nmin", "60",
			"-reqin", reqFile, "-respout", respFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("openssl ocsp: %v\n%s", err, out)
			http.Error(w, err.Error(), 500)
			return
		}
		der, err := os.ReadFile(respFile)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *openSSLResponder) hitCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func TestOCSPOpenSSLResponder(t *testing.T) {
	pki := newPKI(t)
	// The responder URL goes into the certificates, so reserve it first.
	var url string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		resp, err := http.Post(url, "application/ocsp-request", req.Body)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	good := pki.issue(t, "ecdsa", certOpts{ocspURL: proxy.URL})
	revoked := pki.issue(t, "rsa", certOpts{ocspURL: proxy.URL})
	r := newOpenSSLResponder(t, pki, good.Leaf, revoked.Leaf)
	url = r.url

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version)+"/good, nonce echoed, stale after half of -nmin 60", func(t *testing.T) {
			clock := newFakeClock()
			s := newStapling(t, pki, clock, good, nil)
			before := r.hitCount()
			got := parseStaple(t, s.staple(t, version), s)
			if got.Status != ocsp.Good {
				t.Fatalf("status %d, want good", got.Status)
			}
			if n, ok, err := responseNonce(s.staple(t, version)); err != nil || !ok || len(n) == 0 {
				t.Fatalf("openssl's response carries no nonce (%v %v)", ok, err)
			}
			if r.hitCount() != before+1 {
				t.Fatalf("responder asked %d times, want 1", r.hitCount()-before)
			}
			clock.advance(31 * time.Minute)
			s.staple(t, version) // the stale response, while a refresh runs
			waitFor(t, "the stale response's refresh", func() bool { return r.hitCount() == before+2 })
		})
		t.Run(versionName(version)+"/revoked", func(t *testing.T) {
			s := newStapling(t, pki, newFakeClock(), revoked, nil)
			if got := parseStaple(t, s.staple(t, version), s); got.Status != ocsp.Revoked {
				t.Fatalf("status %d, want revoked", got.Status)
			}
		})
		t.Run(versionName(version)+"/NoNonce", func(t *testing.T) {
			s := newStapling(t, pki, newFakeClock(), good,
				func(st *Settings) { st.StaplingOptions |= StaplingNoNonce })
			der := s.staple(t, version)
			if parseStaple(t, der, s).Status != ocsp.Good {
				t.Fatal("not good")
			}
			if _, ok, _ := responseNonce(der); ok {
				t.Fatal("openssl echoed a nonce that was never sent")
			}
		})
	}
}

// gatedResponder forwards to a goResponder once gate is closed, counting
// the requests that arrived.
func gatedResponder(t *testing.T, r *goResponder, gate <-chan struct{}) (url string, arrived *atomic.Int32) {
	arrived = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		arrived.Add(1)
		// Read the body first: only then does net/http notice a client
		// that goes away, and cancel the request's context.
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-gate:
			r.serve(w, req)
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, arrived
}

// staplingTrace opens an engine stapling cert with a trace whose lines
// the test can count.
func staplingTrace(t *testing.T, cert tls.Certificate, timeout time.Duration) (*TLS, *syncbuf.Buffer) {
	t.Helper()
	tracer := trace.New()
	if err := tracer.SetLevels("tls", 1, 20); err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	tracer.SetOutput(&out)
	st := DefaultSettings()
	st.Stapling = true
	st.StaplingTimeout = timeout
	eng, err := Open(testConfig(st, 0), Env{Trace: tracer}, WithCertificates(nil, cert))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, &out
}

// TestOCSPOneFetchPerCertificate: handshakes that all need a response for
// one certificate wait for one request to the responder.
func TestOCSPOneFetchPerCertificate(t *testing.T) {
	pki := newPKI(t)
	r := newGoResponder(t, pki, newFakeClock())
	gate := make(chan struct{})
	url, arrived := gatedResponder(t, r, gate)
	eng, traced := staplingTrace(t, pki.issue(t, "ecdsa", certOpts{ocspURL: url}), time.Hour)
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	const n = 6
	staples := make(chan []byte, n)
	for i := 0; i < n; i++ {
		go func() {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", srv.addr, clientConfig(pki, tls.VersionTLS13, nil))
			if err != nil {
				staples <- nil
				return
			}
			defer c.Close()
			staples <- c.ConnectionState().OCSPResponse
		}()
	}
	waitFor(t, "every handshake to ask for a staple", func() bool {
		return strings.Count(traced.String(), "using fingerprint") == n
	})
	close(gate)
	for i := 0; i < n; i++ {
		der := <-staples
		if len(der) == 0 || bytes.Equal(der, TryLaterResponse) {
			t.Fatalf("handshake %d stapled %x, want the responder's answer", i, der)
		}
	}
	if arrived.Load() != 1 || r.hitCount() != 1 {
		t.Fatalf("the responder was asked %d times for %d concurrent handshakes, want once", arrived.Load(), n)
	}
}

// TestOCSPBoundedByHandshakeContext: a handshake whose context ends while
// the responder has not answered goes on without waiting for it (the
// stapling timeout here is an hour).
func TestOCSPBoundedByHandshakeContext(t *testing.T) {
	pki := newPKI(t)
	r := newGoResponder(t, pki, newFakeClock())
	gate := make(chan struct{}) // never opened: the responder hangs
	url, _ := gatedResponder(t, r, gate)
	eng, traced := staplingTrace(t, pki.issue(t, "ecdsa", certOpts{ocspURL: url}), time.Hour)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- tls.Server(c, eng.TLSConfig(nil)).HandshakeContext(ctx)
	}()
	go func() {
		if c, err := tls.Dial("tcp", ln.Addr().String(), clientConfig(pki, tls.VersionTLS13, nil)); err == nil {
			c.Close()
		}
	}()
	waitFor(t, "the handshake to ask for a staple", func() bool { return strings.Contains(traced.String(), "using fingerprint") })
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the handshake kept waiting for the responder after its context ended")
	}
	if !strings.Contains(traced.String(), "before the handshake went on: context canceled") {
		t.Fatalf("trace lacks the abandoned wait:\n%s", traced.String())
	}
}
