package modtlsshm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// TestReliabilityCrash kills writer processes with SIGKILL, 30 times (600
// with FTPDTLS_LONG=1), while reader processes keep reading: at a random
// moment, and every other time at a random moment when the victim holds
// the write lock. After each kill a process that was not killed (the
// test) must add and get without error: the lock is never left held for
// good (a lock held for good makes the add fail with ErrLockTimeout; how
// long the add took is reported, not asserted). Readers never get a value
// that fails verification, and at the end every entry left in the segment
// verifies and the header agrees with a scan of the log.
//
//	go test ./modtlsshm/ -run 'TestReliabilityCrash' -v
//	FTPDTLS_LONG=1 go test ./modtlsshm/ -run 'TestReliabilityCrash' -v -timeout 20m
func TestReliabilityCrash(t *testing.T) {
	const (
		size      = 1 << 20
		writers   = 3
		readers   = 2
		keys      = 400
		hangGuard = 2 * time.Minute // a call that takes longer is hung
	)
	kills := pick(30, 600)
	rng := newRand(t)
	path := cacheFile(t)
	parent := openSessionAt(t, path, size)
	stop := filepath.Join(t.TempDir(), "stop")
	env := []string{
		"FTPDTLS_REL_INFO=" + info(path, size),
		"FTPDTLS_REL_KEYS=" + strconv.Itoa(keys),
		"FTPDTLS_REL_WRITERS=" + strconv.Itoa(writers),
		"FTPDTLS_REL_STOP=" + stop,
	}
	var rds []*child
	for i := 0; i < readers; i++ {
		c := startChild(t, "reader", i, env...)
		if _, err := c.waitLine("ready", time.Minute); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		rds = append(rds, c)
	}
	spawn := func(slot int) *child {
		return startChild(t, "writer", slot, append(env, "FTPDTLS_REL_SEED="+strconv.FormatUint(rng.Uint64(), 10))...)
	}
	ws := make([]*child, writers)
	for i := range ws {
		ws[i] = spawn(i)
	}
	tb := parent.c.t
	before, _ := parent.SegmentStats()
	var (
		lockHeld, seqOdd int
		maxLat, sumLat   time.Duration
		probeHits        int
	)
	expires := time.Now().Add(time.Hour)
	for n := 0; n < kills; n++ {
		slot := n % writers
		w := ws[slot]
		if _, err := w.waitLine("ready", time.Minute); err != nil {
			t.Fatalf("writer %d: %v", slot, err)
		}
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		pid := w.cmd.Process.Pid
		if n%2 == 1 {
			// Every other kill waits (up to 20 ms) for the victim to hold
			// the write lock, so that many kills land inside a write.
			for end := time.Now().Add(20 * time.Millisecond); tb.h.Lock.Load()>>32 != uint64(pid) && time.Now().Before(end); {
				runtime.Gosched()
			}
		}
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		w.cmd.Wait() // reaped: its pid may now be reused
		w.cancel()
		if tb.h.Lock.Load()>>32 == uint64(pid) {
			lockHeld++
		}
		if tb.h.Seq.Load()&1 != 0 {
			seqOdd++
		}
		ws[slot] = spawn(slot)

		// A process that survived can write and read within the bound.
		key := []byte(fmt.Sprintf("probe-%026d", n))
		val := selfValue(key, uint64(n), 100+rng.IntN(2000))
		start := time.Now()
		within(t, hangGuard, fmt.Sprintf("add+get after kill %d", n), func() {
			if err := parent.Add(key, expires, val); err != nil {
				t.Errorf("add after kill %d: %v", n, err)
				return
			}
			got, _, err := parent.Get(key)
			switch {
			case errors.Is(err, modtls.ErrCacheMiss): // evicted by a writer already
			case err != nil:
				t.Errorf("get after kill %d: %v", n, err)
			case string(got) != string(val):
				t.Errorf("get after kill %d: wrong value", n)
			default:
				probeHits++
			}
		})
		lat := time.Since(start)
		sumLat += lat
		maxLat = max(maxLat, lat)
		if t.Failed() {
			t.FailNow()
		}
	}
	os.WriteFile(stop, nil, 0o600)
	var total childReport
	for i, r := range rds {
		rep, err := r.result(5 * time.Minute)
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		total.add(rep)
	}
	for _, w := range ws {
		w.kill()
	}
	// A last write repairs whatever the last victim left.
	if err := parent.Add([]byte("final-probe-0000000000000000000"), expires, []byte("x")); err != nil {
		t.Fatal(err)
	}
	after, _ := parent.SegmentStats()
	recovered := after.LockRecoveries - before.LockRecoveries
	t.Logf("%d writers killed with SIGKILL: %d while holding the write lock (Seq odd after %d); %d lock recoveries; add+get after each kill: max %v, mean %v, %d/%d probes read back",
		kills, lockHeld, seqOdd, recovered, maxLat, sumLat/time.Duration(kills), probeHits, kills)
	t.Logf("%d readers: %d gets, %d hits, %d misses, %d corrupt reads, %d errors; entries dropped by repairs as damaged (counted as errors) %d, lock timeouts %d, stored %d",
		readers, total.Gets, total.Hits, total.Misses, total.Corrupt, total.Errors,
		after.Errors-before.Errors, after.LockTimeouts-before.LockTimeouts, after.Stored-before.Stored)
	if total.Corrupt != 0 || total.Errors != 0 {
		t.Fatalf("readers: %d corrupt reads, %d errors; first: %s", total.Corrupt, total.Errors, total.FirstProblem)
	}
	if total.Hits == 0 {
		t.Fatal("readers never found a writer's value")
	}
	if after.LockTimeouts != before.LockTimeouts {
		t.Fatalf("%d lock timeouts", after.LockTimeouts-before.LockTimeouts)
	}
	if recovered < uint64(lockHeld) {
		t.Fatalf("%d kills left the lock held but only %d recoveries", lockHeld, recovered)
	}
	checkInvariants(t, tb)
	list, err := tb.entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if len(e.key) == 32 && e.key[0] == 'w' {
			if _, ok := verifyValue(e.key, e.val); !ok {
				t.Fatalf("entry %q left in the segment does not verify", e.key)
			}
		}
	}
	t.Logf("%d entries left, all verified", len(list))
}

func writerKey(w, i int) []byte { return []byte(fmt.Sprintf("w%02d-%028d", w, i)) }

// childWriter writes until it is killed (or, as a safety net, for ten
// minutes): adds of every size up to the largest, deletes, gets and the
// odd clear, so that a kill often lands inside a write.
func childWriter() childReport {
	s := openChildCache()
	me := childIndex()
	nkeys := envInt("FTPDTLS_REL_KEYS")
	seed, _ := strconv.ParseUint(os.Getenv("FTPDTLS_REL_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, uint64(me)))
	fmt.Println("ready")
	var r childReport
	expires := time.Now().Add(time.Hour)
	deadline := time.Now().Add(10 * time.Minute)
	// Values are made once per key and renewed now and then: making one
	// costs more than storing it, and the point is to be killed while
	// storing.
	vals := make([][]byte, nkeys)
	for i := 0; time.Now().Before(deadline); i++ {
		k := rng.IntN(nkeys)
		key := writerKey(me, k)
		switch x := rng.IntN(1000); {
		case x < 600:
			if vals[k] == nil || rng.IntN(16) == 0 {
				size := 57 + rng.IntN(1500)
				if rng.IntN(4) == 0 {
					size = 4000 + rng.IntN(10240-4000+1)
				}
				vals[k] = selfValue(key, uint64(me)<<32|uint64(i), size)
			}
			if s.Add(key, expires, vals[k]) != nil {
				r.Errors++
			}
		case x < 850:
			if s.Delete(key) != nil {
				r.Errors++
			}
		case x < 998:
			s.Get(key)
		default:
			s.Clear()
		}
	}
	return r
}

// childReader reads the writers' keys and verifies every value until the
// stop file appears and it has found at least one value (the writers run
// until the readers are done, so it will).
func childReader() childReport {
	s := openChildCache()
	me := childIndex()
	nkeys := envInt("FTPDTLS_REL_KEYS")
	writers := envInt("FTPDTLS_REL_WRITERS")
	stop := os.Getenv("FTPDTLS_REL_STOP")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(me)))
	fmt.Println("ready")
	var r childReport
	deadline := time.Now().Add(15 * time.Minute)
	for i := 0; ; i++ {
		if i%512 == 0 {
			if _, err := os.Stat(stop); (err == nil && r.Hits > 0) || time.Now().After(deadline) {
				break
			}
		}
		w := rng.IntN(writers)
		key := writerKey(w, rng.IntN(nkeys))
		v, _, err := s.Get(key)
		r.Gets++
		switch {
		case errors.Is(err, modtls.ErrCacheMiss):
			r.Misses++
			continue
		case err != nil:
			r.Errors++
			r.problem("get: %v", err)
			continue
		}
		r.Hits++
		if wr, ok := verifyValue(key, v); !ok || wr>>32 != uint64(w) {
			r.Corrupt++
			r.problem("get %s: %d bytes that are not a value added for it", key, len(v))
		}
	}
	return r
}
