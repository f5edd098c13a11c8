package testpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestServerAndClientVerify(t *testing.T) {
	ca := NewCA()
	for _, kind := range KeyTypes {
		t.Run(kind.String(), func(t *testing.T) {
			srv := ca.Server(kind)
			for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
				if _, err := srv.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()}); err != nil {
					t.Errorf("server certificate for %s: %v", host, err)
				}
			}
			if _, err := srv.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.Pool()}); err == nil {
				t.Error("server certificate verified for example.com")
			}
			cl := ca.Client(kind)
			if _, err := cl.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate: %v", err)
			}
			if _, err := cl.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err == nil {
				t.Error("client certificate verified as a server certificate")
			}
			if _, err := srv.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: NewCA().Pool()}); err == nil {
				t.Error("server certificate verified by another CA")
			}
			handshake(t, srv, &tls.Config{RootCAs: srv.Roots(), ServerName: "localhost", Certificates: []tls.Certificate{cl.TLS}}, ca.Pool())
		})
	}
}

// handshake runs a mutually authenticated handshake over a pipe.
func handshake(t *testing.T, srv *Cert, client *tls.Config, clientCAs *x509.CertPool) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert})
		errc <- s.Handshake()
	}()
	c := tls.Client(b, client)
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	// The deferred closes of the pipe end it; tls.Conn.Close would wait
	// for a peer that no longer reads.
}

func TestSelfSigned(t *testing.T) {
	for _, kind := range KeyTypes {
		c := SelfSigned(kind)
		if len(c.TLS.Certificate) != 1 {
			t.Errorf("%v: chain of %d, want the leaf alone", kind, len(c.TLS.Certificate))
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: c.Roots()}); err != nil {
			t.Errorf("%v: %v", kind, err)
		}
		// One self-signed certificate serves both ends.
		handshake(t, c, &tls.Config{RootCAs: c.Roots(), ServerName: "localhost", Certificates: []tls.Certificate{c.TLS}}, c.Roots())
	}
	a, b := SelfSigned(ECDSA), SelfSigned(ECDSA)
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two self-signed certificates share a serial number")
	}
}

func TestOptions(t *testing.T) {
	ca := NewCA()
	key := NewKey(ECDSA)
	nb, na := time.Now().Add(-2*time.Hour).Truncate(time.Second), time.Now().Add(time.Hour).Truncate(time.Second)
	c := ca.Server(RSA, Hosts("ftp.example", "192.0.2.1"), CommonName("ftp"), Validity(nb, na),
		OCSPServer("http://127.0.0.1:1/ocsp"), MustStaple(), WithKey(key),
		Template(func(c *x509.Certificate) { c.Subject.Organization = []string{"org"} }))
	if got := c.Leaf.DNSNames; len(got) != 1 || got[0] != "ftp.example" {
		t.Errorf("DNSNames %v", got)
	}
	if got := c.Leaf.IPAddresses; len(got) != 1 || !got[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("IPAddresses %v", got)
	}
	if c.Leaf.Subject.CommonName != "ftp" || c.Leaf.Subject.Organization[0] != "org" {
		t.Errorf("subject %v", c.Leaf.Subject)
	}
	if !c.Leaf.NotBefore.Equal(nb) || !c.Leaf.NotAfter.Equal(na) {
		t.Errorf("validity %v to %v", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	if len(c.Leaf.OCSPServer) != 1 || c.Leaf.OCSPServer[0] != "http://127.0.0.1:1/ocsp" {
		t.Errorf("OCSPServer %v", c.Leaf.OCSPServer)
	}
	var staple bool
	for _, e := range c.Leaf.Extensions {
		staple = staple || e.Id.Equal(oidTLSFeature)
	}
	if !staple {
		t.Error("no TLS Feature extension")
	}
	if c.Key != key || c.TLS.PrivateKey != key {
		t.Error("WithKey's key not used")
	}
}

func TestRSAKeysShared(t *testing.T) {
	seen := map[any]bool{}
	for i := 0; i < rsaPool; i++ {
		seen[Key(RSA)] = true
	}
	if len(seen) != rsaPool {
		t.Errorf("%d distinct keys in a row of %d", len(seen), rsaPool)
	}
	if !seen[Key(RSA)] {
		t.Error("the pool grew beyond its size")
	}
	if Key(ECDSA) == Key(ECDSA) {
		t.Error("ECDSA keys are shared")
	}
}

func TestCRL(t *testing.T) {
	ca := NewCA()
	good, bad := ca.Client(ECDSA), ca.Client(ECDSA)
	if crl, err := x509.ParseRevocationList(ca.CRL()); err != nil || len(crl.RevokedCertificateEntries) != 0 {
		t.Fatalf("empty CRL: %v, %v", crl, err)
	}
	ca.Revoke(bad)
	block, _ := pem.Decode(ca.CRLPEM())
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("CRLPEM: %v", block)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if n := len(crl.RevokedCertificateEntries); n != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(bad.Leaf.SerialNumber) != 0 {
		t.Errorf("revoked entries %v, want serial %v only", crl.RevokedCertificateEntries, bad.Leaf.SerialNumber)
	}
	if crl.Number.Int64() < 2 {
		t.Errorf("CRL number %v did not increase", crl.Number)
	}

	// OpenSSL, which ProFTPD's TLSCARevocationFile goes through, agrees.
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("FTPDTLS_REQUIRE_PEERS") == "1" {
			t.Fatal("openssl not found")
		}
		t.Skip("openssl not found; skipping the OpenSSL check")
	}
	dir := t.TempDir()
	caFile := ca.WriteFile(t, dir, "ca")
	crlFile := ca.WriteCRL(t, dir, "revoked")
	goodFile, _ := good.WriteFiles(t, dir, "good")
	badFile, _ := bad.WriteFiles(t, dir, "bad")
	verify := func(cert string) (string, error) {
		out, err := exec.Command(openssl, "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, cert).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(goodFile); err != nil {
		t.Errorf("openssl verify of the good client: %v\n%s", err, out)
	}
	if out, err := verify(badFile); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify of the revoked client: %v\n%s", err, out)
	}
}

func TestRSACA(t *testing.T) {
	ca := NewCA(WithKey(Key(RSA)), CommonName("RSA root"))
	if ca.Cert.PublicKeyAlgorithm != x509.RSA || ca.Cert.Subject.CommonName != "RSA root" || !ca.Cert.IsCA {
		t.Fatalf("CA %v %v", ca.Cert.PublicKeyAlgorithm, ca.Cert.Subject)
	}
	srv := ca.Server(ECDSA)
	if _, err := srv.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool()}); err != nil {
		t.Error(err)
	}
	if _, err := ocsp.ParseResponseForCert(ca.OCSPResponse(srv.Leaf.SerialNumber, OCSP{}), srv.Leaf, ca.Cert); err != nil {
		t.Error(err)
	}
}

func TestOCSP(t *testing.T) {
	ca := NewCA()
	leaf := ca.Server(ECDSA)
	responder := ca.OCSPResponder(ECDSA)
	next := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name string
		o    OCSP
	}{
		{"good by the CA", OCSP{NextUpdate: next}},
		{"revoked by the CA", OCSP{Status: ocsp.Revoked}},
		{"good by a delegated responder", OCSP{Responder: responder, NextUpdate: next}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := ca.OCSPResponse(leaf.Leaf.SerialNumber, tc.o)
			r, err := ocsp.ParseResponseForCert(der, leaf.Leaf, ca.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.o.Status || r.SerialNumber.Cmp(leaf.Leaf.SerialNumber) != 0 || !r.NextUpdate.Equal(tc.o.NextUpdate) {
				t.Errorf("status %d serial %v next %v", r.Status, r.SerialNumber, r.NextUpdate)
			}
			if tc.o.Status == ocsp.Revoked && r.RevokedAt.IsZero() {
				t.Error("no revocation time")
			}
			if (tc.o.Responder != nil) != (r.Certificate != nil) {
				t.Errorf("embedded responder certificate: %v", r.Certificate != nil)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	c := NewCA().Server(RSA)
	certFile, keyFile := c.Files(t)
	if filepath.Base(certFile) != "cert.pem" || filepath.Base(keyFile) != "key.pem" || filepath.Dir(certFile) != filepath.Dir(keyFile) {
		t.Errorf("files %s, %s", certFile, keyFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pair.Certificate[0], c.Leaf.Raw) || len(pair.Certificate) != 1 {
		t.Error("the certificate file is not the leaf alone")
	}
	for _, f := range []string{certFile, keyFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	if n := bytes.Count(c.ChainPEM(), []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Errorf("ChainPEM holds %d certificates, want 2", n)
	}
}
