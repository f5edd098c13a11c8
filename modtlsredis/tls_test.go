package modtlsredis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// tlsServer is a TLS server on 127.0.0.1 whose sessions go through modtls
// with the redis provider, configured as a proftpd.conf would.
type tlsServer struct {
	engine *modtls.TLS
	addr   string
}

// startTLSServer starts a server whose cache talks to redisAddr with the
// RedisTimeouts line's timeouts ("5000 5000" unless an outage test wants
// them short).
func startTLSServer(t *testing.T, redisAddr string, cert *testpki.Cert, timeouts ...string) *tlsServer {
	t.Helper()
	if len(timeouts) == 0 {
		timeouts = []string{"5000", "5000"}
	}
	cfg, err := parse(t,
		"LoadModule mod_tls.c",
		"LoadModule mod_tls_redis.c",
		"TLSEngine on",
		"TLSProtocol TLSv1.2 TLSv1.3",
		"RedisServer "+redisAddr,
		"RedisTimeouts "+strings.Join(timeouts, " "),
		"TLSSessionCache redis: 1800",
	)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := modtls.Open(cfg, modtls.Env{}, modtls.WithCertificates(nil, cert.TLS))
	if err != nil {
		t.Fatalf("modtls.Open: %v", err)
	}
	t.Cleanup(func() { engine.Close() })
	if _, name := engine.SessionCache(); name != ProviderName {
		t.Fatalf("session cache %q, want %q (did the redis provider fail to open?)", name, ProviderName)
	}
	conf := engine.TLSConfig(nil)
	addr := testpeers.Serve(t, time.Minute, func(c net.Conn) {
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

func newTLSClient(cert *testpki.Cert, version uint16) *tlsClient {
	return &tlsClient{conf: &tls.Config{
		RootCAs: cert.Roots(), ServerName: "localhost",
		MinVersion: version, MaxVersion: version,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}}
}

// handshake connects, reads the server's byte, and reports whether the
// session was resumed. The time limits only end a hung test.
func (c *tlsClient) handshake(addr string) (bool, error) {
	d := &net.Dialer{Timeout: time.Minute}
	conn, err := tls.DialWithDialer(d, "tcp", addr, c.conf)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
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
	cert := testpki.SelfSigned(testpki.ECDSA)
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
// operations fail, for the reason the outage gives (a refused connection,
// or the operation's deadline when Redis is frozen), and are counted;
// handshakes still complete (in full), and once Redis is back sessions
// resume again without a restart.
func TestHandshakeDuringOutage(t *testing.T) {
	r := startRedis(t)
	cert := testpki.SelfSigned(testpki.ECDSA)
	srv := startTLSServer(t, r.addr(), cert, "200", "200")
	sc, _ := srv.engine.SessionCache()
	cache := sc.(*SessionCache)

	c := newTLSClient(cert, tls.VersionTLS13)
	if _, err := c.handshake(srv.addr); err != nil {
		t.Fatal(err)
	}
	if resumed, err := c.handshake(srv.addr); err != nil || !resumed {
		t.Fatalf("resumption before the outage: %v, %v", resumed, err)
	}

	for _, outage := range []struct {
		name       string
		begin, end func()
		// cause tells whether err is what this outage makes operations
		// fail with.
		cause func(err error) bool
	}{
		{"stopped", r.stop, r.restart, func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		// A frozen Redis accepts connections but never answers: only the
		// operation's deadline (Options.Timeout, from RedisTimeouts) ends
		// an operation.
		{"frozen", func() { r.signal(syscall.SIGSTOP) }, func() { r.signal(syscall.SIGCONT) }, isTimeout},
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
				err := op.do()
				if err == nil || errors.Is(err, modtls.ErrCacheMiss) {
					t.Errorf("%s with Redis %s: err %v, want a Redis error", op.name, outage.name, err)
				} else if !outage.cause(err) {
					t.Errorf("%s with Redis %s: %v, not the error the outage causes", op.name, outage.name, err)
				}
			}
			if got := cache.s.failures.Load() - before; got < uint64(len(ops)) {
				t.Errorf("%d failures counted for %d failed operations", got, len(ops))
			}

			resumed, err := c.handshake(srv.addr)
			if err != nil {
				t.Fatalf("handshake with Redis %s: %v", outage.name, err)
			}
			if resumed {
				t.Error("handshake resumed with Redis down")
			}

			outage.end()
			ended = true
			waitFor(t, "a resumption after Redis came back", time.Minute, func() bool {
				// A full handshake stores a session; the next one resumes it.
				_, err1 := c.handshake(srv.addr)
				resumed, err2 := c.handshake(srv.addr)
				return err1 == nil && err2 == nil && resumed
			})
		})
	}
}

// isTimeout reports whether err is a deadline that ended an operation:
// the operation's context, or a socket deadline derived from it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// TestOperationTimeoutBoundsFrozenRedis proves that the operation's
// deadline, not some other limit, ends an operation on a frozen Redis:
// the same Get ends with a timeout under the configured deadline and
// still waits when the deadline is far away, until Redis thaws.
func TestOperationTimeoutBoundsFrozenRedis(t *testing.T) {
	r := startRedis(t)
	short := serverSettings(r.addr())
	short.ConnectTimeout, short.IOTimeout = 100*time.Millisecond, 100*time.Millisecond
	fast := openSessions(t, short)
	long := serverSettings(r.addr())
	long.ConnectTimeout, long.IOTimeout = 30*time.Second, 30*time.Second
	slow := openSessions(t, long)
	if slow.s.timeout != 90*time.Second {
		t.Fatalf("operation deadline %v, want 30s + 2*30s", slow.s.timeout)
	}
	// Connections exist before the freeze, so that neither waits on a dial.
	for _, c := range []*SessionCache{fast, slow} {
		if _, _, err := c.Get(randomID(t)); !errors.Is(err, modtls.ErrCacheMiss) {
			t.Fatal(err)
		}
	}
	r.signal(syscall.SIGSTOP)
	thawed := false
	defer func() {
		if !thawed {
			r.signal(syscall.SIGCONT)
		}
	}()
	if _, _, err := fast.Get(randomID(t)); !isTimeout(err) {
		t.Fatalf("Get with a %v deadline on a frozen Redis: %v, want a timeout", fast.s.timeout, err)
	}
	// The slow cache's Get is still waiting when the fast one has given
	// up; it succeeds once Redis answers again.
	done := make(chan error, 1)
	go func() { _, _, err := slow.Get(randomID(t)); done <- err }()
	if _, _, err := fast.Get(randomID(t)); !isTimeout(err) {
		t.Fatalf("second Get with a short deadline: %v, want a timeout", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Get with a 90s deadline on a frozen Redis returned (%v) before a 300ms one timed out", err)
	default:
	}
	r.signal(syscall.SIGCONT)
	thawed = true
	if err := <-done; !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("the waiting Get after Redis thawed: %v, want a plain miss", err)
	}
}

func TestConcurrentResumptions(t *testing.T) {
	r := startRedis(t)
	cert := testpki.SelfSigned(testpki.ECDSA)
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
