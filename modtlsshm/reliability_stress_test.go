package modtlsshm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// TestReliabilityStress runs 4 processes of mixed add/get/delete/clear on
// one segment, each for 3 s (60 s with FTPDTLS_LONG=1) and at least
// minStressOps operations (so that a loaded machine makes the test
// longer, not weaker), on a small segment where every add evicts and on
// a large one. Every value is self-verifying, and
// each process also knows which version of its own keys it wrote last,
// so a get must return exactly that version or a miss; any other answer
// is a corrupt or stale read. Afterwards the header's counters must agree
// with a full scan of the segment and with what the processes did.
//
//	go test ./modtlsshm/ -run 'TestReliabilityStress' -v
//	FTPDTLS_LONG=1 go test ./modtlsshm/ -run 'TestReliabilityStress' -v -timeout 10m
func TestReliabilityStress(t *testing.T) {
	cases := []struct {
		name string
		size int
		keys int // keys per process
	}{
		{"small segment", 24576, 300},
		{"large segment", 8 << 20, 3000},
	}
	dur := pick(3*time.Second, 60*time.Second)
	const procs = 4
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			parent := openSessionAt(t, path, tc.size)
			var kids []*child
			for p := 0; p < procs; p++ {
				kids = append(kids, startChild(t, "stress", p,
					"FTPDTLS_REL_INFO="+info(path, tc.size),
					"FTPDTLS_REL_DUR="+dur.String(),
					"FTPDTLS_REL_KEYS="+strconv.Itoa(tc.keys),
					"FTPDTLS_REL_SEED="+strconv.FormatInt(time.Now().UnixNano()+int64(p), 10)))
			}
			var total childReport
			for p, k := range kids {
				rep, err := k.result(dur + 10*time.Minute)
				if err != nil {
					t.Fatalf("process %d: %v", p, err)
				}
				total.add(rep)
			}
			st, err := parent.SegmentStats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d processes, %v, %d-byte segment: %d operations (%d adds, %d gets, %d deletes, %d clears), %d hits, %d misses, %d corrupt reads, %d stale reads, %d errors",
				procs, dur, tc.size, total.ops(), total.Adds, total.Gets, total.Deletes, total.Clears,
				total.Hits, total.Misses, total.Corrupt, total.Stale, total.Errors)
			t.Logf("segment counters: stored %d, current %d, deleted %d, expired %d, evicted %d, replaced %d, errors %d, lock recoveries %d, lock timeouts %d",
				st.Stored, st.Current, st.Deleted, st.Expired, st.Evicted, st.Replaced, st.Errors, st.LockRecoveries, st.LockTimeouts)
			if total.Corrupt != 0 || total.Stale != 0 || total.Errors != 0 {
				t.Fatalf("%d corrupt, %d stale reads, %d errors; first: %s", total.Corrupt, total.Stale, total.Errors, total.FirstProblem)
			}
			if total.ops() < procs*minStressOps {
				t.Fatalf("only %d operations", total.ops())
			}
			// The header against a full scan of the log and the index.
			checkInvariants(t, parent.c.t)
			// The counters against what the processes did.
			if st.Hits+st.Misses != uint64(total.Gets) || st.Hits != uint64(total.Hits) {
				t.Fatalf("header counts %d hits + %d misses; the processes did %d gets, %d hits", st.Hits, st.Misses, total.Gets, total.Hits)
			}
			gone := st.Deleted + st.Expired + st.Evicted + st.Replaced + uint64(total.Cleared) + st.Errors
			if st.Stored != uint64(total.Adds) || st.Stored != st.Current+gone {
				t.Fatalf("stored %d (processes added %d) != current %d + deleted %d + expired %d + evicted %d + replaced %d + cleared %d + errors %d",
					st.Stored, total.Adds, st.Current, st.Deleted, st.Expired, st.Evicted, st.Replaced, total.Cleared, st.Errors)
			}
			if st.Errors != 0 || st.LockTimeouts != 0 || st.LockRecoveries != 0 {
				t.Fatalf("errors %d, lock timeouts %d, lock recoveries %d with no process killed", st.Errors, st.LockTimeouts, st.LockRecoveries)
			}
		})
	}
}

// minStressOps is the fewest operations a stress process makes.
const minStressOps = 20000

func stressKey(p, i int) []byte { return []byte(fmt.Sprintf("s%02d-%028d", p, i)) }

// childStress is one stress process: a mix of operations on its own keys
// and reads of the others'.
func childStress() childReport {
	s := openChildCache()
	me := childIndex()
	nkeys := envInt("FTPDTLS_REL_KEYS")
	seed, _ := strconv.ParseUint(os.Getenv("FTPDTLS_REL_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, uint64(me)))
	deadline := time.Now().Add(envDuration("FTPDTLS_REL_DUR"))
	ver := make([]uint32, nkeys) // last version written; 0: none or deleted
	var next uint32
	var r childReport
	expires := time.Now().Add(time.Hour)
	for i := 0; ; i++ {
		if i%256 == 0 && i >= minStressOps && time.Now().After(deadline) {
			break
		}
		k := rng.IntN(nkeys)
		switch x := rng.IntN(10000); {
		case x < 4000: // add or replace one of ours
			size := 57 + rng.IntN(600)
			if rng.IntN(20) == 0 {
				size = 1000 + rng.IntN(10240-1000+1) // up to the largest that fits
			}
			next++
			key := stressKey(me, k)
			if err := s.Add(key, expires, selfValue(key, uint64(me)<<32|uint64(next), size)); err != nil {
				r.Errors++
				r.problem("add: %v", err)
				continue
			}
			ver[k] = next
			r.Adds++
		case x < 7500: // get, ours or another process's
			p := me
			if rng.IntN(5) < 2 {
				p = rng.IntN(4)
			}
			key := stressKey(p, k)
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
			w, ok := verifyValue(key, v)
			if !ok || w>>32 != uint64(p) {
				r.Corrupt++
				r.problem("get %s: %d bytes that are not a value added for it", key, len(v))
				continue
			}
			if p == me && (ver[k] == 0 || uint32(w) != ver[k]) {
				r.Stale++
				r.problem("get %s: version %d, last written %d", key, uint32(w), ver[k])
			}
		case x < 9995: // delete one of ours
			if err := s.Delete(stressKey(me, k)); err != nil {
				r.Errors++
				r.problem("delete: %v", err)
				continue
			}
			ver[k] = 0
			r.Deletes++
		default: // clear everything (rare)
			n, err := s.Clear()
			if err != nil {
				r.Errors++
				r.problem("clear: %v", err)
				continue
			}
			clear(ver)
			r.Clears++
			r.Cleared += n
		}
	}
	s.Close()
	return r
}
