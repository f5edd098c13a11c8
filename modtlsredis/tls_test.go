package modtlsredis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// tlsServer is a TLS server on 127.0.0.1 whose sessions go through modtls
// with the redis provider, configured as a proftpd.conf would.
type tlsServer struct {
	engine *modtls.TLS
	addr   string
}

func startTLSServer(t *testing.T, redisAddr string, cert tls.Certificate) *tlsServer {
	t.Helper()
	cfg, err := parse(t,
		"LoadModule mod_tls.c",
		"LoadModule mod_tls_redis.c",
		"TLSEngine on",
		"TLSProtocol TLSv1.2 TLSv1.3",
		"RedisServer "+redisAddr,
		"RedisTimeouts 200 200",
		"TLSSessionCache redis: 1800",
	)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := modtls.Open(cfg, modtls.Env{Config: cfg}, modtls.WithCertificates(nil, cert))
	if err != nil {
		t.Fatalf("modtls.Open: %v", err)
	}
	t.Cleanup(func() { engine.Close() })
	if _, name := engine.SessionCache(); name != ProviderName {
		t.Fatalf("session cache %q, want %q (did the redis provider fail to open?)", name, ProviderName)
	}
	conf := engine.TLSConfig(nil)
	addr := testpeers.Serve(t, 10*time.Second, func(c net.Conn) {
		tc := tls.Server(c, conf)
		if tc.Handshake() != nil {
			return
		}
		// One byte, so that the client reads (and keeps) a TLS 1.3
		// ticket sent after the handshake; then wait for its close.
		_, _ = tc.Write([]byte{'x'})
		_, _ = io.Copy(io.Discard, tc)
	})
	return &tlsServer{engine: engine, addr: addr}
}

type tlsClient struct {
	conf *tls.Config
}

func newTLSClient(cert tls.Certificate, version uint16) *tlsClient {
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tlsClient{conf: &tls.Config{
		RootCAs: pool, ServerName: "localhost",
		MinVersion: version, MaxVersion: version,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}}
}

// handshake connects, reads the server's byte, and reports whether the
// session was resumed.
func (c *tlsClient) handshake(addr string) (bool, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, c.conf)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	return conn.ConnectionState().DidResume, nil
}

var versions = []struct {
	name string
	v    uint16
}{{"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13}}

func TestHandshakeResumesThroughRedis(t *testing.T) {
	r := startRedis(t)
	cert := selfSigned(t)
	node1 := startTLSServer(t, r.addr(), cert)
	node2 := startTLSServer(t, r.addr(), cert) // another "machine" on the same Redis
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			c := newTLSClient(cert, ver.v)
			for i, step := range []struct {
				addr   string
				resume bool
			}{{node1.addr, false}, {node1.addr, true}, {node2.addr, true}, {node1.addr, true}} {
				resumed, err := c.handshake(step.addr)
				if err != nil {
					t.Fatalf("handshake %d: %v", i+1, err)
				}
				if resumed != step.resume {
					t.Fatalf("handshake %d: resumed %v, want %v", i+1, resumed, step.resume)
				}
			}
		})
	}
	// Each node sends its counts within flushInterval; Stats sends the
	// reading node's own at once.
	sc2, _ := node2.engine.SessionCache()
	if err := sc2.(*SessionCache).s.flushCounters(bg()); err != nil {
		t.Fatal(err)
	}
	sc, _ := node1.engine.SessionCache()
	stats, serr := sc.(*SessionCache).Stats()
	if serr != nil || stats.Hits < 6 || stats.Stored < 2 {
		t.Errorf("counters after 6 resumptions: %+v, %v", stats, serr)
	}
}

// TestHandshakeDuringOutage stops Redis under a running server: cache
// operations fail fast and are counted, handshakes still complete (in
// full), and once Redis is back sessions resume again without a restart.
func TestHandshakeDuringOutage(t *testing.T) {
	r := startRedis(t)
	cert := selfSigned(t)
	srv := startTLSServer(t, r.addr(), cert)
	sc, _ := srv.engine.SessionCache()
	cache := sc.(*SessionCache)
	bound := cache.s.timeout + 500*time.Millisecond

	c := newTLSClient(cert, tls.VersionTLS13)
	if _, err := c.handshake(srv.addr); err != nil {
		t.Fatal(err)
	}
	if resumed, err := c.handshake(srv.addr); err != nil || !resumed {
		t.Fatalf("resumption before the outage: %v, %v", resumed, err)
	}

	for _, outage := range []struct {
		name        string
		begin, end  func()
		minDuration time.Duration
	}{
		{"stopped", r.stop, r.restart, 0},
		// A frozen Redis accepts connections but never answers: only the
		// timeouts end the operations.
		{"frozen", func() { r.signal(syscall.SIGSTOP) }, func() { r.signal(syscall.SIGCONT) }, 100 * time.Millisecond},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.begin()
			ended := false
			defer func() {
				if !ended {
					outage.end()
				}
			}()
			before := cache.s.failures.Load()
			ops := []struct {
				name string
				do   func() error
			}{
				{"Get", func() error { _, _, err := cache.Get(randomID(t)); return err }},
				{"Add", func() error { return cache.Add(randomID(t), time.Now().Add(time.Hour), goState(100)) }},
				{"Delete", func() error { return cache.Delete(randomID(t)) }},
				{"Status", func() error { return cache.Status(io.Discard, false) }},
				{"Clear", func() error { _, err := cache.Clear(); return err }},
			}
			for _, op := range ops {
				start := time.Now()
				err := op.do()
				took := time.Since(start)
				if err == nil || errors.Is(err, modtls.ErrCacheMiss) {
					t.Errorf("%s with Redis %s: err %v, want a Redis error", op.name, outage.name, err)
				}
				if took > bound || took < outage.minDuration {
					t.Errorf("%s with Redis %s took %v, want %v to %v", op.name, outage.name, took, outage.minDuration, bound)
				}
			}
			if got := cache.s.failures.Load() - before; got < uint64(len(ops)) {
				t.Errorf("%d failures counted for %d failed operations", got, len(ops))
			}

			start := time.Now()
			resumed, err := c.handshake(srv.addr)
			if err != nil {
				t.Fatalf("handshake with Redis %s: %v", outage.name, err)
			}
			if resumed {
				t.Error("handshake resumed with Redis down")
			}
			// Unwrap, and Wrap for the new tickets, each wait at most bound.
			if took := time.Since(start); took > 4*bound {
				t.Errorf("handshake with Redis %s took %v", outage.name, took)
			}

			outage.end()
			ended = true
			deadline := time.Now().Add(15 * time.Second)
			for {
				// A full handshake stores a session; the next one resumes it.
				_, err1 := c.handshake(srv.addr)
				resumed, err2 := c.handshake(srv.addr)
				if err1 == nil && err2 == nil && resumed {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no resumption 15s after Redis came back (%v, %v)", err1, err2)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

func TestConcurrentResumptions(t *testing.T) {
	r := startRedis(t)
	cert := selfSigned(t)
	srv := startTLSServer(t, r.addr(), cert)
	const n = 64
	clients := make([]*tlsClient, n)
	for i := range clients {
		clients[i] = newTLSClient(cert, versions[i%2].v)
		if _, err := clients[i].handshake(srv.addr); err != nil {
			t.Fatalf("client %d full handshake: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resumed, err := c.handshake(srv.addr)
			switch {
			case err != nil:
				errs <- fmt.Errorf("client %d: %w", i, err)
			case !resumed:
				errs <- fmt.Errorf("client %d: not resumed", i)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sc, _ := srv.engine.SessionCache()
	if st, err := sc.(*SessionCache).Stats(); err != nil || st.Hits != n {
		t.Errorf("cache_hits after %d resumptions: %+v, %v", n, st, err)
	}
}
