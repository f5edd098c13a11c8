package ftpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/servetest"
)

// tlsModes are the ways the data safety tests run: plain FTP and FTPS
// with each TLS version (Go's server sends session tickets on data
// connections, so a client that never reads leaves bytes unread, as
// netkit ftp-ssl does).
var tlsModes = []struct {
	name    string
	version uint16
}{{"plain", 0}, {"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

// startFor starts a server for a mode and returns a logged-in client.
func startFor(t *testing.T, version uint16, srv *Server) (*servetest.Client, string) {
	t.Helper()
	var pool *x509.CertPool
	if version != 0 {
		tt, p := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
		srv.TLS, pool = tt, p
	}
	addr, home := startServer(t, srv)
	c := dialClient(t, addr)
	if version != 0 {
		c.Roots = pool
		c.AuthTLS(version)
	}
	c.Login()
	return c, home
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUploadCompleteDespiteReset: a client that writes everything (and
// its close_notify) and then closes with bytes unread, so that its
// kernel answers with a reset, or that resets outright, still gets 226
// and the whole file, because every byte arrived. This was a 426 and a
// truncated file with netkit ftp-ssl and Ruby net/ftp.
func TestUploadCompleteDespiteReset(t *testing.T) {
	for _, mode := range tlsModes {
		for _, linger0 := range []bool{false, true} {
			t.Run(mode.name+map[bool]string{false: "/unread", true: "/linger0"}[linger0], func(t *testing.T) {
				c, home := startFor(t, mode.version, &Server{Policy: permissive})
				payload := randomBytes(t, 48*1024)
				conn, raw := c.Data("STOR up.bin")
				if _, err := conn.Write(payload); err != nil {
					t.Fatal(err)
				}
				if tc, ok := conn.(*tls.Conn); ok {
					if err := tc.CloseWrite(); err != nil { // close_notify
						t.Fatal(err)
					}
				}
				if linger0 {
					raw.SetLinger(0)
				}
				// Otherwise the close leaves the server's TLS session
				// ticket unread, so the kernel resets too (plain FTP: a FIN).
				raw.Close()
				if mode.version == 0 && linger0 {
					// Plain FTP ends a file with the close (FIN): a reset
					// ends nothing, the upload failed.
					if code, msg := c.Read(); code != 426 {
						t.Fatalf("reset plain upload answered %d %s, want 426", code, msg)
					}
					return
				}
				if code, msg := c.Read(); code != 226 {
					t.Fatalf("upload answered %d %s, want 226", code, msg)
				}
				got, err := os.ReadFile(filepath.Join(home, "up.bin"))
				if err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(payload))
				}
			})
		}
	}
}

// TestUploadResetMidStream: a client that resets in the middle of an
// upload gets 426, and the file it was replacing keeps its content.
func TestUploadResetMidStream(t *testing.T) {
	for _, mode := range tlsModes {
		for _, verb := range []string{"STOR", "APPE", "REST"} {
			t.Run(mode.name+"/"+verb, func(t *testing.T) {
				c, home := startFor(t, mode.version, &Server{Policy: permissive})
				target := filepath.Join(home, "f.bin")
				if err := os.WriteFile(target, randomBytes(t, 100000), 0o644); err != nil {
					t.Fatal(err)
				}
				before := servetest.SHA256(t, target)
				cmd := verb + " f.bin"
				if verb == "REST" {
					c.Must(350, "REST 5000")
					cmd = "STOR f.bin"
				}
				conn, raw := c.Data("%s", cmd)
				if _, err := conn.Write(randomBytes(t, 70000)); err != nil {
					t.Fatal(err)
				}
				if tc, ok := conn.(*tls.Conn); ok {
					// Half a TLS record: the server cannot take it for an end.
					tc.NetConn().Write([]byte{23, 3, 3, 0x40, 0})
				}
				raw.SetLinger(0)
				raw.Close()
				if code, msg := c.Read(); code != 426 || msg != "Transfer aborted. Data connection closed" {
					t.Fatalf("reset upload answered %d %s, want 426 Transfer aborted. Data connection closed", code, msg)
				}
				if after := servetest.SHA256(t, target); after != before {
					t.Fatal("the file changed after an upload that failed")
				}
				if names := dirNames(t, home); len(names) != 1 {
					t.Fatalf("home holds %v after the failed upload", names)
				}
				c.Must(200, "NOOP")
			})
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestRefusedUploadsTouchNothing: every refusal comes before the file is
// touched.
func TestRefusedUploadsTouchNothing(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	for _, tc := range []struct {
		name   string
		srv    *Server
		tls    bool
		setup  func(c *servetest.Client)
		cmd    string
		code   int
		msg    string
		noPASV bool
	}{
		{name: "no PASV", srv: &Server{Policy: permissive}, noPASV: true, cmd: "STOR f.txt", code: 425},
		{name: "no PROT P", srv: &Server{TLS: tt, RequireTLSData: true, Policy: permissive}, tls: true,
			cmd: "STOR f.txt", code: 522, msg: "SSL/TLS required on the data channel"},
		{name: "overwrite off", srv: &Server{}, cmd: "STOR f.txt", code: 550, msg: "f.txt: Overwrite permission denied"},
		{name: "append without AllowStoreRestart", srv: &Server{Policy: FixedPolicy{Settings: access.DirSettings{AllowOverwrite: true}}},
			cmd: "APPE f.txt", code: 451, msg: "f.txt: Append/Restart not permitted, try again"},
		{name: "restart without AllowStoreRestart", srv: &Server{Policy: FixedPolicy{Settings: access.DirSettings{AllowOverwrite: true}}},
			setup: func(c *servetest.Client) { c.Must(350, "REST 3") }, cmd: "STOR f.txt", code: 451, msg: "f.txt: Append/Restart not permitted, try again"},
		{name: "restart beyond the end (no 1 TB sparse file)", srv: &Server{Policy: permissive},
			setup: func(c *servetest.Client) { c.Must(350, "REST 1000000000000") }, cmd: "STOR f.txt", code: 554, msg: "REST: invalid f.txt argument"},
		{name: "restart with HiddenStores", srv: &Server{Policy: FixedPolicy{Settings: access.DirSettings{AllowOverwrite: true, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: ".in.", HiddenSuffix: "."}}},
			setup: func(c *servetest.Client) { c.Must(350, "REST 3") }, cmd: "STOR f.txt", code: 501, msg: "REST not compatible with server configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, home := startServer(t, tc.srv)
			target := filepath.Join(home, "f.txt")
			if err := os.WriteFile(target, []byte("precious data\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := servetest.SHA256(t, target)
			c := dialClient(t, addr)
			if tc.tls {
				c.Roots = pool
				c.AuthTLSNoPROT(tls.VersionTLS13)
			}
			c.Login()
			if tc.setup != nil {
				tc.setup(c)
			}
			if !tc.noPASV {
				c.EPSV()
			}
			code, msg := c.Cmd("%s", tc.cmd)
			if code != tc.code || (tc.msg != "" && msg != tc.msg) {
				t.Fatalf("%s: %d %s, want %d %s", tc.cmd, code, msg, tc.code, tc.msg)
			}
			if after := servetest.SHA256(t, target); after != before {
				t.Fatal("a refused upload changed the file")
			}
			if names := dirNames(t, home); len(names) != 1 {
				t.Fatalf("home holds %v", names)
			}
		})
	}
}

// TestDataTLSRefusedLeavesFile: the data connection's reuse check fails
// (425) after the 150: the file being replaced is untouched.
func TestDataTLSRefusedLeavesFile(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	tt.refuse = func(*tls.Conn) bool { return true }
	addr, home := startServer(t, &Server{TLS: tt, Policy: permissive})
	target := filepath.Join(home, "f.txt")
	os.WriteFile(target, []byte("precious data\n"), 0o644)
	before := servetest.SHA256(t, target)
	c := dialClient(t, addr)
	c.Roots = pool
	c.AuthTLS(tls.VersionTLS13)
	c.Login()
	d, err := net.Dial("tcp", c.EPSV())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.Must(150, "STOR f.txt")
	tc := tls.Client(d, c.TLSConfig())
	tc.Handshake()
	tc.Write([]byte("garbage"))
	if code, msg := c.Read(); code != 425 || msg != "Unable to build data connection: Operation not permitted" {
		t.Fatalf("refused data connection: %d %s", code, msg)
	}
	if servetest.SHA256(t, target) != before || len(dirNames(t, home)) != 1 {
		t.Fatal("the refused upload touched the directory")
	}
}

// TestNonRegularFilesRefused: a FIFO, a socket or a directory is never
// opened for a transfer, and nothing blocks.
func TestNonRegularFilesRefused(t *testing.T) {
	addr, home := startServer(t, &Server{Policy: permissive})
	if err := syscall.Mkfifo(filepath.Join(home, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(home, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Mkdir(filepath.Join(home, "dir"), 0o755)
	c := dialClient(t, addr)
	c.Login()
	for _, name := range []string{"fifo", "sock", "dir"} {
		c.EPSV()
		if code, msg := c.Cmd("RETR %s", name); code != 550 || msg != name+": Not a regular file" {
			t.Errorf("RETR %s: %d %s", name, code, msg)
		}
		c.EPSV()
		if code, msg := c.Cmd("STOR %s", name); code != 550 || msg != name+": Not a regular file" {
			t.Errorf("STOR %s: %d %s", name, code, msg)
		}
	}
}

// TestConcurrentStoresNeverInterleave: two clients uploading one file at
// once both succeed, and the file is one of the two uploads whole.
func TestConcurrentStoresNeverInterleave(t *testing.T) {
	addr, home := startServer(t, &Server{Policy: permissive})
	a := bytes.Repeat([]byte("A"), 2<<20)
	b := bytes.Repeat([]byte("B"), 2<<20)
	ca, cb := dialClient(t, addr), dialClient(t, addr)
	ca.Login()
	cb.Login()
	da, _ := ca.Data("STOR f")
	db, _ := cb.Data("STOR f")
	for i := 0; i < len(a); i += 64 << 10 {
		if _, err := da.Write(a[i : i+64<<10]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write(b[i : i+64<<10]); err != nil {
			t.Fatal(err)
		}
	}
	da.Close()
	ca.Expect(226)
	db.Close()
	cb.Expect(226)
	got, err := os.ReadFile(filepath.Join(home, "f"))
	if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
		t.Fatalf("file after two concurrent uploads: %d bytes, %v (interleaved: %v)", len(got), err,
			bytes.Contains(got, []byte("A")) && bytes.Contains(got, []byte("B")))
	}
	// APPE while an APPE runs: the second is told the file is busy.
	da, _ = ca.Data("APPE f")
	da.Write([]byte("x"))
	cb.EPSV()
	if code, msg := cb.Cmd("APPE f"); code != 450 || !strings.Contains(msg, "Resource temporarily unavailable") {
		t.Fatalf("second APPE: %d %s", code, msg)
	}
	da.Close()
	ca.Expect(226)
}

// TestDownloadLingeringClose: the server finishes a download while the
// client has sent bytes the server never reads and has not read the end
// of the file yet. A plain close would reset the connection and destroy
// the data still queued; the lingering close delivers all of it.
func TestDownloadLingeringClose(t *testing.T) {
	for _, mode := range tlsModes {
		t.Run(mode.name, func(t *testing.T) {
			c, home := startFor(t, mode.version, &Server{Policy: permissive})
			payload := randomBytes(t, 4<<20)
			os.WriteFile(filepath.Join(home, "big"), payload, 0o644)
			conn, _ := c.Data("RETR big")
			// Bytes the server will never read.
			if _, err := conn.Write([]byte("unexpected bytes from the client")); err != nil {
				t.Fatal(err)
			}
			// Read most of it, then wait for the 226 (the server has
			// sent everything and closed), then read the rest.
			half := make([]byte, len(payload)-512*1024)
			if _, err := io.ReadFull(conn, half); err != nil {
				t.Fatal(err)
			}
			if code, msg := c.Read(); code != 226 {
				t.Fatalf("download answered %d %s", code, msg)
			}
			rest, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("reading the rest after 226: %v (the close reset the connection)", err)
			}
			if got := append(half, rest...); !bytes.Equal(got, payload) {
				t.Fatalf("received %d bytes, want %d", len(got), len(payload))
			}
		})
	}
}

// TestShutdownAbortsUploadKeepsFile: Shutdown during an upload answers
// 426 then 421, leaves the old file, and returns without waiting for the
// client.
func TestShutdownAbortsUploadKeepsFile(t *testing.T) {
	srv := &Server{Policy: permissive}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv.Auth = StaticUser(testUser, testPass, dir)
	go srv.Serve(ln)
	target := filepath.Join(dir, "f")
	os.WriteFile(target, []byte("old content"), 0o644)
	before := servetest.SHA256(t, target)
	c := dialClient(t, ln.Addr().String())
	c.Login()
	conn, _ := c.Data("STOR f")
	conn.Write([]byte("partial new content"))
	ctx, cancel := context.WithTimeout(context.Background(), servetest.Deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if code, msg := c.Read(); code != 426 {
		t.Fatalf("upload during shutdown: %d %s, want 426", code, msg)
	}
	if code, msg := c.Read(); code != 421 {
		t.Fatalf("after the 426: %d %s, want 421", code, msg)
	}
	if servetest.SHA256(t, target) != before || len(dirNames(t, dir)) != 1 {
		t.Fatal("shutdown during an upload changed the directory")
	}
}

// TestStalledUploadEndsSession: TimeoutStalled ends a transfer that makes
// no progress, and the session with it; the old file stays.
func TestStalledUploadEndsSession(t *testing.T) {
	logger, sink := newLogger()
	c, home := startFor(t, 0, &Server{Policy: permissive, StalledTimeout: time.Second, Log: logger})
	target := filepath.Join(home, "f")
	os.WriteFile(target, []byte("old"), 0o644)
	before := servetest.SHA256(t, target)
	conn, _ := c.Data("STOR f")
	conn.Write([]byte("a few bytes, then nothing"))
	if !c.ClosedSilently() {
		t.Fatal("session still open after a stalled transfer")
	}
	sink.wait(t, "Data transfer stall timeout: 1 second")
	if servetest.SHA256(t, target) != before {
		t.Fatal("stalled upload changed the file")
	}
}

// TestShutdownAbortsStalledDownload: a client that stops reading in the
// middle of a download does not hold Shutdown: the transfer is aborted
// (426), the session closed (421), and Shutdown returns long before its
// deadline.
func TestShutdownAbortsStalledDownload(t *testing.T) {
	dir := t.TempDir()
	srv := &Server{Auth: StaticUser(testUser, testPass, dir)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c := dialClient(t, ln.Addr().String())
	c.Login()
	conn, _ := c.Data("RETR big")
	if _, err := io.ReadFull(conn, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// The client reads no more: the server's writes block.
	ctx, cancel := context.WithTimeout(context.Background(), servetest.Deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil (no session may hold it)", err)
	}
	if code, msg := c.Read(); code != 426 {
		t.Fatalf("download during shutdown: %d %s", code, msg)
	}
	if code, msg := c.Read(); code != 421 {
		t.Fatalf("after the 426: %d %s", code, msg)
	}
}
