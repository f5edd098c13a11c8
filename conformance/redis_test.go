package conformance

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsredis"
)

// These tests run ftpdtls TLS servers as separate processes (this test
// binary, re-executed) that share one Redis through the "redis" session
// cache, as machines behind a load balancer would.

// redisNodeEnv names the configuration a re-executed test binary serves.
const redisNodeEnv = "FTPDTLS_REDIS_NODE_CONF"

// TestRedisNodeProcess is the server process of the tests below; run
// directly, it skips. It serves TLS on 127.0.0.1 with the configuration
// named in $FTPDTLS_REDIS_NODE_CONF, prints "LISTEN <addr>", and exits
// when its standard input closes.
func TestRedisNodeProcess(t *testing.T) {
	conf := os.Getenv(redisNodeEnv)
	if conf == "" {
		t.Skip("helper process for TestRedisSessionsAcrossProcesses")
	}
	cfg, err := directives.ParseFile(conf, directives.Options{})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := modtls.Open(cfg, modtls.Env{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	if _, name := engine.SessionCache(); name != modtlsredis.ProviderName {
		t.Fatalf("session cache is %q, not redis", name)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", l.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		l.Close()
	}()
	conf2 := engine.TLSConfig(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, conf2)
			if tc.Handshake() == nil {
				_, _ = tc.Write([]byte{'x'}) // lets a TLS 1.3 client take its ticket
				_, _ = io.Copy(io.Discard, tc)
			}
		}()
	}
}

// redisNode is one running server process.
type redisNode struct {
	addr  string
	stdin io.Closer
	cmd   *exec.Cmd
}

func startRedisNode(t *testing.T, conf string) *redisNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRedisNodeProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), redisNodeEnv+"="+conf)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &redisNode{stdin: stdin, cmd: cmd}
	t.Cleanup(func() {
		n.stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				lines <- addr
			}
		}
		close(lines)
	}()
	select {
	case addr, ok := <-lines:
		if !ok {
			t.Fatal("server process ended without listening")
		}
		n.addr = addr
	case <-time.After(20 * time.Second):
		t.Fatal("server process did not listen within 20s")
	}
	return n
}

// startRedisServer runs a throwaway redis-server on 127.0.0.1.
func startRedisServer(t *testing.T) string {
	t.Helper()
	bin := testpeers.Need(t, "redis-server", "/usr/bin/redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(t.Context()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// writeRedisCert writes a fresh self-signed certificate for "localhost"
// and its key into dir.
func writeRedisCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// writeRedisNodeConf writes a proftpd.conf for a node using Redis at addr,
// with a fresh self-signed certificate shared by both nodes.
func writeRedisNodeConf(t *testing.T, dir, redisAddr string) (conf string, roots *x509.CertPool) {
	t.Helper()
	certFile, keyFile, roots := writeRedisCert(t, dir)
	conf = filepath.Join(dir, "proftpd.conf")
	text := fmt.Sprintf(`LoadModule mod_tls.c
LoadModule mod_redis.c
LoadModule mod_tls_redis.c
RedisServer %s
TLSEngine on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %s
TLSECCertificateKeyFile %s
TLSSessionCache redis:/json 1800
`, redisAddr, certFile, keyFile)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, roots
}

func redisHandshake(addr string, conf *tls.Config) (bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return false, err
	}
	return c.ConnectionState().DidResume, nil
}

// TestRedisSessionsAcrossProcesses: a session made on one server process
// resumes on another that shares its Redis, for TLS 1.2 and 1.3, and the
// shared counters in Redis count both processes' work.
func TestRedisSessionsAcrossProcesses(t *testing.T) {
	redisAddr := startRedisServer(t)
	conf, roots := writeRedisNodeConf(t, t.TempDir(), redisAddr)
	a, b := startRedisNode(t, conf), startRedisNode(t, conf)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: v.version, MaxVersion: v.version,
				ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			for i, step := range []struct {
				node   *redisNode
				resume bool
			}{{a, false}, {b, true}, {a, true}, {b, true}} {
				resumed, err := redisHandshake(step.node.addr, client)
				if err != nil {
					t.Fatalf("handshake %d: %v", i+1, err)
				}
				if resumed != step.resume {
					t.Fatalf("handshake %d (process %d): resumed %v, want %v", i+1, map[*redisNode]int{a: 1, b: 2}[step.node], resumed, step.resume)
				}
			}
		})
	}
	// Each process sends its counts within 100 ms.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hits, _ := rdb.Get(t.Context(), "mod_tls_redis.sessions.cache_hits").Int()
		if hits == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache_hits = %d after 6 resumptions on two processes", hits)
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys, err := rdb.Keys(t.Context(), `mod_tls_redis.sessions.{"id":"*"}`+"\x00").Result()
	if err != nil || len(keys) < 2 {
		t.Errorf("session keys in Redis: %d, %v", len(keys), err)
	}
}

// TestRedisProFTPDInterop runs a real proftpd with mod_tls_redis and
// ftpdtls's cache on one Redis: the keys ProFTPD writes are the keys
// ftpdtls computes, both read the same counters (ProFTPD's ftpdctl shows
// each as the ASCII bytes of the decimal read as a little-endian number,
// its bug R3), and a ProFTPD session entry is read by ftpdtls as an
// unusable OpenSSL session: an error and a miss, not a crash or a hit.
func TestRedisProFTPDInterop(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	ftpdctl := testpeers.Need(t, "ftpdctl", "/usr/bin/ftpdctl")
	openssl := testpeers.Need(t, "openssl", "/usr/bin/openssl")
	if _, err := os.Stat("/usr/lib/proftpd/mod_tls_redis.so"); err != nil {
		t.Skip("skipping: /usr/lib/proftpd/mod_tls_redis.so is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: running proftpd as a daemon needs root")
	}
	redisAddr := startRedisServer(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, _ := writeRedisCert(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ftpAddr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(ftpAddr)
	conf := filepath.Join(dir, "proftpd.conf")
	sock := filepath.Join(dir, "proftpd.sock")
	text := fmt.Sprintf(`ServerName "redis-interop"
ServerType standalone
Port %[1]s
DefaultAddress 127.0.0.1
User nobody
Group nogroup
PidFile %[2]s/proftpd.pid
ScoreboardFile %[2]s/proftpd.scoreboard
DelayTable %[2]s/proftpd.delay
WtmpLog off
UseReverseDNS off
ModulePath /usr/lib/proftpd
LoadModule mod_ctrls_admin.c
LoadModule mod_tls.c
LoadModule mod_redis.c
LoadModule mod_tls_redis.c
ControlsEngine on
ControlsInterval 1
ControlsSocket %[3]s
ControlsACLs all allow user root
RedisServer %[4]s
TLSEngine on
TLSProtocol TLSv1.2
TLSECCertificateFile %[5]s
TLSECCertificateKeyFile %[6]s
TLSSessionCache redis:/json 1800
TLSControlsACLs all allow user root
`, port, dir, sock, redisAddr, certFile, keyFile)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(proftpd, "-n", "-q", "-c", conf)
	var out strings.Builder
	daemon.Stdout, daemon.Stderr = &out, &out
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Signal(syscall.SIGTERM); _ = daemon.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ftpAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proftpd did not listen on %s:\n%s", ftpAddr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A full handshake, then a resumption of its session id.
	sessFile := filepath.Join(dir, "sess")
	var ids []string
	for i, extra := range [][]string{{"-sess_out", sessFile}, {"-sess_in", sessFile}} {
		args := append([]string{"s_client", "-connect", ftpAddr, "-starttls", "ftp", "-tls1_2"}, extra...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("") // EOF: s_client closes the connection cleanly
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl s_client %d: %v\n%s", i+1, err, b)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "Session-ID: "); ok {
				ids = append(ids, strings.ToLower(id))
			}
		}
		if reused := strings.Contains(string(b), "Reused, "); reused != (i == 1) {
			t.Fatalf("openssl s_client %d: reused %v\n%s", i+1, reused, b)
		}
	}
	if len(ids) != 2 || ids[0] != ids[1] || len(ids[0]) != 64 {
		t.Fatalf("session ids %q", ids)
	}

	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	key := `mod_tls_redis.sessions.{"id":"` + ids[0] + `"}` + "\x00"
	if n := rdb.Exists(t.Context(), key).Val(); n != 1 {
		keys, _ := rdb.Keys(t.Context(), "*").Result()
		t.Fatalf("ProFTPD's entry is not under the key ftpdtls computes (%q); keys: %q", key, keys)
	}

	settings := modtlsredis.DefaultSettings()
	settings.Servers = []modtlsredis.Endpoint{{Network: "tcp", Addr: redisAddr}}
	cache, err := modtlsredis.OpenSessionCache(settings, "/json", modtls.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	// ftpdtls adds its own work to the shared counters.
	for i := range 3 {
		state := append([]byte{3, 3, 1}, make([]byte, 100)...)
		if err := cache.Add([]byte{byte(i), 1, 2, 3}, time.Now().Add(time.Hour), state); err != nil {
			t.Fatal(err)
		}
	}
	compareStatus := func(what string) {
		t.Helper()
		var ours strings.Builder
		if err := cache.Status(&ours, false); err != nil {
			t.Fatal(err)
		}
		b, err := exec.Command(ftpdctl, "-s", sock, "tls", "sesscache", "info").CombinedOutput()
		if err != nil {
			t.Fatalf("ftpdctl: %v\n%s", err, b)
		}
		theirs := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "ftpdctl: "), ": "); ok && strings.HasPrefix(k, "Cache lifetime") {
				theirs[k] = v
			}
		}
		n := 0
		for _, line := range strings.Split(ours.String(), "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok || !strings.HasPrefix(k, "Cache lifetime") {
				continue
			}
			n++
			if want := asProFTPDPrints(v); theirs[k] != want {
				t.Errorf("%s: %q: ftpdtls %s, ProFTPD %q, want %q (the same value, as ProFTPD misprints it)", what, k, v, theirs[k], want)
			}
		}
		if n != len(theirs) || n < 2 {
			t.Errorf("%s: counter lines differ:\nftpdtls:\n%s\nProFTPD:\n%s", what, ours.String(), b)
		}
	}
	compareStatus("after both wrote")

	// ProFTPD's OpenSSL session: read, decoded, refused as unusable.
	idBytes := make([]byte, 32)
	for i := range idBytes {
		v, _ := strconv.ParseUint(ids[0][2*i:2*i+2], 16, 8)
		idBytes[i] = byte(v)
	}
	before, _ := cache.Stats()
	if _, _, err := cache.Get(idBytes); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("Get of ProFTPD's session: %v, want ErrCacheMiss", err)
	}
	after, _ := cache.Stats()
	if after.Errors != before.Errors+1 || after.Misses != before.Misses+1 {
		t.Errorf("counters around reading ProFTPD's session: %+v -> %+v", before, after)
	}
	compareStatus("after ftpdtls read ProFTPD's entry")
}

// asProFTPDPrints turns a counter as Redis holds it ("49") into what
// mod_tls_redis 0.1 prints: the value's bytes copied into a little-endian
// uint64.
func asProFTPDPrints(decimal string) string {
	var n uint64
	for i := 0; i < len(decimal) && i < 8; i++ {
		n |= uint64(decimal[i]) << (8 * i)
	}
	return strconv.FormatUint(n, 10)
}

// TestRedisDirectivesDifferential checks mod_redis's directives and
// mod_tls_redis's cache types against Debian's `proftpd -t`: the same
// verdict and the same fatal lines, and ProFTPD's notice about an
// unresolvable Sentinel among ftpdtls's warnings.
func TestRedisDirectivesDifferential(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if _, err := os.Stat("/usr/lib/proftpd/mod_redis.so"); err != nil {
		t.Skip("skipping: /usr/lib/proftpd/mod_redis.so is not installed")
	}
	const load = "LoadModule mod_redis.c\n"
	const loadTLS = "LoadModule mod_tls.c\nLoadModule mod_redis.c\nLoadModule mod_tls_redis.c\n"
	fragments := []string{
		"RedisEngine on",
		"RedisEngine",
		"RedisEngine on off",
		"RedisEngine maybe",
		"<Directory /tmp>\nRedisEngine on\n</Directory>",
		"<VirtualHost 127.0.0.1>\nRedisEngine off\n</VirtualHost>",
		"<Global>\nRedisEngine on\n</Global>",
		"RedisTimeouts 5",
		"RedisTimeouts 5 6 7",
		"RedisTimeouts 5x 6",
		"RedisTimeouts 5 6y",
		"RedisTimeouts -5 6",
		`RedisTimeouts "" 6`,
		"RedisOptions",
		"RedisOptions NoReconnect",
		"RedisOptions NoReconnect noreconnect",
		"RedisOptions Bogus",
		"RedisServer",
		"RedisServer 127.0.0.1",
		"RedisServer 127.0.0.1:6379 \"\" s3cret 2",
		"RedisServer a b c d e f g h i j",
		"RedisServer /run/redis.sock",
		"<Anonymous /tmp>\nRedisServer x\n</Anonymous>",
		"<Limit READ>\nRedisServer x\n</Limit>",
		"RedisLog relative",
		"RedisLog NONE",
		"RedisLog /var/log/redis.log",
		"RedisLog",
		"RedisSentinel",
		"RedisSentinel 127.0.0.1 master mymaster",
		"RedisSentinel nonexistent.invalid:1 127.0.0.1",
		"RedisLogOnCommand",
		"RedisLogOnCommand a",
		"RedisLogOnCommand none",
		"RedisLogOnCommand ALL fmt",
		"LogFormat fmt \"%u\"\nRedisLogOnCommand ALL fmt",
		"LogFormat fmt \"%u\"\nRedisLogOnEvent ALL fmt key",
		"LogFormat fmt \"%u\"\nRedisLogOnEvent ALL",
		"LogFormat fmt \"%u\"\nRedisLogOnEvent ALL fmt a b",
		"LogFormat fmt \"%u\"\n<Directory /tmp>\nRedisLogOnEvent ALL fmt\n</Directory>",
		"LogFormat fmt \"%u\"\n<VirtualHost 127.0.0.1>\nRedisLogOnCommand ALL fmt\n</VirtualHost>",
		"RedisLogFormatExtra fmt {}",
		"RedisLogFormatExtra fmt",
		"LogFormat fmt \"%u\"\nRedisLogFormatExtra fmt {}",
		"LogFormat fmt \"%u\"\nRedisLogFormatExtra fmt notjson",
		"LogFormat fmt \"%u\"\nRedisLogFormatExtra fmt [1]",
	}
	var cases []string
	for _, f := range fragments {
		cases = append(cases, load+f)
	}
	cases = append(cases,
		loadTLS+"TLSSessionCache redis:",
		loadTLS+"TLSSessionCache redis:/json 600",
		loadTLS+"TLSSessionCache redis",
		loadTLS+"TLSStaplingCache redis:anything",
		loadTLS+"RedisEngine off\nTLSSessionCache redis:",
		"LoadModule mod_tls.c\nTLSSessionCache redis:",
	)
	parent := t.TempDir()
	for i, frag := range cases {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			dir, conf := writeWrapped(t, parent, frag, fmt.Sprintf("redis-%02d", i))
			want, _, err := proftpdCheck(t.Context(), proftpd, conf, dir)
			if err != nil {
				t.Fatal(err)
			}
			got := ftpdtlsCheck(conf, dir)
			if got.Accept != want.Accept || strings.Join(got.Fatal, "\n") != strings.Join(want.Fatal, "\n") {
				t.Errorf("fragment:\n%s\nproftpd -t: %s\nftpdtls:    %s", frag, want, got)
			}
			for _, w := range want.Other {
				if strings.HasPrefix(w, "RedisSentinel: ") && !slicesContains(got.Other, w) {
					t.Errorf("fragment:\n%s\nproftpd notice %q missing from ftpdtls warnings %q", frag, w, got.Other)
				}
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// serveNode is one `ftpdtls serve` daemon started by startServeNodes.
type serveNode struct {
	addr   string
	tlsLog string  // its TLSLog file
	log    *cliLog // its standard output and error
}

// readTLSLog returns the node's TLSLog so far.
func (n *serveNode) readTLSLog() string {
	b, _ := os.ReadFile(n.tlsLog)
	return string(b)
}

// startServeNodes builds the ftpdtls binary and runs count `ftpdtls serve`
// daemons on 127.0.0.1 that share one home (certificate, user, served
// directory) and the Redis at redisAddr as their session cache, with
// mod_tls's data-channel session reuse required (the default). Each has
// its own TLSLog. The daemons are stopped when the test ends.
func startServeNodes(t *testing.T, redisAddr string, count int) (bin string, home *daemon.Home, roots *x509.CertPool, nodes []*serveNode) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "ftpdtls")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ftpdtls").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home, err := daemon.NewHome()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home.Dir) })
	pem, err := os.ReadFile(filepath.Join(home.Dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in cert.pem")
	}
	for i := range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		conf := filepath.Join(home.Dir, fmt.Sprintf("node%d.conf", i))
		node := &serveNode{addr: addr, tlsLog: filepath.Join(home.Dir, fmt.Sprintf("tls%d.log", i)), log: &cliLog{}}
		text := fmt.Sprintf(`ServerName "redis node %d"
DefaultAddress 127.0.0.1
Port %s
AuthUserFile %s/ftpd.passwd
RequireValidShell off
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[3]s/cert.pem
TLSECCertificateKeyFile %[3]s/key.pem
TLSLog %s
RedisServer %s
RedisTimeouts 300 300
TLSSessionCache redis: 1800
`, i+1, port, home.Dir, node.tlsLog, redisAddr)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "-c", conf)
		cmd.Stdout, cmd.Stderr = node.log, node.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ftpdtls serve did not listen on %s:\n%s", addr, node.log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		nodes = append(nodes, node)
	}
	return bin, home, roots, nodes
}

// TestRedisServeAcrossDaemons runs two `ftpdtls serve` daemons (the built
// binary) on one Redis. openssl s_client saves a session on the first
// and has it reused by the second, and an FTPS client that logged in on
// the first logs in on the second and transfers data there, with
// mod_tls's data-channel session reuse required.
func TestRedisServeAcrossDaemons(t *testing.T) {
	openssl := testpeers.Need(t, "openssl", "/usr/bin/openssl")
	redisAddr := startRedisServer(t)
	bin, home, roots, nodes := startServeNodes(t, redisAddr, 2)
	addrs := []string{nodes[0].addr, nodes[1].addr}

	for _, v := range []struct {
		name, flag string
		version    uint16
	}{{"TLSv1.2", "-tls1_2", tls.VersionTLS12}, {"TLSv1.3", "-tls1_3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			sess := filepath.Join(t.TempDir(), "sess.pem")
			for i, step := range []struct {
				addr, flag string
				reused     bool
			}{{addrs[0], "-sess_out", false}, {addrs[1], "-sess_in", true}} {
				cmd := exec.Command(openssl, "s_client", "-connect", step.addr, "-starttls", "ftp", "-servername", "localhost",
					v.flag, step.flag, sess, "-ign_eof")
				cmd.Stdin = strings.NewReader("QUIT\r\n")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("openssl s_client %d: %v\n%s", i+1, err, out)
				}
				if reused := strings.Contains(string(out), "Reused, "); reused != step.reused {
					t.Fatalf("openssl s_client on daemon %d: reused %v, want %v\n%s", i+1, reused, step.reused, out)
				}
			}

			conf := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: v.version, MaxVersion: v.version,
				ClientSessionCache: tls.NewLRUClientSessionCache(8)}
			for i, addr := range addrs {
				c, err := ftp.Dial(addr, ftp.DialWithExplicitTLS(conf), ftp.DialWithTimeout(10*time.Second))
				if err != nil {
					t.Fatalf("FTPS to daemon %d: %v", i+1, err)
				}
				if err := c.Login(home.User, home.Password); err != nil {
					t.Fatalf("login on daemon %d: %v", i+1, err)
				}
				if _, err := c.List("/"); err != nil {
					t.Fatalf("LIST on daemon %d (its data connection must resume the control session through Redis): %v", i+1, err)
				}
				if err := c.Quit(); err != nil {
					t.Fatalf("QUIT on daemon %d: %v", i+1, err)
				}
			}
		})
	}

	// `ftpdtls sesscache info` reads the shared counters: two openssl
	// resumptions and the FTPS client's resumed logins and data connections
	// are counted, each daemon sending its counts every 100 ms. Wait for
	// them; the daemons may still be sending while info runs, so info's
	// figure lies between the counter read just before and just after.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	hits := func() int {
		v, err := rdb.Get(t.Context(), "mod_tls_redis.sessions.cache_hits").Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return v
	}
	for deadline := time.Now().Add(time.Minute); hits() < 4; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("cache_hits = %d a minute after the resumptions, want at least 4", hits())
		}
	}
	before := hits()
	out, err := exec.Command(bin, "sesscache", "-c", filepath.Join(home.Dir, "node0.conf"), "info").CombinedOutput()
	if err != nil {
		t.Fatalf("ftpdtls sesscache info: %v\n%s", err, out)
	}
	after := hits()
	want := "Redis SSL session cache provided by mod_tls_redis/0.1\n\nRedis server: " + redisAddr + "\n"
	shown := -1
	if _, rest, ok := strings.Cut(string(out), "\nCache lifetime hits: "); ok {
		shown, _ = strconv.Atoi(strings.SplitN(rest, "\n", 2)[0])
	}
	if !strings.HasPrefix(string(out), want) || shown < before || shown > after {
		t.Errorf("ftpdtls sesscache info:\n%s\nwant it to start %q and show between %d and %d hits", out, want, before, after)
	}
}
