package modtls

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// stapledCert is one server certificate and what OCSP stapling needs
// about it.
type stapledCert struct {
	cert        tls.Certificate   // as configured, Leaf set
	leaf        *x509.Certificate // cert.Leaf
	issuer      *x509.Certificate // nil if not found in the chain or CA file
	fingerprint string            // lowercase hex SHA-1 of the leaf DER
	mustStaple  bool              // RFC 7633 TLS feature status_request(_v2)
}

// oidTLSFeature is the RFC 7633 TLS Feature extension.
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// loadCertificateFiles reads TLSRSACertificateFile/KeyFile and
// TLSECCertificateFile/KeyFile, adding TLSCertificateChainFile to each.
func loadCertificateFiles(s *Settings) ([]tls.Certificate, error) {
	pairs := []struct{ what, cert, key string }{
		{"TLSRSACertificateFile", s.RSACertificateFile, s.RSACertificateKeyFile},
		{"TLSECCertificateFile", s.ECCertificateFile, s.ECCertificateKeyFile},
	}
	var chain [][]byte
	if s.CertificateChainFile != "" {
		b, err := os.ReadFile(s.CertificateChainFile)
		if err != nil {
			return nil, fmt.Errorf("TLSCertificateChainFile: %w", err)
		}
		chain = pemCertificates(b)
	}
	var certs []tls.Certificate
	for _, p := range pairs {
		if p.cert == "" {
			continue
		}
		key := p.key
		if key == "" {
			key = p.cert // mod_tls reads the key from the certificate file then
		}
		c, err := tls.LoadX509KeyPair(p.cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s '%s': %w", p.what, p.cert, err)
		}
		c.Certificate = append(c.Certificate, chain...)
		certs = append(certs, c)
	}
	return certs, nil
}

// newStapledCerts prepares certs for serving: each one's leaf parsed and
// its issuer found in its chain or among issuers.
func newStapledCerts(certs []tls.Certificate, issuers []*x509.Certificate) ([]*stapledCert, error) {
	var out []*stapledCert
	for _, c := range certs {
		if len(c.Certificate) == 0 {
			return nil, errors.New("certificate without DER data")
		}
		leaf := c.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, fmt.Errorf("parse server certificate: %w", err)
			}
			c.Leaf = leaf
		}
		sum := sha1.Sum(c.Certificate[0])
		sc := &stapledCert{cert: c, leaf: leaf, fingerprint: hex.EncodeToString(sum[:])}
		candidates := issuers
		for _, der := range c.Certificate[1:] {
			if ic, err := x509.ParseCertificate(der); err == nil {
				candidates = append([]*x509.Certificate{ic}, candidates...)
			}
		}
		for _, ic := range candidates {
			if leaf.CheckSignatureFrom(ic) == nil {
				sc.issuer = ic
				break
			}
		}
		sc.mustStaple = mustStaple(leaf)
		out = append(out, sc)
	}
	return out, nil
}

// certificate picks the certificate for a full handshake: the choice of
// ServerConfig.GetCertificate (else Base.GetCertificate) if it makes one,
// else the first configured certificate the
// client supports, with an OCSP response stapled when stapling is on.
func (st *serverTLS) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	get := st.sc.GetCertificate
	if get == nil {
		get = st.base.GetCertificate
	}
	if get != nil {
		if c, err := get(hello); c != nil || err != nil {
			return c, err
		}
	}
	if len(st.certs) == 0 {
		return nil, fmt.Errorf("modtls: %w (TLSRSACertificateFile, TLSECCertificateFile)", ErrNoCertificate)
	}
	sc := st.certs[0]
	for _, c := range st.certs {
		if hello.SupportsCertificate(&c.cert) == nil {
			sc = c
			break
		}
	}
	if !st.sc.Stapling.Enabled {
		return &sc.cert, nil
	}
	staple := st.t.ocspStaple(hello.Context(), st, sc)
	if staple == nil {
		return &sc.cert, nil
	}
	c := sc.cert
	c.OCSPStaple = staple
	return &c, nil
}

func mustStaple(leaf *x509.Certificate) bool {
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(ext.Value, &features); err != nil {
			return false
		}
		for _, f := range features {
			if f == 5 || f == 17 { // status_request, status_request_v2
				return true
			}
		}
	}
	return false
}

func pemCertificates(b []byte) [][]byte {
	var ders [][]byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return ders
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
}
