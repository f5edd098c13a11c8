package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The limits tests:
//
//	go test ./modtlsshm/ -run 'TestLimits' -v

// TestLimitsCountersDoNotWrap sets each counter next to its maximum
// through a raw attachment (hits and misses: in this process's stripe)
// and makes it count on: it stays at the maximum instead of wrapping to a
// small number, and the status prints the full 64-bit value. For hits
// and misses another process's stripe is also set near the maximum: the
// sum of the stripes stops at the maximum too.
func TestLimitsCountersDoNotWrap(t *testing.T) {
	header := func(stat int) func([]byte) *atomic.Uint64 {
		return func(raw []byte) *atomic.Uint64 { return &rawHeader(raw).Stats[stat] }
	}
	cases := []struct {
		name    string
		counter func(raw []byte) *atomic.Uint64
		other   func(raw []byte) *atomic.Uint64 // another process's stripe, or nil
		line    string
		bump    func(t *testing.T, s *SessionCache, id []byte)
	}{
		{"hits", func(raw []byte) *atomic.Uint64 { return &rawStripe(raw, os.Getpid()).Hits },
			func(raw []byte) *atomic.Uint64 { return &rawStripe(raw, os.Getpid()+1).Hits },
			"Cache lifetime hits: ", func(t *testing.T, s *SessionCache, id []byte) { s.Get(id) }},
		{"misses", func(raw []byte) *atomic.Uint64 { return &rawStripe(raw, os.Getpid()).Misses },
			func(raw []byte) *atomic.Uint64 { return &rawStripe(raw, os.Getpid()+1).Misses },
			"Cache lifetime misses: ", func(t *testing.T, s *SessionCache, _ []byte) { s.Get(randBytes(t, 32)) }},
		{"stored", header(statStored), nil, "Cache lifetime sessions stored: ", func(t *testing.T, s *SessionCache, _ []byte) {
			s.Add(randBytes(t, 32), time.Now().Add(time.Hour), []byte("x"))
		}},
		{"replaced", header(statReplaced), nil, "Cache lifetime sessions replaced: ", func(t *testing.T, s *SessionCache, id []byte) {
			s.Add(id, time.Now().Add(time.Hour), []byte("y"))
		}},
		{"exceeded", header(statExceeded), nil, "Cache lifetime sessions exceeding max entry size: ", func(t *testing.T, s *SessionCache, _ []byte) {
			s.Add(randBytes(t, 32), time.Now().Add(time.Hour), make([]byte, 10241))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openSession(t, 0)
			raw, _ := rawSegment(t, path, sessionKind)
			id := randBytes(t, 32)
			s.Add(id, time.Now().Add(time.Hour), []byte("state"))
			c := tc.counter(raw)
			c.Store(math.MaxUint64 - 1)
			if tc.other != nil {
				if o := tc.other(raw); o != c {
					o.Store(math.MaxUint64 - 1)
				}
			}
			for i := 0; i < 3; i++ {
				tc.bump(t, s, id)
				if v := c.Load(); v < math.MaxUint64-1 {
					t.Fatalf("after %d more: counter wrapped to %d", i+1, v)
				}
			}
			var out bytes.Buffer
			s.Status(&out, false)
			if !hasLine(out.String(), tc.line+strconv.FormatUint(math.MaxUint64, 10)) {
				t.Fatalf("status does not show %q%d:\n%s", tc.line, uint64(math.MaxUint64), out.String())
			}
		})
	}
}

// TestLimitsLiveCountCannotUnderflow damages the header's count of live
// entries (as a stray write could) and deletes: the count must not wrap
// to 2^64-1 ("Current session cache size: 18446744073709551615"); it
// stays within the index and agrees with the log after the next write.
func TestLimitsLiveCountCannotUnderflow(t *testing.T) {
	for _, field := range []string{"Live", "LiveBytes"} {
		t.Run(field, func(t *testing.T) {
			s, path := openSession(t, 0)
			raw, _ := rawSegment(t, path, sessionKind)
			a, b := randBytes(t, 32), randBytes(t, 32)
			s.Add(a, time.Now().Add(time.Hour), []byte("a"))
			s.Add(b, time.Now().Add(time.Hour), []byte("b"))
			h := rawHeader(raw)
			if field == "Live" {
				h.Live = 0
			} else {
				h.LiveBytes = 0
			}
			if err := s.Delete(a); err != nil {
				t.Fatal(err)
			}
			st, _ := s.SegmentStats()
			var out bytes.Buffer
			s.Status(&out, false)
			t.Logf("after the damage and a delete: current %d, used bytes %d", st.Current, st.UsedBytes)
			if st.Current > st.IndexSlots || h.LiveBytes > s.c.t.g.dataSize {
				t.Fatalf("live count wrapped: current %d of %d slots, live bytes %d of %d:\n%s",
					st.Current, st.IndexSlots, h.LiveBytes, s.c.t.g.dataSize, out.String())
			}
			s.Add(randBytes(t, 32), time.Now().Add(time.Hour), []byte("c"))
			checkInvariants(t, s.c.t)
		})
	}
}

// TestLimitsOversizeEntries: a session over 10 KiB or an OCSP response
// over 4 KiB goes to the per-process list, is counted (with the largest
// size) in the header and shown by the status; the largest that fit go
// to the segment.
func TestLimitsOversizeEntries(t *testing.T) {
	cases := []struct {
		name     string
		kind     *kindSpec
		size     int
		oversize bool
	}{
		{"session of 10240 bytes", sessionKind, 10240, false},
		{"session of 10241 bytes", sessionKind, 10241, true},
		{"session of 64 KiB", sessionKind, 65536, true},
		{"OCSP response of 4096 bytes", ocspKind, 4096, false},
		{"OCSP response of 4097 bytes", ocspKind, 4097, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			env, _, _, tlslog := testEnv(t)
			val := selfValue([]byte("k"), 1, tc.size)
			var (
				add    func() error
				get    func() ([]byte, error)
				status func(*bytes.Buffer) error
				stats  func() (Stats, error)
				noun   = "session"
			)
			if tc.kind == sessionKind {
				sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
				if err != nil {
					t.Fatal(err)
				}
				s := sc.(*SessionCache)
				t.Cleanup(func() { s.Close() })
				id := bytes.Repeat([]byte("k"), 32)
				add = func() error { return s.Add(id, time.Now().Add(time.Hour), val) }
				get = func() ([]byte, error) { v, _, err := s.Get(id); return v, err }
				status = func(b *bytes.Buffer) error { return s.Status(b, false) }
				stats = s.SegmentStats
			} else {
				noun = "response"
				oc, err := NewOCSPProvider().Open(info(path, 0), env)
				if err != nil {
					t.Fatal(err)
				}
				o := oc.(*OCSPCache)
				t.Cleanup(func() { o.Close() })
				fp := strings.Repeat("ab", 20)
				add = func() error { return o.Add(fp, val, time.Now()) }
				get = func() ([]byte, error) { v, _, err := o.Get(fp); return v, err }
				status = func(b *bytes.Buffer) error { return o.Status(b, false) }
				stats = o.SegmentStats
			}
			if err := add(); err != nil {
				t.Fatal(err)
			}
			if v, err := get(); err != nil || !bytes.Equal(v, val) {
				t.Fatalf("get: %v", err)
			}
			st, _ := stats()
			var out bytes.Buffer
			status(&out)
			if !tc.oversize {
				if st.Current != 1 || st.Exceeded != 0 {
					t.Fatalf("stats %+v", st)
				}
				return
			}
			if st.Current != 0 || st.Exceeded != 1 || st.ExceededMax != uint64(tc.size) || st.Oversize != 1 {
				t.Fatalf("stats %+v", st)
			}
			for _, line := range []string{
				fmt.Sprintf("Cache lifetime %ss exceeding max entry size: 1", noun),
				fmt.Sprintf("  Largest %s exceeding max entry size: %d", noun, tc.size),
			} {
				if !hasLine(out.String(), line) {
					t.Fatalf("status lacks %q:\n%s", line, out.String())
				}
			}
			if !strings.Contains(tlslog.String(), "exceeds maximum size") {
				t.Fatalf("TLSLog: %q", tlslog.String())
			}
		})
	}
}

// TestLimitsMinimumSegment: a segment of the minimum size (ProFTPD's
// 10,344 / 4,224 bytes, rounded up to pages) holds the largest entry,
// evicts it for the next one and stays consistent; one byte less is
// ignored with ProFTPD's message and the default size used.
func TestLimitsMinimumSegment(t *testing.T) {
	for _, k := range []*kindSpec{sessionKind, ocspKind} {
		t.Run(k.what, func(t *testing.T) {
			path := cacheFile(t)
			env, traces, _, _ := testEnv(t)
			c, err := open(newProvider(k), info(path, int(k.minRequest)), time.Hour, env)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.close() })
			if d, _ := shmStat(c.shmid); d.Segsz != roundSize(k.minRequest) {
				t.Fatalf("segment of %d bytes, want %d", d.Segsz, roundSize(k.minRequest))
			}
			var keys [][]byte
			for i := 0; i < 5; i++ {
				key := []byte(fmt.Sprintf("min-%027d", i))
				keys = append(keys, key)
				val := selfValue(key, uint64(i), k.maxData)
				if err := c.put(key, val, time.Now().Add(time.Hour).Unix()); err != nil {
					t.Fatal(err)
				}
				if v, _, err := c.fetch(key); err != nil || !bytes.Equal(v, val) {
					t.Fatalf("entry %d: %v", i, err)
				}
			}
			if _, _, err := c.fetch(keys[0]); !errors.Is(err, modtls.ErrCacheMiss) {
				t.Fatalf("the first entry survived four more of the largest size: %v", err)
			}
			st, _ := c.segmentStats()
			t.Logf("%d-byte %s segment: %d index slots, %d data bytes, %d evicted of 5 largest entries",
				roundSize(k.minRequest), k.what, st.IndexSlots, st.DataBytes, st.Evicted)
			if st.Current != 1 || st.Evicted != 4 || st.Exceeded != 0 {
				t.Fatalf("stats %+v", st)
			}
			checkInvariants(t, c.t)
			c.close()

			// One byte less: ignored, default size.
			path2 := cacheFile(t)
			c2, err := open(newProvider(k), info(path2, int(k.minRequest-1)), time.Hour, env)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c2.close() })
			if d, _ := shmStat(c2.shmid); d.Segsz != roundSize(DefaultSize) {
				t.Fatalf("segment of %d bytes, want the default", d.Segsz)
			}
			want := fmt.Sprintf("requested size (%d bytes) smaller than minimum size (%d bytes), ignoring", k.minRequest-1, k.minRequest)
			if !strings.Contains(traces.String(), want) {
				t.Fatalf("trace lacks %q", want)
			}
		})
	}
}

// TestLimitsHugeSegments: a 4 GiB request is served (SysV pages are only
// allocated when touched; the test checks that using it touches little)
// and removed cleanly; requests over the 32 GiB the layout can address
// are refused with ProFTPD's "not enough memory" message.
func TestLimitsHugeSegments(t *testing.T) {
	max := readUint(t, "/proc/sys/kernel/shmmax")
	all := readUint(t, "/proc/sys/kernel/shmall") // pages
	t.Logf("shmmax %d, shmall %d pages", max, all)
	t.Run("4 GiB", func(t *testing.T) {
		const size = 4 << 30
		if max < size || all < size/4096 {
			t.Skipf("the kernel allows no 4 GiB segment (shmmax %d)", max)
		}
		path := cacheFile(t)
		s := openSessionAt(t, path, size)
		d, _ := shmStat(s.c.shmid)
		if d.Segsz != size {
			t.Fatalf("segment of %d bytes", d.Segsz)
		}
		for i := 0; i < 1000; i++ {
			key := []byte(fmt.Sprintf("huge-%026d", i))
			if err := s.Add(key, time.Now().Add(time.Hour), selfValue(key, 1, 200)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 1000; i += 97 {
			key := []byte(fmt.Sprintf("huge-%026d", i))
			if v, _, err := s.Get(key); err != nil || !bytes.Equal(v, selfValue(key, 1, 200)) {
				t.Fatalf("get %d: %v", i, err)
			}
		}
		var out bytes.Buffer
		s.Status(&out, false)
		if !hasLine(out.String(), fmt.Sprintf("Shared memory segment size: %d bytes", size)) {
			t.Fatalf("status:\n%s", out.String())
		}
		rss := shmRSS(t, s.c.shmid)
		st, _ := s.SegmentStats()
		t.Logf("4 GiB segment: %d index slots, capacity %d sessions; 1000 sessions stored; resident %d KiB", st.IndexSlots, st.Capacity, rss>>10)
		if rss > 64<<20 {
			t.Fatalf("1000 sessions made %d MiB of a 4 GiB segment resident", rss>>20)
		}
		id := s.c.shmid
		s.Close()
		if err := RemoveSessionCache(info(path, size)); err != nil {
			t.Fatal(err)
		}
		if _, err := shmStat(id); err == nil {
			t.Fatal("segment still there after remove")
		}
	})
	for _, size := range []int64{maxSegment + 4096, 1 << 40, math.MaxInt64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			path := cacheFile(t)
			env, traces, _, _ := testEnv(t)
			c, err := NewSessionProvider().Open(fmt.Sprintf("/file=%s&size=%d", path, size), time.Hour, env)
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, unix.ENOMEM) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("error %v, want ENOMEM and EINVAL", err)
			}
			if !strings.Contains(traces.String(), fmt.Sprintf("not enough memory for %d shm bytes; try specifying a smaller size", size)) {
				t.Fatalf("trace:\n%s", traces)
			}
		})
	}
}

func readUint(t *testing.T, path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// shmRSS reads a segment's resident bytes from /proc/sysvipc/shm.
func shmRSS(t *testing.T, id int) uint64 {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Skip(err)
	}
	lines := strings.Split(string(b), "\n")
	head := strings.Fields(lines[0])
	col := -1
	for i, f := range head {
		if f == "rss" {
			col = i
		}
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if col >= 0 && len(f) > col && f[1] == strconv.Itoa(id) {
			n, _ := strconv.ParseUint(f[col], 10, 64)
			return n
		}
	}
	t.Fatalf("shm ID %d not in /proc/sysvipc/shm", id)
	return 0
}
