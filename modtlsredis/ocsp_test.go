package modtlsredis

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// ocspResponse returns a signed "good" response for a certificate issued
// by the self-signed cert, valid until nextUpdate (none if zero).
func ocspResponse(t *testing.T, nextUpdate time.Time) []byte {
	t.Helper()
	issuer := selfSigned(t)
	leaf, err := x509.ParseCertificate(issuer.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	der, err := ocsp.CreateResponse(leaf, leaf, ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: big.NewInt(42),
		ThisUpdate:   time.Now().Add(-time.Minute),
		NextUpdate:   nextUpdate,
	}, issuer.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return der
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
		name    string
		der     []byte
		cached  time.Time
		wantTTL time.Duration
	}{
		{"fake tryLater, no nextUpdate", tryLater, time.Now().Add(-10 * time.Minute), 50 * time.Minute},
		{"good with nextUpdate", ocspResponse(t, nextUpdate), time.Now(), time.Until(nextUpdate)},
		{"good without nextUpdate", ocspResponse(t, time.Time{}), time.Now(), time.Hour},
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
			ttl := rdb.TTL(bg(), key).Val()
			if ttl > tt.wantTTL+2*time.Second || ttl < tt.wantTTL-3*time.Second {
				t.Errorf("TTL %v, want about %v", ttl, tt.wantTTL)
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
	if err := c.Add("bb", ocspResponse(t, time.Now().Add(-time.Minute)), time.Now()); err != nil {
		t.Errorf("Add of an expired response: %v", err)
	}
	if rdb.Exists(bg(), string(appendOCSPKey(nil, "bb"))).Val() != 0 {
		t.Error("a response past its nextUpdate was stored")
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
