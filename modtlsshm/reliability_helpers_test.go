package modtlsshm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The reliability tests run a short version by default, a few
// seconds each, and a long one when FTPDTLS_LONG=1; docs/RELIABILITY.md
// gives the command for each and the figures measured.

const longEnv = "FTPDTLS_LONG"

func longRun() bool { return os.Getenv(longEnv) == "1" }

// pick returns short or long depending on FTPDTLS_LONG.
func pick[T any](short, long T) T {
	if longRun() {
		return long
	}
	return short
}

// ---- self-verifying values ----

// A value written by the reliability tests carries its own proof:
//
//	0   8  writer id (process index << 32 | version)
//	8   n  filler derived from the key and the writer id
//	8+n 32 SHA-256 of key || bytes 0..8+n
//
// so a reader that knows only the key can tell a value that was added
// for that key, in one piece, from anything else (a torn write, another
// key's value, stale bytes).
const digestLen = sha256.Size

func selfValue(key []byte, writer uint64, size int) []byte {
	if size < 8+digestLen {
		size = 8 + digestLen
	}
	v := make([]byte, size)
	binary.LittleEndian.PutUint64(v, writer)
	seed := sha256.Sum256(append(append([]byte(nil), key...), v[:8]...))
	body := v[8 : size-digestLen]
	for i := range body {
		body[i] = seed[i%len(seed)] ^ byte(i>>5)
	}
	d := valueDigest(key, v[:size-digestLen])
	copy(v[size-digestLen:], d[:])
	return v
}

func valueDigest(key, content []byte) [digestLen]byte {
	h := sha256.New()
	h.Write(key)
	h.Write(content)
	var d [digestLen]byte
	h.Sum(d[:0])
	return d
}

// verifyValue reports whether v is a whole value added for key, and its
// writer id.
func verifyValue(key, v []byte) (writer uint64, ok bool) {
	if len(v) < 8+digestLen {
		return 0, false
	}
	d := valueDigest(key, v[:len(v)-digestLen])
	if string(d[:]) != string(v[len(v)-digestLen:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v), true
}

// ---- child processes ----

// The reliability tests re-execute the test binary with
// -test.run=^TestReliabilityChild$ and FTPDTLS_REL_CHILD naming the role;
// a child prints "ready" when it has opened the cache and, at the end, one
// "result {json}" line.
const relChildEnv = "FTPDTLS_REL_CHILD"

// childReport is what a child prints at the end.
type childReport struct {
	Adds, Gets, Deletes, Clears int
	Hits, Misses                int
	Cleared                     int // entries removed by its clears
	Corrupt                     int // values that fail verification
	Stale                       int // own key: not the version last written
	Errors                      int // calls that returned an unexpected error
	FirstProblem                string
}

func (r *childReport) problem(format string, args ...any) {
	if r.FirstProblem == "" {
		r.FirstProblem = fmt.Sprintf(format, args...)
	}
}

func (r *childReport) ops() int { return r.Adds + r.Gets + r.Deletes + r.Clears }

func (r *childReport) add(o childReport) {
	r.Adds += o.Adds
	r.Gets += o.Gets
	r.Deletes += o.Deletes
	r.Clears += o.Clears
	r.Hits += o.Hits
	r.Misses += o.Misses
	r.Cleared += o.Cleared
	r.Corrupt += o.Corrupt
	r.Stale += o.Stale
	r.Errors += o.Errors
	if r.FirstProblem == "" {
		r.FirstProblem = o.FirstProblem
	}
}

func TestReliabilityChild(t *testing.T) {
	role := os.Getenv(relChildEnv)
	if role == "" {
		t.Skip("helper process for the reliability tests")
	}
	var rep childReport
	switch role {
	case "stress":
		rep = childStress()
	case "writer":
		rep = childWriter()
	case "reader":
		rep = childReader()
	default:
		fmt.Println("unknown role", role)
		os.Exit(2)
	}
	b, _ := json.Marshal(rep)
	fmt.Printf("result %s\n", b)
	os.Exit(0)
}

// child is a started helper process.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	cancel context.CancelFunc
}

// startChild starts a helper in role with the extra environment; it is
// killed and reaped at cleanup, whatever happens.
func startChild(t *testing.T, role string, index int, env ...string) *child {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReliabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), relChildEnv+"="+role, "FTPDTLS_REL_INDEX="+strconv.Itoa(index))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewReader(stdout), cancel: cancel}
	t.Cleanup(c.kill)
	return c
}

// kill kills and reaps the child (idempotent).
func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	c.cancel()
}

// waitLine reads lines until one starts with prefix, within d.
func (c *child) waitLine(prefix string, d time.Duration) (string, error) {
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			line, err := c.out.ReadString('\n')
			if strings.HasPrefix(line, prefix) {
				ch <- res{strings.TrimSpace(line), nil}
				return
			}
			if err != nil {
				ch <- res{"", fmt.Errorf("child output ended before %q: %v (last %q)", prefix, err, line)}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(d):
		return "", fmt.Errorf("no %q from child within %v", prefix, d)
	}
}

// result waits for the child's report and its exit.
func (c *child) result(d time.Duration) (childReport, error) {
	var rep childReport
	line, err := c.waitLine("result ", d)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "result ")), &rep); err != nil {
		return rep, fmt.Errorf("child report %q: %v", line, err)
	}
	io.Copy(io.Discard, c.out)
	if err := c.cmd.Wait(); err != nil {
		return rep, fmt.Errorf("child: %v", err)
	}
	return rep, nil
}

func childIndex() int {
	n, _ := strconv.Atoi(os.Getenv("FTPDTLS_REL_INDEX"))
	return n
}

func envDuration(name string) time.Duration {
	d, err := time.ParseDuration(os.Getenv(name))
	if err != nil {
		return time.Second
	}
	return d
}

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// openChildCache opens the session cache named by FTPDTLS_REL_INFO for a
// helper process, exiting on failure.
func openChildCache() *SessionCache {
	sc, err := NewSessionProvider().Open(os.Getenv("FTPDTLS_REL_INFO"), time.Hour, quietEnv())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	return sc.(*SessionCache)
}

// ---- raw segment access ----

// rawSegment attaches, read-write, the segment of kind k keyed on path's
// file, as another program would (shmget by key, shmat); it is detached
// at cleanup.
func rawSegment(t testing.TB, path string, k *kindSpec) (mem []byte, id int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	id, err := unix.SysvShmGet(ftok(fileID{uint64(st.Dev), st.Ino}, k.proj), 0, 0)
	if err != nil {
		t.Fatalf("shmget by key: %v", err)
	}
	mem, err = unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatalf("shmat: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmDetach(mem) })
	return mem, id
}

func rawHeader(mem []byte) *header { return (*header)(unsafe.Pointer(&mem[0])) }

// rawStripe is the counter stripe the process pid counts in.
func rawStripe(mem []byte, pid int) *stripe {
	h := rawHeader(mem)
	return (*stripe)(unsafe.Pointer(&mem[h.StripeOff+uint64(pid)%uint64(h.Stripes)*stripeSize]))
}

// within runs f and fails the test if it panics or does not return
// within d: the guard against a hung call into a cache under attack (d is
// far above any time a call takes, even on a loaded machine).
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("%s panicked: %v", what, p)
		}
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// newRand returns a generator seeded from the clock, logging the seed so
// that a failure can be replayed with FTPDTLS_SEED.
func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FTPDTLS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("random seed %d (replay with FTPDTLS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// quietEnv is an Env that reports nothing.
func quietEnv() modtls.Env { return modtls.Env{} }
