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
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// maxLine bounds a command line; longer lines end the session, as a
// client that sends them is not speaking FTP.
const maxLine = 4096

// replyTimeout bounds one reply's write: a client that reads no replies
// does not hold the session forever.
const replyTimeout = 60 * time.Second

// session is one control connection and everything it owns.
//
// One goroutine runs the session; another (readLoop) reads command lines
// when asked, so that the session can wait for a command, a timeout, the
// server's shutdown and, during a transfer, the transfer's end at once.
type session struct {
	srv     *Server
	conn    net.Conn // the control connection; a *tls.Conn after AUTH TLS
	r       *bufio.Reader
	log     logrus.FieldLogger
	started time.Time

	// real is the TCP connection under any PROXY protocol wrapper: its
	// addresses are the ones passive listeners bind to and data
	// connections must come from.
	real net.Conn

	tls     TLSSession // nil before AUTH TLS
	protect bool       // PROT P: data connections use TLS
	ascii   bool       // TYPE A
	typeSet bool       // the client sent TYPE

	user     string // from USER, until PASS
	loggedIn bool
	acct     *Account  // after login
	fs       userfs.FS // acct.FS
	cwd      string    // absolute, slash-separated, in the session's view
	failures int       // failed logins
	releases []func()  // Admission counts to give back

	pasv     net.Listener // the listener of the last PASV/EPSV, if any
	epsvAll  bool
	restart  int64  // REST offset for the next RETR/STOR
	renameOf string // RNFR path awaiting RNTO

	// Command reading: want asks readLoop for one line, which arrives on
	// lines; reading says a request is outstanding.
	want    chan struct{}
	lines   chan lineResult
	reading bool
	pending []string // commands that arrived during a transfer

	lastCommand  time.Time
	lastTransfer time.Time

	verb       string          // the command being run, as the table names it
	facts      uint32          // OPTS MLST: the facts shown (bit i: mlstFacts[i])
	factsSet   bool            // OPTS MLST was sent (else every fact is shown)
	totalBytes int64           // bytes of data transferred (STAT)
	xfer       *transferStatus // the transfer in progress (STAT)
	dataMsg    string          // the next 150 reply's text, if not the usual one (STOU)

	evicted   atomic.Bool
	closeOnce sync.Once
	done      bool // QUIT or a fatal error
}

type lineResult struct {
	line string
	err  error
}

func newSession(srv *Server, conn net.Conn) *session {
	now := time.Now()
	s := &session{srv: srv, conn: conn, real: realConn(conn), cwd: "/", started: now,
		lastCommand: now, lastTransfer: now, ascii: true,
		want: make(chan struct{}, 1), lines: make(chan lineResult, 1)}
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

// serve runs the command loop until QUIT, an error, a timeout or the
// server's shutdown.
func (s *session) serve() {
	defer s.close()
	// Asking for the remote address makes a PROXY protocol connection
	// read its header (bounded by the listener's header timeout), so the
	// session logs the client the proxy reported. ProFTPD prefixes
	// session log lines with "(name[ip])"; ftpdtls does no DNS lookups.
	remote := s.conn.RemoteAddr()
	host := hostOf(remote)
	s.log = s.srv.logger().WithField("client", host+"["+host+"]")
	if !s.srv.policy().ConnectAllowed(addrOf(remote)) {
		s.log.Infof("Connection from %s denied by <Limit LOGIN>", host)
		return
	}
	if a := s.srv.Admission; a != nil {
		release, err := a.Connect(remote)
		if err != nil {
			s.refuse(err)
			return
		}
		s.releases = append(s.releases, release)
	}
	name := s.srv.ServerName
	if name == "" {
		name = "ftpdtls"
	}
	// The greeting is the first write: a PROXY protocol connection whose
	// header is missing or refused fails here.
	if !s.reply(220, fmt.Sprintf("ftpdtls Server (%s) [%s]", name, hostOf(s.real.LocalAddr()))) {
		s.log.Infof("FTP session refused")
		return
	}
	s.log.Info("FTP session opened.")
	defer func() {
		if s.evicted.Load() {
			s.log.Info("FTP session closed: too many connections not logged in, this was the oldest")
		}
		s.log.Info("FTP session closed.")
	}()
	go s.readLoop()

	for !s.done {
		line, ok := s.nextCommand()
		if !ok {
			return
		}
		s.lastCommand = time.Now()
		verb, arg, _ := strings.Cut(line, " ")
		s.dispatch(strings.ToUpper(verb), arg)
	}
}

// refuse answers a refusal by an Admission limit and logs it.
func (s *session) refuse(err error) {
	var r *Refusal
	if errors.As(err, &r) {
		s.log.Warn(r.Log)
		if r.Code != 0 {
			s.reply(r.Code, r.Msg)
		}
		return
	}
	s.log.Warnf("connection refused: %v", err)
	s.reply(421, "Service not available, closing control connection")
}

// readLoop reads one command line each time the session asks for one.
// It ends when the connection fails or the session closes want.
func (s *session) readLoop() {
	for range s.want {
		line, err := s.readLine()
		s.lines <- lineResult{line, err}
		if err != nil {
			return
		}
	}
}

// requestLine asks readLoop for the next line unless a request is
// outstanding.
func (s *session) requestLine() {
	if !s.reading {
		s.reading = true
		s.want <- struct{}{}
	}
}

// nextCommand waits for the next command line, enforcing TimeoutLogin,
// TimeoutIdle and TimeoutNoTransfer; false ends the session.
func (s *session) nextCommand() (string, bool) {
	if len(s.pending) > 0 {
		line := s.pending[0]
		s.pending = s.pending[1:]
		return line, true
	}
	s.requestLine()
	deadline, why := s.controlDeadline()
	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	select {
	case r := <-s.lines:
		s.reading = false
		if r.err != nil {
			if !errors.Is(r.err, io.EOF) && !errors.Is(r.err, net.ErrClosed) && !s.evicted.Load() {
				s.log.Infof("control connection: %v", r.err)
			}
			return "", false
		}
		return r.line, true
	case <-timer:
		s.reply(421, why)
		s.log.Info(timeoutLog(why))
		return "", false
	case <-s.srv.stop():
		s.reply(421, "Service not available, closing control connection")
		return "", false
	}
}

// controlDeadline is when the session times out waiting for a command,
// and the reply that says why.
func (s *session) controlDeadline() (time.Time, string) {
	var at time.Time
	var why string
	consider := func(d time.Duration, from time.Time, msg string) {
		if d <= 0 {
			return
		}
		if t := from.Add(d); at.IsZero() || t.Before(at) {
			at, why = t, fmt.Sprintf(msg, seconds(d))
		}
	}
	consider(s.srv.idleTimeout(), s.lastCommand, "Idle timeout (%s): closing control connection")
	if !s.loggedIn {
		consider(s.srv.loginTimeout(), s.started, "Login timeout (%s): closing control connection")
	} else {
		consider(s.srv.noTransferTimeout(), s.lastTransfer, "No transfer timeout (%s): closing control connection")
	}
	return at, why
}

// seconds formats a timeout as ProFTPD does: "600 seconds", "1 second".
func seconds(d time.Duration) string {
	n := int(d.Round(time.Second) / time.Second)
	if n == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", n)
}

func timeoutLog(reply string) string {
	switch {
	case strings.HasPrefix(reply, "Login"):
		return "Login timeout exceeded, disconnected"
	case strings.HasPrefix(reply, "No transfer"):
		return "TimeoutNoTransfer exceeded, disconnected"
	}
	return "Client session idle timeout, disconnected"
}

// readLine reads one CRLF- (or LF-) terminated command line. Telnet
// interrupt sequences that clients send before ABOR are dropped.
func (s *session) readLine() (string, error) {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("command line longer than %d bytes", maxLine)
	}
	if err != nil {
		return "", err
	}
	return stripTelnet(strings.TrimRight(string(line), "\r\n")), nil
}

// stripTelnet removes Telnet commands (IAC x, as in "IAC IP IAC DM
// ABOR") from a command line.
func stripTelnet(line string) string {
	if strings.IndexByte(line, 0xff) < 0 {
		return line
	}
	b := []byte(line)
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] == 0xff && i+1 < len(b) {
			if b[i+1] == 0xff { // an escaped 0xff byte
				out = append(out, 0xff)
			}
			i++
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// reply sends a one-line reply; false means the connection is gone.
func (s *session) reply(code int, msg string) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
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
	_ = s.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
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
	if d := s.srv.handshakeTimeout(); d > 0 {
		_ = tc.SetDeadline(time.Now().Add(d))
	}
	err := s.handshake(tc)
	if ev, ok := ts.(TLSEvents); ok {
		ev.ControlHandshakeDone(tc, err)
	}
	if err != nil {
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

// handshake runs a TLS handshake that the server's shutdown interrupts
// (by expiring the connection's deadline).
func (s *session) handshake(tc *tls.Conn) error {
	cancel := s.srv.onStop(func() { tc.NetConn().SetDeadline(time.Now()) })
	err := tc.Handshake()
	if !cancel() {
		return ErrServerClosed
	}
	return err
}

// evict closes a session that has not logged in, to make room (the
// server's mu is held). The session's goroutine notices and ends.
func (s *session) evict() {
	s.evicted.Store(true)
	s.real.Close()
}

// cut closes the control connection from another goroutine.
func (s *session) cut() {
	s.real.Close()
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		s.closePassive()
		if s.fs != nil {
			s.fs.Close()
		}
		for _, r := range s.releases {
			r()
		}
		s.conn.Close()
		close(s.want)
	})
}

func (s *session) closePassive() {
	if s.pasv != nil {
		s.pasv.Close()
		s.pasv = nil
	}
}
