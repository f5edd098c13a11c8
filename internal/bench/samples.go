package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// The cache benchmarks store real values: session states exactly as
// modtls stores them after real handshakes (crypto/tls SessionState bytes
// with modtls's tags), and OCSP responses made by ocsp.CreateResponse.

// sampleKind is one kind of cached value.
type sampleKind struct {
	id, label string
	ocsp      bool
}

var sessionKinds = []sampleKind{
	{"tls13", "TLS 1.3 session", false},
	{"tls12", "TLS 1.2 session", false},
	{"mtls", "TLS 1.3 mutual-TLS session (ECDSA client cert)", false},
}

var ocspKinds = []sampleKind{
	{"ocsp-ecdsa", "OCSP response, ECDSA P-256 CA", true},
	{"ocsp-rsa", "OCSP response, RSA-2048 CA", true},
	{"ocsp-rsa-delegated", "OCSP response, RSA-2048 delegated responder (certificate embedded)", true},
}

// samplesPerKind is how many distinct values of each kind are made.
const samplesPerKind = 8

// sampleSet holds the values of every kind.
type sampleSet struct {
	values map[string][][]byte
}

func (s *sampleSet) meanLen(kind string) float64 {
	vs := s.values[kind]
	total := 0
	for _, v := range vs {
		total += len(v)
	}
	return float64(total) / float64(len(vs))
}

// samples makes (once per run) the values the cache groups store.
func (r *runner) samples(ctx context.Context) (*sampleSet, error) {
	r.sampleOnce.Do(func() { r.sampleSet, r.sampleErr = r.makeSamples(ctx) })
	return r.sampleSet, r.sampleErr
}

func (r *runner) makeSamples(ctx context.Context) (*sampleSet, error) {
	p, err := r.certs()
	if err != nil {
		return nil, err
	}
	set := &sampleSet{values: map[string][][]byte{}}
	sc, info, err := r.segs.session(0)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	for _, k := range sessionKinds {
		lines := []string{"TLSSessionCache shm:" + info + " 1800"}
		version := uint16(tls.VersionTLS13)
		switch k.id {
		case "tls12":
			version = tls.VersionTLS12
		case "mtls":
			lines = append(lines, "TLSVerifyClient on", "TLSCACertificateFile "+r.dir+"/ca.pem")
		}
		eng, err := openModTLS(p.server["ecdsa"], lines...)
		if err != nil {
			return nil, err
		}
		srv, err := startServer(eng.TLSConfig(nil))
		if err != nil {
			eng.Close()
			return nil, err
		}
		capture := &ticketCapture{}
		cfg := clientConfig(p, version, false)
		cfg.ClientSessionCache = capture
		if k.id == "mtls" {
			cfg.Certificates = []tls.Certificate{p.client}
		}
		for i := 0; i < samplesPerKind && err == nil && ctx.Err() == nil; i++ {
			_, err = handshake(srv.addr(), cfg)
		}
		srv.close()
		eng.Close()
		if err != nil {
			return nil, fmt.Errorf("%s handshake: %w", k.label, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, ticket := range capture.take() {
			state, _, err := sc.Get(ticket)
			if err != nil {
				return nil, fmt.Errorf("%s: the session modtls stored is not in the cache: %w", k.label, err)
			}
			set.values[k.id] = append(set.values[k.id], state)
		}
		if len(set.values[k.id]) == 0 {
			return nil, fmt.Errorf("%s: the client received no ticket", k.label)
		}
	}
	for _, k := range ocspKinds {
		kind := "ecdsa"
		if strings.HasPrefix(k.id, "ocsp-rsa") {
			kind = "rsa"
		}
		vs, err := ocspResponses(kind, strings.HasSuffix(k.id, "-delegated"), samplesPerKind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.label, err)
		}
		set.values[k.id] = vs
	}
	return set, nil
}

// ticketCapture is a client session cache that keeps the tickets (for
// modtls: the session ids) and never offers a session back.
type ticketCapture struct {
	mu      sync.Mutex
	tickets [][]byte
}

func (t *ticketCapture) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (t *ticketCapture) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	ticket, _, err := cs.ResumptionState()
	if err != nil || len(ticket) == 0 {
		return
	}
	t.mu.Lock()
	t.tickets = append(t.tickets, ticket)
	t.mu.Unlock()
}

func (t *ticketCapture) take() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.tickets
	t.tickets = nil
	return out
}

// ocspResponses makes n "good" responses, each for another serial
// number, from a CA with a key of the given kind. The CA signs them
// itself, or, if delegated, through a responder certificate it issued
// (with a key of the same kind), which the response then carries.
func ocspResponses(kind string, delegated bool, n int) ([][]byte, error) {
	caKey, err := newKey(kind)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := selfSigned(caKey, "ftpdtls bench OCSP CA", now)
	if err != nil {
		return nil, err
	}
	signer, signerKey, embedded := ca, caKey, (*x509.Certificate)(nil)
	if delegated {
		if signerKey, err = newKey(kind); err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2),
			Subject:      pkix.Name{CommonName: "ftpdtls bench OCSP responder", Organization: []string{"ftpdtls"}},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(30 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, signerKey.Public(), caKey)
		if err != nil {
			return nil, err
		}
		if signer, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		embedded = signer
	}
	var out [][]byte
	for i := 0; i < n; i++ {
		resp, err := ocsp.CreateResponse(ca, signer, ocsp.Response{
			Status:       ocsp.Good,
			SerialNumber: big.NewInt(int64(1000 + i)),
			ThisUpdate:   now.Truncate(time.Hour),
			NextUpdate:   now.Truncate(time.Hour).Add(7 * 24 * time.Hour),
			Certificate:  embedded,
		}, signerKey)
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	return out, nil
}

func selfSigned(key crypto.Signer, name string, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ftpdtls"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// fingerprint is an OCSP cache key: the lowercase hex SHA-1 of something
// unique to i, as modtls keys responses by certificate.
func fingerprint(i uint64) string {
	var b [8]byte
	for j := range b {
		b[j] = byte(i >> (8 * j))
	}
	sum := sha1.Sum(b[:])
	return hex.EncodeToString(sum[:])
}
