package modtls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/trace"
)

// TLSLogFormatter is a logrus.Formatter writing ProFTPD's TLSLog lines:
//
//	2026-11-25 08:12:11,471 mod_tls/2.9.2[17096]: TLSv1.3 connection accepted, ...
//
// (local time, milliseconds after a comma, the process id in brackets).
type TLSLogFormatter struct {
	PID      int            // 0: os.Getpid() at format time
	Location *time.Location // nil: time.Local
}

// Format implements logrus.Formatter; entry fields are not printed.
func (f *TLSLogFormatter) Format(e *logrus.Entry) ([]byte, error) {
	buf := e.Buffer
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	loc := f.Location
	if loc == nil {
		loc = time.Local
	}
	t := e.Time.In(loc)
	b := buf.AvailableBuffer()
	b = t.AppendFormat(b, "2006-01-02 15:04:05")
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, ',', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), ' ')
	b = append(b, ModuleVersion...)
	b = append(b, '[')
	pid := f.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: "...)
	b = append(b, strings.TrimRight(e.Message, "\n")...)
	b = append(b, '\n')
	buf.Write(b)
	return buf.Bytes(), nil
}

// NewTLSLog returns a logger writing TLSLog lines to w.
func NewTLSLog(w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	l.SetFormatter(&TLSLogFormatter{})
	l.SetLevel(logrus.DebugLevel)
	return l
}

// OpenTLSLog opens the TLSLog file at path with ProFTPD's safe log rules
// (trace.OpenLog) and returns a logger writing to it and the file to close.
func OpenTLSLog(path string) (*logrus.Logger, io.Closer, error) {
	f, err := trace.OpenLog(path)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to open TLSLog: %w", err)
	}
	return NewTLSLog(f), f, nil
}

// The TLSLog lines of an FTPS session, at the moments mod_tls writes them.
// The FTP engine calls these Control methods; the data connections' lines
// are written by the data handshake itself.

// AuthRequested logs the AUTH command before the control connection's
// handshake; mech is its argument as the client sent it (TLS, TLS-C, SSL
// or TLS-P). mod_tls: "TLS/TLS-C requested, starting TLS handshake".
func (c *Control) AuthRequested(mech string) {
	c.mu.Lock()
	c.mech = mech
	c.mu.Unlock()
	c.st.t.logTLS("%s requested, starting TLS handshake", authFamily(mech))
}

// authFamily is mod_tls's name for an AUTH mechanism: "TLS/TLS-C" or
// "SSL/TLS-P".
func authFamily(mech string) string {
	switch strings.ToUpper(mech) {
	case "SSL", "TLS-P":
		return "SSL/TLS-P"
	}
	return "TLS/TLS-C"
}

// ControlHandshakeDone logs the end of the control connection's
// handshake: on success, whether the client supports secure
// renegotiation, its certificate's subject, the protocol and cipher ("TLSv1.3
// connection accepted, using cipher TLS_AES_256_GCM_SHA384 (256 bits)")
// and whether it resumed an earlier session; on failure, why, and that the
// negotiation failed, in mod_tls's words. conn may be nil when err is set.
func (c *Control) ControlHandshakeDone(conn *tls.Conn, err error) {
	t := c.st.t
	c.mu.Lock()
	mech, cs := c.mech, c.ctrl
	c.mu.Unlock()
	if err != nil {
		t.counters.handshakeFailures.Add(1)
		for _, line := range handshakeFailure(err) {
			t.logTLS("%s", line)
		}
		if mech == "" {
			t.logTLS("implicit SSL/TLS negotiation failed on control channel")
		} else {
			t.logTLS("%s negotiation failed on control channel", authFamily(mech))
		}
		return
	}
	if conn == nil {
		return
	}
	state := conn.ConnectionState()
	if cs != nil && cs.secureRenegotiation {
		t.logTLS("client supports secure renegotiations")
	}
	if leaf := peerLeaf(state.PeerCertificates); leaf != nil {
		t.logTLS("Client: %s", x509Oneline(leaf.RawSubject))
	}
	t.logTLS("%s connection accepted, using cipher %s", VersionName(state.Version), cipherDescription(state))
	if state.DidResume {
		t.counters.controlResumed.Add(1)
		t.logTLS("client reused previous TLS session for control connection")
	}
}

// ProtectionSet logs PROT's outcome: level is "Clear" or "Private"
// ("Protection set to Private"), or PROT's argument "C" or "P" (what
// ftpd's TLSEvents passes), logged with mod_tls's words.
func (c *Control) ProtectionSet(level string) {
	switch strings.ToUpper(level) {
	case "C":
		level = "Clear"
	case "P":
		level = "Private"
	}
	c.st.t.logTLS("Protection set to %s", level)
}

// handshakeFailure words a failed handshake as mod_tls's tls_accept does
// ("unable to accept TLS connection: ...").
func handshakeFailure(err error) []string {
	const msg = "unable to accept TLS connection"
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return []string{
			msg + ": received EOF that violates protocol",
			msg + ": usually this indicates an FTP-aware router, NAT, or firewall interfering with the TLS handshake",
		}
	case errors.As(err, &ne) && ne.Timeout():
		return []string{"TLS negotiation timed out"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return []string{fmt.Sprintf("%s: system call error: %v", msg, err)}
	}
	return []string{fmt.Sprintf("%s: protocol error: %v", msg, err)}
}
