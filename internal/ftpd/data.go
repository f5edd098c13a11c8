package ftpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// ---- passive listeners ----

func (s *session) cmdPASV(string) {
	if s.epsvAll {
		s.reply(501, "PASV not allowed after EPSV ALL")
		return
	}
	ip := s.real.LocalAddr().(*net.TCPAddr).IP.To4()
	if ip == nil {
		s.reply(501, "PASV is for IPv4 only; use EPSV")
		return
	}
	port, err := s.listenPassive()
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
	port, err := s.listenPassive()
	if err != nil {
		s.log.Warnf("EPSV: %v", err)
		s.reply(425, "Unable to build data connection: "+errText(err))
		return
	}
	s.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
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

// openData accepts the passive data connection, sends the 150 reply, and
// for PROT P runs the TLS handshake and the session's reuse check. The
// handshake follows the 150 reply, as with ProFTPD: several clients
// (jlaffaye/ftp, curl) only start it once they have read the 150.
// On failure it has sent the final reply and returns nil.
func (s *session) openData(what string) net.Conn {
	if s.srv.RequireTLSData && !s.protect {
		s.reply(522, "SSL/TLS required on the data channel")
		return nil
	}
	if s.pasv == nil {
		s.reply(425, "Unable to build data connection: use PASV or EPSV first")
		return nil
	}
	ln := s.pasv
	s.pasv = nil // one connection per PASV, as with ProFTPD
	defer ln.Close()

	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(s.srv.dataTimeout()))
	conn, err := ln.Accept()
	if err != nil {
		s.log.Infof("%s: no data connection: %v", what, err)
		s.reply(425, "Unable to build data connection: Connection timed out")
		return nil
	}
	// The data connection must come from the control connection's peer
	// (the proxy, behind a PROXY protocol balancer), or anyone who can
	// reach the port could take the transfer.
	if !sameHost(conn.RemoteAddr(), s.real.RemoteAddr()) {
		s.log.Warnf("SECURITY VIOLATION: Passive connection from %s rejected.", hostOf(conn.RemoteAddr()))
		conn.Close()
		s.reply(425, "Unable to build data connection: "+errDataRefused.Error())
		return nil
	}
	mode := "BINARY"
	if strings.HasPrefix(what, "file list") {
		mode = "ASCII"
	}
	if !s.reply(150, fmt.Sprintf("Opening %s mode data connection for %s", mode, what)) {
		conn.Close()
		return nil
	}
	if !s.protect {
		return conn
	}
	tc, err := s.dataTLS(conn)
	if err != nil {
		s.log.Infof("%s: data connection refused: %v", what, err)
		conn.Close()
		s.reply(425, "Unable to build data connection: "+errDataRefused.Error())
		return nil
	}
	return tc
}

// dataTLS runs a data connection's TLS handshake and the session's check.
func (s *session) dataTLS(conn net.Conn) (*tls.Conn, error) {
	tc := tls.Server(conn, s.tls.DataTLSConfig())
	_ = tc.SetDeadline(time.Now().Add(s.srv.dataTimeout()))
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS negotiation failed: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	if err := s.tls.CheckData(tc); err != nil {
		return nil, err
	}
	return tc, nil
}

func sameHost(a, b net.Addr) bool {
	ta, ok1 := a.(*net.TCPAddr)
	tb, ok2 := b.(*net.TCPAddr)
	return ok1 && ok2 && ta.IP.Equal(tb.IP)
}

// closeData ends a transfer: a TLS close_notify for PROT P, then the
// close, and the final reply on the control connection.
func (s *session) closeData(conn net.Conn, n int64, err error, what string) {
	cerr := conn.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		s.log.Infof("%s: transfer aborted after %d bytes: %v", what, n, err)
		s.reply(426, "Transfer aborted. Data connection closed")
		return
	}
	s.reply(226, "Transfer complete")
}

// deadlineConn sets a fresh deadline before every read and write, so a
// stalled transfer ends but a long one does not.
type deadlineConn struct {
	net.Conn
	d time.Duration
}

func (c deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.d))
	return c.Conn.Read(p)
}

func (c deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

// ---- listings ----

// listArg drops ls options ("-a", "-la") that clients send with LIST.
func listArg(arg string) string {
	fields := strings.Fields(arg)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "-") {
		fields = fields[1:]
	}
	return strings.Join(fields, " ")
}

// listing returns the lines of a LIST, NLST or MLSD of arg.
func (s *session) listing(arg string, format func(userfs.FileInfo) string) ([]string, error) {
	p := s.abs(arg)
	fi, err := s.fs.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{format(fi)}, nil
	}
	entries, err := s.fs.ReadDir(p)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		lines = append(lines, format(e))
	}
	return lines, nil
}

func (s *session) sendListing(arg, what string, format func(userfs.FileInfo) string) {
	lines, err := s.listing(arg, format)
	if err != nil {
		s.reply(550, cmp(arg, ".")+": "+errText(err))
		return
	}
	conn := s.openData(what)
	if conn == nil {
		return
	}
	w := bufio.NewWriter(deadlineConn{conn, s.srv.dataTimeout()})
	var n int64
	for _, l := range lines {
		m, _ := w.WriteString(l + "\r\n")
		n += int64(m)
	}
	s.closeData(conn, n, w.Flush(), what)
}

func (s *session) cmdLIST(arg string) {
	now := time.Now()
	s.sendListing(listArg(arg), "file list", func(fi userfs.FileInfo) string { return listLine(fi, now) })
}

func (s *session) cmdNLST(arg string) {
	s.sendListing(listArg(arg), "file list", func(fi userfs.FileInfo) string { return fi.Name })
}

func (s *session) cmdMLSD(arg string) {
	if fi, err := s.fs.Stat(s.abs(arg)); err == nil && !fi.IsDir() {
		s.reply(501, arg+": Not a directory")
		return
	}
	s.sendListing(arg, "MLSD", func(fi userfs.FileInfo) string { return factsLine(fi, fi.Name, false) })
}

func (s *session) cmdMLST(arg string) {
	abs := s.abs(cmp(arg, "."))
	fi, err := s.fs.Stat(abs)
	if err != nil {
		s.reply(550, cmp(arg, ".")+": "+errText(err))
		return
	}
	line := " " + factsLine(fi, abs, false)
	s.replyLines(250, "Start of list for "+abs, []string{line}, "End of list")
}

// ---- transfers ----

func (s *session) cmdRETR(arg string) {
	abs := s.abs(arg)
	f, fi, err := s.fs.Open(abs)
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	defer f.Close()
	if s.restart > 0 {
		_, err = f.Seek(s.restart, io.SeekStart)
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	what := fmt.Sprintf("%s (%d bytes)", abs, fi.Size)
	conn := s.openData(what)
	if conn == nil {
		return
	}
	n, err := io.Copy(deadlineConn{conn, s.srv.dataTimeout()}, f)
	if err == nil {
		s.log.Infof("RETR %s: %d bytes sent", abs, n)
	}
	s.closeData(conn, n, err, abs)
}

func (s *session) cmdSTOR(arg string) { s.store(arg, false) }
func (s *session) cmdAPPE(arg string) { s.store(arg, true) }

func (s *session) store(arg string, appendTo bool) {
	abs := s.abs(arg)
	opt := userfs.StoreOptions{Mode: userfs.StoreReplace, Overwrite: true, Perm: 0o644}
	switch {
	case appendTo:
		opt.Mode = userfs.StoreAppend
	case s.restart > 0:
		opt.Mode, opt.Offset = userfs.StoreRestart, s.restart
	}
	up, err := s.fs.Create(abs, opt)
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	conn := s.openData(abs)
	if conn == nil {
		up.Abort()
		return
	}
	n, err := io.Copy(up.File(), deadlineConn{conn, s.srv.dataTimeout()})
	if err == nil {
		err = up.Commit()
	} else {
		up.Abort()
	}
	if err == nil {
		s.log.Infof("STOR %s: %d bytes received", abs, n)
	}
	s.closeData(conn, n, err, abs)
}
