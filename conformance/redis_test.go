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

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/directives"
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

// writeRedisNodeConf writes a proftpd.conf for a node using Redis at addr,
// with a fresh self-signed certificate shared by both nodes.
func writeRedisNodeConf(t *testing.T, dir, redisAddr string) (conf string, roots *x509.CertPool) {
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
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
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
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
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
