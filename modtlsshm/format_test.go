package modtlsshm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The tests of the format-evolution rule written at the header type.

// TestOtherTuningSegmentIsUsed opens a segment laid out with other tuning
// than this program's (as another release might lay it out: 8 counter
// stripes instead of 64, a 500-byte typical state instead of 57, a
// largest value of 8,192 bytes instead of 10,240, and gaps between the
// regions) and uses it: the geometry check accepts it, the status shows
// its own figures, entries of every size the segment takes are stored and
// read back while the log wraps, a larger one goes to the oversize list,
// and the index and the log agree throughout.
func TestOtherTuningSegmentIsUsed(t *testing.T) {
	const size = 1 << 20
	path := cacheFile(t)
	typ := align8(uint64(recHdrSize + 32 + 500))
	g, ok := layoutGeometry(size, 8, typ, 32, 8192)
	if !ok {
		t.Fatal("no geometry")
	}
	g.dataOff += 4096                          // a gap after the index
	g.dataSize = (size-g.dataOff)&^7 - 100_000 // and unused bytes at the end
	mine, _ := computeGeometry(size, sessionKind)
	if g.stripes == mine.stripes || g.buckets == mine.buckets || g.dataOff == mine.dataOff || g.typical == mine.typical {
		t.Fatalf("the test's geometry %+v is this program's %+v", g, mine)
	}
	makeSegment(t, path, size, func(mem []byte, fid fileID) { initHeader(mem, g, sessionKind, fid) })

	s := openSessionAt(t, path, size)
	tb := s.c.t
	if tb.g != g {
		t.Fatalf("table geometry %+v, recorded %+v", tb.g, g)
	}
	ck := useClock(s.c)
	stored := map[string][]byte{}
	for i := 0; i < 400; i++ {
		id := []byte(fmt.Sprintf("other-tuning-%019d", i))
		n := 57 + (i*997)%8136 // up to 8,192, the segment's largest
		if i%50 == 0 {
			n = 8192
		}
		v := selfValue(id, uint64(i), n)
		if err := s.Add(id, ck.Now().Add(time.Hour), v); err != nil {
			t.Fatal(err)
		}
		stored[string(id)] = v
		if i%37 == 0 {
			checkInvariants(t, tb)
		}
	}
	st, _ := s.SegmentStats()
	if st.Evicted == 0 {
		t.Fatal("the log never wrapped: the test is too small")
	}
	found := 0
	for id, v := range stored {
		got, _, err := s.Get([]byte(id))
		switch {
		case errors.Is(err, modtls.ErrCacheMiss):
		case err != nil || !bytes.Equal(got, v):
			t.Fatalf("%s: %v", id, err)
		default:
			found++
		}
	}
	if st, _ = s.SegmentStats(); uint64(found) != st.Current || st.Exceeded != 0 {
		t.Fatalf("found %d, stats %+v", found, st)
	}
	// Larger than this segment takes, though this program's own segments
	// would: kept in the oversize list.
	big := []byte("other-tuning-big-00000000000000x")
	if err := s.Add(big, ck.Now().Add(time.Hour), make([]byte, 9000)); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Get(big); err != nil || len(got) != 9000 {
		t.Fatalf("9,000-byte session: %v", err)
	}
	var out bytes.Buffer
	if err := s.Status(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("Max session cache size: %d\n", g.capacity()),
		"Cache lifetime sessions exceeding max entry size: 1\n",
		fmt.Sprintf("Shared memory layout: ftpdtls version 2, %d index slots, %d data bytes", g.buckets*bucketWays, g.dataSize),
		", 8 counter stripes\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// Another process's view: the same counts.
	o := openSessionAt(t, path, size)
	if o.c.t.g != g {
		t.Fatalf("second attachment's geometry %+v", o.c.t.g)
	}
	if ost, _ := o.SegmentStats(); ost.Current != st.Current || ost.Hits != st.Hits+1 {
		t.Fatalf("second attachment sees %+v, first %+v", ost, st)
	}
	checkInvariants(t, tb)
}

// TestGeometryInvariants: a geometry that breaks an invariant is refused
// whatever this program's tuning, and one that keeps them all is accepted.
func TestGeometryInvariants(t *testing.T) {
	const size = 1 << 20
	good, _ := layoutGeometry(size, 4, 200, 32, 10240)
	cases := []struct {
		name   string
		geom   func(g *geometry)
		header func(h *header)
	}{
		{"segment size", func(g *geometry) { g.segSize += 4096 }, nil},
		{"no stripes", func(g *geometry) { g.stripes = 0 }, nil},
		{"too many stripes", func(g *geometry) { g.stripes = maxStripes + 1 }, nil},
		{"stripes over the header", func(g *geometry) { g.stripeOff = 256 }, nil},
		{"stripes unaligned", func(g *geometry) { g.stripeOff = headerSize + 4 }, nil},
		{"index over the stripes", func(g *geometry) { g.indexOff = g.stripeOff + 64 }, nil},
		{"index past the end", func(g *geometry) { g.indexOff = size + 8 }, nil},
		{"no buckets", func(g *geometry) { g.buckets = 0 }, nil},
		{"buckets past the end", func(g *geometry) { g.buckets = size / bucketSize }, nil},
		{"data over the index", func(g *geometry) { g.dataOff -= 8 }, nil},
		{"data past the end", func(g *geometry) { g.dataSize += 8 }, nil},
		{"data size unaligned", func(g *geometry) { g.dataSize -= 4 }, nil},
		{"no room for the largest record", func(g *geometry) { g.maxData = uint32(g.dataSize) }, nil},
		{"key too long for a record", func(g *geometry) { g.maxKey = 256 }, nil},
		{"no key", func(g *geometry) { g.maxKey = 0 }, nil},
		{"typical record smaller than a header", func(g *geometry) { g.typical = 8 }, nil},
		{"ways", nil, func(h *header) { h.Ways = 4 }},
	}
	check := func(g geometry, damage func(*header)) error {
		mem := memSegment(size)
		initHeader(mem, g, sessionKind, fuzzFile)
		if damage != nil {
			h := rawHeader(mem)
			damage(h)
			h.GeomSum = geomSum(h)
		}
		return checkHeaderNow(mem, sessionKind, fuzzFile)
	}
	if err := check(good, nil); err != nil {
		t.Fatalf("a sound geometry of other tuning: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := good
			if tc.geom != nil {
				tc.geom(&g)
			}
			if err := check(g, tc.header); !errors.Is(err, ErrCorruptSegment) {
				t.Fatalf("geometry %+v: %v, want ErrCorruptSegment", g, err)
			}
		})
	}
}

// makeV1Segment makes, at path's session key, a segment with a layout-1
// header (the layout of the releases before the counter stripes: the
// geometry checksum at byte 100, over bytes 8 to 100) and a session in
// its log.
func makeV1Segment(t *testing.T, path string, size int) int {
	return makeSegment(t, path, size, func(mem []byte, fid fileID) {
		e := binary.NativeEndian
		e.PutUint32(mem[8:], 1) // Version
		e.PutUint32(mem[12:], kindSession)
		e.PutUint64(mem[16:], uint64(size))
		e.PutUint64(mem[24:], fid.dev)
		e.PutUint64(mem[32:], fid.ino)
		e.PutUint64(mem[40:], uint64(time.Now().Unix()))
		e.PutUint32(mem[56:], 1665) // Buckets
		e.PutUint32(mem[60:], bucketWays)
		e.PutUint64(mem[64:], headerSize)
		e.PutUint64(mem[72:], headerSize+1665*bucketSize)
		e.PutUint64(mem[80:], uint64(size-headerSize-1665*bucketSize))
		e.PutUint32(mem[88:], 32)
		e.PutUint32(mem[92:], 10240)
		e.PutUint32(mem[96:], 128)
		e.PutUint32(mem[100:], crc32.Checksum(mem[8:100], castagnoli))
		copy(mem[headerSize+1665*bucketSize:], "a layout-1 session record")
		e.PutUint64(mem[0:], magicValue)
	})
}

// TestOldLayoutRefusedWithRemedy: a segment of the previous layout is this
// file's cache, not a foreign segment: an open refuses it with
// ErrLayoutVersion and says how to remove it (with the server stopped, as
// processes are attached), CheckInfo says the same, and the cache
// controls' RemoveInfo removes it, after which a new segment is made.
func TestOldLayoutRefusedWithRemedy(t *testing.T) {
	path := cacheFile(t)
	const size = 1576960
	id := makeV1Segment(t, path, size)
	env, _, log, _ := testEnv(t)
	_, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
	if !errors.Is(err, ErrLayoutVersion) || !errors.Is(err, syscall.EINVAL) || errors.Is(err, ErrForeignSegment) {
		t.Fatalf("open of a layout-1 segment: %v, want ErrLayoutVersion", err)
	}
	want := fmt.Sprintf("refusing shm ID %d (key %#08x) for file '%s': shm segment has another layout version: it was made by a release of ftpdtls with segment layout 1; this one reads layout 2, and nothing is migrated; remove it using 'ftpdtls sesscache remove' with the server's configuration file (-c FILE), or 'ipcrm -m %d'",
		id, uint32(ftok(mustFileID(t, path), 'F')), path, id)
	if !strings.Contains(log.String(), want) {
		t.Fatalf("log lacks\n%s\n:\n%s", want, log)
	}
	if got := strings.Join(NewSessionProvider().CheckInfo(info(path, 0)), "\n"); !strings.Contains(got, "would be refused") ||
		!strings.Contains(got, "segment layout 1") || !strings.Contains(got, "ftpdtls sesscache remove") {
		t.Fatalf("CheckInfo = %q", got)
	}
	// With a server attached, the advice is to stop it first.
	plog := attachedOpen(t, path, id)
	if !strings.Contains(plog, "stop the server using it (1 process is attached to it), then remove it using 'ftpdtls sesscache remove'") {
		t.Fatalf("the advice for an attached segment:\n%s", plog)
	}
	if err := NewSessionProvider().RemoveInfo(info(path, 0)); err != nil {
		t.Fatalf("RemoveInfo: %v", err)
	}
	if _, err := shmStat(id); err == nil {
		t.Fatal("the layout-1 segment survived RemoveInfo")
	}
	s := openSessionAt(t, path, 0)
	if s.c.t.h.Version != layoutVer {
		t.Fatalf("new segment of layout %d", s.c.t.h.Version)
	}
}

func mustFileID(t *testing.T, path string) fileID {
	t.Helper()
	fid, err := statFileID(path)
	if err != nil {
		t.Fatal(err)
	}
	return fid
}

// attachedOpen attaches segment id read-only (as a running server would
// be attached), tries an open of path and returns its log; the
// attachment is released before it returns.
func attachedOpen(t *testing.T, path string, id int) string {
	t.Helper()
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(mem)
	env, _, log, _ := testEnv(t)
	if c, err := NewSessionProvider().Open(info(path, 0), time.Hour, env); err == nil {
		c.Close()
		t.Fatal("opened")
	}
	return log.String()
}
