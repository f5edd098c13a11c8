package modtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
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

// ErrChainTooLong is the handshake error for a client certificate whose
// chain is longer than MaxChainLength (TLSVerifyDepth).
var ErrChainTooLong = errors.New("client certificate chain too long")

// checkChainLength applies MaxChainLength to the verified client chains,
// logging what mod_tls logs when OpenSSL stops at its verify depth: the
// depth where it stopped and that certificate's names.
func (st *serverTLS) checkChainLength(state tls.ConnectionState) error {
	max := st.sc.MaxChainLength
	if max <= 0 || len(state.VerifiedChains) == 0 {
		return nil
	}
	shortest := state.VerifiedChains[0]
	for _, chain := range state.VerifiedChains {
		if len(chain) <= max {
			return nil
		}
		if len(chain) < len(shortest) {
			shortest = chain
		}
	}
	at := shortest[max-1]
	t := st.t
	t.logTLS("error: unable to verify certificate at depth %d", max-1)
	t.logTLS("error: cert subject: %s", x509Oneline(at.RawSubject))
	t.logTLS("error: cert issuer: %s", x509Oneline(at.RawIssuer))
	t.logTLS("client certificate failed verification: certificate chain too long")
	return fmt.Errorf("%w: %d certificates, at most %d accepted", ErrChainTooLong, len(shortest), max)
}

// ErrClientIPMismatch is the control handshake error of TLSOptions
// iPAddressRequired for a client certificate without the client's address.
var ErrClientIPMismatch = errors.New("client certificate iPAddress SANs do not match the client's address")

// checkClientIP is mod_tls's iPAddressRequired check of the control
// connection's client certificate: one of its iPAddress subject
// alternative names is the client's address (net.IP.Equal: an
// IPv4-mapped IPv6 name matches its IPv4 address, as in mod_tls).
func (st *serverTLS) checkClientIP(state tls.ConnectionState, conn net.Conn) error {
	t := st.t
	var ip net.IP
	if conn != nil {
		if host, _, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
			ip = net.ParseIP(host)
		}
	}
	shown := "(unknown)"
	if ip != nil {
		shown = ip.String()
	}
	if leaf := peerLeaf(state.PeerCertificates); leaf != nil && ip != nil {
		for _, san := range leaf.IPAddresses {
			if san.Equal(ip) {
				t.logTLS("client cert iPAddress SAN matches client IP '%s'", shown)
				return nil
			}
		}
	}
	t.logTLS("client cert iPAddress SANs do not match client IP '%s'", shown)
	return fmt.Errorf("%w (%s)", ErrClientIPMismatch, shown)
}

// selectALPN is mod_tls's ALPN selection (TLSNextProtocol on): the
// server's protocol when the client offers it, otherwise none (OpenSSL's
// SSL_TLSEXT_ERR_NOACK: the handshake goes on without ALPN).
func (st *serverTLS) selectALPN(hello *tls.ClientHelloInfo, cs *connState) []string {
	if len(hello.SupportedProtos) == 0 {
		return nil
	}
	tr := st.t.traceFor(cs)
	proto := st.sc.NextProtocol
	if tr.Enabled(9) {
		tr.Msg(9, "ALPN protocols advertised by client:")
		for _, p := range hello.SupportedProtos {
			tr.Msg(9, " %s", p)
		}
	}
	if !slices.Contains(hello.SupportedProtos, proto) {
		tr.Msg(9, "no common ALPN protocols found (no '%s' in ALPN protocols)", proto)
		return nil
	}
	tr.Msg(9, "selected ALPN protocol '%s'", proto)
	return []string{proto}
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
