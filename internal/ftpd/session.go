package ftpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// maxLine bounds a command line; longer lines end the session, as a
// client that sends them is not speaking FTP.
const maxLine = 4096

// session is one control connection and everything it owns.
type session struct {
	srv  *Server
	conn net.Conn // the control connection; a *tls.Conn after AUTH TLS
	r    *bufio.Reader
	log  logrus.FieldLogger

	// real is the TCP connection under any PROXY protocol wrapper: its
	// addresses are the ones passive listeners bind to and data
	// connections must come from.
	real net.Conn

	tls     TLSSession // nil before AUTH TLS
	protect bool       // PROT P: data connections use TLS

	user     string // from USER, until PASS
	loggedIn bool
	acct     *Account  // after login
	fs       userfs.FS // acct.FS
	cwd      string    // absolute, slash-separated, in the session's view

	pasv     net.Listener // the listener of the last PASV/EPSV, if any
	epsvAll  bool
	restart  int64  // REST offset for the next RETR/STOR
	renameOf string // RNFR path awaiting RNTO

	closeOnce sync.Once
	done      bool // QUIT or a fatal error
}

func newSession(srv *Server, conn net.Conn) *session {
	s := &session{srv: srv, conn: conn, real: realConn(conn), cwd: "/"}
	s.r = bufio.NewReaderSize(conn, maxLine)
	s.log = srv.logger()
	return s
}

// realConn unwraps a PROXY protocol connection (anything with Raw()).
func realConn(c net.Conn) net.Conn {
	if r, ok := c.(interface{ Raw() net.Conn }); ok {
		return r.Raw()
	}
	return c
}

func hostOf(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// serve runs the command loop until QUIT, an error or a timeout.
func (s *session) serve() {
	defer s.close()
	// Asking for the remote address makes a PROXY protocol connection
	// read its header (bounded by the listener's header timeout), so the
	// session logs the client the proxy reported. ProFTPD prefixes
	// session log lines with "(name[ip])"; ftpdtls does no DNS lookups.
	host := hostOf(s.conn.RemoteAddr())
	s.log = s.srv.logger().WithField("client", host+"["+host+"]")
	name := s.srv.ServerName
	if name == "" {
		name = "ftpdtls"
	}
	// The greeting is the first write: a PROXY protocol connection whose
	// header is missing or refused fails here.
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.dataTimeout()))
	if _, err := fmt.Fprintf(s.conn, "220 ftpdtls Server (%s) [%s]\r\n", name, hostOf(s.real.LocalAddr())); err != nil {
		s.log.Infof("FTP session refused: %v", err)
		return
	}
	s.log.Info("FTP session opened.")
	defer s.log.Info("FTP session closed.")

	for !s.done {
		if err := s.conn.SetReadDeadline(time.Now().Add(s.srv.idleTimeout())); err != nil {
			return
		}
		line, err := s.readLine()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.reply(421, "Idle timeout; closing control connection")
			}
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		s.dispatch(strings.ToUpper(verb), arg)
	}
}

// readLine reads one CRLF- (or LF-) terminated command line.
func (s *session) readLine() (string, error) {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("command line longer than %d bytes", maxLine)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// reply sends a one-line reply; false means the connection is gone.
func (s *session) reply(code int, msg string) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.dataTimeout()))
	_, err := fmt.Fprintf(s.conn, "%d %s\r\n", code, msg)
	if err != nil {
		s.done = true
		return false
	}
	return true
}

// replyLines sends a multi-line reply: "code-first", the middle lines as
// given, "code last".
func (s *session) replyLines(code int, first string, lines []string, last string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d-%s\r\n", code, first)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "%d %s\r\n", code, last)
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.dataTimeout()))
	if _, err := io.WriteString(s.conn, b.String()); err != nil {
		s.done = true
	}
}

// startTLS upgrades the control connection after "234".
func (s *session) startTLS(ts TLSSession) error {
	// Anything the client sent after AUTH before the handshake would
	// be plain text injected into the protected stream: refuse it.
	if s.r.Buffered() > 0 {
		return errors.New("client sent data after AUTH before the TLS handshake")
	}
	tc := tls.Server(s.conn, ts.TLSConfig())
	_ = tc.SetDeadline(time.Now().Add(s.srv.dataTimeout()))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake on control connection: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	s.tls = ts
	s.conn = tc
	s.r.Reset(tc)
	st := tc.ConnectionState()
	s.log.Infof("%s control connection established, using cipher %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// cut closes the control connection from another goroutine (shutdown).
func (s *session) cut() {
	s.real.Close()
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		s.closePassive()
		if s.fs != nil {
			s.fs.Close()
		}
		s.conn.Close()
	})
}

func (s *session) closePassive() {
	if s.pasv != nil {
		s.pasv.Close()
		s.pasv = nil
	}
}
