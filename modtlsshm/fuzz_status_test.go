package modtlsshm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

type statusSeed struct {
	key, state           []byte
	when                 int64
	hits, errs, exceeded uint64
	verbose, ocsp        bool
}

func statusSeeds() []statusSeed {
	created := time.Unix(fuzzCreated, 0)
	return []statusSeed{
		{[]byte("0123456789abcdef0123456789abcdef"), tlsState(created, 57, 0x11), fuzzNow + 1800, 3, 0, 0, true, false},
		{bytes.Repeat([]byte{0xfe}, 32), tlsState(created, 2000, 0xee), fuzzNow + 60, math.MaxUint64, math.MaxUint64, 1, true, false},
		{[]byte("k"), []byte("not a TLS session state"), math.MinInt64, 0, 7, math.MaxUint64, true, false},
		{[]byte(strings.Repeat("ab", 20)), bytes.Repeat([]byte{0x30}, 1500), fuzzNow - 10, 1, 1, 4097, false, true},
		{bytes.Repeat([]byte{0xcd}, 32), tlsState(created, 64, 0xcd), math.MaxInt64, 0, 0, 0, true, false},
	}
}

// FuzzStatus prints the status of a segment holding one entry (arbitrary
// key, state and expiry) with arbitrary counters, plain and verbose. It
// must not panic; every line fits a control response (1023 characters);
// the counters are printed exactly; and neither the state nor more of
// the session id than its 4-byte prefix appears in the text.
//
//	go test ./modtlsshm/ -run '^$' -fuzz '^FuzzStatus$' -fuzztime 60s -parallel 1
func FuzzStatus(f *testing.F) {
	for _, s := range statusSeeds() {
		f.Add(s.key, s.state, s.when, s.hits, s.errs, s.exceeded, s.verbose, s.ocsp)
	}
	f.Fuzz(func(t *testing.T, key, state []byte, when int64, hits, errs, exceeded uint64, verbose, ocsp bool) {
		k, size, nouns, noun := sessionKind, fuzzSessionSize, "sessions", "session"
		if ocsp {
			k, size, nouns, noun = ocspKind, fuzzOCSPSize, "responses", "response"
		}
		seg := memSegment(size)
		fuzzGeometry(seg, k)
		c := fuzzCache(seg, k)
		stored := len(key) > 0 && len(key) <= k.maxKey && len(state) <= k.maxData
		if stored {
			if err := c.t.add(key, state, when, fuzzNow); err != nil {
				t.Fatal(err)
			}
		}
		c.t.mine.Hits.Store(hits)
		st := &c.t.h.Stats
		st[statErrors].Store(errs)
		st[statExceeded].Store(exceeded)
		st[statExceededMax].Store(exceeded / 3)
		var out bytes.Buffer
		if err := c.status(&out, verbose && !ocsp); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		checkStatusText(t, text, k)
		for _, want := range []string{
			fmt.Sprintf("Cache lifetime hits: %d\n", hits),
			fmt.Sprintf("Cache lifetime errors handling %s in cache: %d\n", nouns, errs),
			fmt.Sprintf("Cache lifetime %s exceeding max entry size: %d\n", nouns, exceeded),
		} {
			if !strings.Contains(text, want) {
				t.Fatalf("status lacks %q:\n%s", want, text)
			}
		}
		if largest := fmt.Sprintf("  Largest %s exceeding max entry size: %d\n", noun, exceeded/3); (exceeded > 0) != strings.Contains(text, largest) {
			t.Fatalf("largest-entry line wrong for %d:\n%s", exceeded, text)
		}
		if stored && !ocsp {
			// Long enough, with a hex letter, not to turn up by chance.
			if h := hex.EncodeToString(key); len(key) >= 8 && strings.ContainsAny(h, "abcdef") && strings.Contains(text, h) {
				t.Fatalf("status shows the whole session id %s:\n%s", h, text)
			}
			if h := hex.EncodeToString(state); len(state) >= 8 && strings.ContainsAny(h, "abcdef") && strings.Contains(strings.ToLower(text), h) {
				t.Fatalf("status shows the session state:\n%s", text)
			}
		}
	})
}
