package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The tests of the lock-free read (see the table type for the argument
// they check). The segment is not Go memory, so the race detector sees
// none of this: the tests check the values returned.

// withReadHook sets testHookRead for the rest of the test.
func withReadHook(t *testing.T, hook func(readStep)) {
	t.Cleanup(func() { testHookRead = nil })
	testHookRead = hook
}

// TestLockFreeReadInterleavings makes a write happen at each step of a
// lock-free read (after the first Seq load, after the lookup, after the
// copy) and checks the answer. A write through the cache moves Seq, so
// the read must retry and answer exactly what the cache holds after the
// write. A write that Seq does not show (bytes changed behind the
// cache's back, as a torn read on a weakly ordered processor would see
// them) must be caught by the checksum of the copy: the answer is then a
// miss or a value that was stored whole under the key, never the bytes
// in between.
func TestLockFreeReadInterleavings(t *testing.T) {
	key := []byte("the-key-read-0000000000000000000")
	other := []byte("another-key-0000000000000000000x")
	oldVal := bytes.Repeat([]byte{0x11}, 300)
	newVal := bytes.Repeat([]byte{0x22}, 300)
	type write struct {
		name string
		do   func(t *testing.T, s *SessionCache, exp time.Time)
		want []byte // what the read must answer (nil: a miss)
	}
	writes := []write{
		{"replace", func(t *testing.T, s *SessionCache, exp time.Time) {
			if err := s.Add(key, exp, newVal); err != nil {
				t.Fatal(err)
			}
		}, newVal},
		{"delete", func(t *testing.T, s *SessionCache, _ time.Time) {
			if err := s.Delete(key); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"clear", func(t *testing.T, s *SessionCache, _ time.Time) {
			if _, err := s.Clear(); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"evict by filling the log", func(t *testing.T, s *SessionCache, exp time.Time) {
			// Another key's records fill the log, which wraps: the key's
			// record is evicted and its bytes reused.
			for i := 0; s.c.t.h.Stats[statEvicted].Load() == 0; i++ {
				k := []byte(fmt.Sprintf("filler-%025d", i))
				if err := s.Add(k, exp, bytes.Repeat([]byte{byte(i)}, 3000)); err != nil {
					t.Fatal(err)
				}
			}
		}, nil},
		{"delete, then another key at the same offset", func(t *testing.T, s *SessionCache, exp time.Time) {
			if _, err := s.Clear(); err != nil {
				t.Fatal(err)
			}
			if err := s.Add(other, exp, newVal); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, step := range []readStep{stepSeqLoaded, stepLookedUp, stepCopied} {
		for _, w := range writes {
			t.Run(fmt.Sprintf("%s at step %d", w.name, step), func(t *testing.T) {
				s, _ := openSession(t, 24576)
				exp := time.Now().Add(time.Hour)
				if err := s.Add(key, exp, oldVal); err != nil {
					t.Fatal(err)
				}
				fired := 0
				withReadHook(t, func(at readStep) {
					if at == step && fired == 0 {
						fired++
						testHookRead = nil // the write goes through the cache, which reads too
						w.do(t, s, exp)
					}
				})
				got, _, err := s.Get(key)
				if fired != 1 {
					t.Fatalf("the write ran %d times", fired)
				}
				checkAnswer(t, got, err, w.want)
				checkInvariants(t, s.c.t)
			})
		}
	}

	// Writes that Seq does not show: the bytes change under the read.
	hidden := []struct {
		name string
		do   func(tb *table, off uint64, r record)
		// want: the answers allowed (nil: a miss)
		want [][]byte
	}{
		{"value half rewritten", func(tb *table, off uint64, r record) {
			v := off + recHdrSize + uint64(r.KeyLen)
			copy(tb.data[v:v+150], newVal) // a torn write: half old, half new
		}, [][]byte{nil}},
		{"record zeroed by a delete", func(tb *table, off uint64, r record) {
			rec := (*record)(unsafe.Pointer(&tb.data[off]))
			rec.Flags |= recDead
			rec.Sum = 0
			clear(tb.data[off+recHdrSize : off+uint64(r.Size)])
		}, [][]byte{nil}},
		{"another key's record over it", func(tb *table, off uint64, r record) {
			writeRecordAt(tb, off, other, newVal, r.When, r.Seq+100)
		}, [][]byte{nil}},
		{"a newer record of the key over it, other expiry", func(tb *table, off uint64, r record) {
			// The old header (Sum, expiry) with the new value must not
			// pass: the answer is the newer record as a whole, read under
			// the lock, or a miss.
			writeRecordAt(tb, off, key, newVal, r.When+60, r.Seq+100)
		}, [][]byte{newVal, nil}},
	}
	for _, step := range []readStep{stepLookedUp, stepCopied} {
		for _, w := range hidden {
			t.Run(fmt.Sprintf("unseen: %s at step %d", w.name, step), func(t *testing.T) {
				s, _ := openSession(t, 24576)
				exp := time.Now().Add(time.Hour)
				if err := s.Add(key, exp, oldVal); err != nil {
					t.Fatal(err)
				}
				tb := s.c.t
				m := tb.lookup(key, hashKey(tb.seed, key))
				rec, _ := tb.recordAt(m.off)
				if !m.found() {
					t.Fatal("entry not found")
				}
				fired := 0
				withReadHook(t, func(at readStep) {
					if at == step && fired == 0 {
						fired++
						w.do(tb, m.off, rec)
					}
				})
				got, _, err := s.Get(key)
				if fired != 1 {
					t.Fatalf("the change ran %d times", fired)
				}
				if step == stepCopied && err == nil && bytes.Equal(got, oldVal) {
					return // copied whole before the change: a value that was stored
				}
				ok := false
				for _, want := range w.want {
					if (want == nil && errors.Is(err, modtls.ErrCacheMiss)) || (want != nil && err == nil && bytes.Equal(got, want)) {
						ok = true
					}
				}
				if !ok {
					t.Fatalf("answer %q (%d bytes), %v: not one of the values allowed", got[:min(len(got), 8)], len(got), err)
				}
			})
		}
	}
}

// writeRecordAt writes a whole, checksummed record for key and val over
// the log at off, as a writer that reused those bytes would, without
// touching Seq or the index.
func writeRecordAt(tb *table, off uint64, key, val []byte, when int64, seq uint64) {
	tail, next := tb.h.Tail, tb.h.NextSeq
	tb.h.Tail, tb.h.NextSeq = tb.g.dataSize*8+off, seq // appendRecord writes at Tail
	tb.appendRecord(key, val, when, align8(uint64(recHdrSize+len(key)+len(val))))
	tb.h.Tail, tb.h.NextSeq = tail, next
}

func checkAnswer(t *testing.T, got []byte, err error, want []byte) {
	t.Helper()
	switch {
	case want == nil && !errors.Is(err, modtls.ErrCacheMiss):
		t.Fatalf("answer %d bytes, %v; want a miss", len(got), err)
	case want != nil && (err != nil || !bytes.Equal(got, want)):
		t.Fatalf("answer %d bytes, %v; want the %d bytes stored", len(got), err, len(want))
	}
}

// TestLockFreeReadUnderRewrites tries to break the lock-free read: writer
// goroutines keep replacing, deleting, evicting and clearing the very
// entries that reader goroutines (on another attachment of the segment,
// as another process would be) are reading, in a segment small enough
// that the log wraps every few dozen adds and records are rewritten over
// the bytes being copied. Values are 60 to 4,000 bytes and self-verifying
// (SHA-256 of key and content), and each records its expiry, so every
// answer is checked: the value must be one stored whole under that key,
// with the expiry it was stored with.
//
// The test is bounded by work, not time: it passes when every reader has
// made readsPerReader reads, at least hitsPerReader of them hits (the
// writers keep the keys present most of the time), with no wrong answer;
// the 2-minute deadline only turns a hang into a failure.
func TestLockFreeReadUnderRewrites(t *testing.T) {
	const (
		size           = 32768
		hotKeys        = 4
		writers        = 2
		readers        = 2
		readsPerReader = 20000
		hitsPerReader  = 1000
	)
	path := cacheFile(t)
	w := openSessionAt(t, path, size)
	r := openSessionAt(t, path, size)
	if &w.c.t.seg[0] == &r.c.t.seg[0] {
		t.Fatal("one mapping for both handles")
	}
	key := func(i int) []byte { return []byte(fmt.Sprintf("hot-%028d", i)) }
	base := time.Now().Add(time.Hour).Unix()
	// A value says which version it is; its expiry is base + version.
	value := func(k []byte, writer, version uint64, n int) []byte {
		return selfValue(k, writer<<32|version, n)
	}
	var done atomic.Bool
	var wg, rwg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for wi := 0; wi < writers; wi++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(wi), 7))
			for version := uint64(1); !done.Load(); version++ {
				i := rng.IntN(hotKeys)
				k := key(i)
				var err error
				switch x := rng.IntN(100); {
				case x < 70: // replace, at a size that moves the next records
					err = w.Add(k, time.Unix(base+int64(version), 0), value(k, uint64(wi), version, 60+rng.IntN(4000)))
				case x < 80:
					err = w.Delete(k)
				case x < 99: // another key: the log moves on and wraps
					f := []byte(fmt.Sprintf("fill-%027d", rng.IntN(1000)))
					err = w.Add(f, time.Unix(base, 0), value(f, 9, 0, 60+rng.IntN(4000)))
				default:
					_, err = w.Clear()
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d: %v", wi, err)
					return
				}
			}
		}()
	}
	var reads, hits atomic.Int64
	deadline := time.Now().Add(2 * time.Minute)
	for ri := 0; ri < readers; ri++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rng := rand.New(rand.NewPCG(uint64(ri), 11))
			n, h := 0, 0
			for n < readsPerReader || h < hitsPerReader {
				if n%1024 == 0 && time.Now().After(deadline) {
					errs <- fmt.Errorf("reader %d: %d reads, %d hits before the deadline", ri, n, h)
					return
				}
				k := key(rng.IntN(hotKeys))
				got, exp, err := r.Get(k)
				n++
				if errors.Is(err, modtls.ErrCacheMiss) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: get: %v", ri, err)
					return
				}
				h++
				id, ok := verifyValue(k, got)
				if !ok {
					errs <- fmt.Errorf("reader %d: %s: %d bytes that are not a value stored for it", ri, k, len(got))
					return
				}
				if want := base + int64(uint32(id)); exp.Unix() != want {
					errs <- fmt.Errorf("reader %d: %s: version %d with expiry %d, stored with %d", ri, k, uint32(id), exp.Unix(), want)
					return
				}
			}
			reads.Add(int64(n))
			hits.Add(int64(h))
		}()
	}
	rwg.Wait() // the readers are done (or failed): stop the writers
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	st, _ := w.SegmentStats()
	t.Logf("%d reads, %d hits, all verified; segment: %d stored, %d evicted, %d replaced, %d errors",
		reads.Load(), hits.Load(), st.Stored, st.Evicted, st.Replaced, st.Errors)
	if st.Errors != 0 {
		t.Errorf("%d damaged entries counted with no damage done", st.Errors)
	}
	checkInvariants(t, w.c.t)
}
