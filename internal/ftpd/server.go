package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// TLS gives the engine the TLS side of FTP sessions. modtls's server
// satisfies it through a small adapter in the daemon.
type TLS interface {
	// NewSession starts the TLS state of one control connection; it is
	// called once, when the client sends AUTH TLS (or AUTH SSL).
	NewSession(ctrl net.Conn) (TLSSession, error)
}

// TLSSession is the TLS state of one control connection.
//
// A TLSSession may also implement TLSEvents, to log what mod_tls logs.
type TLSSession interface {
	// TLSConfig is the configuration the control connection's handshake
	// uses.
	TLSConfig() *tls.Config
	// DataTLSConfig is the configuration for this session's data
	// connections; it lets the session recognise its own TLS sessions
	// when a data connection resumes one.
	DataTLSConfig() *tls.Config
	// CheckData runs after a data connection's handshake. A non-nil error
	// refuses the data connection (reply 425), as mod_tls does when a
	// data connection did not reuse the control connection's session.
	CheckData(data *tls.Conn) error
}

// TLSEvents are the moments of a session that mod_tls writes to its
// TLSLog. The engine calls them when the TLSSession implements them.
type TLSEvents interface {
	// AuthRequested: AUTH mech was accepted, the handshake starts.
	AuthRequested(mech string)
	// ControlHandshakeDone: the control connection's handshake ended
	// (err nil: it succeeded).
	ControlHandshakeDone(conn *tls.Conn, err error)
	// ProtectionSet: PROT level ("C" or "P") was accepted.
	ProtectionSet(level string)
}

// PortRange is ProFTPD's PassivePorts: the ports passive data listeners
// may use. The zero value lets the kernel choose.
type PortRange struct{ Min, Max int }

// Server is an FTP server. Set its fields before calling Serve; they must
// not change afterwards.
//
// Durations follow ProFTPD's directives: zero means ProFTPD's default, a
// negative value means no limit (ProFTPD's "0").
type Server struct {
	// Auth checks logins. Required.
	Auth Authenticator
	// TLS, when set, enables AUTH TLS; nil offers plain FTP only.
	TLS TLS
	// Policy is the access control (<Limit>, <Directory>, Umask,
	// AllowOverwrite, ...); *access.Policy implements it. Nil applies
	// ProFTPD's defaults and allows every command.
	Policy Policy
	// Admission counts sessions against MaxClients and the like (across
	// processes, in the daemon); nil sets no limits. See Limits for the
	// one-process implementation.
	Admission Admission

	// TLS requirements (ProFTPD's TLSRequired). RequireTLSControl refuses
	// every command but AUTH, FEAT, SYST, NOOP and QUIT before TLS;
	// RequireTLSAuth refuses USER and PASS before TLS; RequireTLSData
	// refuses transfers without PROT P.
	RequireTLSControl, RequireTLSAuth, RequireTLSData bool

	// PassivePorts restricts passive data ports.
	PassivePorts PortRange
	// MasqueradeAddress, when set, is the IPv4 address announced in the
	// 227 reply to PASV instead of the control connection's local address.
	MasqueradeAddress net.IP

	// ServerName appears in the greeting.
	ServerName string

	// NoGlobbing is "UseGlobbing off": LIST and NLST arguments are names,
	// never patterns.
	NoGlobbing bool

	// GroupID turns a group name into its id for SITE CHGRP (the
	// AuthGroupFile's, then the system's); nil takes numeric ids only.
	GroupID func(name string) (gid uint32, ok bool)

	// LoginTimeout (TimeoutLogin, 300 s) bounds the time from the
	// connection to a successful login.
	LoginTimeout time.Duration
	// IdleTimeout (TimeoutIdle, 600 s) closes a control connection on
	// which no command arrives for this long.
	IdleTimeout time.Duration
	// NoTransferTimeout (TimeoutNoTransfer, 300 s) closes a session that
	// starts no data transfer for this long, whatever else it sends.
	NoTransferTimeout time.Duration
	// StalledTimeout (TimeoutStalled, 3600 s) ends a session whose data
	// transfer makes no progress for this long.
	StalledTimeout time.Duration
	// HandshakeTimeout (TLSTimeoutHandshake, 300 s) bounds each TLS
	// handshake, on the control and on data connections.
	HandshakeTimeout time.Duration
	// DataTimeout bounds the wait for the client's passive data
	// connection; zero waits as long as TimeoutNoTransfer allows.
	DataTimeout time.Duration
	// LingerTimeout (TimeoutLinger, 10 s) is how long a data connection
	// we finished sending on is drained before it is closed.
	LingerTimeout time.Duration

	// MaxLoginAttempts (3) closes the connection after that many failed
	// logins; negative means no limit.
	MaxLoginAttempts int
	// MaxPreLogin bounds the connections that have not logged in yet. A
	// new connection beyond it closes the oldest of them, so a flood of
	// idle or slow connections cannot keep real clients out or use up
	// the descriptors logged-in sessions need. Zero means a quarter of
	// the process's descriptor limit (at least 16).
	MaxPreLogin int

	// TransferLog, if set, receives a line in xferlog(5) format for
	// every file transfer (ProFTPD's TransferLog).
	TransferLog io.Writer

	// Log receives the session log: logins, transfers, refusals. Nil
	// discards.
	Log logrus.FieldLogger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	preLogin  map[*session]struct{} // sessions not logged in yet
	lingering map[net.Conn]struct{} // data connections being drained
	wg        sync.WaitGroup
	closing   bool
	stopCtx   context.Context // cancelled by Shutdown and Close (see initStop)
	stopEnd   context.CancelFunc
	xferMu    sync.Mutex // serializes TransferLog lines
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftpd: server closed")

// Serve accepts control connections on ln until Shutdown or Close, and
// serves each in its own goroutine. ln may be a PROXY protocol listener:
// the session then logs the address the proxy reported, and binds its
// passive listeners to the real local address (see realConn).
func (srv *Server) Serve(ln net.Listener) error {
	if srv.Auth == nil {
		return errors.New("ftpd: Server.Auth is nil")
	}
	if !srv.trackListener(ln, true) {
		return ErrServerClosed
	}
	defer srv.trackListener(ln, false)

	var delay time.Duration // backoff on temporary accept errors
	for {
		conn, err := ln.Accept()
		if err != nil {
			if srv.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors: free one by closing the oldest
				// connection that has not logged in, so that the
				// backlog moves and logged-in sessions keep theirs.
				if outOfFDs(err) {
					if srv.evictPreLogin() {
						srv.logger().Warnf("accept: %v; closed the oldest connection not logged in", err)
						delay = 0
						continue
					}
				}
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				srv.logger().Warnf("accept: %v; retrying in %v", err, delay)
				select {
				case <-time.After(delay):
				case <-srv.stop():
				}
				continue
			}
			return fmt.Errorf("ftpd: accept: %w", err)
		}
		delay = 0
		s := newSession(srv, conn)
		if !srv.trackSession(s, true) {
			conn.Close()
			return ErrServerClosed
		}
		go func() {
			defer srv.trackSession(s, false)
			s.serve()
		}()
	}
}

// ServeConn serves one control connection accepted by the caller, and
// returns when the session ends. A daemon that keeps its listener across
// configuration reloads accepts itself and hands each connection to the
// Server of the configuration in force. After Shutdown or Close the
// connection is refused with 421.
func (srv *Server) ServeConn(conn net.Conn) {
	if srv.Auth == nil {
		conn.Close()
		return
	}
	s := newSession(srv, conn)
	if !srv.trackSession(s, true) {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(conn, "421 Service not available, closing control connection\r\n")
		conn.Close()
		return
	}
	defer srv.trackSession(s, false)
	s.serve()
}

// isTemporary reports accept errors worth retrying, such as EMFILE, and
// the PROXY protocol listener's refusals of one connection.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// Shutdown stops the server: it closes the listeners, aborts running
// transfers (426; a partial upload is undone as the store rules say) and
// closes every control connection with 421. It returns when all sessions
// have ended, or cuts the connections of those still running when ctx is
// done (a peer that does not read its replies) and then returns
// ctx.Err().
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.beginClosing()
	srv.mu.Unlock()

	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.beginClosing()
	for s := range srv.sessions {
		s.cut()
	}
	for c := range srv.lingering {
		c.Close()
	}
	srv.mu.Unlock()
	return nil
}

// beginClosing marks the server closing and closes its listeners; mu is
// held.
func (srv *Server) beginClosing() {
	if !srv.closing {
		srv.closing = true
		srv.initStop()
		srv.stopEnd()
	}
	for ln := range srv.listeners {
		ln.Close()
	}
}

// stop is closed when the server shuts down.
func (srv *Server) stop() <-chan struct{} {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.initStop()
	return srv.stopCtx.Done()
}

// initStop makes the context that the shutdown cancels; mu is held.
func (srv *Server) initStop() {
	if srv.stopCtx == nil {
		srv.stopCtx, srv.stopEnd = context.WithCancel(context.Background())
	}
}

// onStop arranges for f to run (in a goroutine of its own) when the
// server shuts down. The returned function cancels that and reports
// whether it did so before f started. Unlike a goroutine waiting on
// stop(), it costs nothing while the server runs: a session's blocking
// steps (handshakes, waiting for a data connection) use it so that no
// extra goroutine is started and scheduled for each of them.
func (srv *Server) onStop(f func()) (cancel func() bool) {
	srv.mu.Lock()
	srv.initStop()
	ctx := srv.stopCtx
	srv.mu.Unlock()
	return context.AfterFunc(ctx, f)
}

func (srv *Server) isClosing() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closing
}

func (srv *Server) trackListener(ln net.Listener, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !add {
		delete(srv.listeners, ln)
		return true
	}
	if srv.closing {
		return false
	}
	if srv.listeners == nil {
		srv.listeners = make(map[net.Listener]struct{})
	}
	srv.listeners[ln] = struct{}{}
	return true
}

// trackSession adds a new session (counted as not logged in) or removes
// an ended one. Adding beyond MaxPreLogin closes the oldest session that
// has not logged in.
func (srv *Server) trackSession(s *session, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !add {
		delete(srv.sessions, s)
		delete(srv.preLogin, s)
		srv.wg.Done()
		return true
	}
	if srv.closing {
		return false
	}
	if srv.sessions == nil {
		srv.sessions = make(map[*session]struct{})
		srv.preLogin = make(map[*session]struct{})
	}
	if len(srv.preLogin) >= srv.maxPreLogin() {
		if old := srv.oldestPreLogin(); old != nil {
			delete(srv.preLogin, old)
			old.evict()
		}
	}
	srv.sessions[s] = struct{}{}
	srv.preLogin[s] = struct{}{}
	srv.wg.Add(1)
	return true
}

// loggedIn takes a session out of the pre-login count.
func (srv *Server) loggedIn(s *session) {
	srv.mu.Lock()
	delete(srv.preLogin, s)
	srv.mu.Unlock()
}

// evictPreLogin closes the oldest session that has not logged in; false
// if there is none.
func (srv *Server) evictPreLogin() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	old := srv.oldestPreLogin()
	if old == nil {
		return false
	}
	delete(srv.preLogin, old)
	old.evict()
	return true
}

// outOfFDs reports EMFILE and ENFILE.
func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// withFD runs f, which needs a new descriptor, for a logged-in session:
// when the process is out of descriptors, it closes the oldest
// connections that have not logged in, one at a time, and tries again,
// so that a flood of connections never starves a logged-in client.
func (srv *Server) withFD(f func() error) error {
	err := f()
	for i := 0; i < 16 && outOfFDs(err); i++ {
		if !srv.evictPreLogin() {
			return err
		}
		srv.logger().Warnf("%v: closed the oldest connection not logged in", err)
		// The closed descriptor is released once its reader has returned.
		time.Sleep(time.Duration(i+1) * time.Millisecond)
		err = f()
	}
	return err
}

// MakeRoom closes the oldest connection that has not logged in, as the
// engine does when a logged-in session needs a descriptor the process
// does not have; false if there is none. A daemon that receives
// connections from elsewhere (the workers of `ftpdtls serve`) uses it to
// take them in under a flood. The descriptor is released once the
// session's reader has returned, shortly after.
func (srv *Server) MakeRoom() bool { return srv.evictPreLogin() }

// oldestPreLogin; mu is held. A linear scan: it runs only when the
// server is at its limit, and the limit is small.
func (srv *Server) oldestPreLogin() *session {
	var old *session
	for s := range srv.preLogin {
		if old == nil || s.started.Before(old.started) {
			old = s
		}
	}
	return old
}

func (srv *Server) maxPreLogin() int {
	if srv.MaxPreLogin > 0 {
		return srv.MaxPreLogin
	}
	return defaultMaxPreLogin()
}

var defaultMaxPreLogin = sync.OnceValue(func() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 18
	}
	return max(16, int(rl.Cur/4))
})

// linger drains a data connection we are done with for up to
// LingerTimeout in the background, then closes it: closing a socket that
// still has unread bytes makes the kernel send a reset, which can destroy
// data the client has not read yet.
func (srv *Server) linger(c net.Conn) {
	srv.mu.Lock()
	if srv.closing && len(srv.sessions) == 0 {
		srv.mu.Unlock()
		c.Close()
		return
	}
	if srv.lingering == nil {
		srv.lingering = make(map[net.Conn]struct{})
	}
	srv.lingering[c] = struct{}{}
	srv.wg.Add(1)
	srv.mu.Unlock()
	go func() {
		defer srv.wg.Done()
		_ = c.SetReadDeadline(time.Now().Add(srv.lingerTimeout()))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		c.Close()
		srv.mu.Lock()
		delete(srv.lingering, c)
		srv.mu.Unlock()
	}()
}

func (srv *Server) logger() logrus.FieldLogger {
	if srv.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		return l
	}
	return srv.Log
}

// timeout returns d, or def when d is zero, or 0 (none) when d < 0.
func timeout(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

func (srv *Server) loginTimeout() time.Duration { return timeout(srv.LoginTimeout, 300*time.Second) }
func (srv *Server) idleTimeout() time.Duration  { return timeout(srv.IdleTimeout, 600*time.Second) }
func (srv *Server) noTransferTimeout() time.Duration {
	return timeout(srv.NoTransferTimeout, 300*time.Second)
}
func (srv *Server) stalledTimeout() time.Duration {
	return timeout(srv.StalledTimeout, 3600*time.Second)
}
func (srv *Server) handshakeTimeout() time.Duration {
	return timeout(srv.HandshakeTimeout, 300*time.Second)
}
func (srv *Server) lingerTimeout() time.Duration { return timeout(srv.LingerTimeout, 10*time.Second) }

func (srv *Server) maxLoginAttempts() int {
	switch {
	case srv.MaxLoginAttempts < 0:
		return 0
	case srv.MaxLoginAttempts == 0:
		return 3
	}
	return srv.MaxLoginAttempts
}
