package modtlsredis

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/modtls"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the outage tests make many.
	redis.SetLogger(quietLogger{})
	stop, err := startExampleRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// exampleNeedsRedis matches the examples that talk to a Redis.
const exampleNeedsRedis = "^Example(NewSessionCache|NewOCSPCache|OpenSessionCache)$"

// startExampleRedis starts the redis-server the examples use (their
// redisAddr) and returns how to stop it. Without redis-server those
// examples are skipped, or the run fails under FTPDTLS_REQUIRE_PEERS=1.
func startExampleRedis() (stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr == nil {
			bin, err = "/usr/bin/redis-server", nil
		}
	}
	if err != nil {
		if testpeers.Required() {
			return nil, errors.New("redis-server is not installed, and FTPDTLS_REQUIRE_PEERS=1 requires it (install it: see .ci/run)")
		}
		fmt.Fprintln(os.Stderr, "skipping the examples that need Redis: redis-server is not installed (set FTPDTLS_REQUIRE_PEERS=1 to make this a failure)")
		flag.Parse()
		skip := exampleNeedsRedis
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		return func() {}, flag.Set("test.skip", skip)
	}
	dir, err := os.MkdirTemp("", "modtlsredis-example-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(30 * time.Second); pingRaw(addr) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			stop()
			return nil, fmt.Errorf("the examples' redis-server on %s did not answer PING within 30s; log:\n%s", addr, log)
		}
	}
	os.Setenv("MODTLSREDIS_EXAMPLE_REDIS", addr)
	return stop, nil
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// redisProc is a redis-server (or redis-sentinel) started by a test on
// 127.0.0.1, without persistence, in a temporary directory; it is killed
// when the test ends.
type redisProc struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts a redis-server with extra arguments.
func startRedis(t testing.TB, extra ...string) *redisProc {
	t.Helper()
	r := &redisProc{t: t, bin: testpeers.Need(t, "redis-server", "/usr/bin/redis-server"), dir: t.TempDir(), port: freePort(t), args: extra}
	t.Cleanup(r.stop)
	r.start()
	return r
}

func (r *redisProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

func (r *redisProc) start() {
	r.t.Helper()
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log"),
	}
	r.startWith(append(args, r.args...))
}

func (r *redisProc) startWith(args []string) {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", r.bin, err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pingRaw(r.addr()) == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("%s on port %d did not answer PING within 30s; log:\n%s", r.bin, r.port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server; restart starts it again on the same port.
func (r *redisProc) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT) // in case a test froze it
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisProc) restart() { r.t.Helper(); r.start() }

func (r *redisProc) signal(sig syscall.Signal) {
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// pingRaw sends one inline PING without any client library.
func pingRaw(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// admin returns a plain client for inspecting the server.
func (r *redisProc) admin() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr(), Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// serverSettings returns Settings for one server, with timeouts generous
// enough that no operation of a working Redis times out on a loaded
// machine; the outage tests shorten them.
func serverSettings(addr string) *Settings {
	s := DefaultSettings()
	s.Servers = []Endpoint{{Network: "tcp", Addr: addr}}
	s.ConnectTimeout, s.IOTimeout = 5*time.Second, 5*time.Second
	return s
}

func openSessions(t testing.TB, s *Settings) *SessionCache {
	t.Helper()
	c, err := OpenSessionCache(s, "", modtls.Env{})
	if err != nil {
		t.Fatalf("OpenSessionCache: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openOCSP(t testing.TB, s *Settings) *OCSPCache {
	t.Helper()
	c, err := OpenOCSPCache(s, "", modtls.Env{})
	if err != nil {
		t.Fatalf("OpenOCSPCache: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bg() context.Context { return context.Background() }
