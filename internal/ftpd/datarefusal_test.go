package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/servetest"
)

// forTLS is a TLS whose sessions implement DataTLSConfigFor, as
// modtls.Control does: the data handshake never fails for the reuse
// check, CheckData refuses what refuse says, and every data configuration
// asked for is recorded with its direction.
type forTLS struct {
	cfg    *tls.Config
	refuse bool

	mu   sync.Mutex
	dirs []bool // the upload argument of every DataTLSConfigFor
}

func (f *forTLS) NewSession(net.Conn) (TLSSession, error) { return forSession{f}, nil }

func (f *forTLS) uploads() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dirs)
}

type forSession struct{ f *forTLS }

func (s forSession) TLSConfig() *tls.Config { return s.f.cfg }

// DataTLSConfig fails every data handshake, as modtls's configuration
// for FTP libraries does when reuse is required: the engine must not use
// it when DataTLSConfigFor exists.
func (s forSession) DataTLSConfig() *tls.Config {
	c := s.f.cfg.Clone()
	c.VerifyConnection = func(tls.ConnectionState) error { return errors.New("DataTLSConfig used") }
	return c
}

func (s forSession) DataTLSConfigFor(upload bool) *tls.Config {
	s.f.mu.Lock()
	s.f.dirs = append(s.f.dirs, upload)
	s.f.mu.Unlock()
	return s.f.cfg
}

func (s forSession) CheckData(c *tls.Conn) error {
	if s.f.refuse {
		return errors.New("client did not reuse TLS session")
	}
	return nil
}

// TestRefusedDataConnectionAsProFTPD: a data connection refused after its
// handshake (the session-reuse check) ends as with ProFTPD: the client's
// handshake completes, it reads a TLS close_notify (a clean end of
// stream, no alert), and the control connection answers 425 in step, for
// a listing, a download and an upload (which leaves nothing on disk); the
// session goes on.
func TestRefusedDataConnectionAsProFTPD(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
			f := &forTLS{cfg: tt.cfg, refuse: true}
			addr, home := startServer(t, &Server{TLS: f, RequireTLSControl: true, RequireTLSData: true, Policy: permissive})
			if err := os.WriteFile(filepath.Join(home, "f"), []byte("content"), 0o644); err != nil {
				t.Fatal(err)
			}
			c := dialClient(t, addr)
			c.Roots = pool
			c.AuthTLS(version)
			c.Login()
			for _, cmd := range []string{"LIST", "RETR f", "STOR up"} {
				conn, _ := c.Data("%s", cmd) // the handshake completes
				if cmd == "STOR up" {
					// A client that writes at once, as Python's storbinary.
					conn.Write([]byte("upload"))
				}
				conn.SetReadDeadline(time.Now().Add(servetest.Deadline))
				b, err := io.ReadAll(conn)
				if err != nil || len(b) != 0 {
					t.Errorf("%s: the client read %q, %v; want a clean close_notify and nothing else", cmd, b, err)
				}
				conn.Close()
				if code, msg := c.Read(); code != 425 || msg != "Unable to build data connection: Operation not permitted" {
					t.Fatalf("%s: %d %s", cmd, code, msg)
				}
			}
			if _, err := os.Stat(filepath.Join(home, "up")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused upload left a file: %v", err)
			}
			c.Must(257, "PWD")
			f.mu.Lock()
			f.refuse = false
			f.mu.Unlock()
			if got := c.Retr("f"); string(got) != "content" {
				t.Errorf("RETR after the refusals: %q", got)
			}
		})
	}
}

// TestDataTLSConfigForDirections: listings and downloads ask for the
// data configuration of a download, STOR, APPE, REST+STOR and STOU for
// an upload; DataTLSConfig is never used.
func TestDataTLSConfigForDirections(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	f := &forTLS{cfg: tt.cfg}
	addr, home := startServer(t, &Server{TLS: f, RequireTLSControl: true, RequireTLSData: true, Policy: permissive})
	if err := os.WriteFile(filepath.Join(home, "f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := dialClient(t, addr)
	c.Roots = pool
	c.AuthTLS(tls.VersionTLS13)
	c.Login()
	c.List("LIST")
	c.List("NLST")
	c.List("MLSD")
	c.Retr("f")
	c.Stor("g", []byte("abc"))
	conn, _ := c.Data("APPE g")
	conn.Write([]byte("def"))
	conn.Close()
	c.Expect(226)
	c.Must(350, "REST 6")
	conn, _ = c.Data("STOR g")
	conn.Write([]byte("ghi"))
	conn.Close()
	c.Expect(226)
	if b, _ := os.ReadFile(filepath.Join(home, "g")); string(b) != "abcdefghi" {
		t.Errorf("g = %q", b)
	}
	conn, _ = c.Data("STOU")
	conn.Write([]byte("unique"))
	conn.Close()
	c.Expect(226)
	want := []bool{false, false, false, false, true, true, true, true}
	if got := f.uploads(); !slices.Equal(got, want) {
		t.Errorf("DataTLSConfigFor(upload) called with %v, want %v", got, want)
	}
}

// TestDataTLSConfigFallback: a TLSSession without DataTLSConfigFor is
// used as before: its DataTLSConfig, whose handshake may itself refuse
// the connection (a client then sees a TLS error), and 425.
func TestDataTLSConfigFallback(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	refusing := &testTLS{cfg: tt.cfg.Clone()}
	refusing.cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.DidResume {
			return nil
		}
		return errors.New("not resumed")
	}
	addr, _ := startServer(t, &Server{TLS: &ctrlDataTLS{ctrl: tt.cfg, data: refusing.cfg}, RequireTLSControl: true, RequireTLSData: true})
	c := dialClient(t, addr)
	c.Roots = pool
	c.AuthTLS(tls.VersionTLS13)
	c.Login()
	addrData := c.EPSV()
	d, err := net.DialTimeout("tcp", addrData, servetest.Deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.Must(150, "LIST")
	fresh := c.TLSConfig().Clone()
	fresh.ClientSessionCache = nil // a new session: refused in the handshake
	tc := tls.Client(d, fresh)
	tc.SetDeadline(time.Now().Add(servetest.Deadline))
	if err := tc.Handshake(); err == nil {
		if _, err := tc.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("the fallback configuration's own refusal did not apply: %v", err)
		}
	}
	if code, msg := c.Read(); code != 425 {
		t.Fatalf("%d %s", code, msg)
	}
}

// ctrlDataTLS has one configuration for control connections and another
// for data connections, and no DataTLSConfigFor.
type ctrlDataTLS struct{ ctrl, data *tls.Config }

func (c *ctrlDataTLS) NewSession(net.Conn) (TLSSession, error) { return ctrlDataSession{c}, nil }

type ctrlDataSession struct{ c *ctrlDataTLS }

func (s ctrlDataSession) TLSConfig() *tls.Config      { return s.c.ctrl }
func (s ctrlDataSession) DataTLSConfig() *tls.Config  { return s.c.data }
func (s ctrlDataSession) CheckData(c *tls.Conn) error { return nil }

// TestShutdownDuringDataHandshake: a shutdown that interrupts a data
// connection's TLS handshake aborts the transfer as it aborts the wait
// for the connection: 426, then 421, never a 425 that blames the client.
func TestShutdownDuringDataHandshake(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	srv := &Server{TLS: tt, RequireTLSControl: true, RequireTLSData: true}
	addr, home := startServer(t, srv)
	os.WriteFile(filepath.Join(home, "f"), []byte("content"), 0o644)
	c := dialClient(t, addr)
	c.Roots = pool
	c.AuthTLS(tls.VersionTLS13)
	c.Login()
	d, err := net.DialTimeout("tcp", c.EPSV(), servetest.Deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.Must(150, "RETR f")
	// The client never starts its handshake: the server waits in its own
	// until the shutdown.
	go srv.Shutdown(context.Background())
	if code, msg := c.Read(); code != 426 || msg != "Transfer aborted. Data connection closed" {
		t.Fatalf("%d %s", code, msg)
	}
	if code, msg := c.Read(); code != 421 {
		t.Fatalf("after the 426: %d %s", code, msg)
	}
}
