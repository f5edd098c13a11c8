package servetest

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"
)

// Client is a line-level FTP client: every reply is the test's to check,
// and data connections are the test's to close as real clients do
// (cleanly, with unread bytes, or with a reset).
type Client struct {
	t    testing.TB
	conn net.Conn
	r    *textproto.Reader
	cfg  *tls.Config // after AuthTLS; data connections resume its sessions

	// User and Pass are what Login sends.
	User, Pass string
	// Roots are the certificates AuthTLS trusts.
	Roots *x509.CertPool
	// LocalIP, if set, is the address data connections come from.
	LocalIP net.IP
}

// Dial connects to addr and reads the greeting.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c := DialNoGreeting(t, addr)
	c.Expect(220)
	return c
}

// DialNoGreeting connects to addr without reading anything.
func DialNoGreeting(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, Deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(Deadline))
	return &Client{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
}

// Send sends one command line.
func (c *Client) Send(format string, args ...any) {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(Deadline))
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", args...); err != nil {
		c.t.Fatalf("send %s: %v", fmt.Sprintf(format, args...), err)
	}
}

// Read returns the next reply; code 0 means the connection ended (the
// text is then the error).
func (c *Client) Read() (int, string) {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(Deadline))
	code, msg, err := c.r.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

// ReadLines reads one reply, multi-line or not, as its raw lines.
func (c *Client) ReadLines() []string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(Deadline))
	var lines []string
	for {
		l, err := c.r.ReadLine()
		if err != nil {
			c.t.Fatalf("reading a reply: %v (so far %q)", err, lines)
		}
		lines = append(lines, l)
		// The last line: the first one's code and a space.
		if len(l) >= 4 && l[3] == ' ' && l[:3] == lines[0][:3] {
			return lines
		}
	}
}

// CmdLines sends a command and returns the raw lines of its reply.
func (c *Client) CmdLines(cmd string) []string {
	c.t.Helper()
	c.Send("%s", cmd)
	return c.ReadLines()
}

// Cmd sends a command and returns its reply.
func (c *Client) Cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	c.Send(format, args...)
	return c.Read()
}

// Expect reads a reply and fails the test unless it has code.
func (c *Client) Expect(code int) string {
	c.t.Helper()
	got, msg := c.Read()
	if got != code {
		c.t.Fatalf("want %d, got %d %s", code, got, msg)
	}
	return msg
}

// Must sends a command and fails the test unless the reply has code.
func (c *Client) Must(code int, format string, args ...any) string {
	c.t.Helper()
	c.Send(format, args...)
	got, msg := c.Read()
	if got != code {
		c.t.Fatalf("%s: want %d, got %d %s", fmt.Sprintf(format, args...), code, got, msg)
	}
	return msg
}

// Closed reports whether the server has closed the control connection
// (it reads and discards what is left).
func (c *Client) Closed() bool {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(Deadline))
	_, err := io.Copy(io.Discard, c.r.R)
	return err == nil || !isTimeout(err)
}

// ClosedSilently reports whether the server closes the control
// connection without sending anything more.
func (c *Client) ClosedSilently() bool {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(Deadline))
	_, err := c.r.R.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Login logs in as the daemon's user and sets TYPE I.
func (c *Client) Login() {
	c.t.Helper()
	c.Must(331, "USER %s", c.User)
	c.Must(230, "PASS %s", c.Pass)
	c.Must(200, "TYPE I")
}

// AuthTLS runs AUTH TLS with one TLS version, PBSZ 0 and PROT P.
func (c *Client) AuthTLS(version uint16) {
	c.t.Helper()
	c.AuthTLSNoPROT(version)
	c.Must(200, "PROT P")
}

// AuthTLSNoPROT runs AUTH TLS and PBSZ 0, leaving data connections clear.
func (c *Client) AuthTLSNoPROT(version uint16) {
	c.t.Helper()
	c.Must(234, "AUTH TLS")
	c.cfg = &tls.Config{ServerName: "localhost", RootCAs: c.Roots, ClientSessionCache: tls.NewLRUClientSessionCache(8),
		MinVersion: version, MaxVersion: version}
	tc := tls.Client(c.conn, c.cfg)
	tc.SetDeadline(time.Now().Add(Deadline))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("control handshake: %v", err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	c.Must(200, "PBSZ 0")
}

// TLSConfig is the control connection's TLS configuration after
// AuthTLS (nil before); a data connection made with it resumes the
// control connection's session.
func (c *Client) TLSConfig() *tls.Config { return c.cfg }

// EPSV asks for a passive port and returns the data address.
func (c *Client) EPSV() string {
	c.t.Helper()
	msg := c.Must(229, "EPSV")
	var port int
	i := strings.Index(msg, "(|||")
	if i < 0 {
		c.t.Fatalf("EPSV reply %q", msg)
	}
	if _, err := fmt.Sscanf(msg[i:], "(|||%d|)", &port); err != nil {
		c.t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	return net.JoinHostPort(host, fmt.Sprint(port))
}

// Data opens the data connection of a transfer command: it connects,
// sends the command, reads the 150 and, after AuthTLS, runs the data
// handshake resuming the control connection's session. raw is the TCP
// connection under it (to reset it).
func (c *Client) Data(format string, args ...any) (conn net.Conn, raw *net.TCPConn) {
	c.t.Helper()
	addr := c.EPSV()
	dialer := &net.Dialer{Timeout: Deadline}
	if c.LocalIP != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: c.LocalIP}
	}
	d, err := dialer.Dial("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	d.SetDeadline(time.Now().Add(Deadline))
	c.Must(150, format, args...)
	if c.cfg == nil {
		return d, d.(*net.TCPConn)
	}
	tc := tls.Client(d, c.cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("data handshake: %v", err)
	}
	return tc, d.(*net.TCPConn)
}

// Retr downloads a file.
func (c *Client) Retr(name string) []byte {
	c.t.Helper()
	conn, _ := c.Data("RETR %s", name)
	b, err := io.ReadAll(conn)
	if err != nil {
		c.t.Fatalf("RETR %s: %v", name, err)
	}
	conn.Close()
	c.Expect(226)
	return b
}

// List returns a LIST (or NLST, MLSD) listing.
func (c *Client) List(cmd string) string {
	c.t.Helper()
	conn, _ := c.Data("%s", cmd)
	b, err := io.ReadAll(conn)
	if err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	conn.Close()
	c.Expect(226)
	return string(b)
}

// Stor uploads a file, closing the data connection cleanly, and expects
// 226.
func (c *Client) Stor(name string, content []byte) {
	c.t.Helper()
	conn, _ := c.Data("STOR %s", name)
	if _, err := conn.Write(content); err != nil {
		c.t.Fatal(err)
	}
	conn.Close()
	c.Expect(226)
}

// SHA256 is the hex SHA-256 of a file.
func SHA256(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
