package modtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
)

// serverTLS is one server's TLS setup, built from its ServerConfig.
type serverTLS struct {
	t     *TLS
	sc    ServerConfig
	sid   uint32      // the session id context: sessions resume only here
	base  *tls.Config // what every configuration of this server starts from
	certs []*stapledCert

	crlVerified sync.Map // crlCheck -> error: signature checks already made
}

func newServerTLS(t *TLS, sc *ServerConfig, sid uint32) (*serverTLS, error) {
	st := &serverTLS{t: t, sc: *sc, sid: sid}
	if sc.Base != nil {
		st.base = sc.Base.Clone()
	} else {
		st.base = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// The session hooks are modtls's; a Base's own ones are replaced.
	st.base.WrapSession, st.base.UnwrapSession = nil, nil
	static := append(append([]tls.Certificate(nil), sc.Certificates...), st.base.Certificates...)
	certs, err := newStapledCerts(static, sc.Stapling.Issuers)
	if err != nil {
		return nil, err
	}
	st.certs = certs
	if st.sc.Stapling.Timeout <= 0 {
		st.sc.Stapling.Timeout = DefaultStaplingTimeout
	}
	return st, nil
}

// ErrCertificateRevoked is the handshake error for a client certificate
// that a configured revocation list (TLSCARevocationFile) refuses.
var ErrCertificateRevoked = errors.New("client certificate refused by a revocation list")

// crlCheck keys a verified CRL signature.
type crlCheck struct {
	crl    *x509.RevocationList
	issuer [sha256.Size]byte
}

// checkRevocation applies the revocation lists to every certificate of
// the verified client chains as mod_tls's tls_verify_crl does: a list
// issued by a certificate of the chain must carry its signature and must
// not have expired, and a certificate listed by its issuer's list is
// revoked.
func (st *serverTLS) checkRevocation(state tls.ConnectionState) error {
	if len(st.sc.RevocationLists) == 0 {
		return nil
	}
	t := st.t
	now := t.now()
	for _, chain := range state.VerifiedChains {
		for _, cert := range chain {
			for _, crl := range st.sc.RevocationLists {
				if bytes.Equal(crl.RawIssuer, cert.RawSubject) {
					if err := st.verifyCRL(crl, cert); err != nil {
						t.logTLS("invalid signature on CRL: %v", err)
						return fmt.Errorf("%w: invalid signature on the CRL of '%s'", ErrCertificateRevoked, x509Oneline(cert.RawSubject))
					}
					if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
						t.logTLS("CRL is expired, revoking all certificates until an updated CRL is obtained")
						return fmt.Errorf("%w: the CRL of '%s' expired at %s", ErrCertificateRevoked, x509Oneline(cert.RawSubject), crl.NextUpdate.UTC())
					}
				}
				if !bytes.Equal(crl.RawIssuer, cert.RawIssuer) {
					continue
				}
				for _, r := range crl.RevokedCertificateEntries {
					if r.SerialNumber != nil && r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
						t.logTLS("certificate with serial number %d (0x%X) revoked per CRL from issuer '%s'",
							cert.SerialNumber, cert.SerialNumber, x509Oneline(cert.RawIssuer))
						return fmt.Errorf("%w: serial number %d of '%s'", ErrCertificateRevoked, cert.SerialNumber, x509Oneline(cert.RawIssuer))
					}
				}
			}
		}
	}
	return nil
}

// verifyCRL checks crl's signature by issuer, once per pair.
func (st *serverTLS) verifyCRL(crl *x509.RevocationList, issuer *x509.Certificate) error {
	key := crlCheck{crl: crl, issuer: sha256.Sum256(issuer.Raw)}
	if v, ok := st.crlVerified.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	err := crl.CheckSignatureFrom(issuer)
	st.crlVerified.Store(key, err)
	return err
}
