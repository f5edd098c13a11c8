package modtlsredis

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// proftpdSessionDER is a 129-byte stand-in for the TLS 1.2 SSL_SESSION of
// the spec's recorded entry: the same first 15 and last 6 bytes, so that
// its base64 starts and ends like the recorded value.
func proftpdSessionDER() []byte {
	head, _ := hex.DecodeString("307f020101020203030402c0300420")
	tail, _ := hex.DecodeString("01b30302011d")
	der := append([]byte{}, head...)
	der = append(der, bytes.Repeat([]byte{0x5a}, 129-len(head)-len(tail))...)
	return append(der, tail...)
}

func TestSessionKeyMatchesProFTPD(t *testing.T) {
	// Recorded from mod_tls_redis 0.1 (ProFTPD 1.3.8) with redis-cli MONITOR.
	const want = "mod_tls_redis.sessions.{\"id\":\"109b340510135aa468e60a17d961a67d2576320e23cf5f52f040fdcaf0936640\"}\x00"
	id, _ := hex.DecodeString("109b340510135aa468e60a17d961a67d2576320e23cf5f52f040fdcaf0936640")
	got := appendSessionKey(nil, id)
	if string(got) != want {
		t.Fatalf("key\n got %q\nwant %q", got, want)
	}
	if len(got) != 97 {
		t.Errorf("key length %d, ProFTPD's is 97", len(got))
	}
	// The trace's "(74 bytes)" counts the key without the namespace.
	if n := len(got) - len(sessionPrefix); n != 74 {
		t.Errorf("unprefixed key length %d, want 74", n)
	}
}

func TestSessionValueMatchesProFTPD(t *testing.T) {
	der := proftpdSessionDER()
	v := sessionFormat.appendValue(nil, 1795596671, der)
	if len(v) != 220 {
		t.Errorf("value length %d, the recorded one is 220", len(v))
	}
	if p := `{"expires":1795596671,"data":"MH8CAQECAgMDBALAMAQg`; !bytes.HasPrefix(v, []byte(p)) {
		t.Errorf("value %q does not start with %q", v, p)
	}
	if s := "AbMDAgEd\",\"data_len\":129}\x00"; !bytes.HasSuffix(v, []byte(s)) {
		t.Errorf("value %q does not end with %q", v, s)
	}
}

func TestOCSPEntryMatchesProFTPD(t *testing.T) {
	// Recorded from mod_tls_redis 0.1: a fake tryLater response, DER 30 03 0a 01 03.
	der := []byte{0x30, 0x03, 0x0a, 0x01, 0x03}
	const wantValue = `{"expires":1795595397,"response":"MAMKAQM=","response_len":5}` + "\x00"
	if got := ocspFormat.appendValue(nil, 1795595397, der); string(got) != wantValue {
		t.Errorf("value\n got %q\nwant %q", got, wantValue)
	}
	fp := "d5a9" + strings.Repeat("0", 32) + "d356"
	wantKey := `mod_tls_redis.ocsp.{"fingerprint":"` + fp + `"}` + "\x00"
	if got := appendOCSPKey(nil, fp); string(got) != wantKey {
		t.Errorf("key\n got %q\nwant %q", got, wantKey)
	}
	// A non-hex fingerprint stays valid JSON.
	if got := appendOCSPKey(nil, "a\"b\\c\n"); string(got) != `mod_tls_redis.ocsp.{"fingerprint":"a\"b\\c\u000a"}`+"\x00" {
		t.Errorf("escaped key %q", got)
	}
}

func TestDecode(t *testing.T) {
	der := proftpdSessionDER()
	compact := sessionFormat.appendValue(nil, 1795596671, der)
	tests := []struct {
		name    string
		value   string
		expires int64
		data    []byte
		wantErr bool
	}{
		{"compact with NUL", string(compact), 1795596671, der, false},
		{"compact without NUL", string(compact[:len(compact)-1]), 1795596671, der, false},
		{"reordered, spaced", `{ "data_len": 5, "data" : "MAMKAQM=", "expires": 1.5e9 }`, 1500000000, []byte{0x30, 3, 10, 1, 3}, false},
		{"two NULs after padding", `{"expires":7,"data":"MAMKAQM=","data_len":4}`, 7, []byte{0x30, 3, 10, 1}, false},
		{"empty data", `{"expires":7,"data":"","data_len":0}`, 7, []byte{}, false},
		{"not JSON", "not json", 0, nil, true},
		{"JSON array", `[1,2]`, 0, nil, true},
		{"missing expires", `{"data":"MAMKAQM=","data_len":5}`, 0, nil, true},
		{"missing data", `{"expires":7,"data_len":5}`, 0, nil, true},
		{"missing data_len", `{"expires":7,"data":"MAMKAQM="}`, 0, nil, true},
		{"string expires", `{"expires":"7","data":"MAMKAQM=","data_len":5}`, 0, nil, true},
		{"number data", `{"expires":7,"data":5,"data_len":5}`, 0, nil, true},
		{"bad base64", `{"expires":7,"data":"!!!!","data_len":3}`, 0, nil, true},
		{"data_len too big", `{"expires":7,"data":"MAMKAQM=","data_len":6}`, 0, nil, true},
		{"negative data_len", `{"expires":7,"data":"MAMKAQM=","data_len":-1}`, 0, nil, true},
		{"larger than mod_tls allows", string(sessionFormat.appendValue(nil, 7, make([]byte, MaxSessionSize+1))), 0, nil, true},
		{"largest mod_tls allows", string(sessionFormat.appendValue(nil, 7, make([]byte, MaxSessionSize))), 7, make([]byte, MaxSessionSize), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := sessionFormat.decode([]byte(tt.value))
			if tt.wantErr {
				if !errors.Is(err, errBadEntry) {
					t.Fatalf("decode: err %v, want errBadEntry", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if e.expires != tt.expires || !bytes.Equal(e.data, tt.data) {
				t.Errorf("decode = {%d, %x}, want {%d, %x}", e.expires, e.data, tt.expires, tt.data)
			}
		})
	}
}

func TestDecodeOCSPFieldNames(t *testing.T) {
	v := `{"expires":1795595397,"response":"MAMKAQM=","response_len":5}` + "\x00"
	e, err := ocspFormat.decode([]byte(v))
	if err != nil || e.expires != 1795595397 || !bytes.Equal(e.data, []byte{0x30, 3, 10, 1, 3}) {
		t.Fatalf("decode OCSP = %+v, %v", e, err)
	}
	// A session value is not an OCSP value.
	if _, err := ocspFormat.decode([]byte(`{"expires":1,"data":"MAMKAQM=","data_len":5}`)); !errors.Is(err, errBadEntry) {
		t.Errorf("session value decoded as OCSP: %v", err)
	}
}

func TestDecodeCompactNoAllocBeyondData(t *testing.T) {
	v := sessionFormat.appendValue(nil, 1795596671, bytes.Repeat([]byte{7}, 200))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := sessionFormat.decode(v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("decode of a compact value: %v allocations, want 1 (the data)", allocs)
	}
}
