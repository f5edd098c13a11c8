package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// callBound turns a hung call into a failure. On a damaged segment a call
// may wait for a lock word naming a dead process (deadCheckAfter, 50 ms)
// or a live one (lockTimeout, 10 s, then it fails); how long the calls
// took is reported, not asserted.
const callBound = 2 * time.Minute

// TestReliabilityCorruption attaches to a live segment as another program
// would (shmget by key) and writes random bytes into the header, the
// index and the data log, 300 rounds (20,000 with FTPDTLS_LONG=1). After
// each round every key is read back, the status is printed and an entry
// is added and deleted: no call panics or hangs, a value is returned only
// if it is exactly what was added for its key, and
// a damaged header geometry makes a new opener refuse the segment with
// the remedy in the message.
//
//	go test ./modtlsshm/ -run 'TestReliabilityCorruption' -v
//	FTPDTLS_LONG=1 go test ./modtlsshm/ -run 'TestReliabilityCorruption' -v -timeout 20m
func TestReliabilityCorruption(t *testing.T) {
	const (
		size = 65536
		keys = 40
	)
	rounds := pick(300, 20000)
	rng := newRand(t)
	path := cacheFile(t)
	env, _, _, tlslog := testEnv(t)
	env.Trace = nil // keep the traces of 300 rounds out of memory
	sc, err := NewSessionProvider().Open(info(path, size), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	s := sc.(*SessionCache)
	t.Cleanup(func() { s.Close() })
	raw, id := rawSegment(t, path, sessionKind)
	g := s.c.t.g
	regions := []struct {
		name     string
		from, to uint64
	}{
		{"header geometry", 0, 128},
		{"header run-time fields", 128, headerSize},
		{"index", headerSize, g.dataOff},
		{"data log", g.dataOff, g.segSize},
	}
	key := func(i int) []byte { return []byte(fmt.Sprintf("c-%030d", i)) }
	want := make([][]byte, keys)
	expires := time.Now().Add(time.Hour)
	var (
		hits, misses, wrong, refused, accepted int
		bytesWritten                           int
		errorsCounted                          uint64
		slowest                                time.Duration
		perRegion                              = map[string]int{}
	)
	for round := 0; round < rounds; round++ {
		for i := range want {
			if want[i] == nil || rng.IntN(4) == 0 {
				want[i] = selfValue(key(i), uint64(round), 40+rng.IntN(800))
				within(t, callBound, "add", func() {
					if err := s.Add(key(i), expires, want[i]); err != nil {
						t.Errorf("add: %v", err)
					}
				})
			}
		}
		saved := bytes.Clone(raw[:128])
		r := regions[rng.IntN(len(regions))]
		perRegion[r.name]++
		n := 1 + rng.IntN(16)
		for j := 0; j < n; j++ {
			off := r.from + rng.Uint64N(r.to-r.from)
			raw[off] = byte(rng.Uint32())
		}
		bytesWritten += n

		start := time.Now()
		errs := &s.c.t.h.Stats[statErrors]
		e0 := errs.Load()
		for i := range want {
			within(t, callBound, "get", func() {
				v, _, err := s.Get(key(i))
				switch {
				case errors.Is(err, modtls.ErrCacheMiss):
					misses++
				case err != nil:
					t.Errorf("round %d get: %v", round, err)
				case !bytes.Equal(v, want[i]):
					wrong++
					t.Errorf("round %d (%s): get returned %d bytes that are not the value added", round, r.name, len(v))
				default:
					hits++
				}
			})
		}
		var status bytes.Buffer
		within(t, callBound, "status", func() {
			if err := s.Status(&status, round%10 == 0); err != nil {
				t.Errorf("status: %v", err)
			}
		})
		if !strings.Contains(status.String(), "Cache lifetime errors handling sessions in cache: ") {
			t.Fatalf("status without the errors line:\n%s", status.String())
		}
		within(t, callBound, "add+delete", func() {
			k := []byte("c-probe-0000000000000000000000x")
			if err := s.Add(k, expires, selfValue(k, 1, 100)); err != nil {
				t.Errorf("add: %v", err)
			}
			if err := s.Delete(k); err != nil {
				t.Errorf("delete: %v", err)
			}
		})
		slowest = max(slowest, time.Since(start))
		if e1 := errs.Load(); r.name != "header run-time fields" && e1 > e0 {
			errorsCounted += e1 - e0
		}
		if r.name == "header run-time fields" {
			// The counters now hold random numbers: zero them so that
			// the error counts of later rounds can be read.
			for i := range s.c.t.h.Stats {
				s.c.t.h.Stats[i].Store(0)
			}
		}
		if r.name == "header geometry" {
			// This process keeps its own copy of the geometry; a new one
			// must refuse a segment whose header does not check out.
			penv, _, plog, _ := testEnv(t)
			penv.Trace = nil
			c, err := NewSessionProvider().Open(info(path, size), time.Hour, penv)
			if err == nil {
				accepted++ // the bytes written were the ones already there, or reserved
				c.Close()
			} else {
				refused++
				if !errors.Is(err, ErrCorruptSegment) && !errors.Is(err, ErrForeignSegment) || !errors.Is(err, syscall.EINVAL) {
					t.Fatalf("round %d: open of a damaged header: %v", round, err)
				}
				if !strings.Contains(plog.String(), fmt.Sprintf("ipcrm -m %d", id)) {
					t.Fatalf("round %d: the refusal does not say how to remove the segment:\n%s", round, plog)
				}
			}
			copy(raw[:128], saved)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d rounds, %d random bytes written (rounds per region: %v); %d gets: %d hits, %d misses, %d wrong values; slowest round %v",
		rounds, bytesWritten, perRegion, hits+misses+wrong, hits, misses, wrong, slowest)
	t.Logf("damaged header geometry: %d opens refused with the remedy, %d accepted (bytes unchanged or reserved); damaged index slots and records counted as errors: %d; TLSLog lines about damaged entries: %d",
		refused, accepted, errorsCounted, strings.Count(tlslog.String(), "damaged"))
	if wrong != 0 {
		t.Fatalf("%d wrong values", wrong)
	}
	if errorsCounted == 0 {
		t.Fatal("no damage was ever counted")
	}
}

// TestDamagedEntryCountedAsError damages one field of one stored record
// through a raw attachment: the get is a miss, the damage is counted as an
// error, the TLSLog says so, and the status shows the count.
func TestDamagedEntryCountedAsError(t *testing.T) {
	cases := []struct {
		name string
		off  func(r record) uint64 // offset in the record to change
	}{
		{"value byte", func(r record) uint64 { return recHdrSize + uint64(r.KeyLen) + 3 }},
		{"last value byte", func(r record) uint64 { return recHdrSize + uint64(r.KeyLen) + uint64(r.DataLen) - 1 }},
		{"expiry", func(record) uint64 { return 17 }},
		// XOR 0x5a into bits 24-31 of a current Unix time clears bit 30:
		// the damaged expiry is decades in the past, which must still
		// count as damage (the checksum covers it), not as an expiry.
		{"expiry moved into the past", func(record) uint64 { return 19 }},
		{"checksum", func(record) uint64 { return 1 }},
		{"data length", func(record) uint64 { return 12 }},
		{"record size", func(record) uint64 { return 5 }},
		{"record kind", func(record) uint64 { return 8 }},
		{"dead flag", func(record) uint64 { return 10 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			env, _, _, tlslog := testEnv(t)
			sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
			if err != nil {
				t.Fatal(err)
			}
			s := sc.(*SessionCache)
			t.Cleanup(func() { s.Close() })
			id := []byte("damaged-entry-0000000000000000x")
			other := []byte("healthy-entry-0000000000000000x")
			s.Add(id, time.Now().Add(time.Hour), selfValue(id, 1, 300))
			s.Add(other, time.Now().Add(time.Hour), selfValue(other, 1, 300))
			tb := s.c.t
			m := tb.lookup(id, hashKey(tb.seed, id))
			off := m.off
			rec, _ := tb.recordAt(off)
			if !m.found() {
				t.Fatal("entry not found")
			}
			raw, _ := rawSegment(t, path, sessionKind)
			raw[tb.g.dataOff+off+tc.off(rec)] ^= 0x5a

			if _, _, err := s.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
				t.Fatalf("get of a damaged entry: %v", err)
			}
			if v, _, err := s.Get(other); err != nil || !bytes.Equal(v, selfValue(other, 1, 300)) {
				t.Fatalf("the healthy entry: %v", err)
			}
			st, _ := s.SegmentStats()
			if st.Errors != 1 {
				t.Errorf("errors counted: %d, want 1", st.Errors)
			}
			var status bytes.Buffer
			s.Status(&status, false)
			if !hasLine(status.String(), "Cache lifetime errors handling sessions in cache: 1") {
				t.Errorf("status does not show the damage:\n%s", status.String())
			}
			if !strings.Contains(tlslog.String(), "damaged") {
				t.Errorf("TLSLog does not mention the damage: %q", tlslog.String())
			}
			// The damaged entry does not linger in the index.
			if err := s.Add(id, time.Now().Add(time.Hour), selfValue(id, 2, 300)); err != nil {
				t.Fatal(err)
			}
			if v, _, err := s.Get(id); err != nil || !bytes.Equal(v, selfValue(id, 2, 300)) {
				t.Fatalf("re-added entry: %v", err)
			}
		})
	}
}

// TestDamagedHeaderRefusedWithRemedy damages one header field of a
// segment: a new opener refuses it, wrapping ErrCorruptSegment or
// ErrForeignSegment and EINVAL, logs what to do (the remove command or
// ipcrm with the ID), CheckInfo (`ftpdtls check`) says the same, and an
// opener that was attached before keeps working.
func TestDamagedHeaderRefusedWithRemedy(t *testing.T) {
	cases := []struct {
		name   string
		damage func(h *header)
		target error
		remedy string
	}{
		{"magic", func(h *header) { h.Magic.Store(h.Magic.Load() ^ 0xff) }, ErrForeignSegment, "ipcrm -m"},
		{"version", func(h *header) { h.Version++ }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"version, checksum fixed", func(h *header) { h.Version++; h.GeomSum = geomSum(h) }, ErrLayoutVersion, "ftpdtls sesscache remove"},
		{"kind", func(h *header) { h.Kind = 77 }, ErrForeignSegment, "ipcrm -m"},
		{"segment size", func(h *header) { h.SegSize ^= 1 << 40 }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"buckets", func(h *header) { h.Buckets ^= 1 << 30 }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"data offset, checksum fixed", func(h *header) { h.DataOff += 8; h.GeomSum = geomSum(h) }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"data size, checksum fixed", func(h *header) { h.DataSize = 1 << 62; h.GeomSum = geomSum(h) }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"checksum", func(h *header) { h.GeomSum ^= 4 }, ErrCorruptSegment, "ftpdtls sesscache remove"},
		{"seed", func(h *header) { h.Seed ^= 1 }, ErrCorruptSegment, "ftpdtls sesscache remove"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			old := openSessionAt(t, path, 0)
			id := []byte("before-the-damage-00000000000000")
			old.Add(id, time.Now().Add(time.Hour), []byte("state"))
			raw, shmid := rawSegment(t, path, sessionKind)
			tc.damage(rawHeader(raw))

			env, _, log, _ := testEnv(t)
			c, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
			if err == nil {
				c.Close()
				t.Fatal("a damaged header was accepted")
			}
			if !errors.Is(err, tc.target) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("error %v, want %v and EINVAL", err, tc.target)
			}
			if !strings.Contains(log.String(), tc.remedy) || !strings.Contains(log.String(), fmt.Sprint(shmid)) {
				t.Fatalf("the refusal does not say %q with the ID %d:\n%s", tc.remedy, shmid, log)
			}
			t.Logf("%s", strings.TrimSpace(log.String()))
			if got := NewSessionProvider().CheckInfo(info(path, 0)); len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "would be refused") {
				t.Fatalf("CheckInfo = %q", got)
			}
			// The process attached before the damage has its own copy of
			// the geometry and carries on.
			if v, _, err := old.Get(id); err != nil || string(v) != "state" {
				t.Fatalf("attached process after the damage: %q %v", v, err)
			}
		})
	}
}

var _ = unsafe.Sizeof(0)
