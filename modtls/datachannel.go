package modtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// ReplyDataRejected is the reply a daemon sends when a data connection is
// refused for its TLS session, as ProFTPD's core does for EPERM.
const ReplyDataRejected = "425 Unable to build data connection: Operation not permitted"

// Errors of the data-channel check. Every refusal matches ErrDataRejected
// and syscall.EPERM; a session-reuse refusal also matches ErrDataReuse, a
// certificate mismatch ErrDataCertMismatch.
var (
	ErrDataRejected     = errors.New("data connection rejected (reply " + ReplyDataRejected + ")")
	ErrDataReuse        = errors.New("data connection did not reuse the control connection's TLS session")
	ErrDataCertMismatch = errors.New("control/data certificate mismatch")
)

// DataError is the refusal of a data connection. The data handshake
// fails with it (tls.Conn.Handshake returns it, and so does CheckData);
// Reason is the TLSLog message.
type DataError struct {
	Reason string
	kind   error
}

func (e *DataError) Error() string {
	return "unable to open data connection: " + e.Reason + ": Operation not permitted"
}

// Unwrap lets errors.Is find ErrDataRejected, the specific sentinel and
// syscall.EPERM.
func (e *DataError) Unwrap() []error { return []error{ErrDataRejected, e.kind, syscall.EPERM} }

// Control is mod_tls's view of one FTP control connection: the TLS
// configuration for its AUTH TLS handshake and the one for its data
// connections, which refuses, inside the handshake, a data connection
// that does not resume a TLS session of this control connection
// (ProFTPD's default, turned off by TLSOptions NoSessionReuseRequired,
// ServerConfig.NoSessionReuseRequired or TLSSessionCache off).
//
// Every session issued on the control connection carries 32 random bytes
// of this Control (ProFTPD's ticket appdata); a data connection resuming
// such a session, or a TLS 1.2 session issued on a data connection that
// did, carries the same bytes. A Control is safe for concurrent use.
type Control struct {
	st  *serverTLS
	tag []byte

	mu         sync.Mutex
	ctrlCerts  []*x509.Certificate
	created    time.Time  // when the control connection's session was made
	ctrl       *connState // the control connection's handshake
	mech       string     // the AUTH argument, "" before AUTH (implicit FTPS)
	loggedData bool       // the first data connection's line was written
	data       map[net.Conn]*connState
	order      []net.Conn // data connections by handshake start, to bound data
}

// maxPendingData bounds the data connections remembered between their
// handshake and CheckData (handshakes that fail are never checked).
const maxPendingData = 64

// NewControl starts the TLS state of a new control connection on server s
// (nil: the main server).
func (t *TLS) NewControl(s *directives.Server) *Control {
	return &Control{st: t.server(s), tag: randomBytes(tagLen), data: make(map[net.Conn]*connState)}
}

// TLSConfig is the configuration for the control connection's handshake
// (AUTH TLS, or an implicit FTPS connection).
func (c *Control) TLSConfig() *tls.Config {
	return c.st.topConfig(c.st.base, func(*tls.ClientHelloInfo) *connState {
		cs := &connState{role: roleControl, ctl: c, tag: c.tag}
		c.mu.Lock()
		c.ctrl = cs
		c.mu.Unlock()
		return cs
	})
}

// DataTLSConfig is the configuration for this control connection's data
// connections, for FTP libraries that run the data handshake themselves
// and never see the *tls.Conn: when reuse is required, a data handshake
// that does not resume a session of this control connection fails with a
// *DataError (errors.Is ErrDataRejected) and a bad_certificate alert, so
// the library enforces the check by using this configuration; reply
// ReplyDataRejected. Since the direction of the transfer is unknown, a
// TLS 1.3 data connection sends no session ticket: OpenSSL clients that
// keep a session cache (PHP, Ruby, curl with several URLs) use a TLS 1.3
// ticket once, so with this configuration their second data connection
// on one login is refused. Servers that hold the *tls.Conn use
// DataTLSConfigFor and CheckData instead.
func (c *Control) DataTLSConfig() *tls.Config {
	return c.st.topConfig(c.st.base, func(hello *tls.ClientHelloInfo) *connState {
		cs := &connState{role: roleData, ctl: c}
		c.remember(hello.Conn, cs)
		return cs
	})
}

// DataTLSConfigFor is the configuration for one data connection of this
// control connection, for servers that hold the *tls.Conn and call
// CheckData once its handshake is done (CheckData is then what enforces
// the check: without it nothing is refused). upload says that the
// connection carries an upload (STOR, APPE, STOU) rather than a download
// or a listing.
//
// The handshake is not failed by the session-reuse check: it completes,
// and CheckData returns the verdict; on a refusal CheckData has sent a
// TLS close_notify, and the caller closes the connection and replies
// ReplyDataRejected. That is how a refusal looks with ProFTPD, and what
// clients expect: curl and Python's ftplib read the 425 on the control
// connection, while a failed handshake makes them report a TLS error
// (and puts curl's replies out of step). Client certificate and
// revocation checks still fail the handshake.
//
// A TLS 1.3 data connection that resumed this control connection's
// session sends a new session ticket when upload is false, and none when
// it is true, as ProFTPD's data connections do (OpenSSL sends tickets
// when the server first writes): OpenSSL clients with a session cache use
// a TLS 1.3 ticket once and need the one a listing or download sends for
// their next transfer, and a client that only writes would leave a
// ticket unread on an upload, so that its close resets the connection
// and the server loses the upload's tail. A full-handshake data
// connection sends a ticket only when reuse is not required (then on
// downloads and listings, as with ProFTPD): when reuse is required it is
// refused, and its session, which carries no control connection, could
// never pass the check either. TLS 1.2 data connections are as with
// DataTLSConfig: crypto/tls sends a ticket in every resumed handshake
// (see TLS12DataTicket).
func (c *Control) DataTLSConfigFor(upload bool) *tls.Config {
	return c.st.topConfig(c.st.base, func(hello *tls.ClientHelloInfo) *connState {
		cs := &connState{role: roleData, ctl: c, deferred: true, upload: upload}
		c.remember(hello.Conn, cs)
		return cs
	})
}

func (c *Control) remember(conn net.Conn, cs *connState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[conn]; !ok {
		c.order = append(c.order, conn)
	}
	c.data[conn] = cs
	for len(c.order) > maxPendingData {
		delete(c.data, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *Control) take(conn net.Conn) *connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.data[conn]
	delete(c.data, conn)
	for i, o := range c.order {
		if o == conn {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	return cs
}

func (c *Control) setPeer(certs []*x509.Certificate) {
	c.mu.Lock()
	c.ctrlCerts = certs
	c.mu.Unlock()
}

func (c *Control) setCreated(t time.Time) {
	c.mu.Lock()
	c.created = t
	c.mu.Unlock()
}

// ReuseRequired reports whether data connections must resume this
// control connection's session.
func (c *Control) ReuseRequired() bool {
	return !c.st.sc.NoSessionReuseRequired && (c.st.t.sessCache != nil || c.st.t.tickets != nil)
}

// CheckData completes the data connection's handshake if needed and
// returns the data-channel verdict: nil, a *DataError (errors.Is
// ErrDataRejected), or the error the handshake failed with. With
// DataTLSConfigFor the verdict is given here only; with DataTLSConfig the
// handshake itself has already failed with it. When it refuses a
// connection whose handshake completed, CheckData has sent the TLS
// close_notify: the caller closes the connection and replies
// ReplyDataRejected. A connection made with another configuration is
// refused when reuse is required (its session cannot be traced to this
// control connection).
func (c *Control) CheckData(conn *tls.Conn) error {
	if err := conn.Handshake(); err != nil {
		return err
	}
	cs := c.take(conn.NetConn())
	if cs != nil {
		cs.mu.Lock()
		checked, verdict := cs.checked, cs.verdict
		cs.mu.Unlock()
		if checked {
			if verdict != nil {
				closeNotify(conn)
			}
			return verdict
		}
	}
	if !c.ReuseRequired() {
		return nil
	}
	c.st.t.logTLS("%s", msgNotReused)
	c.st.t.counters.dataRefused.Add(1)
	closeNotify(conn)
	return c.reject("client did not reuse TLS session", ErrDataReuse)
}

// closeNotify ends a refused data connection as mod_tls does
// (SSL_shutdown): a TLS close_notify, so that the client sees the data
// connection end cleanly and reads the 425 on the control connection.
// crypto/tls bounds the write (5 s) and fails later writes. The
// connection is the caller's to close.
func closeNotify(conn *tls.Conn) { _ = conn.CloseWrite() }

// TLSLog messages of the data-channel check, in mod_tls's words (the
// second one is capitalised in mod_tls, the first is not).
const (
	msgNotReused      = "client did not reuse TLS session, rejecting data connection (see the NoSessionReuseRequired TLSOptions parameter)"
	msgNotFromControl = "Client did not reuse TLS session from control channel, rejecting data connection (see the NoSessionReuseRequired TLSOptions parameter)"
	msgReused         = "client reused TLS session for data connection"
	msgCertMismatch   = "unable to open data connection: control/data certificate mismatch"
	msgDataFailed     = "unable to open data connection: TLS negotiation failed"
)

// checkData is the data-channel check, run from inside the data
// connection's handshake (VerifyConnection).
func (c *Control) checkData(cs *connState, state tls.ConnectionState) error {
	t := c.st.t
	if c.ReuseRequired() {
		resumed, tag, _ := cs.resumption()
		if !state.DidResume || !resumed {
			t.logTLS("%s", msgNotReused)
			t.counters.dataRefused.Add(1)
			return c.reject("client did not reuse TLS session", ErrDataReuse)
		}
		t.logTLS("%s", msgReused)
		if !bytes.Equal(tag, c.tag) {
			t.logTLS("%s", msgNotFromControl)
			t.counters.dataRefused.Add(1)
			return c.reject("client did not reuse TLS session from control channel", ErrDataReuse)
		}
		c.warnExpiry()
	}
	c.mu.Lock()
	ctrl := peerLeaf(c.ctrlCerts)
	c.mu.Unlock()
	if data := peerLeaf(state.PeerCertificates); ctrl != nil && data != nil && !ctrl.Equal(data) {
		t.logTLS("%s", msgCertMismatch)
		t.counters.dataRefused.Add(1)
		return &DataError{Reason: "control/data certificate mismatch", kind: ErrDataCertMismatch}
	}
	t.counters.dataAccepted.Add(1)
	c.mu.Lock()
	first := !c.loggedData
	c.loggedData = true
	c.mu.Unlock()
	if first { // mod_tls describes only the first data connection
		t.logTLS("%s data connection accepted, using cipher %s", VersionName(state.Version), cipherDescription(state))
	}
	return nil
}

func (c *Control) reject(reason string, kind error) error {
	c.st.t.logTLS("%s", msgDataFailed)
	return &DataError{Reason: reason, kind: kind}
}

// warnExpiry logs mod_tls's advice when the control connection's session
// is about to expire from the cache.
func (c *Control) warnExpiry() {
	t := c.st.t
	c.mu.Lock()
	created := c.created
	c.mu.Unlock()
	if created.IsZero() || t.sessTimeout <= 0 {
		return
	}
	left := created.Add(t.sessTimeout).Sub(t.now())
	if left > 60*time.Second || left < 0 {
		return
	}
	t.logTLS("control channel TLS session expires in %d secs (%d session cache expiration)",
		int64(left/time.Second), int64(t.sessTimeout/time.Second))
	t.logTLS("Consider using 'TLSSessionCache internal:' to increase the session cache expiration if necessary, or renegotiate the control channel TLS session")
}
