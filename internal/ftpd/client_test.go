package ftpd

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
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// client is a line-level FTP client for the engine's tests: it shows
// every reply, and lets a test close data connections the ways real
// clients do.
type client struct {
	t   *testing.T
	c   net.Conn
	r   *textproto.Reader
	cfg *tls.Config // set by authTLS; data connections resume its sessions
}

// testDeadline bounds every wait of a test: generous, so that a loaded
// machine does not fail a test, but a hang does.
const testDeadline = 60 * time.Second

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c := dialClientNoGreeting(t, addr)
	c.expect(220)
	return c
}

func dialClientNoGreeting(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testDeadline))
	return &client{t: t, c: conn, r: textproto.NewReader(bufio.NewReader(conn))}
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.c, format+"\r\n", args...); err != nil {
		c.t.Fatalf("send %s: %v", fmt.Sprintf(format, args...), err)
	}
}

// read returns the next reply; code 0 means the connection ended.
func (c *client) read() (int, string) {
	c.t.Helper()
	code, msg, err := c.r.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, msg
}

func (c *client) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	c.send(format, args...)
	return c.read()
}

func (c *client) expect(code int) string {
	c.t.Helper()
	got, msg := c.read()
	if got != code {
		c.t.Fatalf("want %d, got %d %s", code, got, msg)
	}
	return msg
}

func (c *client) must(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	got, msg := c.read()
	if got != code {
		c.t.Fatalf("%s: want %d, got %d %s", fmt.Sprintf(format, args...), code, got, msg)
	}
	return msg
}

// closed reports whether the server closed the control connection.
func (c *client) closed() bool {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(testDeadline))
	_, err := c.r.R.ReadByte()
	return err != nil
}

func (c *client) login() {
	c.t.Helper()
	c.must(331, "USER %s", testUser)
	c.must(230, "PASS %s", testPass)
	c.must(200, "TYPE I")
}

func (c *client) authTLS(pool *x509.CertPool, version uint16) {
	c.t.Helper()
	c.authTLSNoPROT(pool, version)
	c.must(200, "PROT P")
}

// authTLSNoPROT protects the control connection only.
func (c *client) authTLSNoPROT(pool *x509.CertPool, version uint16) {
	c.t.Helper()
	c.must(234, "AUTH TLS")
	c.cfg = &tls.Config{ServerName: "localhost", RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(8),
		MinVersion: version, MaxVersion: version}
	tc := tls.Client(c.c, c.cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("control handshake: %v", err)
	}
	c.c = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	c.must(200, "PBSZ 0")
}

// pasv sends EPSV and returns the data address.
func (c *client) pasv() string {
	c.t.Helper()
	msg := c.must(229, "EPSV")
	var port int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port); err != nil {
		c.t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// data opens the data connection for a transfer command: it connects,
// sends the command, reads the 150 and, after AUTH TLS, runs the data
// handshake (resuming the control connection's session). It returns
// the raw TCP connection too, to reset it.
func (c *client) data(format string, args ...any) (conn net.Conn, raw *net.TCPConn) {
	c.t.Helper()
	addr := c.pasv()
	d, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	d.SetDeadline(time.Now().Add(testDeadline))
	c.must(150, format, args...)
	if c.cfg == nil {
		return d, d.(*net.TCPConn)
	}
	tc := tls.Client(d, c.cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("data handshake: %v", err)
	}
	return tc, d.(*net.TCPConn)
}

// retr downloads a file, reading the data connection to its end.
func (c *client) retr(name string) []byte {
	c.t.Helper()
	conn, _ := c.data("RETR %s", name)
	b, err := io.ReadAll(conn)
	if err != nil {
		c.t.Fatalf("RETR %s: reading: %v", name, err)
	}
	conn.Close()
	c.expect(226)
	return b
}

// list runs a listing command and returns what the data connection
// carried.
func (c *client) list(cmd string) string {
	c.t.Helper()
	conn, _ := c.data("%s", cmd)
	b, err := io.ReadAll(conn)
	if err != nil {
		c.t.Fatalf("%s: reading: %v", cmd, err)
	}
	conn.Close()
	c.expect(226)
	return string(b)
}

// stor uploads a file and closes the data connection cleanly.
func (c *client) stor(name string, content []byte) {
	c.t.Helper()
	conn, _ := c.data("STOR %s", name)
	if _, err := conn.Write(content); err != nil {
		c.t.Fatal(err)
	}
	conn.Close()
	c.expect(226)
}

func sha(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// logSink collects a server's log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
	ch    chan struct{}
}

func newLogger() (*logrus.Logger, *logSink) {
	sink := &logSink{ch: make(chan struct{}, 1)}
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	l.Out = sink
	return l, sink
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.lines = append(s.lines, string(p))
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

// wait returns once a line containing want was logged.
func (s *logSink) wait(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		s.mu.Lock()
		for _, l := range s.lines {
			if strings.Contains(l, want) {
				s.mu.Unlock()
				return l
			}
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("no log line with %q; log:\n%s", want, s.String())
		}
	}
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "")
}
