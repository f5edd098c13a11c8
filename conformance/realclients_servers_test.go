package conformance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// The servers of the real-client matrix: `ftpdtls serve` with one and two
// workers, and the real ProFTPD 1.3.8, all with the same TLS settings
// (rcTLSSettings). Each runs once per test run and serves every client in
// turn.

// rcTLSSettings is the TLS part of both programs' configuration: mod_tls's
// defaults where the matrix does not need more, so data connections must
// resume their control connection's session (no NoSessionReuseRequired).
const rcTLSSettings = `TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[1]s/cert.pem
TLSECCertificateKeyFile %[1]s/key.pem
TLSLog %[1]s/tls.log
TLSSessionCache shm:/file=%[1]s/sess_cache 1800
`

// rcUserSettings is the login part of both programs' configuration: the
// user file, its /bin/false shell accepted, and the user confined to its
// home directory.
func rcUserSettings(dir string) string {
	return fmt.Sprintf("AuthUserFile %s/ftpd.passwd\nRequireValidShell off\nDefaultRoot ~\n", dir)
}

// rcServer is one server of the matrix.
type rcServer struct {
	name    string // column of the table, e.g. "ftpdtls/1"
	proftpd bool
	addr    string
	port    string
	dir     string // configuration, certificate, logs
	files   string // the served directory, the user's root
	user    string
	pass    string
	uid     int // owner of uploaded files
	gid     int
	log     *cliLog             // the daemon's own output
	hits    func() (int, error) // the session cache's lifetime hits

	lastHits int // hits after the last cell (the cells run one at a time)
}

func (s *rcServer) tlsLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "tls.log"))
	return string(b)
}

// rcPrepareDir makes the test's temporary directories searchable by the
// unprivileged user the servers switch to.
func rcPrepareDir(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// rcUser writes the user file: one user whose home, the served directory,
// is its root. Run as root, the user is nobody (uid 65534), as ProFTPD
// and ftpdtls's workers run; otherwise it is the invoking user, the only
// one a non-root server can act as.
func rcUser(t *testing.T, s *rcServer) {
	t.Helper()
	s.user, s.pass = "client", authfile.RandomString(12)
	s.uid, s.gid = os.Getuid(), os.Getgid()
	if s.uid == 0 {
		s.uid, s.gid = 65534, 65534
	}
	s.files = filepath.Join(s.dir, "ftp")
	if err := os.Mkdir(s.files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.files, s.uid, s.gid); err != nil {
		t.Fatal(err)
	}
	hash, err := authfile.SHA512Crypt(s.pass, "$6$"+authfile.RandomString(16))
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s:%s:%d:%d:matrix user:%s:/bin/false\n", s.user, hash, s.uid, s.gid, s.files)
	// ProFTPD refuses a world-readable AuthUserFile.
	if err := os.WriteFile(filepath.Join(s.dir, "ftpd.passwd"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rcWriteCert writes a self-signed ECDSA P-256 certificate for localhost
// and 127.0.0.1 into dir.
func rcWriteCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var rcHitsLine = regexp.MustCompile(`Cache lifetime hits: (\d+)`)

func rcParseHits(out []byte, err error) (int, error) {
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	m := rcHitsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no \"Cache lifetime hits\" line in:\n%s", out)
	}
	return strconv.Atoi(string(m[1]))
}

// rcStartFtpdtls runs `ftpdtls serve -workers N` from the built binary.
func rcStartFtpdtls(t *testing.T, bin string, workers int) *rcServer {
	t.Helper()
	s := &rcServer{name: fmt.Sprintf("ftpdtls/%d", workers), dir: t.TempDir()}
	rcPrepareDir(t, s.dir)
	rcWriteCert(t, s.dir)
	rcUser(t, s)
	conf := filepath.Join(s.dir, "proftpd.conf")
	text := fmt.Sprintf("ServerName \"realclients\"\nDefaultAddress 127.0.0.1\nPort 2121\n%s", rcUserSettings(s.dir)) +
		fmt.Sprintf(rcTLSSettings, s.dir)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// Registered before the daemon's own cleanup, so it runs after the
	// daemon has stopped: the cache segment outlives the daemon by design.
	t.Cleanup(func() {
		if out, err := exec.Command(bin, "sesscache", "-c", conf, "remove").CombinedOutput(); err != nil {
			t.Errorf("ftpdtls sesscache remove: %v\n%s", err, out)
		}
	})
	s.addr, s.log, _, _ = cliWorkerDaemonCmd(t, bin, nil, conf, workers)
	_, s.port, _ = net.SplitHostPort(s.addr)
	s.hits = func() (int, error) {
		return rcParseHits(exec.Command(bin, "sesscache", "-c", conf, "info").CombinedOutput())
	}
	return s
}

// rcStartProFTPD runs the real ProFTPD 1.3.8 in the foreground, shaped as
// the other conformance tests run it, with rcTLSSettings, and mod_ctrls
// so that `ftpdctl tls sesscache info` reads its cache counters.
func rcStartProFTPD(t *testing.T) *rcServer {
	t.Helper()
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	ftpdctl := testpeers.Need(t, "ftpdctl", "/usr/bin/ftpdctl")
	if os.Geteuid() != 0 {
		if testpeers.Required() {
			t.Fatal("running proftpd as a daemon needs root, and FTPDTLS_REQUIRE_PEERS=1 requires it")
		}
		t.Skip("skipping: running proftpd as a daemon needs root")
	}
	s := &rcServer{name: "ProFTPD", proftpd: true, dir: t.TempDir()}
	rcPrepareDir(t, s.dir)
	rcWriteCert(t, s.dir)
	rcUser(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	_, s.port, _ = net.SplitHostPort(s.addr)
	sock := filepath.Join(s.dir, "ctrls.sock")
	text := fmt.Sprintf(`ServerName "realclients"
ServerType standalone
DefaultServer on
Port %[1]s
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
PidFile %[2]s/proftpd.pid
ScoreboardFile %[2]s/proftpd.scoreboard
DelayTable %[2]s/proftpd.delay
WtmpLog off
TransferLog none
UseReverseDNS off
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
ModulePath /usr/lib/proftpd
LoadModule mod_ctrls_admin.c
LoadModule mod_tls.c
LoadModule mod_tls_shmcache.c
ControlsEngine on
ControlsInterval 1
ControlsSocket %[3]s
ControlsACLs all allow user root
TLSControlsACLs all allow user root
AuthOrder mod_auth_file.c
`, s.port, s.dir, sock) + rcUserSettings(s.dir) + fmt.Sprintf(rcTLSSettings, s.dir)
	conf := filepath.Join(s.dir, "proftpd.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s.log = &cliLog{}
	cmd := exec.Command(proftpd, "-n", "-q", "-c", conf)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Its own process group, so that stopping it reaches the session
	// processes it forked; ProFTPD removes its segment when it stops, a
	// crash would not.
	exited := testpeers.StartGroup(t, cmd, "proftpd", 30*time.Second, func() {
		if removed, err := sweepSegments(s.dir, cmd.Process.Pid); err != nil || len(removed) > 0 {
			t.Logf("removed what proftpd left: %q (%v)", removed, err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("proftpd exited before listening:\n%s", s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proftpd did not listen on %s:\n%s", s.addr, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.hits = func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ftpdctl, "-s", sock, "tls", "sesscache", "info").CombinedOutput()
		return rcParseHits([]byte(strings.ReplaceAll(string(out), "ftpdctl: ", "")), err)
	}
	return s
}
