package modtlsshm

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkLockOptions measures an uncontended and a parallel lock/unlock
// pair for each way the segment could be locked; the lock word won (see
// lock.go).
func BenchmarkLockOptions(b *testing.B) {
	s, path := openSession(b, 0)
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
		s, _ := openSession(b, 0)
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

func benchFill(b *testing.B, name string, size, pct int, state []byte) {
	s, _ := openSession(b, size)
	defer s.Remove()
	exp := time.Now().Add(24 * time.Hour)
	n := int(s.c.t.g.capacity()) * pct / 100
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = benchID(i)
		if err := s.Add(ids[i], exp, state); err != nil {
			b.Fatal(err)
		}
	}
	if st, _ := s.Stats(); st.Current != uint64(n) {
		b.Fatalf("%s: filled %d of %d", name, st.Current, n)
	}
	misses := make([][]byte, 4096)
	for i := range misses {
		misses[i] = benchID(n + 1 + i)
	}
	// A stride through the ids so that lookups are not sequential.
	const stride = 7919
	pick := func(i int) []byte { return ids[(i*stride)%n] }

	b.Run(name+"/get-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, err := s.Get(pick(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run(name+"/get-miss", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Get(misses[i%len(misses)])
			i++
		}
	})
	b.Run(name+"/add", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Add(pick(i), exp, state); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run(name+"/get-hit/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(time.Now().UnixNano() % int64(n))
			for pb.Next() {
				if _, _, err := s.Get(pick(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run(name+"/add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(time.Now().UnixNano() % int64(n))
			for pb.Next() {
				if err := s.Add(pick(i), exp, state); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run(name+"/delete", func(b *testing.B) {
		b.ReportAllocs()
		next := 0
		for b.Loop() {
			if next == n {
				b.StopTimer()
				for _, id := range ids {
					s.Add(id, exp, state)
				}
				next = 0
				b.StartTimer()
			}
			if err := s.Delete(ids[next]); err != nil {
				b.Fatal(err)
			}
			next++
		}
		b.StopTimer()
		for _, id := range ids[:next] {
			s.Add(id, exp, state)
		}
	})
}

