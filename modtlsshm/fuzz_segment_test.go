package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// The segment reader works on a []byte, so the fuzz targets run it over
// ordinary memory standing in for a SysV segment: no shmget, no limits on
// segments, thousands of executions a second.

// Geometry of the fake segments: the smallest each kind accepts.
const (
	fuzzSessionSize = 12288
	fuzzOCSPSize    = 8192
	fuzzSeed        = 0x5eed5eed5eed5eed
	fuzzCreated     = 1_800_000_000
	fuzzNow         = 1_800_000_100
)

var fuzzFile = fileID{dev: 0x801, ino: 4242}

// memSegment returns size bytes of 8-byte-aligned memory (the header's
// atomic words need it).
func memSegment(size int) []byte {
	words := make([]uint64, size/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), size)
}

// fuzzGeometry writes a valid header of kind k (fixed seed and creation
// time) over seg, leaving the run-time fields, index and log as they are.
func fuzzGeometry(seg []byte, k *kindSpec) {
	g, _ := computeGeometry(uint64(len(seg)), k)
	initHeader(seg, g, k, fuzzFile)
	h := rawHeader(seg)
	h.Seed = fuzzSeed
	h.Created = fuzzCreated
	h.GeomSum = geomSum(h)
}

// fuzzCache wraps an accepted segment in a cache, as open would, with no
// trace or logs and a fixed clock.
func fuzzCache(seg []byte, k *kindSpec) *cache {
	c := &cache{k: k, p: newProvider(k), timeout: time.Hour, now: func() time.Time { return time.Unix(fuzzNow, 0) }, shmid: -1}
	c.t = newTable(seg, k, -1, -1, nil)
	c.large = newLargeList()
	return c
}

// segmentInput turns fuzz bytes into a segment: byte 0 chooses the kind
// (bit 0: OCSP) and whether a valid header is written over the input
// (bit 1), so that the run-time fields, index and log are reached; the
// rest is the segment's bytes (zeros after the end of the input).
func segmentInput(data []byte) ([]byte, *kindSpec) {
	mode := byte(0)
	if len(data) > 0 {
		mode, data = data[0], data[1:]
	}
	k, size := sessionKind, fuzzSessionSize
	if mode&1 != 0 {
		k, size = ocspKind, fuzzOCSPSize
	}
	seg := memSegment(size)
	copy(seg, data)
	if mode&2 != 0 {
		fuzzGeometry(seg, k)
	}
	// A lock word naming a live process makes writers wait up to
	// lockTimeout (10 s); one naming a dead process costs 50 ms. Both are
	// exercised by the crash and corruption tests; here it would only
	// slow the fuzzer down.
	rawHeader(seg).Lock.Store(0)
	return seg, k
}

// readable lists, for every key, the values of the records anywhere in
// the log that are whole (bounds and checksum): the only values a get may
// return, whatever the damage.
func readable(tb *table) map[string][][]byte {
	out := map[string][][]byte{}
	for off := uint64(0); off+recHdrSize <= uint64(len(tb.data)); off += 8 {
		r, ok := tb.recordAt(off)
		if !ok || r.Kind != recEntry || r.Flags&recDead != 0 {
			continue
		}
		k := off + recHdrSize
		v := k + uint64(r.KeyLen)
		end := v + uint64(r.DataLen)
		if crc32.Checksum(tb.data[off+4:end], castagnoli) != r.Sum {
			continue
		}
		key := string(tb.data[k:v])
		out[key] = append(out[key], bytes.Clone(tb.data[v:end]))
	}
	return out
}

// FuzzSegment treats arbitrary bytes as a segment: header validation,
// then (if accepted) lookups, the status with the session list, a delete,
// an add, and a repair. Nothing may panic or hang; validation refuses
// with ErrForeignSegment or ErrCorruptSegment; a get returns only a
// value some whole record holds for that key; after a repair the index
// and header agree with the log, and the table stores and returns a new
// entry.
//
//	go test ./modtlsshm/ -run '^$' -fuzz '^FuzzSegment$' -fuzztime 60s -parallel 1
func FuzzSegment(f *testing.F) {
	for _, s := range segmentSeeds() {
		f.Add(s)
	}
	f.Fuzz(fuzzSegmentOnce)
}

func fuzzSegmentOnce(t *testing.T, data []byte) {
	{
		seg, k := segmentInput(data)
		if err := checkHeaderNow(seg, k, fuzzFile); err != nil {
			if !errors.Is(err, ErrForeignSegment) && !errors.Is(err, ErrCorruptSegment) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		c := fuzzCache(seg, k)
		tb := c.t
		allowed := readable(tb)
		keys := [][]byte{[]byte("fuzz-key-00000000000000000000000"), {0}}
		for key := range allowed {
			keys = append(keys, []byte(key))
		}
		for _, key := range keys {
			if len(key) == 0 || len(key) > k.maxKey {
				continue
			}
			v, _, res, err := tb.get(key, fuzzNow)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if res != resHit {
				continue
			}
			found := false
			for _, a := range allowed[string(key)] {
				found = found || bytes.Equal(a, v)
			}
			if !found {
				t.Fatalf("get %q returned %d bytes no whole record holds", key, len(v))
			}
		}
		var out bytes.Buffer
		if err := c.status(&out, k == sessionKind); err != nil {
			t.Fatalf("status: %v", err)
		}
		checkStatusText(t, out.String(), k)
		if len(keys) > 2 {
			if _, err := tb.del(keys[2], fuzzNow); err != nil {
				t.Fatal(err)
			}
		}
		key := []byte("fuzz-new-entry-0000000000000000")
		val := bytes.Repeat([]byte{0xa5}, 100)
		if err := tb.add(key, val, fuzzNow+3600, fuzzNow); err != nil {
			t.Fatal(err)
		}
		if err := tb.beginWrite(); err != nil {
			t.Fatal(err)
		}
		tb.repair()
		tb.endWrite()
		checkInvariants(t, tb)
		if err := tb.add(key, val, fuzzNow+3600, fuzzNow); err != nil {
			t.Fatal(err)
		}
		if v, _, res, _ := tb.get(key, fuzzNow); res != resHit || !bytes.Equal(v, val) {
			t.Fatalf("after repair, a new entry reads back as %v", res)
		}
		checkInvariants(t, tb)
	}
}

// segmentSeeds are real segments of both kinds, made by the cache
// itself: empty, partly filled, wrapped round with padding, with deleted
// and replaced entries, and one with a header that fails validation.
func segmentSeeds() [][]byte {
	var seeds [][]byte
	for _, k := range []*kindSpec{sessionKind, ocspKind} {
		size, mode := fuzzSessionSize, byte(2)
		if k == ocspKind {
			size, mode = fuzzOCSPSize, 3
		}
		for _, n := range []int{0, 3, 40} {
			seg := memSegment(size)
			fuzzGeometry(seg, k)
			c := fuzzCache(seg, k)
			for i := 0; i < n; i++ {
				key := []byte(fmt.Sprintf("seed-%026d", i%17))
				if k == ocspKind {
					key = []byte(fmt.Sprintf("%040x", i%17))
				}
				val := tlsState(time.Unix(fuzzCreated, 0), 57+(i*397)%(k.maxData/3), byte(i))
				c.t.add(key, val, fuzzNow+int64(i%3-1)*100, fuzzNow)
				if i%5 == 4 {
					c.t.del(key, fuzzNow)
				}
			}
			seeds = append(seeds, append([]byte{mode}, bytes.TrimRight(seg, "\x00")...))
		}
	}
	// A session segment whose header checksum fails, and a foreign one.
	seg := memSegment(fuzzSessionSize)
	fuzzGeometry(seg, sessionKind)
	rawHeader(seg).DataSize += 8
	seeds = append(seeds, append([]byte{0}, bytes.TrimRight(seg, "\x00")...))
	seeds = append(seeds, []byte("\x00some other program's segment"))
	return seeds
}

// checkStatusText checks what every status must say, and that no line is
// longer than a ProFTPD control response line (1023 characters).
func checkStatusText(t *testing.T, text string, k *kindSpec) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 1023 {
			t.Fatalf("status line of %d characters", len(line))
		}
	}
	nouns := "sessions"
	if k == ocspKind {
		nouns = "responses"
	}
	for _, want := range []string{"Cache lifetime hits: ", "Cache lifetime errors handling " + nouns + " in cache: ", "Shared memory layout: "} {
		if !strings.Contains(text, want) {
			t.Fatalf("status lacks %q:\n%s", want, text)
		}
	}
}

// TestFuzzSeedCorpus checks that the seed corpora of the fuzz targets
// in testdata/fuzz/<Target>/ are there and are what the code makes (go
// test reads them on every run, and the fuzzer starts from them): a
// missing or stale file fails. With FTPDTLS_WRITE_SEEDS=1 it rewrites
// them instead:
//
//	FTPDTLS_WRITE_SEEDS=1 go test ./modtlsshm/ -run TestFuzzSeedCorpus
func TestFuzzSeedCorpus(t *testing.T) {
	files := map[string]string{}
	add := func(target string, i int, vals ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case string:
				fmt.Fprintf(&b, "string(%q)\n", v)
			case bool:
				fmt.Fprintf(&b, "bool(%v)\n", v)
			case uint64:
				fmt.Fprintf(&b, "uint64(%d)\n", v)
			case int64:
				fmt.Fprintf(&b, "int64(%d)\n", v)
			default:
				t.Fatalf("type %T", v)
			}
		}
		files[filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed%02d", i))] = b.String()
	}
	for i, s := range segmentSeeds() {
		add("FuzzSegment", i, s)
	}
	for i, s := range []string{
		"/file=/var/ftpd/sess_cache&size=1574912", "/file=/tmp/x&size= +20480", "/file=/tmp/x&size=-1",
		"/file=/tmp/x&size=12abc", "/file=relative", "file=/tmp/x", "/file=/a&b&size=20000",
	} {
		add("FuzzParseInfo", i, s)
	}
	for i, s := range statusSeeds() {
		add("FuzzStatus", i, s.key, s.state, s.when, s.hits, s.errs, s.exceeded, s.verbose, s.ocsp)
	}
	write := os.Getenv("FTPDTLS_WRITE_SEEDS") == "1"
	for path, want := range files {
		if write {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		switch {
		case err != nil:
			t.Errorf("seed corpus file %s: %v (write it with FTPDTLS_WRITE_SEEDS=1 go test ./modtlsshm/ -run TestFuzzSeedCorpus)", path, err)
		case string(got) != want:
			t.Errorf("seed corpus file %s is not what the code makes (rewrite it with FTPDTLS_WRITE_SEEDS=1 go test ./modtlsshm/ -run TestFuzzSeedCorpus)", path)
		}
	}
}
