package modtls

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Shared is the data-channel check for FTP libraries that use one
// *tls.Config for every connection: the AUTH TLS handshake of each control
// connection and the handshake of every data connection
// (goftp.io/server). Such a configuration cannot know which control
// connection a data connection belongs to, so the check is weaker than
// Control's; Shared makes it as strong as that shape allows:
//
//   - a handshake on one of the control ports is a control connection;
//     every session issued on it carries a tag of that connection;
//   - a data connection (any other local port) must resume a session
//     whose tag is that of a control connection made through this Shared
//     less than the session timeout ago (a full handshake, a session of
//     another server, process or restart, or an unknown tag is refused);
//   - if ExpectData said which control connection the data connection's
//     local port belongs to, the session must be that control
//     connection's (the full check);
//   - otherwise the data connection must come from the IP address of the
//     control connection whose session it resumed;
//   - when both present a client certificate, they must be the same.
//
// Without ExpectData this does not stop a client that has its own
// control connection to the server, from the same IP address (a NAT
// shared with the victim), from connecting to another session's passive
// port first and transferring with its own session: only knowing which
// control connection owns the port stops that (ExpectData, or a
// Control per control connection). Refusals fail the data handshake with
// a *DataError, as Control's do.
type Shared struct {
	st    *serverTLS
	ports []int

	mu       sync.Mutex
	controls map[string]*sharedControl // by tag
	order    []*sharedControl          // by registration, for expiry
	expect   map[int]string            // local data port -> control connection's remote address
}

// sharedControl is a control connection made through a Shared.
type sharedControl struct {
	tag        []byte
	addr       string // its remote address
	ip         net.IP
	certs      []*x509.Certificate
	registered time.Time
	loggedData bool
}

// maxSharedControls bounds the control connections a Shared remembers;
// beyond it the oldest are forgotten (their data connections refused).
const maxSharedControls = 1 << 16

// NewShared returns the shared-configuration check for server s (nil:
// the main server); handshakes whose local port is one of controlPorts are
// control connections (the explicit FTPS port, and the implicit one if
// any), all others data connections.
func (t *TLS) NewShared(s *directives.Server, controlPorts ...int) *Shared {
	return &Shared{st: t.server(s), ports: controlPorts, controls: make(map[string]*sharedControl), expect: make(map[int]string)}
}

// TLSConfig is the one configuration to give the FTP library.
func (sh *Shared) TLSConfig() *tls.Config {
	return sh.st.topConfig(sh.st.base, func(hello *tls.ClientHelloInfo) *connState {
		if slices.Contains(sh.ports, localPort(hello.Conn)) {
			return &connState{role: roleControl, shared: sh, tag: randomBytes(tagLen)}
		}
		return &connState{role: roleData, shared: sh}
	})
}

// ExpectData says that the next data connection on local port dataPort
// belongs to the control connection whose remote address is control
// (net.Conn.RemoteAddr of the control connection, as the FTP library
// reports it). With it, that data connection must resume that control
// connection's session, which is Control's full check. Call it before the
// data handshake: goftp's Notifier hooks BeforePutFile and
// BeforeDownloadFile run before the first read or write of the data
// connection, which is when crypto/tls handshakes.
func (sh *Shared) ExpectData(control net.Addr, dataPort int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.expect) >= maxSharedControls {
		clear(sh.expect)
	}
	sh.expect[dataPort] = control.String()
}

// ReuseRequired reports whether data connections must resume a control
// connection's session.
func (sh *Shared) ReuseRequired() bool {
	return !sh.st.sc.NoSessionReuseRequired && (sh.st.t.sessCache != nil || sh.st.t.tickets != nil)
}

// controlVerified registers a control connection and writes mod_tls's
// TLSLog lines for it (there is no FTP engine to call Control's methods).
func (sh *Shared) controlVerified(cs *connState, state tls.ConnectionState) {
	t := sh.st.t
	now := t.now()
	c := &sharedControl{tag: cs.tag, certs: state.PeerCertificates, registered: now}
	if cs.conn != nil {
		c.addr = cs.conn.RemoteAddr().String()
		c.ip = remoteIP(cs.conn)
	}
	sh.mu.Lock()
	for len(sh.order) > 0 && (len(sh.order) >= maxSharedControls || !now.Before(sh.order[0].registered.Add(t.sessTimeout))) {
		delete(sh.controls, string(sh.order[0].tag))
		sh.order = sh.order[1:]
	}
	sh.controls[string(c.tag)] = c
	sh.order = append(sh.order, c)
	sh.mu.Unlock()

	if cs.secureRenegotiation {
		t.logTLS("client supports secure renegotiations")
	}
	t.logTLS("%s connection accepted, using cipher %s", VersionName(state.Version), cipherDescription(state))
	if state.DidResume {
		t.counters.controlResumed.Add(1)
		t.logTLS("client reused previous TLS session for control connection")
	}
}

// checkData is the data-channel check of a Shared configuration.
func (sh *Shared) checkData(cs *connState, state tls.ConnectionState) error {
	t := sh.st.t
	refuse := func(msg, reason string, kind error) error {
		t.logTLS("%s", msg)
		t.logTLS("%s", msgDataFailed)
		t.counters.dataRefused.Add(1)
		return &DataError{Reason: reason, kind: kind}
	}
	port := localPort(cs.conn)
	sh.mu.Lock()
	expected, haveExpected := sh.expect[port]
	delete(sh.expect, port)
	sh.mu.Unlock()
	if !sh.ReuseRequired() {
		t.counters.dataAccepted.Add(1)
		return nil
	}
	resumed, tag, _ := cs.resumption()
	if !state.DidResume || !resumed {
		return refuse(msgNotReused, "client did not reuse TLS session", ErrDataReuse)
	}
	t.logTLS("%s", msgReused)
	sh.mu.Lock()
	ctl := sh.controls[string(tag)]
	if ctl != nil && !t.now().Before(ctl.registered.Add(t.sessTimeout)) {
		ctl = nil
	}
	first := false
	if ctl != nil {
		first, ctl.loggedData = !ctl.loggedData, true
	}
	sh.mu.Unlock()
	switch {
	case ctl == nil,
		haveExpected && expected != ctl.addr,
		!haveExpected && cs.conn != nil && !ctl.ip.Equal(remoteIP(cs.conn)):
		return refuse(msgNotFromControl, "client did not reuse TLS session from control channel", ErrDataReuse)
	}
	if c, d := peerLeaf(ctl.certs), peerLeaf(state.PeerCertificates); c != nil && d != nil && !c.Equal(d) {
		t.logTLS("%s", msgCertMismatch)
		t.counters.dataRefused.Add(1)
		return &DataError{Reason: "control/data certificate mismatch", kind: ErrDataCertMismatch}
	}
	t.counters.dataAccepted.Add(1)
	if first {
		t.logTLS("%s data connection accepted, using cipher %s", VersionName(state.Version), cipherDescription(state))
	}
	return nil
}

func localPort(c net.Conn) int {
	if c == nil {
		return -1
	}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	return -1
}

func remoteIP(c net.Conn) net.IP {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}
