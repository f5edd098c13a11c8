package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/pires/go-proxyproto"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// Real FTPS clients against `ftpdtls serve`: lftp (GnuTLS), curl
// (OpenSSL), openssl s_client and jlaffaye/ftp (crypto/tls), on TLS 1.2
// and TLS 1.3, with mod_tls's data-channel session reuse required (the
// default) or not. The daemon runs in the test process where it can, and
// as the built binary for the worker tests. Whether a data connection
// resumed its control connection's session is read from the daemon's
// TLSLog, in mod_tls's words.
//
//	go test ./conformance/ -run Client -v

// cliSetup is one daemon configuration of these tests.
type cliSetup struct {
	protocol    string // TLSProtocol, e.g. "TLSv1.2"
	noReuse     bool   // TLSOptions NoSessionReuseRequired
	extra       string // more directives
	passivePort int    // PassivePorts lo-hi, 0 for any
}

// cliDaemon is a daemon under test and the files around it.
type cliDaemon struct {
	t     *testing.T
	home  *daemon.Home // certificate, user file, served directory "ftp"
	conf  string
	addr  string
	log   *cliLog
	stop  func() // stops the daemon; idempotent
	pool  *x509.CertPool
	files string // the served directory
}

// cliLog collects the daemon's system log; it is written from many
// goroutines.
type cliLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *cliLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *cliLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cliConfig writes the configuration of s into the home directory.
func cliConfig(t *testing.T, home *daemon.Home, s cliSetup) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "ServerName \"conformance\"\nDefaultAddress 127.0.0.1\nPort 2121\n")
	// Confined to its home, as the built-in configuration does (the user
	// file's home is the served directory "ftp", its shell /bin/false: an
	// FTP-only account).
	fmt.Fprintf(&b, "AuthUserFile %s/ftpd.passwd\nRequireValidShell off\nDefaultRoot ~\n", home.Dir)
	if s.passivePort > 0 {
		fmt.Fprintf(&b, "PassivePorts %d %d\n", s.passivePort, s.passivePort+20)
	}
	fmt.Fprintf(&b, "TLSEngine on\nTLSRequired on\nTLSProtocol %s\n", cmpOr(s.protocol, "TLSv1.2 TLSv1.3"))
	fmt.Fprintf(&b, "TLSECCertificateFile %s/cert.pem\nTLSECCertificateKeyFile %s/key.pem\n", home.Dir, home.Dir)
	fmt.Fprintf(&b, "TLSLog %s/tls.log\n", home.Dir)
	fmt.Fprintf(&b, "TLSSessionCache shm:/file=%s/sess_cache 1800\n", home.Dir)
	fmt.Fprintf(&b, "TLSStaplingCache shm:/file=%s/ocsp_cache\n", home.Dir)
	if s.noReuse {
		b.WriteString("TLSOptions NoSessionReuseRequired\n")
	}
	b.WriteString(s.extra)
	path := filepath.Join(home.Dir, "proftpd.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cliNewHome makes the daemon's directory and removes it, and the shm
// segments of its caches, when the test ends.
func cliNewHome(t *testing.T) *daemon.Home {
	t.Helper()
	home, err := daemon.NewHome()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Registered first, so it runs after the daemon has stopped.
		conf := filepath.Join(home.Dir, "proftpd.conf")
		if cfg, err := daemon.Parse(conf, home.Dir); err == nil {
			daemon.RemoveCaches(cfg)
		}
		os.RemoveAll(home.Dir)
	})
	return home
}

// cliStart runs the daemon in this process on a random 127.0.0.1 port.
func cliStart(t *testing.T, s cliSetup) *cliDaemon {
	t.Helper()
	home := cliNewHome(t)
	return cliStartWith(t, home, cliConfig(t, home, s))
}

func cliStartWith(t *testing.T, home *daemon.Home, conf string) *cliDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &cliDaemon{t: t, home: home, conf: conf, addr: ln.Addr().String(), log: &cliLog{}, files: filepath.Join(home.Dir, "ftp")}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{
			ConfigPath: conf,
			Listener:   ln,
			Stdout:     io.Discard,
			Stderr:     d.log,
			Signals:    make(chan os.Signal),
			Ready:      func(net.Addr) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v\nlog:\n%s", err, d.log)
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon did not start in 10s\nlog:\n%s", d.log)
	}
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		})
	}
	t.Cleanup(d.stop)
	d.pool = x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(home.Dir, "cert.pem"))
	if err != nil || !d.pool.AppendCertsFromPEM(pem) {
		t.Fatalf("certificate: %v", err)
	}
	return d
}

func (d *cliDaemon) port() string {
	_, p, _ := net.SplitHostPort(d.addr)
	return p
}

// tlsLog returns the daemon's TLSLog.
func (d *cliDaemon) tlsLog() string {
	b, _ := os.ReadFile(filepath.Join(d.home.Dir, "tls.log"))
	return string(b)
}

const (
	msgReused        = "client reused TLS session for data connection"
	msgNotReused     = "client did not reuse TLS session, rejecting data connection"
	msgNotFromCtrl   = "Client did not reuse TLS session from control channel, rejecting data connection" // capitalised, as mod_tls writes it
	reply425Rejected = "425 Unable to build data connection: Operation not permitted"
)

// requireReuse checks the TLSLog: at least n data connections resumed
// their control connection's session and none was refused.
func (d *cliDaemon) requireReuse(n int) {
	d.t.Helper()
	log := d.tlsLog()
	if got := strings.Count(log, msgReused); got < n {
		d.t.Errorf("TLSLog has %d %q lines, want at least %d:\n%s", got, msgReused, n, log)
	}
	if strings.Contains(log, "rejecting data connection") {
		d.t.Errorf("TLSLog shows a refused data connection:\n%s", log)
	}
}

var cliVersions = []struct {
	name     string
	protocol string
}{
	{"TLSv1.2", "TLSv1.2"},
	{"TLSv1.3", "TLSv1.3"},
}

// cliMatrix is every TLS version with reuse required (mod_tls's default)
// and with TLSOptions NoSessionReuseRequired.
var cliMatrix = []struct {
	name     string
	protocol string
	noReuse  bool
}{
	{"TLSv1.2/reuse-required", "TLSv1.2", false},
	{"TLSv1.3/reuse-required", "TLSv1.3", false},
	{"TLSv1.2/NoSessionReuseRequired", "TLSv1.2", true},
	{"TLSv1.3/NoSessionReuseRequired", "TLSv1.3", true},
}

// checkData checks the TLSLog after n data transfers: with reuse
// required every one resumed its control connection's session; without,
// none was refused.
func (d *cliDaemon) checkData(noReuse bool, n int) {
	d.t.Helper()
	if noReuse {
		if log := d.tlsLog(); strings.Contains(log, "rejecting data connection") {
			d.t.Errorf("data connection refused with NoSessionReuseRequired:\n%s", log)
		}
		return
	}
	d.requireReuse(n)
}

// TestClientLftp: lftp logs in, lists, uploads, downloads and deletes
// with PROT P, on TLS 1.2 and TLS 1.3, with session reuse required, and
// every data connection resumes the control connection's session.
func TestClientLftp(t *testing.T) {
	lftp := testpeers.Need(t, "lftp")
	for _, v := range cliMatrix {
		t.Run(v.name, func(t *testing.T) {
			d := cliStart(t, cliSetup{protocol: v.protocol, noReuse: v.noReuse})
			local := t.TempDir()
			payload := bytes.Repeat([]byte("lftp payload\n"), 5000)
			if err := os.WriteFile(filepath.Join(local, "up.txt"), payload, 0o644); err != nil {
				t.Fatal(err)
			}
			script := strings.Join([]string{
				"set ssl:verify-certificate no", "set ftp:ssl-force yes", "set ftp:ssl-protect-data yes",
				"set net:max-retries 1", "set net:timeout 10",
				"ls", "put " + filepath.Join(local, "up.txt") + " -o up.txt",
				"get up.txt -o " + filepath.Join(local, "down.txt"),
				"ls", "rm up.txt", "ls", "quit",
			}, "; ")
			out, err := cliRun(t, lftp, "-u", d.home.User+","+d.home.Password, "-p", d.port(), "-e", script, "127.0.0.1")
			if err != nil {
				t.Fatalf("lftp: %v\n%s\nlog:\n%s", err, out, d.log)
			}
			if got, err := os.ReadFile(filepath.Join(local, "down.txt")); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(payload))
			}
			if _, err := os.Stat(filepath.Join(d.files, "up.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("up.txt still on the server after rm: %v", err)
			}
			if !strings.Contains(out, "up.txt") || !strings.Contains(out, "README") {
				t.Errorf("lftp listings lack up.txt or README:\n%s", out)
			}
			d.checkData(v.noReuse, 5) // ls, put, get, ls, ls
			if want := "TLS " + strings.TrimPrefix(v.protocol, "TLSv") + " control connection"; !strings.Contains(d.log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, d.log)
			}
		})
	}
}

// cliRun runs a client with a time limit and returns its combined output.
func cliRun(t *testing.T, prog string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.lftprc, ~/.curlrc
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestClientJlaffaye: the Go client with a client session cache and a
// ServerName resumes on every data connection, on TLS 1.2 and TLS 1.3.
func TestClientJlaffaye(t *testing.T) {
	for _, v := range cliMatrix {
		t.Run(v.name, func(t *testing.T) {
			d := cliStart(t, cliSetup{protocol: v.protocol, noReuse: v.noReuse})
			c := d.dialGo(t, nil, nil)
			payload := bytes.Repeat([]byte{0, 1, 2, 3, 254, 255}, 30000)
			if err := c.Stor("bin.dat", bytes.NewReader(payload)); err != nil {
				t.Fatalf("STOR: %v", err)
			}
			entries, err := c.List("/")
			if err != nil {
				t.Fatalf("MLSD: %v", err)
			}
			found := false
			for _, e := range entries {
				found = found || e.Name == "bin.dat" && e.Size == uint64(len(payload))
			}
			if !found {
				t.Fatalf("listing %+v lacks bin.dat of %d bytes", entries, len(payload))
			}
			r, err := c.Retr("bin.dat")
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("RETR: %d bytes, %v", len(got), err)
			}
			if err := c.Delete("bin.dat"); err != nil {
				t.Fatalf("DELE: %v", err)
			}
			if err := c.Quit(); err != nil {
				t.Fatalf("QUIT: %v", err)
			}
			d.checkData(v.noReuse, 3)
		})
	}
}

// dialGo logs in with jlaffaye/ftp over explicit TLS, with a client
// session cache and a ServerName so that data connections resume. cfg and
// dial, if set, replace the TLS configuration and the dialer.
func (d *cliDaemon) dialGo(t *testing.T, cfg *tls.Config, dial func(network, address string) (net.Conn, error)) *ftp.ServerConn {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{ServerName: "localhost", RootCAs: d.pool, ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	}
	opts := []ftp.DialOption{ftp.DialWithTimeout(10 * time.Second), ftp.DialWithExplicitTLS(cfg)}
	if dial != nil {
		opts = append(opts, ftp.DialWithDialFunc(dial))
	}
	c, err := ftp.Dial(d.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v\nlog:\n%s", err, d.log)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(d.home.User, d.home.Password); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// TestClientCurl pins curl's two facts: on TLS 1.3 its data connections
// resume (tickets), so reuse required works; on TLS 1.2 it sends no
// session ticket extension and crypto/tls cannot resume by session id, so
// with reuse required the data connection gets 425, and it works with
// NoSessionReuseRequired.
func TestClientCurl(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	for _, tc := range []struct {
		name     string
		protocol string
		noReuse  bool
		works    bool
	}{
		{"TLSv1.3/reuse-required", "TLSv1.3", false, true},
		{"TLSv1.2/reuse-required", "TLSv1.2", false, false},
		{"TLSv1.2/NoSessionReuseRequired", "TLSv1.2", true, true},
		{"TLSv1.3/NoSessionReuseRequired", "TLSv1.3", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := cliStart(t, cliSetup{protocol: tc.protocol, noReuse: tc.noReuse})
			up := filepath.Join(t.TempDir(), "curl-up.txt")
			if err := os.WriteFile(up, []byte("uploaded by curl\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			base := []string{"-sS", "--ssl-reqd", "-k", "--max-time", "30", "--user", d.home.User + ":" + d.home.Password}
			url := "ftp://127.0.0.1:" + d.port() + "/"
			listing, listErr := cliRun(t, curl, append(base, url)...)
			upOut, upErr := cliRun(t, curl, append(base, "-T", up, url)...)
			if !tc.works {
				if listErr == nil || upErr == nil {
					t.Fatalf("curl succeeded with reuse required on TLS 1.2:\n%s\n%s", listing, upOut)
				}
				// curl exits 18 or 25 after a 425; its message names the code.
				if !strings.Contains(listing, "425") {
					t.Errorf("curl's error does not mention 425: %s", listing)
				}
				if log := d.tlsLog(); !strings.Contains(log, msgNotReused) {
					t.Errorf("TLSLog lacks %q:\n%s", msgNotReused, log)
				}
				if _, err := os.Stat(filepath.Join(d.files, "curl-up.txt")); err == nil {
					// The file may be created before the refusal, but
					// must be empty: no data crossed.
					if b, _ := os.ReadFile(filepath.Join(d.files, "curl-up.txt")); len(b) > 0 {
						t.Errorf("upload went through a refused data connection: %q", b)
					}
				}
				return
			}
			if listErr != nil || !strings.Contains(listing, "README") {
				t.Fatalf("curl list: %v\n%s\nlog:\n%s", listErr, listing, d.log)
			}
			if upErr != nil {
				t.Fatalf("curl upload: %v\n%s", upErr, upOut)
			}
			if b, err := os.ReadFile(filepath.Join(d.files, "curl-up.txt")); err != nil || string(b) != "uploaded by curl\n" {
				t.Fatalf("uploaded file: %q, %v", b, err)
			}
			d.checkData(tc.noReuse, 2)
		})
	}
}

// ---- a line-level FTPS client, for what no client does on purpose ----

type cliFTPS struct {
	t     *testing.T
	conn  net.Conn
	r     *textproto.Reader
	cfg   *tls.Config
	cache tls.ClientSessionCache
}

// cliDialFTPS connects, upgrades with AUTH TLS, logs in and sets PROT P.
// Its TLS sessions go to its own client session cache.
func (d *cliDaemon) cliDialFTPS(t *testing.T) *cliFTPS {
	t.Helper()
	conn, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &cliFTPS{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), cache: tls.NewLRUClientSessionCache(8)}
	c.cfg = &tls.Config{ServerName: "localhost", RootCAs: d.pool, ClientSessionCache: c.cache}
	c.expect(220)
	c.cmd(234, "AUTH TLS")
	tc := tls.Client(conn, c.cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("control handshake: %v", err)
	}
	c.conn, c.r = tc, textproto.NewReader(bufio.NewReader(tc))
	c.cmd(331, "USER %s", d.home.User)
	c.cmd(230, "PASS %s", d.home.Password)
	c.cmd(200, "PBSZ 0")
	c.cmd(200, "PROT P")
	return c
}

func (c *cliFTPS) cmd(want int, format string, args ...any) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", args...); err != nil {
		c.t.Fatalf("send %s: %v", fmt.Sprintf(format, args...), err)
	}
	return c.expect(want)
}

func (c *cliFTPS) expect(want int) string {
	c.t.Helper()
	code, msg, err := c.r.ReadResponse(want)
	if err != nil {
		c.t.Fatalf("want %d, got %d %s (%v)", want, code, msg, err)
	}
	return msg
}

// TestClientDataFromAnotherControlRefused: a data connection that
// resumes the TLS session of a different control connection (of the same
// user, even) is refused with 425, as mod_tls refuses it.
func TestClientDataFromAnotherControlRefused(t *testing.T) {
	for _, v := range cliVersions {
		t.Run(v.name, func(t *testing.T) {
			d := cliStart(t, cliSetup{protocol: v.protocol})
			a := d.cliDialFTPS(t)
			b := d.cliDialFTPS(t)
			b.cmd(200, "NOOP") // make sure b's TLS 1.3 ticket has been read

			msg := a.cmd(229, "EPSV")
			var port int
			if _, err := fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port); err != nil {
				t.Fatalf("EPSV reply %q: %v", msg, err)
			}
			dconn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer dconn.Close()
			dconn.SetDeadline(time.Now().Add(10 * time.Second))
			a.cmd(150, "NLST")
			// The data connection resumes b's session, not a's.
			dtls := tls.Client(dconn, b.cfg)
			if err := dtls.Handshake(); err != nil {
				t.Fatalf("data handshake: %v", err)
			}
			if !dtls.ConnectionState().DidResume {
				t.Fatalf("the data connection did not resume b's session; the test proves nothing")
			}
			io.Copy(io.Discard, dtls)
			code, msg, err := a.r.ReadResponse(425)
			if err != nil || fmt.Sprintf("%d %s", code, msg) != reply425Rejected {
				t.Fatalf("NLST over b's session: got %d %s (%v), want %q", code, msg, err, reply425Rejected)
			}
			if log := d.tlsLog(); !strings.Contains(log, msgNotFromCtrl) {
				t.Errorf("TLSLog lacks %q:\n%s", msgNotFromCtrl, log)
			}
			// a's own session still works.
			a.cmd(229, "EPSV")
			a.cmd(221, "QUIT")
		})
	}
}

// ---- openssl s_client, workers, restarts ----

// cliSClient runs `openssl s_client -starttls ftp` once, saving or
// loading the session file, sends QUIT, and reports whether the session
// was reused.
func cliSClient(t *testing.T, openssl, addr, version, sessFlag, sessFile string) (reused bool, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-starttls", "ftp",
		"-servername", "localhost", "-"+strings.NewReplacer("TLSv1.", "tls1_").Replace(version),
		sessFlag, sessFile, "-ign_eof")
	// QUIT makes the server answer, so s_client reads the TLS 1.3
	// ticket that follows the handshake before it exits.
	cmd.Stdin = strings.NewReader("QUIT\r\n")
	b, err := cmd.CombinedOutput()
	out = string(b)
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	switch {
	case strings.Contains(out, "\nReused, "):
		return true, out
	case strings.Contains(out, "\nNew, "):
		return false, out
	}
	t.Fatalf("openssl s_client printed neither New nor Reused:\n%s", out)
	return false, out
}

// cliBinary builds the ftpdtls binary into the test's temporary
// directory (the worker tests need a program to re-execute).
func cliBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ftpdtls")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/ftpdtls")
	// As the project builds (no cgo), whatever the test runs with (-race
	// needs cgo): the build cache of `CGO_ENABLED=0 go build ./...` then
	// serves it.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sessionOpened matches the daemon's "FTP session opened." line and
// captures the pid of the process that served it.
var sessionOpened = regexp.MustCompile(`ftpdtls\[(\d+)\] (?:\S+ )?\(([^)]*)\): FTP session opened\.`)

// cliWorkerDaemon runs the built binary with workers and returns its log.
func cliWorkerDaemon(t *testing.T, bin string, home *daemon.Home, conf string, workers int) (addr string, log *cliLog, stop func()) {
	addr, log, stop, _ = cliWorkerDaemonCmd(t, bin, home, conf, workers)
	return addr, log, stop
}

func cliWorkerDaemonCmd(t *testing.T, bin string, home *daemon.Home, conf string, workers int) (addr string, log *cliLog, stop func(), master *os.Process) {
	t.Helper()
	// The master binds the configured address: find a free port and
	// write it into the configuration.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	text = regexp.MustCompile(`(?m)^Port .*$`).ReplaceAll(text, []byte("Port "+port))
	if err := os.WriteFile(conf, text, 0o600); err != nil {
		t.Fatal(err)
	}
	log = &cliLog{}
	cmd := exec.Command(bin, "serve", "-c", conf, "-workers", strconv.Itoa(workers))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-waited:
				if err != nil {
					t.Errorf("ftpdtls serve -workers: %v\n%s", err, log)
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-waited
				t.Errorf("ftpdtls serve -workers did not stop on SIGTERM")
			}
		})
	}
	t.Cleanup(stop)
	// Generous: workers start slowly on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(log.String(), " serving ") < workers {
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, log, stop, cmd.Process
}

// cliHold opens a control connection, waits for the greeting and keeps
// the connection open until the test ends.
func cliHold(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := textproto.NewReader(bufio.NewReader(conn)).ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
}

// lastSessionPid waits for the n-th "session opened" line and returns
// the pid that served it.
func lastSessionPid(t *testing.T, log *cliLog, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := sessionOpened.FindAllStringSubmatch(log.String(), -1)
		if len(m) >= n {
			return m[n-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session %d in the log:\n%s", n, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClientOpenSSLResumesOnAnotherWorker: with two workers, a session
// saved by s_client on one worker is reused on a connection served by the
// other, through the shm cache, and the cache's hit counter shows it.
func TestClientOpenSSLResumesOnAnotherWorker(t *testing.T) {
	openssl := testpeers.Need(t, "openssl")
	bin := cliBinary(t)
	for _, v := range cliVersions {
		t.Run(v.name, func(t *testing.T) {
			home := cliNewHome(t)
			conf := cliConfig(t, home, cliSetup{protocol: v.protocol})
			addr, log, stop := cliWorkerDaemon(t, bin, home, conf, 2)
			sess := filepath.Join(t.TempDir(), "sess.pem")

			if reused, out := cliSClient(t, openssl, addr, v.protocol, "-sess_out", sess); reused {
				t.Fatalf("first connection reused a session:\n%s", out)
			}
			first := lastSessionPid(t, log, 1)
			// The master hands each connection to the worker with the
			// fewest: an idle connection held open (it counts once its
			// greeting has arrived) tips the next one over to the other
			// worker. The sessions the master counts end asynchronously,
			// so hold one more per try until it happens.
			served := map[string]bool{first: true}
			for try := 1; try <= 10 && len(served) < 2; try++ {
				n := len(sessionOpened.FindAllString(log.String(), -1))
				cliHold(t, addr)
				lastSessionPid(t, log, n+1)
				reused, out := cliSClient(t, openssl, addr, v.protocol, "-sess_in", sess)
				pid := lastSessionPid(t, log, n+2)
				if !reused {
					t.Fatalf("try %d (worker pid %d) did not reuse the saved session:\n%s", try, mustAtoi(pid), out)
				}
				if pid != first {
					t.Logf("session saved on worker pid %s reused on worker pid %s (try %d)", first, pid, try)
					served[pid] = true
				}
			}
			if len(served) < 2 {
				t.Fatalf("every connection landed on worker pid %s:\n%s", first, log)
			}
			stop()
			out, err := exec.Command(bin, "sesscache", "-c", conf, "info").CombinedOutput()
			if err != nil {
				t.Fatalf("sesscache info: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`Cache lifetime hits: (\d+)`).FindSubmatch(out)
			if m == nil || mustAtoi(string(m[1])) < 1 {
				t.Fatalf("sesscache info shows no hit:\n%s", out)
			}
		})
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// TestClientWorkerRestarted: the master restarts a worker that dies, and
// the service goes on; SIGHUP to the master makes the workers reload.
func TestClientWorkerRestarted(t *testing.T) {
	bin := cliBinary(t)
	home := cliNewHome(t)
	conf := cliConfig(t, home, cliSetup{})
	addr, log, _, master := cliWorkerDaemonCmd(t, bin, home, conf, 1)
	started := regexp.MustCompile(`worker 1 \(pid (\d+)\)(?: of generation \d+)? started`)
	m := started.FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no worker start in the log:\n%s", log)
	}
	if err := syscall.Kill(mustAtoi(m[1]), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(started.FindAllString(log.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("worker was not restarted:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := &cliDaemon{t: t, home: home, addr: addr, log: log, pool: x509.NewCertPool()}
	pem, _ := os.ReadFile(filepath.Join(home.Dir, "cert.pem"))
	d.pool.AppendCertsFromPEM(pem)
	c := d.dialGo(t, nil, nil)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("LIST after the restart: %v", err)
	}
	c.Quit()

	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte(`ServerName "conformance"`), []byte(`ServerName "reloaded"`), 1)
	if err := os.WriteFile(conf, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := master.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(log.String(), "configuration reloaded") {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("workers did not reload on SIGHUP:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := textproto.NewReader(bufio.NewReader(conn)).ReadResponse(220); err != nil || !strings.Contains(msg, "(reloaded)") {
		t.Fatalf("greeting after SIGHUP: %q, %v; want ServerName reloaded", msg, err)
	}
	fmt.Fprintf(conn, "QUIT\r\n")
}

// TestClientSessionSurvivesRestart: a session saved by s_client resumes
// after the daemon has been stopped and started again, since stopping
// detaches from the shm segment without removing it.
func TestClientSessionSurvivesRestart(t *testing.T) {
	openssl := testpeers.Need(t, "openssl")
	for _, v := range cliVersions {
		t.Run(v.name, func(t *testing.T) {
			home := cliNewHome(t)
			conf := cliConfig(t, home, cliSetup{protocol: v.protocol})
			sess := filepath.Join(t.TempDir(), "sess.pem")

			d := cliStartWith(t, home, conf)
			if reused, out := cliSClient(t, openssl, d.addr, v.protocol, "-sess_out", sess); reused {
				t.Fatalf("first connection reused a session:\n%s", out)
			}
			d.stop()

			d2 := cliStartWith(t, home, conf)
			reused, out := cliSClient(t, openssl, d2.addr, v.protocol, "-sess_in", sess)
			if !reused {
				t.Fatalf("saved session not reused after a restart:\n%s\nlog:\n%s", out, d2.log)
			}
		})
	}
}

// ---- PROXY protocol ----

// TestClientProxyProtocol: PROXY v1 and v2 headers from a trusted source
// set the client address the daemon logs; an untrusted source's header is
// not honoured. The trusted source is 127.0.0.2 (the client binds it;
// the server listens on 127.0.0.1 only).
func TestClientProxyProtocol(t *testing.T) {
	d := cliStart(t, cliSetup{extra: "ProxyProtocolEngine on\nProxyProtocolVersion haproxyV1V2\n" +
		"ProxyProtocolTimeout 3\nProxyProtocolTrustedSources 127.0.0.2\n"})
	trusted := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	untrusted := &net.Dialer{Timeout: 5 * time.Second}

	for _, tc := range []struct {
		name    string
		dialer  *net.Dialer
		version byte
		source  string
		logged  string // the client address the daemon must log
	}{
		{"trusted v1", trusted, 1, "203.0.113.7", "203.0.113.7"},
		{"trusted v2", trusted, 2, "198.51.100.9", "198.51.100.9"},
		{"untrusted v1", untrusted, 1, "192.0.2.99", "127.0.0.1"},
		{"untrusted v2", untrusted, 2, "192.0.2.98", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(sessionOpened.FindAllString(d.log.String(), -1))
			conn, err := tc.dialer.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			h := proxyproto.HeaderProxyFromAddrs(tc.version,
				&net.TCPAddr{IP: net.ParseIP(tc.source), Port: 40000}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21})
			if _, err := h.WriteTo(conn); err != nil {
				t.Fatal(err)
			}
			r := textproto.NewReader(bufio.NewReader(conn))
			if _, _, err := r.ReadResponse(220); err != nil {
				t.Fatalf("greeting: %v", err)
			}
			fmt.Fprintf(conn, "QUIT\r\n")
			io.Copy(io.Discard, conn)

			// The worker's log reaches d.log through a pipe: the line may
			// come after the connection's end. Wait for it.
			lastSessionPid(t, d.log, before+1)
			m := sessionOpened.FindAllStringSubmatch(d.log.String(), -1)
			if len(m) != before+1 {
				t.Fatalf("want one new session in the log, got %d:\n%s", len(m)-before, d.log)
			}
			if want := tc.logged + "[" + tc.logged + "]"; m[before][2] != want {
				t.Errorf("daemon logged client %q, want %q", m[before][2], want)
			}
			if strings.Contains(d.log.String(), tc.source) && tc.logged != tc.source {
				t.Errorf("the untrusted header's address %s reached the log:\n%s", tc.source, d.log)
			}
		})
	}

	// A whole FTPS session through a trusted proxy: the control connection
	// carries the header, the data connections do not.
	t.Run("trusted FTPS session", func(t *testing.T) {
		cfg := &tls.Config{ServerName: "localhost", RootCAs: d.pool, ClientSessionCache: tls.NewLRUClientSessionCache(16)}
		control := true
		// With a dial function, jlaffaye/ftp leaves the data connections'
		// TLS to it: wrap them here, with the control connection's
		// session cache so that they resume.
		c := d.dialGo(t, cfg, func(network, address string) (net.Conn, error) {
			conn, err := trusted.Dial(network, address)
			if err != nil {
				return nil, err
			}
			if !control {
				return tls.Client(conn, cfg), nil
			}
			control = false
			h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("203.0.113.50"), Port: 50000},
				&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21})
			_, err = h.WriteTo(conn)
			return conn, err
		})
		if err := c.Stor("via-proxy.txt", strings.NewReader("proxied")); err != nil {
			t.Fatalf("STOR: %v\nlog:\n%s\nTLSLog:\n%s", err, d.log, d.tlsLog())
		}
		if _, err := c.List("/"); err != nil {
			t.Fatalf("LIST: %v", err)
		}
		c.Quit()
		d.requireReuse(2)
		if !strings.Contains(d.log.String(), "(203.0.113.50[203.0.113.50]): STOR /via-proxy.txt") {
			t.Errorf("transfer not logged under the proxied client:\n%s", d.log)
		}
	})
}

// TestClientDefaultBanner: `ftpdtls serve` without -c prints curl and
// lftp command lines that work as printed.
func TestClientDefaultBanner(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	lftp := testpeers.Need(t, "lftp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	banner, log := &cliLog{}, &cliLog{}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Listener: ln, Stdout: banner, Stderr: log,
			Signals: make(chan os.Signal), Ready: func(net.Addr) { close(ready) }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("default daemon did not start: %v\n%s", err, log)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(banner.String(), "\n") {
		l = strings.TrimSpace(l)
		for _, prog := range []string{"curl", "lftp"} {
			if strings.HasPrefix(l, prog+" ") {
				lines[prog] = l
			}
		}
	}
	for prog, path := range map[string]string{"curl": curl, "lftp": lftp} {
		line, ok := lines[prog]
		if !ok {
			t.Fatalf("banner has no %s line:\n%s", prog, banner)
		}
		// Run the line as a shell would, with the peer's full path.
		out, err := cliRun(t, "/bin/sh", "-c", path+strings.TrimPrefix(line, prog))
		if err != nil || !strings.Contains(out, "README") {
			t.Errorf("%s line from the banner failed: %v\n%s\n%s\nlog:\n%s", prog, err, line, out, log)
		}
	}
	// The banner's directory goes away with the daemon.
	m := regexp.MustCompile(`serving (\S+) on`).FindStringSubmatch(banner.String())
	if m == nil {
		t.Fatalf("banner does not name the served directory:\n%s", banner)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon: %v", err)
	}
	done <- nil // for the cleanup
	if _, err := os.Stat(filepath.Dir(m[1])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("default home %s still exists after shutdown: %v", filepath.Dir(m[1]), err)
	}
}
