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

// loadCertificates reads the server's TLSRSACertificateFile/KeyFile and
// TLSECCertificateFile/KeyFile, adding TLSCertificateChainFile to each.
func (st *serverTLS) loadCertificates() error {
	s := st.settings
	pairs := []struct{ what, cert, key string }{
		{"TLSRSACertificateFile", s.RSACertificateFile, s.RSACertificateKeyFile},
		{"TLSECCertificateFile", s.ECCertificateFile, s.ECCertificateKeyFile},
	}
	var chain [][]byte
	if s.CertificateChainFile != "" {
		b, err := os.ReadFile(s.CertificateChainFile)
		if err != nil {
			return fmt.Errorf("modtls: TLSCertificateChainFile: %w", err)
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
			return fmt.Errorf("modtls: %s '%s': %w", p.what, p.cert, err)
		}
		c.Certificate = append(c.Certificate, chain...)
		certs = append(certs, c)
	}
	return st.setCertificates(certs)
}

// setCertificates installs certs, finding each one's issuer in its chain
// or in TLSCACertificateFile.
func (st *serverTLS) setCertificates(certs []tls.Certificate) error {
	var pool []*x509.Certificate
	if f := st.settings.CACertificateFile; f != "" {
		if b, err := os.ReadFile(f); err == nil {
			for _, der := range pemCertificates(b) {
				if c, err := x509.ParseCertificate(der); err == nil {
					pool = append(pool, c)
				}
			}
		}
	}
	st.certs = st.certs[:0]
	for _, c := range certs {
		if len(c.Certificate) == 0 {
			return errors.New("modtls: certificate without DER data")
		}
		leaf := c.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return fmt.Errorf("modtls: parse server certificate: %w", err)
			}
			c.Leaf = leaf
		}
		sum := sha1.Sum(c.Certificate[0])
		sc := &stapledCert{cert: c, leaf: leaf, fingerprint: hex.EncodeToString(sum[:])}
		candidates := pool
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
		st.certs = append(st.certs, sc)
	}
	return nil
}

// getCertificate picks the certificate for a full handshake (the first
// the client supports) and staples an OCSP response to it when
// TLSStapling is on.
func (st *serverTLS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(st.certs) == 0 {
		return nil, errors.New("modtls: no server certificate configured (TLSRSACertificateFile, TLSECCertificateFile)")
	}
	sc := st.certs[0]
	for _, c := range st.certs {
		if hello.SupportsCertificate(&c.cert) == nil {
			sc = c
			break
		}
	}
	if !st.settings.Stapling {
		return &sc.cert, nil
	}
	staple := st.t.ocspStaple(st, sc)
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
