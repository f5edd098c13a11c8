package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
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

// PortRange is ProFTPD's PassivePorts: the ports passive data listeners
// may use. The zero value lets the kernel choose.
type PortRange struct{ Min, Max int }

// Server is an FTP server. Set its fields before calling Serve; they must
// not change afterwards.
type Server struct {
	// Auth checks logins. Required.
	Auth Authenticator
	// TLS, when set, enables AUTH TLS; nil offers plain FTP only.
	TLS TLS

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
	// IdleTimeout closes a control connection idle this long (ProFTPD's
	// TimeoutIdle, 600 s by default).
	IdleTimeout time.Duration
	// DataTimeout bounds the wait for a passive data connection and each
	// read or write on it (ProFTPD's TimeoutNoTransfer is similar).
	DataTimeout time.Duration

	// Log receives the session log: logins, transfers, refusals. Nil
	// discards.
	Log logrus.FieldLogger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup
	closing   bool
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
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				srv.logger().Warnf("accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
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
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown closes the listeners, then waits for sessions to end until ctx
// is done, then cuts the remaining ones. It returns ctx.Err() if it had to
// cut sessions.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	for ln := range srv.listeners {
		ln.Close()
	}
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

// Close closes the listeners and every session at once.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.closing = true
	for ln := range srv.listeners {
		ln.Close()
	}
	for s := range srv.sessions {
		s.cut()
	}
	srv.mu.Unlock()
	return nil
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

func (srv *Server) trackSession(s *session, add bool) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !add {
		delete(srv.sessions, s)
		srv.wg.Done()
		return true
	}
	if srv.closing {
		return false
	}
	if srv.sessions == nil {
		srv.sessions = make(map[*session]struct{})
	}
	srv.sessions[s] = struct{}{}
	srv.wg.Add(1)
	return true
}

func (srv *Server) logger() logrus.FieldLogger {
	if srv.Log == nil {
		l := logrus.New()
		l.Out = discard{}
		return l
	}
	return srv.Log
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (srv *Server) idleTimeout() time.Duration {
	if srv.IdleTimeout > 0 {
		return srv.IdleTimeout
	}
	return 600 * time.Second
}

func (srv *Server) dataTimeout() time.Duration {
	if srv.DataTimeout > 0 {
		return srv.DataTimeout
	}
	return 30 * time.Second
}
