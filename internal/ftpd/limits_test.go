package ftpd

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/servetest"
)

// TestMaxLoginAttempts: ProFTPD closes the connection after the third
// failed login (MaxLoginAttempts 3), after answering it.
func TestMaxLoginAttempts(t *testing.T) {
	for _, tc := range []struct {
		max, closeAfter int
	}{{0, 3}, {1, 1}, {5, 5}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			addr, _ := startServer(t, &Server{MaxLoginAttempts: tc.max})
			c := dialClient(t, addr)
			for i := 1; i <= tc.closeAfter; i++ {
				c.Must(331, "USER %s", testUser)
				c.Must(530, "PASS wrong%d", i)
			}
			if !c.ClosedSilently() {
				t.Fatalf("connection open after %d failed logins", tc.closeAfter)
			}
		})
	}
	t.Run("success before the limit", func(t *testing.T) {
		addr, _ := startServer(t, &Server{})
		c := dialClient(t, addr)
		for range 2 {
			c.Must(331, "USER %s", testUser)
			c.Must(530, "PASS wrong")
		}
		c.Login()
		c.Must(257, "PWD")
	})
}

// TestTimeouts: each of ProFTPD's timeouts ends a session with its reply.
func TestTimeouts(t *testing.T) {
	hour := time.Hour
	for _, tc := range []struct {
		name  string
		srv   *Server
		login bool
		noop  bool // keep sending NOOP: only TimeoutNoTransfer ends it
		want  string
	}{
		{"login", &Server{LoginTimeout: time.Second, IdleTimeout: hour}, false, false,
			"Login timeout (1 second): closing control connection"},
		{"idle", &Server{IdleTimeout: 2 * time.Second, NoTransferTimeout: hour}, true, false,
			"Idle timeout (2 seconds): closing control connection"},
		{"no transfer", &Server{IdleTimeout: hour, NoTransferTimeout: 2 * time.Second}, true, true,
			"No transfer timeout (2 seconds): closing control connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startServer(t, tc.srv)
			c := dialClient(t, addr)
			if tc.login {
				c.Login()
			}
			if tc.noop {
				// A client that sends NOOP forever is still cut.
				for {
					code, msg := c.Cmd("NOOP")
					if code == 421 {
						if msg != tc.want {
							t.Fatalf("421 %s, want %s", msg, tc.want)
						}
						break
					}
					if code != 200 {
						t.Fatalf("NOOP: %d %s", code, msg)
					}
					time.Sleep(100 * time.Millisecond) // the client's pace, not a wait for the server
				}
			} else if code, msg := c.Read(); code != 421 || msg != tc.want {
				t.Fatalf("got %d %s, want 421 %s", code, msg, tc.want)
			}
			if !c.ClosedSilently() {
				t.Fatal("connection open after the timeout")
			}
		})
	}
}

// TestTLSHandshakeBounded: a client that sends AUTH TLS and then nothing
// is cut by TLSTimeoutHandshake.
func TestTLSHandshakeBounded(t *testing.T) {
	tt, _ := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	addr, _ := startServer(t, &Server{TLS: tt, HandshakeTimeout: time.Second})
	c := dialClient(t, addr)
	c.Must(234, "AUTH TLS")
	if !c.ClosedSilently() {
		t.Fatal("stalled TLS handshake still open")
	}
}

// TestAdmissionLimits: MaxClients & co. count logged-in sessions and
// refuse with ProFTPD's messages; MaxInstances closes new connections
// without a reply.
func TestAdmissionLimits(t *testing.T) {
	t.Run("MaxClients", func(t *testing.T) {
		addr, _ := startServer(t, &Server{Admission: &Limits{MaxClients: 1}})
		a := dialClient(t, addr)
		a.Login()
		b := dialClient(t, addr) // greeted: ProFTPD counts at login
		b.Must(331, "USER %s", testUser)
		if msg := b.Must(530, "PASS %s", testPass); msg != "Sorry, the maximum number of allowed clients (1) are already connected." {
			t.Fatalf("refusal %q", msg)
		}
		if !b.ClosedSilently() {
			t.Fatal("refused session still open")
		}
		a.Must(221, "QUIT")
		// The slot is free once the first session has ended.
		deadline := time.Now().Add(servetest.Deadline)
		for {
			c := dialClient(t, addr)
			c.Must(331, "USER %s", testUser)
			code, msg := c.Cmd("PASS %s", testPass)
			if code == 230 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot not freed: %d %s", code, msg)
			}
		}
	})
	t.Run("MaxClientsPerUser with message", func(t *testing.T) {
		addr, _ := startServer(t, &Server{Admission: &Limits{MaxClientsPerUser: 1, MaxClientsPerUserMsg: "only %m for you"}})
		a := dialClient(t, addr)
		a.Login()
		b := dialClient(t, addr)
		b.Must(331, "USER %s", testUser)
		if msg := b.Must(530, "PASS %s", testPass); msg != "only 1 for you" {
			t.Fatalf("refusal %q", msg)
		}
	})
	t.Run("MaxInstances", func(t *testing.T) {
		logger, sink := newLogger()
		addr, _ := startServer(t, &Server{Admission: &Limits{MaxInstances: 1}, Log: logger})
		a := dialClient(t, addr)
		b := servetest.DialNoGreeting(t, addr)
		if !b.ClosedSilently() {
			t.Fatal("second connection served beyond MaxInstances 1")
		}
		sink.wait(t, "MaxInstances (1) reached, new connection denied")
		a.Must(200, "NOOP")
	})
}

// TestPassiveTheft: a connection to the passive port from another
// address is dropped and logged; the real client's transfer then works.
func TestPassiveTheft(t *testing.T) {
	if !canBind("127.0.0.2") {
		t.Fatal("127.0.0.2 is not usable on this machine (needed to connect from a foreign address)")
	}
	for _, foreign := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowForeignAddress=%v", foreign), func(t *testing.T) {
			logger, sink := newLogger()
			pol := permissive
			pol.ForeignAddress = foreign
			addr, home := startServer(t, &Server{Policy: pol, Log: logger})
			os.WriteFile(filepath.Join(home, "f"), []byte("the real client's data"), 0o644)
			c := dialClient(t, addr)
			c.Login()
			data := c.EPSV()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: servetest.Deadline}
			thief, err := d.Dial("tcp", data)
			if err != nil {
				t.Fatal(err)
			}
			defer thief.Close()
			c.Send("RETR f")
			if foreign {
				c.Expect(150)
				b, _ := io.ReadAll(thief)
				if string(b) != "the real client's data" {
					t.Fatalf("foreign connection (allowed) got %q", b)
				}
				c.Expect(226)
				return
			}
			sink.wait(t, "SECURITY VIOLATION: Passive connection from foreign IP address 127.0.0.2 rejected (does not match client IP address 127.0.0.1).")
			thief.SetReadDeadline(time.Now().Add(servetest.Deadline))
			if n, _ := thief.Read(make([]byte, 1)); n != 0 {
				t.Fatal("the thief read data")
			}
			real, err := net.DialTimeout("tcp", data, servetest.Deadline)
			if err != nil {
				t.Fatalf("the real client cannot connect after the theft attempt: %v", err)
			}
			defer real.Close()
			c.Expect(150)
			b, _ := io.ReadAll(real)
			if string(b) != "the real client's data" {
				t.Fatalf("real client got %q", b)
			}
			c.Expect(226)
		})
	}
}

func canBind(ip string) bool {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestFloodDoesNotStarveLoggedInClient: idle connections, a slowloris
// that never ends its line and stalled TLS handshakes beyond MaxPreLogin
// close the oldest connections not logged in; a logged-in client keeps
// working, and a new client can still log in.
func TestFloodDoesNotStarveLoggedInClient(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	addr, home := startServer(t, &Server{TLS: tt, MaxPreLogin: 50, Policy: permissive})
	os.WriteFile(filepath.Join(home, "f"), []byte("data"), 0o644)
	user := dialClient(t, addr)
	user.Roots = pool
	user.AuthTLS(tls.VersionTLS13)
	user.Login()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 1000 {
		c, err := net.DialTimeout("tcp", addr, servetest.Deadline)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		switch i % 3 {
		case 1:
			c.Write([]byte("USER sl")) // slowloris: no end of line
		case 2:
			c.Write([]byte("AUTH TLS\r\n")) // then no handshake
		}
	}
	// The logged-in client works: a listing and a download.
	if b := user.Retr("f"); string(b) != "data" {
		t.Fatalf("RETR during the flood: %q", b)
	}
	conn, _ := user.Data("NLST")
	names, _ := io.ReadAll(conn)
	conn.Close()
	user.Expect(226)
	if strings.TrimSpace(string(names)) != "f" {
		t.Fatalf("NLST during the flood: %q", names)
	}
	// A new client gets in.
	fresh := dialClient(t, addr)
	fresh.Roots = pool
	fresh.AuthTLS(tls.VersionTLS13)
	fresh.Login()
	fresh.Must(257, "PWD")
	// Most of the flood was closed by the server.
	closed := 0
	for _, c := range conns[:900] {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		buf := make([]byte, 512)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed++
			}
			break
		}
	}
	if closed < 800 {
		t.Fatalf("only %d of the 900 oldest flood connections were closed", closed)
	}
}

// TestAcceptRecoversFromEMFILE: when the process runs out of descriptors,
// accepting closes the oldest connection not logged in and goes on.
func TestAcceptRecoversFromEMFILE(t *testing.T) {
	logger, sink := newLogger()
	ln := &emfileListener{Listener: mustListen(t), fail: 1}
	srv := &Server{Auth: StaticUser(testUser, testPass, t.TempDir()), Log: logger}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	idle := dialClient(t, ln.Addr().String())
	user := dialClient(t, ln.Addr().String())
	user.Login()
	ln.arm()
	// The next accept after this connection fails with EMFILE.
	next := dialClient(t, ln.Addr().String())
	if !idle.ClosedSilently() {
		t.Fatal("the oldest connection not logged in was not closed to free a descriptor")
	}
	sink.wait(t, "closed the oldest connection not logged in")
	user.Must(257, "PWD")
	next.Login()
	dialClient(t, ln.Addr().String()).Login()
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// emfileListener fails Accept with EMFILE a few times once armed.
type emfileListener struct {
	net.Listener
	mu    sync.Mutex
	armed bool
	fail  int
}

func (l *emfileListener) arm() { l.mu.Lock(); l.armed = true; l.mu.Unlock() }

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.armed && l.fail > 0 {
		l.fail--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}
