package modtlsshm

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// BenchmarkLockOptions measures an uncontended and a parallel lock/unlock
// pair for each way the segment could be locked; the lock word won (see
// lock.go).
func BenchmarkLockOptions(b *testing.B) {
	s, path := openQuiet(b, 0)
	tb := s.c.t
	openFd := func(b *testing.B) int {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		return fd
	}
	lockFcntl := func(b *testing.B, fd, cmd int) {
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
		if err := unix.FcntlFlock(uintptr(fd), cmd, &lk); err != nil {
			b.Fatal(err)
		}
		lk.Type = unix.F_UNLCK
		if err := unix.FcntlFlock(uintptr(fd), cmd, &lk); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	kinds := []struct {
		name string
		// pair returns a function doing one lock/unlock pair; each
		// parallel goroutine gets its own (its own fd: flock and OFD locks
		// belong to the open file description).
		pair func(b *testing.B) (func(), func())
	}{
		{"lockword", func(b *testing.B) (func(), func()) {
			return func() {
				if _, err := tb.lock(); err != nil {
					b.Fatal(err)
				}
				tb.unlock()
			}, func() {}
		}},
		{"ofd-fcntl", func(b *testing.B) (func(), func()) {
			fd := openFd(b)
			return func() { lockFcntl(b, fd, unix.F_OFD_SETLKW) }, func() { unix.Close(fd) }
		}},
		{"flock", func(b *testing.B) (func(), func()) {
			fd := openFd(b)
			return func() {
				unix.Flock(fd, unix.LOCK_EX)
				unix.Flock(fd, unix.LOCK_UN)
			}, func() { unix.Close(fd) }
		}},
		{"posix-fcntl-no-goroutine-exclusion", func(b *testing.B) (func(), func()) {
			fd := openFd(b)
			return func() { lockFcntl(b, fd, unix.F_SETLKW) }, func() { unix.Close(fd) }
		}},
		{"sync.Mutex-in-process-only", func(b *testing.B) (func(), func()) {
			return func() { mu.Lock(); mu.Unlock() }, func() {}
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			pair, done := k.pair(b)
			defer done()
			b.ReportAllocs()
			for b.Loop() {
				pair()
			}
		})
		b.Run(k.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				pair, done := k.pair(b)
				defer done()
				for pb.Next() {
					pair()
				}
			})
		})
	}
}

// openQuiet opens a session cache with no trace, log or TLSLog.
func openQuiet(b *testing.B, size int) (*SessionCache, string) {
	path := cacheFile(b)
	sc, err := NewSessionProvider().Open(info(path, size), 1800*time.Second, modtls.Env{})
	if err != nil {
		b.Fatal(err)
	}
	s := sc.(*SessionCache)
	b.Cleanup(func() { s.Close() })
	return s, path
}

func benchID(i int) []byte {
	id := make([]byte, 32)
	binary.LittleEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(id[8:], uint64(i))
	return id
}

// BenchmarkCache measures get (hit and miss), add (replacing an entry, so
// that the fill stays put) and delete with typical TLS 1.3 sessions
// (32-byte ids, 57-byte states) at 1%, 50% and 95% of the estimated
// capacity, in a 1.5 MiB and a 256 MiB segment, serially and in
// parallel, next to the bare lock pair and an in-process map.
func BenchmarkCache(b *testing.B) {
	state := tlsState(time.Now(), 57, 1)
	b.Run("baseline/lockword-pair", func(b *testing.B) {
		s, _ := openQuiet(b, 0)
		for b.Loop() {
			s.c.t.lock()
			s.c.t.unlock()
		}
	})
	b.Run("baseline/map", func(b *testing.B) {
		var mu sync.RWMutex
		m := map[string][]byte{}
		ids := make([][]byte, 10000)
		for i := range ids {
			ids[i] = benchID(i)
			m[string(ids[i])] = append([]byte(nil), state...)
		}
		b.Run("get-hit", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				mu.RLock()
				v := m[string(ids[i%len(ids)])]
				out := append([]byte(nil), v...)
				mu.RUnlock()
				_ = out
				i++
			}
		})
		b.Run("add", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				mu.Lock()
				m[string(ids[i%len(ids)])] = append([]byte(nil), state...)
				mu.Unlock()
				i++
			}
		})
	})
	for _, size := range []int{DefaultSize, 256 << 20} {
		for _, pct := range []int{1, 50, 95} {
			name := fmt.Sprintf("size=%dKiB/fill=%d%%", roundSize(int64(size))>>10, pct)
			benchFill(b, name, size, pct, state)
		}
	}
}

// benchKey writes the id of session i into id (32 bytes); ids are made
// on the fly so that the benchmark itself touches no memory per lookup.
func benchKey(id []byte, i int) []byte {
	binary.LittleEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(id[8:], uint64(i))
	return id
}

func benchFill(b *testing.B, name string, size, pct int, state []byte) {
	s, _ := openQuiet(b, size)
	defer s.Remove()
	exp := time.Now().Add(24 * time.Hour)
	n := int(s.c.t.g.capacity()) * pct / 100
	id := make([]byte, 32)
	for i := 0; i < n; i++ {
		if err := s.Add(benchKey(id, i), exp, state); err != nil {
			b.Fatal(err)
		}
	}
	// A full bucket pair may have pushed a few out (counted as evictions).
	if st, _ := s.SegmentStats(); st.Current < uint64(n)*999/1000 {
		b.Fatalf("%s: filled %d of %d", name, st.Current, n)
	}
	// Lookups stride through the sessions, so that they are not sequential.
	const stride = 7919
	hit := func(i int) int { return (i * stride) % n }
	miss := func(i int) int { return n + 1 + (i*stride)%(1<<20) }
	// getHits looks up count stored sessions and fails if more than a
	// few (those pushed out while filling) are missing.
	getHits := func(b *testing.B, next func() int) {
		id := make([]byte, 32)
		missed := 0
		for b.Loop() {
			if _, _, err := s.Get(benchKey(id, hit(next()))); err != nil {
				missed++
			}
		}
		if missed*500 > b.N {
			b.Fatalf("%d of %d lookups of stored sessions missed", missed, b.N)
		}
	}

	b.Run(name+"/get-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		getHits(b, func() int { i++; return i })
	})
	b.Run(name+"/get-hit/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var missed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			id := make([]byte, 32)
			i := int(time.Now().UnixNano() % int64(n))
			for pb.Next() {
				if _, _, err := s.Get(benchKey(id, hit(i))); err != nil {
					missed.Add(1)
				}
				i++
			}
		})
		if missed.Load()*500 > int64(b.N) {
			b.Fatalf("%d of %d lookups of stored sessions missed", missed.Load(), b.N)
		}
	})
	b.Run(name+"/get-miss", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Get(benchKey(id, miss(i)))
			i++
		}
	})
	b.Run(name+"/get-miss/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			id := make([]byte, 32)
			i := int(time.Now().UnixNano() % (1 << 20))
			for pb.Next() {
				s.Get(benchKey(id, miss(i)))
				i++
			}
		})
	})
	// add replaces stored sessions in the order they were stored, so that
	// the fill stays put: each add drops the (now dead) oldest record.
	b.Run(name+"/add", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Add(benchKey(id, i%n), exp, state); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// In parallel the order is only roughly kept: a few live sessions may
	// be evicted (reported as evictions/op).
	b.Run(name+"/add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		before, _ := s.SegmentStats()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			id := make([]byte, 32)
			for pb.Next() {
				s.Add(benchKey(id, int(next.Add(1))%n), exp, state)
			}
		})
		after, _ := s.SegmentStats()
		b.ReportMetric(float64(after.Evicted-before.Evicted)/float64(b.N), "evictions/op")
	})
	// In parallel, each op is a delete and the add that puts the session
	// back (so that the fill stays put); compare with add/parallel.
	b.Run(name+"/delete+add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			id := make([]byte, 32)
			for pb.Next() {
				benchKey(id, int(next.Add(1))%n)
				s.Delete(id)
				s.Add(id, exp, state)
			}
		})
	})
	b.Run(name+"/delete", func(b *testing.B) {
		b.ReportAllocs()
		next := 0
		refill := func(upto int) {
			for i := 0; i < upto; i++ {
				s.Add(benchKey(id, i), exp, state)
			}
		}
		for b.Loop() {
			if next == n {
				b.StopTimer()
				refill(n)
				next = 0
				b.StartTimer()
			}
			if err := s.Delete(benchKey(id, next)); err != nil {
				b.Fatal(err)
			}
			next++
		}
		b.StopTimer()
		refill(next)
	})
}

// BenchmarkRandomRead is the memory floor under BenchmarkCache: one
// dependent 8-byte read at a pseudo-random place in a segment of each size. A
// lookup makes two or three such reads (bucket, record).
func BenchmarkRandomRead(b *testing.B) {
	for _, size := range []int{DefaultSize, 256 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", roundSize(int64(size))>>10), func(b *testing.B) {
			s, _ := openQuiet(b, size)
			seg := s.c.t.seg
			for i := 0; i < len(seg); i += 4096 {
				seg[i] = 1 // fault every page in
			}
			words := uint64(len(seg) / 8)
			// Each address depends on the previous read, as a lookup's
			// record address depends on its slot: latency, not throughput.
			x := uint64(1)
			for b.Loop() {
				v := binary.LittleEndian.Uint64(seg[(x>>11)%words*8:])
				x = x*0x9e3779b97f4a7c15 + 1 + v
			}
		})
	}
}
