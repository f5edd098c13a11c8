package modtls

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// clientWithIntermediates returns a client certificate issued through n
// intermediate CAs (int1 signed by the test CA, int2 by int1, ...), with
// the intermediates in its chain; testpki issues from its CA directly.
func clientWithIntermediates(t *testing.T, p *testPKI, n int) tls.Certificate {
	t.Helper()
	issuer, issuerKey := p.caCert, p.caKey
	var chain [][]byte
	serial := time.Now().UnixNano()
	mk := func(tmpl *x509.Certificate) (*x509.Certificate, crypto.Signer, []byte) {
		key := testpki.NewKey(testpki.ECDSA)
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key, der
	}
	for i := 1; i <= n; i++ {
		c, key, der := mk(&x509.Certificate{
			Subject: pkix.Name{CommonName: fmt.Sprintf("int%d", i)}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		})
		chain = append([][]byte{der}, chain...)
		issuer, issuerKey = c, key
	}
	leaf, key, der := mk(&x509.Certificate{
		Subject: pkix.Name{CommonName: fmt.Sprintf("leaf%d", n)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key, Leaf: leaf}
}

// clientAuthEngine opens an engine that requires client certificates
// from the test CA, with the settings changed by edit.
func clientAuthEngine(t *testing.T, p *testPKI, edit func(*Settings)) (*TLS, *captureLog) {
	t.Helper()
	st := DefaultSettings()
	st.VerifyClient = VerifyClientOn
	st.CACertificateFile = caFile(t, p)
	st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
	edit(st)
	var log captureLog
	eng, err := Open(testConfig(st, 0), Env{TLSLog: log.logger()}, WithCertificates(nil, p.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, &log
}

// TestVerifyDepth: TLSVerifyDepth N accepts client certificates with up
// to N+1 intermediate CAs and refuses longer chains with mod_tls's TLSLog
// lines, as ProFTPD 1.3.8 (OpenSSL 3) does: measured with openssl
// s_client against proftpd with TLSVerifyDepth 0, 1 and 2, whose TLSLog
// for a two-intermediate chain at depth 0 reads "error: unable to verify
// certificate at depth 2", "error: cert subject: CN = int1", "error: cert
// issuer: CN = <root>", "client certificate failed verification:
// certificate chain too long". The default depth is 9.
func TestVerifyDepth(t *testing.T) {
	pki := newPKI(t)
	if st := DefaultSettings(); st.VerifyDepth != 9 {
		t.Fatalf("default TLSVerifyDepth %d, want mod_tls's 9", st.VerifyDepth)
	}
	for _, depth := range []int{0, 1} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			eng, log := clientAuthEngine(t, pki, func(st *Settings) { st.VerifyDepth = depth })
			srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
			for n := 0; n <= depth+2; n++ {
				cert := clientWithIntermediates(t, pki, n)
				for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					_, _, err := srv.dial(t, clientConfig(pki, version, &cert))
					if ok := n <= depth+1; ok != (err == nil) {
						t.Fatalf("TLSVerifyDepth %d, %d intermediates, %s: handshake error %v, want accepted=%v",
							depth, n, versionName(version), err, ok)
					}
					if err != nil && !errors.Is(err, ErrChainTooLong) {
						t.Fatalf("refusal %v, want ErrChainTooLong", err)
					}
				}
			}
			// The chain refused: leaf, int(depth+2) ... int1, CA; mod_tls
			// names the certificate at depth+2.
			want := []string{
				fmt.Sprintf("error: unable to verify certificate at depth %d", depth+2),
				"error: cert subject: CN = int1",
				"error: cert issuer: " + x509Oneline(pki.caCert.RawSubject),
				"client certificate failed verification: certificate chain too long",
			}
			for _, w := range want {
				if !log.has(w) {
					t.Fatalf("TLSLog lacks %q:\n%s", w, strings.Join(log.all(), "\n"))
				}
			}
		})
	}

	// The directive: C's atoi, negative refused, first line wins.
	for _, tc := range []struct {
		lines string
		want  int
		err   string
	}{
		{"TLSVerifyDepth 3", 3, ""},
		{"TLSVerifyDepth abc", 0, ""},
		{"TLSVerifyDepth 2\nTLSVerifyDepth 5", 2, ""},
		{"TLSVerifyDepth -1", 0, "depth must be zero or greater"},
	} {
		cfg, err := directives.Parse(strings.NewReader("LoadModule mod_tls.c\n"+tc.lines+"\n"), "test.conf", directives.Options{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%q: error %v, want %q", tc.lines, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.lines, err)
		}
		if got := SettingsOf(cfg.Main).VerifyDepth; got != tc.want {
			t.Fatalf("%q: depth %d, want %d", tc.lines, got, tc.want)
		}
	}
}

// TestNextProtocol: with TLSNextProtocol on (mod_tls's default) the ALPN
// protocol "ftp" is selected when the client offers it, and a client
// whose ALPN list lacks it still connects, without ALPN (OpenSSL's
// NOACK; crypto/tls alone would refuse it); with off no protocol is
// selected. Data connections follow the same rule.
func TestNextProtocol(t *testing.T) {
	pki := newPKI(t)
	for _, on := range []bool{true, false} {
		st := DefaultSettings()
		st.NextProtocol = on
		st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
		eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		p := newPair(t, eng)
		for _, offer := range [][]string{nil, {"ftp"}, {"h2", "ftp"}, {"ftp-data", "x"}} {
			ccfg := clientConfig(pki, tls.VersionTLS13, nil)
			ccfg.NextProtos = offer
			cs, _, err := p.ctrl.dial(t, ccfg)
			if err != nil {
				t.Fatalf("TLSNextProtocol %v, client ALPN %q: %v", on, offer, err)
			}
			want := ""
			if on && len(offer) > 0 && offer[len(offer)-1] == "ftp" {
				want = "ftp"
			}
			if cs.NegotiatedProtocol != want {
				t.Fatalf("TLSNextProtocol %v, client ALPN %q: negotiated %q, want %q", on, offer, cs.NegotiatedProtocol, want)
			}
			dcs, err := p.checkData(t, ccfg)
			if err != nil || dcs.NegotiatedProtocol != want {
				t.Fatalf("data connection, TLSNextProtocol %v, client ALPN %q: negotiated %q (%v), want %q", on, offer, dcs.NegotiatedProtocol, err, want)
			}
		}
	}
	cfg, err := directives.Parse(strings.NewReader("LoadModule mod_tls.c\nTLSNextProtocol off\n"), "test.conf", directives.Options{})
	if err != nil || SettingsOf(cfg.Main).NextProtocol {
		t.Fatalf("TLSNextProtocol off: err %v, still on", err)
	}
	if !DefaultSettings().NextProtocol {
		t.Fatal("TLSNextProtocol is off by default; mod_tls's default is on")
	}
}

// TestClientIPAddressRequired: TLSOptions iPAddressRequired with
// TLSVerifyClient on refuses a control connection whose client
// certificate lacks an iPAddress SAN equal to the client's address, with
// mod_tls's TLSLog lines. Data
// connections are not checked (mod_tls checks the control connection).
func TestClientIPAddressRequired(t *testing.T) {
	pki := newPKI(t)
	eng, log := clientAuthEngine(t, pki, func(st *Settings) { st.Options |= OptIPAddressRequired })
	good := pki.ca.Client(testpki.ECDSA, testpki.Hosts("client.example", "127.0.0.1")).TLS
	bad := pki.ca.Client(testpki.ECDSA, testpki.Hosts("client.example", "192.0.2.1")).TLS
	p := newPair(t, eng)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, c := range []struct {
			name string
			cert tls.Certificate
			ok   bool
		}{{"127.0.0.1", good, true}, {"192.0.2.1", bad, false}} {
			ccfg := clientConfig(pki, version, &c.cert)
			_, _, err := p.ctrl.dial(t, ccfg)
			if c.ok != (err == nil) || err != nil && !errors.Is(err, ErrClientIPMismatch) {
				t.Fatalf("%s, certificate for %s: %v, want accepted=%v", versionName(version), c.name, err, c.ok)
			}
			if c.ok {
				if _, err := p.checkData(t, ccfg); err != nil {
					t.Fatalf("%s, certificate for %s: data connection: %v", versionName(version), c.name, err)
				}
			}
		}
	}
	if !log.has("client cert iPAddress SAN matches client IP '127.0.0.1'") ||
		!log.has("client cert iPAddress SANs do not match client IP '127.0.0.1'") {
		t.Fatalf("TLSLog lacks mod_tls's lines:\n%s", strings.Join(log.all(), "\n"))
	}

	// Without TLSVerifyClient on there is nothing to check.
	eng2, _ := clientAuthEngine(t, pki, func(st *Settings) {
		st.Options |= OptIPAddressRequired
		st.VerifyClient = VerifyClientOptional
	})
	p2 := newPair(t, eng2)
	if _, _, err := p2.ctrl.dial(t, clientConfig(pki, tls.VersionTLS13, &bad)); err != nil {
		t.Fatalf("TLSVerifyClient optional: %v, want no iPAddress check", err)
	}
}

// TestAppliedLists: the lists of what modtls does not apply name real
// TLSOptions values and mod_tls directives, and the applied options are
// the ones modtls acts on or crypto/tls always satisfies.
func TestAppliedLists(t *testing.T) {
	for name, why := range tlsOptionsNotApplied {
		if _, ok := tlsOptionNames[name]; !ok || why == "" {
			t.Errorf("TLSOptions %s: not a mod_tls option, or no reason (%q)", name, why)
		}
	}
	want := []string{"AllowWeakDH", "IgnoreSNI", "NoAutoECDH", "NoEmptyFragments", "NoSessionReuseRequired", "iPAddressRequired"}
	if got := AppliedTLSOptions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("AppliedTLSOptions %q, want %q", got, want)
	}
	registered := map[string]bool{}
	for _, names := range directives.Catalogue() {
		for _, n := range names {
			registered[n] = true
		}
	}
	for name := range directivesNotApplied {
		if !registered[name] || UnappliedDirective(name) == "" {
			t.Errorf("%s: not a registered directive, or no reason", name)
		}
	}
	for _, name := range []string{"TLSVerifyDepth", "TLSNextProtocol", "TLSOptions", "TLSProtocol"} {
		if why := UnappliedDirective(name); why != "" {
			t.Errorf("%s is applied, yet UnappliedDirective says %q", name, why)
		}
	}
}

// TestFilesReadOnlyAtOpen: Open reads every file the configuration names
// (certificate, key, chain, CA file and directory, CRL file and
// directory, TLSLog), so a server that drops its privileges after Open
// (serve's workers) loses nothing: here every file is removed after Open,
// and client certificates are still verified against the CAs and the
// CRLs.
func TestFilesReadOnlyAtOpen(t *testing.T) {
	ca := testpki.NewCA()
	good, revoked := ca.Client(testpki.ECDSA), ca.Client(testpki.ECDSA)
	ca.Revoke(revoked)
	dir := t.TempDir()
	cas, crls := filepath.Join(dir, "cas"), filepath.Join(dir, "crls")
	for _, d := range []string{cas, crls} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st := DefaultSettings()
	st.Engine = true
	st.VerifyClient = VerifyClientOn
	st.ECCertificateFile, st.ECCertificateKeyFile = ca.Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	st.CertificateChainFile = ca.WriteFile(t, dir, "chain")
	st.CACertificateFile = ca.WriteFile(t, dir, "ca")
	st.CACertificatePath = cas
	ca.WriteFile(t, cas, "ca")
	st.CARevocationFile = ca.WriteCRL(t, dir, "ca")
	st.CARevocationPath = crls
	ca.WriteCRL(t, crls, "ca")
	st.Log = filepath.Join(dir, "tls.log")
	eng, err := Open(testConfig(st, 0), Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: v, MaxVersion: v,
			Certificates: []tls.Certificate{good.TLS}}
		if _, _, err := srv.dial(t, client); err != nil {
			t.Fatalf("%s: after the files were removed, a good client certificate: %v", versionName(v), err)
		}
		client.Certificates = []tls.Certificate{revoked.TLS}
		if _, _, err := srv.dial(t, client); !errors.Is(err, ErrCertificateRevoked) {
			t.Fatalf("%s: after the files were removed, a revoked client certificate: %v, want refused", versionName(v), err)
		}
	}
}
