package modtlsredis

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// writeTLSFiles writes a self-signed certificate for 127.0.0.1, usable by
// both ends, and its key.
func writeTLSFiles(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestSSL connects with "ssl:true ssl-ca:... ssl-cert:... ssl-key:..." to
// a redis-server that requires client certificates.
func TestSSL(t *testing.T) {
	cert, key := writeTLSFiles(t)
	tlsPort := freePort(t)
	r := startRedis(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", cert, "--tls-auth-clients", "yes")
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	line := "RedisServer " + tlsAddr + " ssl:true ssl-ca:" + cert + " ssl-cert:" + cert + " ssl-key:" + key
	cfg, err := parse(t, line)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenSessionCache(SettingsOf(cfg.Main), "", modtls.Env{})
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	defer c.Close()
	id := randomID(t)
	if err := c.Add(id, time.Now().Add(time.Hour), goState(70)); err != nil {
		t.Fatalf("Add over TLS: %v", err)
	}
	if got, _, err := c.Get(id); err != nil || !bytes.Equal(got, goState(70)) {
		t.Fatalf("Get over TLS: %v", err)
	}
	if r.admin().Exists(bg(), string(appendSessionKey(nil, id))).Val() != 1 {
		t.Error("entry not in Redis")
	}

	// Without a client certificate the server refuses; the failure is a
	// connection failure, so the open succeeds and operations fail.
	noCert := SettingsOf(cfg.Main)
	s := *noCert
	s.Servers = []Endpoint{noCert.Servers[0]}
	s.Servers[0].TLS.Cert, s.Servers[0].TLS.Key = "", ""
	c2, err := OpenSessionCache(&s, "", modtls.Env{})
	if err != nil {
		t.Fatalf("open without a client certificate: %v", err)
	}
	defer c2.Close()
	if _, _, err := c2.Get(id); err == nil {
		t.Error("Get without a client certificate succeeded")
	}
	// A missing CA file fails the open.
	s.Servers[0].TLS.CA = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := OpenSessionCache(&s, "", modtls.Env{}); err == nil {
		t.Error("open with a missing ssl-ca succeeded")
	}
}
