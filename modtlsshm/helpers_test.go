package modtlsshm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// testEnv returns an Env whose trace (tls.shmcache:1-20), server log and
// TLSLog are captured.
func testEnv(t testing.TB) (env modtls.Env, traces, log, tlslog *syncbuf.Buffer) {
	traces, log, tlslog = &syncbuf.Buffer{}, &syncbuf.Buffer{}, &syncbuf.Buffer{}
	tr := trace.New()
	if err := tr.SetLevels(TraceChannel, 1, 20); err != nil {
		t.Fatal(err)
	}
	tr.SetOutput(traces)
	mk := func(w *syncbuf.Buffer) *logrus.Logger {
		l := logrus.New()
		l.SetOutput(w)
		l.SetLevel(logrus.DebugLevel)
		l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableQuote: true})
		return l
	}
	return modtls.Env{Trace: tr, Log: mk(log), TLSLog: mk(tlslog)}, traces, log, tlslog
}

// cacheFile makes a cache file path in a fresh directory and removes, at
// cleanup, the segments (both kinds) of this test keyed on it, even if a
// test fails. A test may remove the file and let Open create it again,
// with another inode and so another key (TestSecuritySegmentIsPrivate
// does): the cleanup looks at the file as it is then, too.
func cacheFile(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sess_cache")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fid, err := statFileID(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		removeTestSegments(fid)
		if now, err := statFileID(path); err == nil && now != fid {
			removeTestSegments(now)
		}
	})
	return path
}

func statFileID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// removeTestSegments removes the segments at fid's keys that this test
// made: created by this process, or recording fid in their header (made
// by a helper process). A segment at a reused key that another process
// made for another file is left alone.
func removeTestSegments(fid fileID) {
	for _, k := range []*kindSpec{sessionKind, ocspKind} {
		id, err := unix.SysvShmGet(ftok(fid, k.proj), 0, 0)
		if err != nil {
			continue
		}
		if d, err := shmStat(id); err != nil || (int(d.Cpid) != os.Getpid() && !headerNames(id, fid)) {
			continue
		}
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	}
}

// headerNames reports whether segment id's header records the file fid.
func headerNames(id int, fid fileID) bool {
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return false
	}
	defer unix.SysvShmDetach(mem)
	if len(mem) < headerSize {
		return false
	}
	h := (*header)(unsafe.Pointer(&mem[0]))
	return h.Dev == fid.dev && h.Ino == fid.ino
}

func info(path string, size int) string {
	if size == 0 {
		return "/file=" + path
	}
	return fmt.Sprintf("/file=%s&size=%d", path, size)
}

// openSession opens a session cache on a fresh file with its own
// provider; it is closed at cleanup.
func openSession(t testing.TB, size int) (*SessionCache, string) {
	t.Helper()
	path := cacheFile(t)
	return openSessionAt(t, path, size), path
}

func openSessionAt(t testing.TB, path string, size int) *SessionCache {
	t.Helper()
	env, _, _, _ := testEnv(t)
	sc, err := NewSessionProvider().Open(info(path, size), 1800*time.Second, env)
	if err != nil {
		t.Fatalf("open session cache: %v", err)
	}
	s := sc.(*SessionCache)
	t.Cleanup(func() { s.Close() })
	return s
}

func openOCSP(t testing.TB, path string, size int) *OCSPCache {
	t.Helper()
	env, _, _, _ := testEnv(t)
	oc, err := NewOCSPProvider().Open(info(path, size), env)
	if err != nil {
		t.Fatalf("open OCSP cache: %v", err)
	}
	o := oc.(*OCSPCache)
	t.Cleanup(func() { o.Close() })
	return o
}

// clock is a settable time source for a cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func useClock(c *cache) *clock {
	ck := &clock{now: time.Unix(1_800_000_000, 0)}
	c.now = ck.Now
	return ck
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// tlsState builds bytes that modtls.DescribeSession reads as a TLS 1.3
// server session created at created, n bytes long (n >= 57).
func tlsState(created time.Time, n int, fill byte) []byte {
	b := make([]byte, n)
	b[0], b[1] = 0x03, 0x04 // TLS 1.3
	b[2] = 1                // server
	b[3], b[4] = 0x13, 0x01
	u := uint64(created.Unix())
	for i := 0; i < 8; i++ {
		b[5+i] = byte(u >> (56 - 8*i))
	}
	b[13] = 32 // secret length
	for i := 14; i < 46; i++ {
		b[i] = fill
	}
	// extra<0..2^24-1>: empty; the rest is filler.
	for i := 49; i < n; i++ {
		b[i] = fill
	}
	return b
}

// checkInvariants walks the log and the index and checks that they agree.
func checkInvariants(t testing.TB, tb *table) {
	t.Helper()
	if tb.h.Lock.Load() != 0 {
		t.Fatalf("lock word left set: %#x", tb.h.Lock.Load())
	}
	if tb.h.Seq.Load()&1 != 0 {
		t.Fatalf("seq left odd")
	}
	D := tb.g.dataSize
	if tb.h.Tail < tb.h.Head || tb.h.Tail-tb.h.Head > D {
		t.Fatalf("head %d tail %d data %d", tb.h.Head, tb.h.Tail, D)
	}
	live, liveBytes := uint64(0), uint64(0)
	recs := map[uint64]record{}
	end := tb.skipGap(tb.h.Head, tb.h.Tail)
	for lr := range tb.records(tb.h.Head, tb.h.Tail) {
		if lr.rec.live() {
			live++
			liveBytes += uint64(lr.rec.Size)
			recs[lr.off] = lr.rec
		}
		end = lr.end
	}
	if end != tb.h.Tail {
		t.Fatalf("the walk of the log stopped at %d, before the tail %d: a bad record", end, tb.h.Tail)
	}
	used := 0
	for i, s := range tb.slots {
		if s.Tag == 0 {
			continue
		}
		used++
		off := uint64(s.Off) * 8
		r, ok := recs[off]
		if !ok {
			t.Fatalf("slot %d points at %d, not a live record", i, off)
		}
		k := tb.data[off+recHdrSize : off+recHdrSize+uint64(r.KeyLen)]
		h := hashKey(tb.seed, k)
		if (tb.bucketOf(h) != i/bucketWays && tb.bucket2Of(h) != i/bucketWays) || tagOf(h) != s.Tag {
			t.Fatalf("slot %d in the wrong bucket", i)
		}
	}
	if uint64(used) != live || tb.h.Live != live || tb.h.LiveBytes != liveBytes {
		t.Fatalf("index %d slots, log %d live (%d bytes), header says %d (%d bytes)",
			used, live, liveBytes, tb.h.Live, tb.h.LiveBytes)
	}
}

// traceWatch sends env's trace to buf and to a watcher, and returns a
// channel that is closed when a trace line containing s is written: a
// test waits for that event rather than polling the buffer.
func traceWatch(env modtls.Env, buf *syncbuf.Buffer, s string) <-chan struct{} {
	w := &lineWatch{want: s, seen: make(chan struct{})}
	env.Trace.SetOutput(io.MultiWriter(buf, w))
	return w.seen
}

type lineWatch struct {
	want string
	once sync.Once
	seen chan struct{}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func mustErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, line) {
			return true
		}
	}
	return false
}

var _ = unsafe.Sizeof(0)
