package modtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// How modtls attaches to crypto/tls. Every configuration modtls hands out
// (a "top" configuration) has a GetConfigForClient that builds a fresh
// configuration for each handshake, whose hooks are bound to a connState
// that records what the handshake taught: which session it resumed and
// which control connection that session descends from. Per-connection
// configurations are also what lets a data connection turn its own
// session tickets off from inside the handshake.

// connRole is what a handshake is for.
type connRole uint8

const (
	rolePlain   connRole = iota // TLSConfig, Wrap: resumable sessions, no FTP semantics
	roleControl                 // an FTP control connection: its sessions carry its tag
	roleData                    // an FTP data connection: must resume its control connection's session
)

// connState is what modtls knows about one handshake.
type connState struct {
	role   connRole
	ctl    *Control // roleControl, roleData with a per-control configuration
	shared *Shared  // roleControl, roleData with a Shared configuration
	tag    []byte   // roleControl: stamped into every session issued

	// deferred (roleData from Control.DataTLSConfigFor): the data check
	// records its verdict for CheckData and lets the handshake complete,
	// so that a refused connection ends as mod_tls ends it (close_notify,
	// then 425); upload says the connection carries an upload.
	deferred, upload bool

	st   *serverTLS
	cfg  *tls.Config // this handshake's configuration
	conn net.Conn    // ClientHelloInfo.Conn
	// ticketsOff is SessionTicketsDisabled as the chosen configuration
	// had it (or resumption is off): no data connection turns it on.
	ticketsOff bool
	// secureRenegotiation: the ClientHello offered renegotiation_info
	// (RFC 5746) or its signalling cipher suite, which is what OpenSSL's
	// SSL_get_secure_renegotiation_support reports.
	secureRenegotiation bool

	mu         sync.Mutex
	resumed    bool      // UnwrapSession returned a session
	resumedTag []byte    // control tag of that session
	created    time.Time // creation time of the session resumed or last issued
	checked    bool      // a data check ran (verdict holds its result)
	verdict    error
}

func (cs *connState) setResumed(tag []byte, created time.Time) {
	cs.mu.Lock()
	cs.resumed, cs.resumedTag, cs.created = true, tag, created
	cs.mu.Unlock()
}

func (cs *connState) resumption() (resumed bool, tag []byte, created time.Time) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.resumed, cs.resumedTag, cs.created
}

func (cs *connState) setVerdict(err error) error {
	cs.mu.Lock()
	cs.checked, cs.verdict = true, err
	cs.mu.Unlock()
	return err
}

// errNestedConfig fails a handshake that used a modtls configuration
// without calling its GetConfigForClient: crypto/tls does that when the
// configuration was returned by another GetConfigForClient. Without the
// per-connection hooks such a handshake would silently never resume.
var errNestedConfig = errors.New("modtls: this tls.Config was used without its GetConfigForClient " +
	"(crypto/tls does not call the GetConfigForClient of a configuration that another " +
	"GetConfigForClient returned): pass the outer configuration through TLS.Wrap")

// maxNestedConfigs bounds how many GetConfigForClient calls a handshake
// follows.
const maxNestedConfigs = 8

// topConfig returns a configuration based on from whose handshakes each
// get a per-connection configuration (see connConfig); newConn describes
// each new handshake. from is not modified.
func (st *serverTLS) topConfig(from *tls.Config, newConn func(*tls.ClientHelloInfo) *connState) *tls.Config {
	top := from.Clone()
	choose := from.GetConfigForClient
	top.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		chosen := from
		if choose != nil {
			c, err := resolveConfigForClient(choose, hello)
			if err != nil {
				return nil, err
			}
			if c != nil {
				if c.WrapSession != nil || c.UnwrapSession != nil {
					return c, nil // modtls's own, or one that keeps its sessions itself
				}
				chosen = c
			}
		}
		return st.connConfig(chosen, newConn(hello), hello), nil
	}
	// Reached only when crypto/tls skipped GetConfigForClient.
	top.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errNestedConfig }
	top.VerifyConnection = func(tls.ConnectionState) error { return errNestedConfig }
	return top
}

// resolveConfigForClient calls choose and follows the GetConfigForClient
// of what it returns, as crypto/tls would if it nested: nil means the
// configuration that returned it.
func resolveConfigForClient(choose func(*tls.ClientHelloInfo) (*tls.Config, error), hello *tls.ClientHelloInfo) (*tls.Config, error) {
	var cur *tls.Config
	for i := 0; choose != nil; i++ {
		if i == maxNestedConfigs {
			return nil, errors.New("modtls: GetConfigForClient nested too deep")
		}
		next, err := choose(hello)
		if err != nil || next == nil {
			return cur, err
		}
		cur, choose = next, next.GetConfigForClient
	}
	return cur, nil
}

// connConfig returns the configuration of one handshake: a copy of
// chosen with modtls's hooks bound to cs.
func (st *serverTLS) connConfig(chosen *tls.Config, cs *connState, hello *tls.ClientHelloInfo) *tls.Config {
	t := st.t
	c := chosen.Clone()
	c.GetConfigForClient = nil
	if c.Time == nil {
		c.Time = t.now
	}
	cs.st, cs.cfg, cs.conn = st, c, hello.Conn
	cs.secureRenegotiation = slices.Contains(hello.Extensions, extRenegotiationInfo) ||
		slices.Contains(hello.CipherSuites, scsvRenegotiation)
	if t.sessCache == nil && t.tickets == nil {
		c.SessionTicketsDisabled = true
		c.WrapSession, c.UnwrapSession = nil, nil
	} else {
		c.WrapSession = cs.wrapSession
		c.UnwrapSession = cs.unwrapSession
	}
	cs.ticketsOff = c.SessionTicketsDisabled

	own := chosen == st.base
	if own && len(st.sc.Versions) > 0 {
		restrictVersions(c, hello, st.sc.Versions)
	}
	if own && st.sc.NextProtocol != "" {
		c.NextProtos = st.selectALPN(hello, cs)
	}
	getCert, certs := chosen.GetCertificate, chosen.Certificates
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		var cert *tls.Certificate
		var err error
		if own {
			cert, err = st.certificate(hello)
		} else {
			cert, err = pickCertificate(hello, getCert, certs)
		}
		// crypto/tls asks for a certificate only for a full TLS 1.3
		// handshake, but for every TLS 1.2 one before it looks at the
		// ticket, so the ticket switch is set here for TLS 1.3 only
		// (TestCryptoTLSReadsTicketSwitchAfterResumption pins that
		// crypto/tls reads it after this call).
		if err == nil && cs.role == roleData && negotiatedVersion(hello, c) == tls.VersionTLS13 {
			c.SessionTicketsDisabled = cs.ticketsOff || !cs.dataTicket(false, nil)
		}
		return cert, err
	}
	verify := chosen.VerifyConnection
	c.VerifyConnection = func(state tls.ConnectionState) error {
		if verify != nil {
			if err := verify(state); err != nil {
				return err
			}
		}
		if err := st.checkChainLength(state); err != nil {
			return err
		}
		if err := st.checkRevocation(state); err != nil {
			return err
		}
		if cs.role == roleControl && st.sc.ClientIPAddressRequired && c.ClientAuth == tls.RequireAndVerifyClientCert {
			if err := st.checkClientIP(state, cs.conn); err != nil {
				return err
			}
		}
		return cs.verify(state)
	}
	return c
}

// TLS extension and cipher suite numbers crypto/tls does not export.
const (
	extRenegotiationInfo uint16 = 0xff01 // RFC 5746
	scsvRenegotiation    uint16 = 0x00ff // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
)

// negotiatedVersion predicts the version crypto/tls will choose: the
// first of the client's versions, in the client's order, that the
// configuration allows (its mutualVersion).
func negotiatedVersion(hello *tls.ClientHelloInfo, c *tls.Config) uint16 {
	lo, hi := c.MinVersion, c.MaxVersion
	if lo == 0 {
		lo = tls.VersionTLS12
	}
	if hi == 0 {
		hi = tls.VersionTLS13
	}
	for _, v := range hello.SupportedVersions {
		if v >= lo && v <= hi && v >= tls.VersionTLS10 && v <= tls.VersionTLS13 {
			return v
		}
	}
	return 0
}

// restrictVersions caps c so that the handshake lands on one of versions:
// when the version crypto/tls would choose is not one of them, the next
// lower allowed version the client supports becomes the maximum (or, when
// there is none, a range the client cannot meet, which fails the
// handshake with protocol_version).
func restrictVersions(c *tls.Config, hello *tls.ClientHelloInfo, versions []uint16) {
	v := negotiatedVersion(hello, c)
	if v == 0 || slices.Contains(versions, v) {
		return
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if w := versions[i]; w < v && slices.Contains(hello.SupportedVersions, w) {
			c.MaxVersion = w
			return
		}
	}
	c.MinVersion, c.MaxVersion = v+1, v+1
}

// pickCertificate chooses a certificate as crypto/tls does for a
// configuration modtls did not build.
func pickCertificate(hello *tls.ClientHelloInfo, get func(*tls.ClientHelloInfo) (*tls.Certificate, error), certs []tls.Certificate) (*tls.Certificate, error) {
	if get != nil {
		if c, err := get(hello); c != nil || err != nil {
			return c, err
		}
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &certs[0], nil
}

func (cs *connState) unwrapSession(id []byte, state tls.ConnectionState) (*tls.SessionState, error) {
	ss := cs.st.t.unwrap(cs.st, id, state, cs)
	if ss != nil && cs.role == roleData {
		// crypto/tls reads SessionTicketsDisabled again when it is about
		// to send the TLS 1.3 ticket (shouldSendSessionTickets), after
		// resumption was decided here, and before VerifyConnection runs
		// (the ticket goes out with the server's Finished): so whether a
		// resumed data connection sends one is decided now.
		// TestCryptoTLSReadsTicketSwitchAfterResumption pins it. TLS 1.2
		// does not read it after resumption (TLS12DataTicket).
		_, tag, _ := cs.resumption()
		cs.cfg.SessionTicketsDisabled = cs.ticketsOff || !cs.dataTicket(true, tag)
	}
	return ss, nil
}

// dataTicket says whether a TLS 1.3 data connection sends a session
// ticket, given whether it resumes and the control tag of the session it
// resumes. mod_tls (OpenSSL) sends tickets only on the data connections it
// writes to: downloads and listings, which the client reads to the end,
// never uploads, which write-only clients close without reading (an
// unread ticket makes their kernel answer the close with a reset, and the
// server loses the upload's tail). OpenSSL clients that keep a session
// cache use a TLS 1.3 ticket once, so the next data connection needs the
// ticket a download sends. Only DataTLSConfigFor knows the direction:
// DataTLSConfig and Shared send none. No ticket goes out on a connection
// the check will refuse (a full handshake, or another control
// connection's session, while reuse is required): crypto/tls sends it
// before the check runs, and it could never pass.
func (cs *connState) dataTicket(resumed bool, tag []byte) bool {
	if !cs.deferred || cs.upload || cs.ctl == nil {
		return false
	}
	if !cs.ctl.ReuseRequired() {
		return true
	}
	return resumed && bytes.Equal(tag, cs.ctl.tag)
}

func (cs *connState) wrapSession(state tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	var tag []byte
	switch cs.role {
	case roleControl:
		tag = cs.tag
	case roleData:
		if state.DidResume && state.Version <= tls.VersionTLS12 && cs.st.sc.TLS12DataTicket == EmptyDataTicket {
			return []byte{}, nil
		}
		// Pass the control tag on only along a chain of resumptions.
		if resumed, rtag, _ := cs.resumption(); state.DidResume && resumed {
			tag = rtag
		}
	}
	id, err := cs.st.t.wrap(cs.st, state, ss, tag, cs)
	if cs.role == roleControl && cs.ctl != nil {
		_, _, created := cs.resumption()
		cs.ctl.setCreated(created)
	}
	return id, err
}

// verify runs when crypto/tls has verified the peer: it is where a data
// connection is accepted or refused, before the handshake completes.
func (cs *connState) verify(state tls.ConnectionState) error {
	switch cs.role {
	case roleControl:
		if cs.ctl != nil {
			cs.ctl.setPeer(state.PeerCertificates)
		}
		if cs.shared != nil {
			cs.shared.controlVerified(cs, state)
		}
	case roleData:
		if cs.ctl != nil {
			err := cs.setVerdict(cs.ctl.checkData(cs, state))
			if cs.deferred {
				return nil // CheckData gives the verdict after the handshake
			}
			return err
		}
		if cs.shared != nil {
			return cs.setVerdict(cs.shared.checkData(cs, state))
		}
	}
	return nil
}

// peerLeaf is the peer's leaf certificate, or nil.
func peerLeaf(certs []*x509.Certificate) *x509.Certificate {
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}
