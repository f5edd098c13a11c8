// Package testpki is the one certificate generator of the project's tests
// and benchmarks: throwaway keys, self-signed certificates, a certificate
// authority that issues server, client and OCSP responder certificates,
// revokes them in a CRL and signs OCSP responses, and helpers that write
// it all as PEM files for servers that read files (ProFTPD, ftpdtls serve,
// redis-server).
//
// The shortest use:
//
//	ca := testpki.NewCA()
//	srv := ca.Server(testpki.ECDSA)                    // localhost, 127.0.0.1, ::1
//	certFile, keyFile := srv.Files(t)                  // PEM files in a t.TempDir()
//	client := &tls.Config{RootCAs: ca.Pool()}          // trusts srv
//
// Nothing here is for production: keys are generated with crypto/rand but
// RSA keys are shared within a process (see Key), validity defaults to a
// week, and failures that can only be programming errors panic so that
// callers need no error handling.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// KeyType is the kind of key a certificate is made for.
type KeyType int

const (
	// ECDSA is an ECDSA P-256 key.
	ECDSA KeyType = iota
	// RSA is an RSA-2048 key.
	RSA
)

// String returns "ecdsa" or "rsa", the labels tests use in subtest names.
func (k KeyType) String() string {
	switch k {
	case ECDSA:
		return "ecdsa"
	case RSA:
		return "rsa"
	}
	return fmt.Sprintf("KeyType(%d)", int(k))
}

// KeyTypes lists every key type, for tests that run once per type.
var KeyTypes = []KeyType{ECDSA, RSA}

// rsaPool is how many distinct RSA keys a process generates; generating a
// 2048-bit key takes from 50 ms to over a second on two loaded cores.
const rsaPool = 4

var (
	rsaMu   sync.Mutex
	rsaKeys []crypto.Signer
	rsaNext int
)

// Key returns a key of the type. ECDSA keys are fresh on every call. RSA
// keys come from a per-process pool of four generated on first use, handed
// out in turn: the first four RSA keys of a process are distinct, later
// ones repeat. Use NewKey for a key nobody else holds.
func Key(k KeyType) crypto.Signer {
	if k != RSA {
		return NewKey(k)
	}
	rsaMu.Lock()
	defer rsaMu.Unlock()
	i := rsaNext % rsaPool
	rsaNext++
	if i == len(rsaKeys) {
		rsaKeys = append(rsaKeys, NewKey(RSA))
	}
	return rsaKeys[i]
}

// NewKey generates a fresh key of the type.
func NewKey(k KeyType) crypto.Signer {
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case ECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		panic(fmt.Sprintf("testpki: unknown key type %v", k))
	}
	must(err)
	return key
}

// Cert is a certificate with its key.
type Cert struct {
	// TLS is what a tls.Config's Certificates takes: the leaf followed by
	// its issuer (the leaf alone when self-signed), the key and the
	// parsed leaf.
	TLS tls.Certificate
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
	// Key is the certificate's private key.
	Key crypto.Signer

	issuer *x509.Certificate // nil when self-signed
}

// Roots returns a pool that trusts c: its CA, or c itself when self-signed.
func (c *Cert) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	if c.issuer != nil {
		p.AddCert(c.issuer)
	} else {
		p.AddCert(c.Leaf)
	}
	return p
}

// CertPEM returns the leaf certificate as PEM.
func (c *Cert) CertPEM() []byte { return certPEM(c.Leaf.Raw) }

// ChainPEM returns the leaf followed by its issuer (for self-signed
// certificates, the leaf alone) as PEM.
func (c *Cert) ChainPEM() []byte {
	var b []byte
	for _, der := range c.TLS.Certificate {
		b = append(b, certPEM(der)...)
	}
	return b
}

// KeyPEM returns the private key as a PKCS #8 "PRIVATE KEY" PEM block,
// which OpenSSL, redis-server and crypto/tls all read.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	must(err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TB is the part of testing.TB the file helpers use (testing.TB
// satisfies it); declaring it here keeps package testing out of the
// commands that generate certificates.
type TB interface {
	Helper()
	TempDir() string
	Fatal(args ...any)
}

// Files writes the leaf certificate and key into a new t.TempDir() as
// cert.pem and key.pem (mode 0600) and returns their paths.
func (c *Cert) Files(t TB) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, c.CertPEM())
	writeFile(t, keyFile, c.KeyPEM())
	return certFile, keyFile
}

// WriteFiles writes the leaf certificate to dir/name.pem and the key to
// dir/name.key (mode 0600) and returns their paths.
func (c *Cert) WriteFiles(t TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+".key")
	writeFile(t, certFile, c.CertPEM())
	writeFile(t, keyFile, c.KeyPEM())
	return certFile, keyFile
}

// Option changes a certificate before it is signed.
type Option func(*x509.Certificate, *crypto.Signer)

// Hosts replaces the subject alternative names (default "localhost",
// 127.0.0.1 and ::1 for server certificates, none for client
// certificates): IP literals become IP SANs, anything else a DNS name.
func Hosts(hosts ...string) Option {
	return func(c *x509.Certificate, _ *crypto.Signer) {
		c.DNSNames, c.IPAddresses = nil, nil
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				c.IPAddresses = append(c.IPAddresses, ip)
			} else {
				c.DNSNames = append(c.DNSNames, h)
			}
		}
	}
}

// CommonName sets the subject's common name (default "localhost" for
// servers, "client" for clients).
func CommonName(cn string) Option {
	return func(c *x509.Certificate, _ *crypto.Signer) { c.Subject.CommonName = cn }
}

// Validity sets the validity period (default one hour ago to a week
// from now).
func Validity(notBefore, notAfter time.Time) Option {
	return func(c *x509.Certificate, _ *crypto.Signer) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

// OCSPServer sets the Authority Information Access OCSP responder URL.
func OCSPServer(url string) Option {
	return func(c *x509.Certificate, _ *crypto.Signer) { c.OCSPServer = []string{url} }
}

// oidTLSFeature is the TLS Feature extension (RFC 7633).
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// MustStaple adds the TLS Feature extension asking for status_request
// (OCSP Must-Staple, RFC 7633).
func MustStaple() Option {
	return func(c *x509.Certificate, _ *crypto.Signer) {
		v, err := asn1.Marshal([]int{5})
		must(err)
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: oidTLSFeature, Value: v})
	}
}

// WithKey certifies key instead of one made by Key(kind).
func WithKey(key crypto.Signer) Option {
	return func(_ *x509.Certificate, k *crypto.Signer) { *k = key }
}

// Template gives access to the whole template, for what the other
// options do not cover.
func Template(f func(*x509.Certificate)) Option {
	return func(c *x509.Certificate, _ *crypto.Signer) { f(c) }
}

func leafTemplate(cn string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"ftpdtls tests"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: eku,
	}
}

func serverTemplate() *x509.Certificate {
	t := leafTemplate("localhost", x509.ExtKeyUsageServerAuth)
	t.DNSNames = []string{"localhost"}
	t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	return t
}

// SelfSigned returns a self-signed server certificate for "localhost",
// 127.0.0.1 and ::1 that is also valid for client authentication, so one
// file can serve both ends of a test (as redis-server's tls-ca-cert-file
// and a client's ssl-cert). Roots() trusts it.
func SelfSigned(kind KeyType, opts ...Option) *Cert {
	tmpl := serverTemplate()
	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	tmpl.SerialNumber = randomSerial()
	key := apply(tmpl, kind, opts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(err)
	leaf, err := x509.ParseCertificate(der)
	must(err)
	return &Cert{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf, Key: key}
}

func apply(tmpl *x509.Certificate, kind KeyType, opts []Option) crypto.Signer {
	var key crypto.Signer
	for _, o := range opts {
		o(tmpl, &key)
	}
	if key == nil {
		key = Key(kind)
	}
	return key
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	must(err)
	return n.Add(n, big.NewInt(1))
}

// CA is a throwaway certificate authority. Its methods are safe for
// concurrent use.
type CA struct {
	// Cert is the self-signed CA certificate; Key signs everything the CA
	// issues.
	Cert *x509.Certificate
	Key  crypto.Signer

	serial atomic.Int64

	mu      sync.Mutex
	revoked []x509.RevocationListEntry
	crlNum  int64
}

var caCount atomic.Int64

// NewCA returns a new CA with an ECDSA P-256 key, valid from an hour ago
// to a year from now; options change it (WithKey(Key(RSA)) for an RSA CA,
// Validity for an expired one). Each CA of a process has a distinct
// subject ("ftpdtls test CA N"), so that CRLs, which are matched to their
// CA by name, never meet the wrong one.
func NewCA(opts ...Option) *CA {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{
			CommonName:   fmt.Sprintf("ftpdtls test CA %d", caCount.Add(1)),
			Organization: []string{"ftpdtls tests"},
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	key := apply(tmpl, ECDSA, opts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(err)
	cert, err := x509.ParseCertificate(der)
	must(err)
	ca := &CA{Cert: cert, Key: key}
	ca.serial.Store(1)
	return ca
}

// Pool returns a pool that trusts the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PEM returns the CA certificate as PEM.
func (ca *CA) PEM() []byte { return certPEM(ca.Cert.Raw) }

// WriteFile writes the CA certificate to dir/name.pem and returns its path.
func (ca *CA) WriteFile(t TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+".pem")
	writeFile(t, p, ca.PEM())
	return p
}

// Server issues a server certificate for "localhost", 127.0.0.1 and ::1.
func (ca *CA) Server(kind KeyType, opts ...Option) *Cert {
	return ca.issue(serverTemplate(), kind, opts)
}

// Client issues a client certificate (common name "client", no SANs).
func (ca *CA) Client(kind KeyType, opts ...Option) *Cert {
	return ca.issue(leafTemplate("client", x509.ExtKeyUsageClientAuth), kind, opts)
}

// OCSPResponder issues a delegated OCSP responder certificate (extended
// key usage OCSPSigning); pass it as OCSP.Responder.
func (ca *CA) OCSPResponder(kind KeyType, opts ...Option) *Cert {
	t := leafTemplate("ftpdtls test OCSP responder", x509.ExtKeyUsageOCSPSigning)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	return ca.issue(t, kind, opts)
}

func (ca *CA) issue(tmpl *x509.Certificate, kind KeyType, opts []Option) *Cert {
	tmpl.SerialNumber = big.NewInt(ca.serial.Add(1))
	key := apply(tmpl, kind, opts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	must(err)
	leaf, err := x509.ParseCertificate(der)
	must(err)
	return &Cert{
		TLS:    tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf},
		Leaf:   leaf,
		Key:    key,
		issuer: ca.Cert,
	}
}

// Revoke adds c (which the CA issued) to the CA's CRL, revoked an hour ago.
func (ca *CA) Revoke(c *Cert) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{
		SerialNumber:   c.Leaf.SerialNumber,
		RevocationTime: time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
	})
}

// CRL returns a freshly signed DER CRL listing every certificate revoked
// so far, valid from an hour ago to a week from now.
func (ca *CA) CRL() []byte {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.crlNum++
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(ca.crlNum),
		ThisUpdate:                now.Add(-time.Hour),
		NextUpdate:                now.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: append([]x509.RevocationListEntry(nil), ca.revoked...),
	}, ca.Cert, ca.Key)
	must(err)
	return der
}

// CRLPEM returns CRL() as an "X509 CRL" PEM block, the form OpenSSL's
// CRL files (ProFTPD's TLSCARevocationFile) hold.
func (ca *CA) CRLPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.CRL()})
}

// WriteCRL writes CRLPEM() to dir/name.crl and returns its path.
func (ca *CA) WriteCRL(t TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+".crl")
	writeFile(t, p, ca.CRLPEM())
	return p
}

// OCSP describes an OCSP response.
type OCSP struct {
	// Status is ocsp.Good (the zero value), ocsp.Revoked or ocsp.Unknown.
	Status int
	// ThisUpdate defaults to a minute ago; NextUpdate, when zero, is left
	// out of the response.
	ThisUpdate, NextUpdate time.Time
	// RevokedAt defaults to an hour ago for revoked responses.
	RevokedAt time.Time
	// Responder signs the response and is embedded in it (a delegated
	// responder from OCSPResponder); nil means the CA signs it.
	Responder *Cert
}

// OCSPResponse returns a DER OCSP response about the certificate with the
// serial number (c.Leaf.SerialNumber for one the CA issued).
func (ca *CA) OCSPResponse(serial *big.Int, o OCSP) []byte {
	now := time.Now()
	tmpl := ocsp.Response{
		Status:       o.Status,
		SerialNumber: serial,
		ThisUpdate:   o.ThisUpdate,
		NextUpdate:   o.NextUpdate,
		RevokedAt:    o.RevokedAt,
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = now.Add(-time.Minute).Truncate(time.Second)
	}
	if o.Status == ocsp.Revoked && tmpl.RevokedAt.IsZero() {
		tmpl.RevokedAt = now.Add(-time.Hour).Truncate(time.Second)
	}
	signer, key := ca.Cert, ca.Key
	if o.Responder != nil {
		signer, key = o.Responder.Leaf, o.Responder.Key
		tmpl.Certificate = o.Responder.Leaf
	}
	der, err := ocsp.CreateResponse(ca.Cert, signer, tmpl, key)
	must(err)
	return der
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// must panics on errors that only a bug in this package can cause.
func must(err error) {
	if err != nil {
		panic("testpki: " + err.Error())
	}
}
