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

// ReplyDataRejected is the reply a daemon sends when CheckData refuses a
// data connection, as ProFTPD's core does for EPERM.
const ReplyDataRejected = "425 Unable to build data connection: Operation not permitted"

// Errors of CheckData. Every refusal matches ErrDataRejected and
// syscall.EPERM; a session-reuse refusal also matches ErrDataReuse, a
// certificate mismatch ErrDataCertMismatch.
var (
	ErrDataRejected     = errors.New("data connection rejected (reply " + ReplyDataRejected + ")")
	ErrDataReuse        = errors.New("data connection did not reuse the control connection's TLS session")
	ErrDataCertMismatch = errors.New("control/data certificate mismatch")
)

// DataError is CheckData's refusal. Reason is the TLSLog message.
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
// configuration for its AUTH TLS handshake and for its data connections,
// and the check that each data connection resumed a TLS session of this
// control connection (ProFTPD's default, turned off by TLSOptions
// NoSessionReuseRequired or TLSSessionCache off).
//
// Every session issued on the control connection carries 32 random bytes
// of this Control (ProFTPD's ticket appdata); a data connection that
// resumes such a session, or a session issued on an earlier data connection
// that did, passes on the same bytes. A Control is safe for concurrent use.
type Control struct {
	st  *serverTLS
	tag []byte

	mu        sync.Mutex
	ctrlCerts []*x509.Certificate
	created   time.Time // when the control connection's session was made
	data      map[net.Conn]*connRecord
	order     []net.Conn // data connections by handshake start, to bound data
}

// maxPendingData bounds the data connections remembered between their
// handshake and CheckData (handshakes that fail are never checked).
const maxPendingData = 64

// NewControl starts the TLS state of a new control connection on server s
// (nil: the main server).
func (t *TLS) NewControl(s *directives.Server) *Control {
	return &Control{st: t.server(s), tag: randomBytes(tagLen), data: make(map[net.Conn]*connRecord)}
}

// TLSConfig is the configuration for the control connection's handshake
// (AUTH TLS, or an implicit FTPS connection).
func (c *Control) TLSConfig() *tls.Config {
	rec := &connRecord{}
	cfg := c.st.config(func(tls.ConnectionState, *connRecord) []byte { return c.tag }, rec)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		c.mu.Lock()
		c.ctrlCerts = cs.PeerCertificates
		c.mu.Unlock()
		return nil
	}
	wrap := cfg.WrapSession
	if wrap != nil {
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			id, err := wrap(cs, ss)
			_, _, created := rec.get()
			c.mu.Lock()
			c.created = created
			c.mu.Unlock()
			return id, err
		}
	}
	return cfg
}

// DataTLSConfig is the configuration for the handshakes of this control
// connection's data connections; check each one with CheckData.
func (c *Control) DataTLSConfig() *tls.Config {
	cfg := c.st.base.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		rec := &connRecord{}
		c.remember(hello.Conn, rec)
		return c.st.config(func(cs tls.ConnectionState, r *connRecord) []byte {
			// Pass on the control tag only along a chain of resumptions.
			if resumed, tag, _ := r.get(); cs.DidResume && resumed {
				return tag
			}
			return nil
		}, rec), nil
	}
	return cfg
}

func (c *Control) remember(conn net.Conn, rec *connRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[conn]; !ok {
		c.order = append(c.order, conn)
	}
	c.data[conn] = rec
	for len(c.order) > maxPendingData {
		delete(c.data, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *Control) take(conn net.Conn) *connRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.data[conn]
	delete(c.data, conn)
	for i, o := range c.order {
		if o == conn {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	return rec
}

// ReuseRequired reports whether CheckData insists on session reuse.
func (c *Control) ReuseRequired() bool {
	return c.st.settings.Options&OptNoSessionReuseRequired == 0 && c.st.t.sessCache != nil
}

// CheckData completes the data connection's handshake if needed and
// accepts it only if it resumed a TLS session of this control connection
// (unless reuse is not required) and presents the same client certificate
// as the control connection. A refusal is logged to the TLSLog in
// ProFTPD's words and returned as a *DataError; the daemon then closes
// the data connection and replies ReplyDataRejected.
func (c *Control) CheckData(conn *tls.Conn) error {
	if err := conn.Handshake(); err != nil {
		return err
	}
	t := c.st.t
	rec := c.take(conn.NetConn())
	cs := conn.ConnectionState()
	if c.ReuseRequired() {
		if !cs.DidResume || rec == nil {
			t.logTLS("client did not reuse TLS session, rejecting data connection (see the NoSessionReuseRequired TLSOptions parameter)")
			return c.reject("client did not reuse TLS session", ErrDataReuse)
		}
		t.logTLS("client reused TLS session for data connection")
		resumed, tag, _ := rec.get()
		if !resumed || !bytes.Equal(tag, c.tag) {
			t.logTLS("client did not reuse TLS session from control channel, rejecting data connection (see the NoSessionReuseRequired TLSOptions parameter)")
			return c.reject("client did not reuse TLS session from control channel", ErrDataReuse)
		}
		c.warnExpiry()
	}
	c.mu.Lock()
	ctrl := c.ctrlCerts
	c.mu.Unlock()
	if len(ctrl) > 0 && len(cs.PeerCertificates) > 0 && !ctrl[0].Equal(cs.PeerCertificates[0]) {
		t.logTLS("unable to open data connection: control/data certificate mismatch")
		return &DataError{Reason: "control/data certificate mismatch", kind: ErrDataCertMismatch}
	}
	return nil
}

func (c *Control) reject(reason string, kind error) error {
	c.st.t.logTLS("unable to open data connection: TLS negotiation failed")
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
	if left > 60*time.Second {
		return
	}
	t.logTLS("control channel TLS session expires in %d secs (%d session cache expiration)",
		int64(left/time.Second), int64(t.sessTimeout/time.Second))
	t.logTLS("Consider using 'TLSSessionCache internal:' to increase the session cache expiration if necessary, or renegotiate the control channel TLS session")
}
