package ftpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftpdtls/ftpdtls/internal/access"
)

// testTLS is a TLS for the engine's tests: one certificate, Go's own
// ticket resumption, and a CheckData that records what it saw and
// refuses what refuse says.
type testTLS struct {
	cfg    *tls.Config
	refuse func(*tls.Conn) bool

	mu      sync.Mutex
	resumed []bool // DidResume of every data connection checked
}

func (t *testTLS) NewSession(net.Conn) (TLSSession, error) { return testSession{t}, nil }

type testSession struct{ t *testTLS }

func (s testSession) TLSConfig() *tls.Config     { return s.t.cfg }
func (s testSession) DataTLSConfig() *tls.Config { return s.t.cfg }
func (s testSession) CheckData(c *tls.Conn) error {
	s.t.mu.Lock()
	s.t.resumed = append(s.t.resumed, c.ConnectionState().DidResume)
	s.t.mu.Unlock()
	if s.t.refuse != nil && s.t.refuse(c) {
		return errors.New("client did not reuse TLS session")
	}
	return nil
}

func (t *testTLS) dataResumed() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.resumed)
}

// testCert makes a self-signed ECDSA P-256 certificate for "localhost".
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

const (
	testUser = "alice"
	testPass = "s3cret"
)

// permissive allows overwrites and restarts, which ProFTPD's defaults
// refuse.
var permissive = FixedPolicy{Settings: func() access.DirSettings {
	d := DefaultDirSettings
	d.AllowOverwrite, d.AllowStoreRestart = true, true
	return d
}()}

// startServer runs srv on a random 127.0.0.1 port until the test ends
// and returns the address and the user's directory.
func startServer(t *testing.T, srv *Server) (addr, home string) {
	t.Helper()
	home = t.TempDir()
	if srv.Auth == nil {
		srv.Auth = StaticUser(testUser, testPass, home)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String(), home
}

func newTestTLS(t *testing.T, minV, maxV uint16) (*testTLS, *x509.CertPool) {
	cert, pool := testCert(t)
	return &testTLS{cfg: &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   minV,
		MaxVersion:   maxV,
	}}, pool
}

// dialTLS logs in with jlaffaye/ftp over explicit TLS, with a client
// session cache and a ServerName so that data connections resume.
func dialTLS(t *testing.T, addr string, pool *x509.CertPool, version uint16) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second), ftp.DialWithExplicitTLS(&tls.Config{
		ServerName:         "localhost",
		RootCAs:            pool,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
		MinVersion:         version,
		MaxVersion:         version,
	}))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func TestTLSSessionWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
	}{
		{"TLS1.2", tls.VersionTLS12},
		{"TLS1.3", tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
			addr, home := startServer(t, &Server{TLS: tt, RequireTLSControl: true, RequireTLSData: true, Policy: permissive})
			c := dialTLS(t, addr, pool, tc.version)

			payload := bytes.Repeat([]byte("ftpdtls\n"), 20000)
			if err := c.MakeDir("sub"); err != nil {
				t.Fatalf("MKD: %v", err)
			}
			if err := c.ChangeDir("sub"); err != nil {
				t.Fatalf("CWD: %v", err)
			}
			if err := c.Stor("data.bin", bytes.NewReader(payload)); err != nil {
				t.Fatalf("STOR: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(home, "sub", "data.bin")); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("stored file: %d bytes, err %v; want %d bytes", len(got), err, len(payload))
			}
			if err := c.Append("data.bin", strings.NewReader("tail")); err != nil {
				t.Fatalf("APPE: %v", err)
			}
			size, err := c.FileSize("data.bin")
			if err != nil || size != int64(len(payload)+4) {
				t.Fatalf("SIZE = %d, %v; want %d", size, err, len(payload)+4)
			}
			r, err := c.Retr("data.bin")
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, append(payload, "tail"...)) {
				t.Fatalf("RETR got %d bytes, err %v", len(got), err)
			}
			entries, err := c.List(".") // MLSD, since FEAT lists MLST
			entries = slices.DeleteFunc(entries, func(e *ftp.Entry) bool { return e.Name == "." || e.Name == ".." })
			if err != nil || len(entries) != 1 || entries[0].Name != "data.bin" || entries[0].Size != uint64(size) {
				t.Fatalf("MLSD = %+v, %v", entries, err)
			}
			names, err := c.NameList("/sub")
			if err != nil || !slices.Equal(names, []string{"/sub/data.bin"}) { // ProFTPD's prefix
				t.Fatalf("NLST = %v, %v", names, err)
			}
			if err := c.Rename("data.bin", "renamed.bin"); err != nil {
				t.Fatalf("RNFR/RNTO: %v", err)
			}
			if err := c.Delete("renamed.bin"); err != nil {
				t.Fatalf("DELE: %v", err)
			}
			if err := c.ChangeDirToParent(); err != nil {
				t.Fatalf("CDUP: %v", err)
			}
			if err := c.RemoveDir("sub"); err != nil {
				t.Fatalf("RMD: %v", err)
			}
			if _, err := os.Stat(filepath.Join(home, "sub")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("sub still exists: %v", err)
			}

			// Every data connection resumed a TLS session.
			resumed := tt.dataResumed()
			if len(resumed) < 4 || slices.Contains(resumed, false) {
				t.Fatalf("data connections resumed: %v, want all true", resumed)
			}
		})
	}
}

func TestDataRefusedGets425(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	tt.refuse = func(*tls.Conn) bool { return true }
	addr, _ := startServer(t, &Server{TLS: tt, RequireTLSControl: true})
	c := dialTLS(t, addr, pool, tls.VersionTLS13)
	_, err := c.List("/")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 425 || te.Msg != "Unable to build data connection: Operation not permitted" {
		t.Fatalf("LIST with refused data connection: %v, want 425 Unable to build data connection: Operation not permitted", err)
	}
	// The control connection is still usable.
	if err := c.NoOp(); err != nil {
		t.Fatalf("NOOP after refusal: %v", err)
	}
}

// rawConn is a line-level client for replies the ftp package hides.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *textproto.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawConn{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c))}
	rc.expect(220)
	return rc
}

// cmd sends a command and returns the reply code and text.
func (rc *rawConn) cmd(format string, args ...any) (int, string) {
	rc.t.Helper()
	fmt.Fprintf(rc.c, format+"\r\n", args...)
	code, msg, err := rc.r.ReadResponse(0)
	if err != nil && code == 0 {
		rc.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
	return code, msg
}

func (rc *rawConn) expect(code int) string {
	rc.t.Helper()
	got, msg, err := rc.r.ReadResponse(code)
	if err != nil {
		rc.t.Fatalf("want %d, got %d %s (%v)", code, got, msg, err)
	}
	return msg
}

func TestReplies(t *testing.T) {
	tt, _ := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	for _, tc := range []struct {
		name  string
		srv   *Server
		cmds  []string // sent in order
		codes []int    // expected reply codes
		last  string   // expected text of the last reply, if set
	}{
		{"tls required refuses USER", &Server{TLS: tt, RequireTLSControl: true},
			[]string{"USER alice"}, []int{550}, "SSL/TLS required on the control channel"},
		{"tls auth required refuses PASS", &Server{TLS: tt, RequireTLSAuth: true},
			[]string{"PASS x"}, []int{550}, ""},
		{"feat before tls", &Server{TLS: tt, RequireTLSControl: true},
			[]string{"FEAT", "SYST", "NOOP"}, []int{211, 215, 200}, ""},
		{"unknown command", &Server{}, []string{"XYZZY"}, []int{500}, "XYZZY not understood"},
		{"login required", &Server{}, []string{"PWD", "LIST"}, []int{530, 530}, ""},
		{"bad password", &Server{}, []string{"USER alice", "PASS wrong"}, []int{331, 530}, "Login incorrect."},
		{"plain login and navigation", &Server{},
			[]string{"USER alice", "PASS s3cret", "TYPE I", "MODE S", "STRU F", "CWD /nonexistent", "CWD ..", "PWD"},
			[]int{331, 230, 200, 200, 200, 550, 250, 257}, `"/" is the current directory`},
		{"auth without tls", &Server{}, []string{"AUTH TLS"}, []int{502}, ""},
		{"pbsz prot before auth", &Server{TLS: tt}, []string{"PBSZ 0", "PROT P"}, []int{503, 503}, ""},
		{"ccc refused", &Server{TLS: tt}, []string{"CCC"}, []int{534}, "Unwilling to accept security parameters"},
		{"transfer without pasv", &Server{},
			[]string{"USER alice", "PASS s3cret", "LIST"}, []int{331, 230, 425}, ""},
		{"data tls required", &Server{RequireTLSData: true},
			[]string{"USER alice", "PASS s3cret", "PASV", "LIST"}, []int{331, 230, 227, 522}, "SSL/TLS required on the data channel"},
		{"rnto without rnfr", &Server{},
			[]string{"USER alice", "PASS s3cret", "RNTO x"}, []int{331, 230, 503}, ""},
		{"epsv all forbids pasv", &Server{},
			[]string{"USER alice", "PASS s3cret", "EPSV ALL", "PASV"}, []int{331, 230, 200, 501}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startServer(t, tc.srv)
			rc := dialRaw(t, addr)
			var msg string
			for i, c := range tc.cmds {
				var code int
				code, msg = rc.cmd("%s", c)
				if code != tc.codes[i] {
					t.Fatalf("%s: got %d %s, want %d", c, code, msg, tc.codes[i])
				}
			}
			if tc.last != "" && msg != tc.last {
				t.Fatalf("last reply %q, want %q", msg, tc.last)
			}
		})
	}
}

// TestConfinement checks that no path, "..", absolute or through a
// symbolic link, reaches outside the user's directory.
func TestConfinement(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, home := startServer(t, &Server{})
	if err := os.Symlink(outside, filepath.Join(home, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(home, "secretlink")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(home, filepath.Join(outside, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../" + rel, "/../../" + rel, rel, "escape/secret", "secretlink"} {
		if _, err := c.FileSize(p); err == nil {
			t.Errorf("SIZE %s succeeded; want refusal", p)
		}
		if r, err := c.Retr(p); err == nil {
			b, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %s returned %q; want refusal", p, b)
		}
	}
	if err := c.ChangeDir("../../.."); err != nil {
		t.Fatalf("CWD ../../..: %v", err)
	}
	if dir, err := c.CurrentDir(); err != nil || dir != "/" {
		t.Fatalf("PWD after CWD ../../.. = %q, %v; want /", dir, err)
	}
	if err := c.ChangeDir("escape"); err == nil {
		t.Errorf("CWD escape succeeded; want refusal")
	}
}

func TestPassivePortsAndMasquerade(t *testing.T) {
	// Find two free adjacent-ish ports by listening and closing.
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	lo, hi := min(ports[0], ports[1]), max(ports[0], ports[1])
	addr, _ := startServer(t, &Server{
		PassivePorts:      PortRange{lo, hi},
		MasqueradeAddress: net.ParseIP("192.0.2.10"),
	})
	rc := dialRaw(t, addr)
	rc.cmd("USER alice")
	if code, msg := rc.cmd("PASS s3cret"); code != 230 {
		t.Fatalf("PASS: %d %s", code, msg)
	}
	code, msg := rc.cmd("PASV")
	if code != 227 {
		t.Fatalf("PASV: %d %s", code, msg)
	}
	hostport, err := parsePASV(msg)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(hostport)
	if host != "192.0.2.10" {
		t.Errorf("PASV announced %s, want the MasqueradeAddress 192.0.2.10", host)
	}
	var p int
	fmt.Sscan(port, &p)
	if p < lo || p > hi {
		t.Errorf("PASV port %d outside PassivePorts %d-%d", p, lo, hi)
	}
	code, msg = rc.cmd("EPSV")
	if code != 229 {
		t.Fatalf("EPSV: %d %s", code, msg)
	}
	var ep int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &ep); err != nil || ep < lo || ep > hi {
		t.Errorf("EPSV port %d (%v) outside PassivePorts %d-%d", ep, err, lo, hi)
	}
}

// parsePASV turns a 227 reply's "(h1,h2,h3,h4,p1,p2)" into host:port.
func parsePASV(reply string) (string, error) {
	var h [4]int
	var p1, p2 int
	i := strings.IndexByte(reply, '(')
	if i < 0 {
		return "", fmt.Errorf("malformed 227 reply %q", reply)
	}
	if _, err := fmt.Sscanf(reply[i:], "(%d,%d,%d,%d,%d,%d)", &h[0], &h[1], &h[2], &h[3], &p1, &p2); err != nil {
		return "", fmt.Errorf("malformed 227 reply %q: %w", reply, err)
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", h[0], h[1], h[2], h[3], p1<<8|p2), nil
}

func TestShutdownClosesIdleSessionsWith421(t *testing.T) {
	srv := &Server{Auth: StaticUser(testUser, testPass, t.TempDir())}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	rc := dialRaw(t, ln.Addr().String())
	rc.cmd("USER alice")
	if code, msg := rc.cmd("PASS s3cret"); code != 230 {
		t.Fatalf("PASS: %d %s", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle session = %v, want nil", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	rc.expect(421)
	if _, err := rc.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("session still open after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}

// BenchmarkTLSListing measures one FTPS data transfer: PASV, a resumed TLS
// handshake on the data connection, the check, a small listing.
func BenchmarkTLSListing(b *testing.B) {
	cert, pool := testCert(b)
	tt := &testTLS{cfg: &tls.Config{Certificates: []tls.Certificate{cert}}}
	srv := &Server{TLS: tt, Auth: StaticUser(testUser, testPass, b.TempDir())}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := ftp.Dial(ln.Addr().String(), ftp.DialWithExplicitTLS(&tls.Config{
		ServerName: "localhost", RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(testUser, testPass); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.NameList("/"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if r := tt.dataResumed(); slices.Contains(r, false) {
		b.Fatalf("a data connection did not resume")
	}
}
