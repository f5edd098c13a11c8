package modtlsredis

import (
	"bytes"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// TestSSL connects with "ssl:true ssl-ca:... ssl-cert:... ssl-key:..." to
// a redis-server that requires client certificates from the same CA.
func TestSSL(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA()
	caFile := ca.WriteFile(t, dir, "ca")
	serverCert, serverKey := ca.Server(testpki.ECDSA).WriteFiles(t, dir, "redis")
	cert, key := ca.Client(testpki.ECDSA).WriteFiles(t, dir, "client")
	tlsPort := freePort(t)
	r := startRedis(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", serverCert, "--tls-key-file", serverKey,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "yes")
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	line := "RedisServer " + tlsAddr + " ssl:true ssl-ca:" + caFile + " ssl-cert:" + cert + " ssl-key:" + key
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
