package modtlsredis

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// ocspResponse returns a signed "good" response from a test CA, valid
// until nextUpdate (none if zero).
func ocspResponse(nextUpdate time.Time) []byte {
	return testpki.NewCA().OCSPResponse(big.NewInt(42), testpki.OCSP{NextUpdate: nextUpdate})
}

func TestOCSPRoundTrip(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	c := openOCSP(t, serverSettings(r.addr()))
	sum := sha1.Sum([]byte("certificate"))
	fp := hex.EncodeToString(sum[:])
	tryLater := []byte{0x30, 0x03, 0x0a, 0x01, 0x03}
	nextUpdate := time.Now().Add(6 * time.Hour).Truncate(time.Second)

	tests := []struct {
		name   string
		der    []byte
		cached time.Time
		expiry time.Time // zero: an hour after cached
	}{
		{"fake tryLater, no nextUpdate", tryLater, time.Now().Add(-10 * time.Minute), time.Time{}},
		{"good with nextUpdate", ocspResponse(nextUpdate), time.Now(), nextUpdate},
		{"good without nextUpdate", ocspResponse(time.Time{}), time.Now(), time.Time{}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cached := tt.cached.Truncate(time.Second)
			if err := c.Add(fp, tt.der, cached); err != nil {
				t.Fatalf("Add: %v", err)
			}
			key := string(appendOCSPKey(nil, fp))
			raw, err := rdb.Get(bg(), key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if want := ocspFormat.appendValue(nil, cached.Unix(), tt.der); !bytes.Equal(raw, want) {
				t.Errorf("stored value %q, want %q", raw, want)
			}
			want := tt.expiry
			if want.IsZero() {
				want = cached.Add(time.Hour)
			}
			if at, err := rdb.ExpireTime(bg(), key).Result(); err != nil || at != time.Duration(want.Unix())*time.Second {
				t.Errorf("EXPIRETIME %v (%v), want %d", at/time.Second, err, want.Unix())
			}
			der, gotCached, err := c.Get(fp)
			if err != nil || !bytes.Equal(der, tt.der) || !gotCached.Equal(cached) {
				t.Errorf("Get = %x, %v, %v; want %x, %v", der, gotCached, err, tt.der, cached)
			}
			n := itoa(i + 1)
			wantCounters(t, rdb, c.s, map[string]string{"cache_stores": n, "cache_hits": n})
		})
	}

	if _, _, err := c.Get("00"); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("Get of unknown fingerprint: %v", err)
	}
	if err := c.Delete(fp); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(fp); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("Get after Delete: %v", err)
	}
	wantCounters(t, rdb, c.s, map[string]string{"cache_stores": "3", "cache_hits": "3", "cache_misses": "2", "cache_deletes": "1"})

	// Too large, and already expired, responses are not stored.
	if err := c.Add("aa", make([]byte, MaxResponseSize+1), time.Now()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Add of %d bytes: %v, want ErrTooLarge", MaxResponseSize+1, err)
	}
	if got := counters(t, rdb, c.s)["cache_max_resp_len"]; got != itoa(MaxResponseSize+1) {
		t.Errorf("cache_max_resp_len = %q", got)
	}
	if err := c.Add("bb", ocspResponse(time.Now().Add(-time.Minute)), time.Now()); err != nil {
		t.Errorf("Add of an expired response: %v", err)
	}
	if rdb.Exists(bg(), string(appendOCSPKey(nil, "bb"))).Val() != 0 {
		t.Error("a response past its nextUpdate was stored")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
