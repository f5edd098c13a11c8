package ftpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ---- passive listeners ----

// passiveAllowed applies <Limit PASV> and <Limit EPSV> (ProFTPD checks
// them on the current directory).
func (s *session) passiveAllowed() bool {
	if !s.allowed(s.verb, s.cwd) {
		s.reply(501, s.verb+": "+strerror(syscall.EPERM))
		return false
	}
	return true
}

func (s *session) cmdPASV(string) {
	if !s.passiveAllowed() {
		return
	}
	if s.epsvAll {
		s.reply(501, "PASV not allowed after EPSV ALL")
		return
	}
	ip := s.real.LocalAddr().(*net.TCPAddr).IP.To4()
	if ip == nil {
		s.reply(501, "PASV is for IPv4 only; use EPSV")
		return
	}
	port, err := s.listenPassiveFD()
	if err != nil {
		s.log.Warnf("PASV: %v", err)
		s.reply(425, "Unable to build data connection: "+errText(err))
		return
	}
	if m := s.srv.MasqueradeAddress.To4(); m != nil {
		ip = m
	}
	s.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).",
		ip[0], ip[1], ip[2], ip[3], port>>8, port&0xff))
}

func (s *session) cmdEPSV(arg string) {
	switch arg = strings.ToUpper(strings.TrimSpace(arg)); arg {
	case "ALL":
		// RFC 2428: after EPSV ALL the client sends no PASV/PORT.
		s.epsvAll = true
		s.reply(200, "EPSV ALL command successful")
		return
	case "", "1", "2":
	default:
		s.reply(522, "Network protocol not supported, use (1,2)")
		return
	}
	if !s.passiveAllowed() {
		return
	}
	port, err := s.listenPassiveFD()
	if err != nil {
		s.log.Warnf("EPSV: %v", err)
		s.reply(425, "Unable to build data connection: "+errText(err))
		return
	}
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
}

// listenPassiveFD is listenPassive, making room when out of descriptors.
func (s *session) listenPassiveFD() (port int, err error) {
	err = s.srv.withFD(func() error {
		port, err = s.listenPassive()
		return err
	})
	return port, err
}

// listenPassive replaces any previous passive listener with a new one on
// the control connection's local address, in PassivePorts if set.
func (s *session) listenPassive() (int, error) {
	s.closePassive()
	ip := s.real.LocalAddr().(*net.TCPAddr).IP
	r := s.srv.PassivePorts
	if r.Min <= 0 || r.Max < r.Min {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
		if err != nil {
			return 0, err
		}
		s.pasv = ln
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	// Start at a random port of the range, so that concurrent sessions
	// (and worker processes) do not all fight over its first port.
	n := r.Max - r.Min + 1
	start := rand.IntN(n)
	var err error
	for i := range n {
		port := r.Min + (start+i)%n
		var ln *net.TCPListener
		ln, err = net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		if err == nil {
			s.pasv = ln
			return port, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("no free port in PassivePorts %d-%d: %w", r.Min, r.Max, err)
}

// ---- data connections ----

// errDataRefused is any data-connection failure the client hears about as
// ProFTPD's "425 Unable to build data connection: Operation not permitted".
var errDataRefused = errors.New("Operation not permitted")

// dataReady checks, before anything is touched, that a transfer could
// start: PROT P where required, and a passive listener. On failure it
// has sent the reply.
func (s *session) dataReady() bool {
	if s.srv.RequireTLSData && !s.protect {
		s.reply(522, "SSL/TLS required on the data channel")
		return false
	}
	if s.pasv == nil {
		s.reply(425, "Unable to build data connection: use PASV or EPSV first")
		return false
	}
	return true
}

// openData accepts the passive data connection, sends the 150 reply, and
// for PROT P runs the TLS handshake and the session's reuse check. The
// handshake follows the 150 reply, as with ProFTPD: several clients
// (jlaffaye/ftp, curl) only start it once they have read the 150.
// On failure it calls onFail (if set), sends the final reply and returns
// nil.
//
// upload says that the client will write (STOR, APPE, STOU): the TLS
// configuration then sends no TLS 1.3 session ticket (see
// DataTLSConfigFor). A connection refused after its TLS handshake is
// ended as ProFTPD ends it (see refuseData) before the 425.
func (s *session) openData(what string, ascii, upload bool, onFail func()) net.Conn {
	fail := func(code int, msg string) net.Conn {
		if onFail != nil {
			onFail()
		}
		s.reply(code, msg)
		return nil
	}
	if s.srv.RequireTLSData && !s.protect {
		return fail(522, "SSL/TLS required on the data channel")
	}
	if s.pasv == nil {
		return fail(425, "Unable to build data connection: use PASV or EPSV first")
	}
	ln := s.pasv
	s.pasv = nil // one connection per PASV, as with ProFTPD
	defer ln.Close()
	s.lastTransfer = time.Now()

	conn, err := s.acceptData(ln)
	if err != nil {
		if errors.Is(err, ErrServerClosed) {
			return fail(426, "Transfer aborted. Data connection closed")
		}
		s.log.Infof("%s: no data connection: %v", what, err)
		return fail(425, "Unable to build data connection: Connection timed out")
	}
	msg := fmt.Sprintf("Opening %s mode data connection for %s", cond(ascii, "ASCII", "BINARY"), what)
	if s.dataMsg != "" {
		msg, s.dataMsg = s.dataMsg, ""
	}
	if !s.reply(150, msg) {
		conn.Close()
		if onFail != nil {
			onFail()
		}
		return nil
	}
	if !s.protect {
		return conn
	}
	tc, err := s.dataTLS(conn, upload)
	if errors.Is(err, ErrServerClosed) {
		// The shutdown interrupted the handshake: the transfer is
		// aborted, as when it interrupts the wait for the connection.
		conn.Close()
		return fail(426, "Transfer aborted. Data connection closed")
	}
	if err != nil {
		s.log.Infof("%s: data connection refused: %v", what, err)
		s.refuseData(conn, tc)
		return fail(425, "Unable to build data connection: "+errDataRefused.Error())
	}
	return tc
}

// acceptData waits for the client's data connection. A connection from
// another address is a third party that found the port: it is dropped
// and logged, and the wait goes on for the real client (unless
// AllowForeignAddress), so that nobody who can reach the port range can
// break or take a transfer.
func (s *session) acceptData(ln net.Listener) (net.Conn, error) {
	tl := ln.(*net.TCPListener)
	_ = tl.SetDeadline(time.Now().Add(s.dataTimeout()))
	var interrupted atomic.Bool
	cancel := s.srv.onStop(func() {
		interrupted.Store(true)
		_ = tl.SetDeadline(time.Now())
	})
	defer cancel()
	client := s.real.RemoteAddr()
	for {
		conn, err := tl.Accept()
		if err != nil {
			if interrupted.Load() {
				return nil, ErrServerClosed
			}
			if outOfFDs(err) && s.srv.evictPreLogin() {
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && !ne.Timeout() && isTemporary(err) && !outOfFDs(err) {
				continue
			}
			return nil, err
		}
		if sameHost(conn.RemoteAddr(), client) || s.srv.policy().AllowForeignAddress() {
			return conn, nil
		}
		s.log.Warnf("SECURITY VIOLATION: Passive connection from foreign IP address %s rejected (does not match client IP address %s).",
			hostOf(conn.RemoteAddr()), hostOf(client))
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset: nothing for the intruder to read
		}
		conn.Close()
	}
}

// dataTimeout is how long the client's data connection is waited for.
func (s *session) dataTimeout() time.Duration {
	for _, d := range []time.Duration{timeout(s.srv.DataTimeout, 0), s.srv.noTransferTimeout(), s.srv.stalledTimeout()} {
		if d > 0 {
			return d
		}
	}
	return 300 * time.Second
}

// dataTLS runs a data connection's TLS handshake and the session's
// check. After a failed check it returns the connection with the error
// (for refuseData).
func (s *session) dataTLS(conn net.Conn, upload bool) (*tls.Conn, error) {
	if tcp, ok := conn.(*net.TCPConn); ok && upload {
		// crypto/tls reads about a record (at most 16 KiB) a read(2):
		// an upload reads its TCP connection in larger pieces.
		conn = &readBufferedConn{TCPConn: tcp, r: bufio.NewReaderSize(tcp, fileChunk)}
	}
	tc := tls.Server(conn, s.dataConfig(upload))
	if d := s.srv.handshakeTimeout(); d > 0 {
		_ = tc.SetDeadline(time.Now().Add(d))
	}
	if err := s.handshake(tc); err != nil {
		return nil, fmt.Errorf("TLS negotiation failed: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	if err := s.tls.CheckData(tc); err != nil {
		return tc, err
	}
	return tc, nil
}

// DataTLSConfigFor is what a TLSSession may implement besides
// DataTLSConfig (modtls.Control does): a configuration for one data
// connection whose handshake does not refuse the connection itself (the
// engine calls CheckData after it), and that sends a TLS 1.3 session
// ticket on a resumed connection only when upload is false. OpenSSL
// clients use a TLS 1.3 ticket once and need the one a listing or a
// download sends for their next transfer; a client that only writes
// leaves a ticket unread, and its close then resets the connection,
// losing the end of an upload.
type DataTLSConfigFor interface {
	DataTLSConfigFor(upload bool) *tls.Config
}

// dataConfig is the TLS configuration of a data connection for a
// transfer in the given direction.
func (s *session) dataConfig(upload bool) *tls.Config {
	if f, ok := s.tls.(DataTLSConfigFor); ok {
		if cfg := f.DataTLSConfigFor(upload); cfg != nil {
			return cfg
		}
	}
	return s.tls.DataTLSConfig()
}

// refuseData ends a data connection that is refused. One whose TLS
// handshake completed (refused by the session-reuse check) is ended as
// ProFTPD ends it: a TLS close_notify, a TCP half-close and a lingering
// close, so that the client sees the data connection end in order and
// reads the 425 on the control connection; a handshake that fails with an
// alert instead makes clients report a TLS error, and puts curl's replies
// out of step. Anything else is closed.
func (s *session) refuseData(conn net.Conn, tc *tls.Conn) {
	if tc == nil || !tc.ConnectionState().HandshakeComplete {
		conn.Close()
		return
	}
	if err := s.finishData(tc); err != nil {
		s.log.Debugf("closing a refused data connection: %v", err)
	}
}

func sameHost(a, b net.Addr) bool {
	return addrOf(a) == addrOf(b) && addrOf(a).IsValid()
}

// readBufferedConn is a TCP connection read through a buffer; everything
// else (deadlines, CloseWrite, Close) is the TCP connection's.
type readBufferedConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func (c *readBufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// netConnOf is the TCP connection under a data connection.
func netConnOf(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// finishData ends a data connection on which the transfer is complete:
// a TLS close_notify and a TCP half-close say "that was all" to the
// client, and the connection is drained for a while before it is closed
// (a lingering close), so that our close never resets a client that still
// has data to read. A failure to send the close_notify (the client closed
// first) is returned for the log only: it is not a transfer error.
func (s *session) finishData(conn net.Conn) error {
	raw := netConnOf(conn)
	_ = raw.SetWriteDeadline(time.Now().Add(s.srv.lingerTimeout() + time.Second))
	var err error
	if tc, ok := conn.(*tls.Conn); ok {
		err = tc.CloseWrite()
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	s.srv.linger(conn)
	return err
}

// ---- transfers ----

// transferOutcome is how a transfer ended besides its own error.
type transferOutcome int

const (
	transferRan      transferOutcome = iota
	transferABOR                     // the client sent ABOR
	transferQuit                     // the client sent QUIT
	transferShutdown                 // the server is shutting down
	transferCtrlLost                 // the control connection failed
)

// transfer runs body (the copy) while reading the control connection:
// ABOR aborts the transfer, NOOP is answered, commands that would start
// another transfer are refused (450, as ProFTPD does), others wait for the
// transfer's end. Shutdown aborts it too.
func (s *session) transfer(conn net.Conn, body func() (int64, error)) (int64, error, transferOutcome) {
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := body()
		done <- result{n, err}
	}()
	outcome := transferRan
	ctrlOK := true
	for {
		if ctrlOK && outcome == transferRan {
			s.requestLine()
		}
		var lines chan lineResult
		if s.reading {
			lines = s.lines
		}
		select {
		case r := <-done:
			s.lastTransfer, s.lastCommand = time.Now(), time.Now()
			s.totalBytes += r.n
			return r.n, r.err, outcome
		case l := <-lines:
			s.reading = false
			if l.err != nil {
				ctrlOK = false
				if outcome == transferRan {
					outcome = transferCtrlLost
				}
				conn.Close()
				continue
			}
			verb, rest, _ := strings.Cut(l.line, " ")
			verb = strings.ToUpper(verb)
			switch {
			case verb == "STAT" && strings.TrimSpace(rest) == "":
				// The transfer's status, as ProFTPD answers STAT during one.
				s.cmdSTAT("")
			case verb == "ABOR":
				outcome = transferABOR
				conn.Close()
			case verb == "QUIT":
				outcome = transferQuit
				conn.Close()
			case verb == "NOOP":
				s.reply(200, "NOOP: data transfer in progress")
			case commands[verb].transfer:
				s.reply(450, verb+": data transfer in progress")
			default:
				s.pending = append(s.pending, l.line)
			}
		case <-s.srv.stop():
			if outcome == transferRan {
				outcome = transferShutdown
				conn.Close()
			}
		}
	}
}

// transferFailed answers a transfer that did not complete, as ProFTPD's
// pr_data_abort does, and says whether the session goes on.
func (s *session) transferFailed(what string, n int64, err error, outcome transferOutcome) {
	switch outcome {
	case transferABOR:
		s.log.Infof("%s: transfer aborted by ABOR after %d bytes", what, n)
		s.reply(426, "Transfer aborted. Data connection closed")
		s.reply(226, "Abort successful")
		return
	case transferQuit:
		s.log.Infof("%s: transfer aborted by QUIT after %d bytes", what, n)
		s.reply(426, "Transfer aborted. Data connection closed")
		s.cmdQUIT("")
		return
	case transferShutdown:
		s.log.Infof("%s: transfer aborted by the server's shutdown after %d bytes", what, n)
		s.reply(426, "Transfer aborted. Data connection closed")
		return
	case transferCtrlLost:
		s.log.Infof("%s: control connection lost during the transfer, aborted after %d bytes", what, n)
		s.done = true
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// TimeoutStalled: ProFTPD logs it and ends the session.
		s.log.Warnf("Data transfer stall timeout: %s", seconds(s.srv.stalledTimeout()))
		s.done = true
		return
	}
	s.log.Infof("%s: transfer aborted after %d bytes: %v", what, n, err)
	code, msg := abortReply(err)
	s.reply(code, "Transfer aborted. "+msg)
}

// abortReply is ProFTPD's reply to a transfer that failed with err.
func abortReply(err error) (int, string) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return 426, "Data connection closed"
	}
	switch errno {
	case syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPIPE:
		return 426, "Data connection closed"
	case syscall.ENOSPC:
		return 452, strerror(errno)
	case syscall.EDQUOT, syscall.EFBIG:
		return 552, strerror(errno)
	case syscall.EAGAIN, syscall.ENOMEM:
		return 451, "Insufficient memory or file locked"
	case syscall.ESTALE, syscall.ENOLINK, syscall.ENOLCK, syscall.ENETRESET, syscall.ETIMEDOUT:
		return 450, "Link to file server lost"
	}
	return 451, strerror(errno)
}

// stallConn sets a fresh deadline before every read and write, so that a
// stalled transfer ends (TimeoutStalled) but a long one does not.
// It counts the bytes that went through in n, if set (STAT during the
// transfer).
type stallConn struct {
	net.Conn
	d time.Duration
	n *atomic.Int64
}

func (c stallConn) Read(p []byte) (int, error) {
	if c.d > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.d))
	}
	n, err := c.Conn.Read(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

func (c stallConn) Write(p []byte) (int, error) {
	if c.d > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	}
	n, err := c.Conn.Write(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}
