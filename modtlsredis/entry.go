package modtlsredis

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// The Redis data of mod_tls_redis, byte for byte, so that ProFTPD and
// ftpdtls nodes can share one Redis database and its tooling.
//
// Every key starts with the cache's namespace, which mod_redis prepends
// without a separator:
//
//	sessions:  "mod_tls_redis.sessions."   (23 bytes)
//	OCSP:      "mod_tls_redis.ocsp."       (19 bytes)
//
// An entry's key is the namespace, a compact JSON object naming the
// entry, and one NUL byte (the C string's terminator, which mod_tls_redis
// counts in the key's length):
//
//	mod_tls_redis.sessions.{"id":"<session id, lowercase hex>"}\x00
//	mod_tls_redis.ocsp.{"fingerprint":"<SHA-1 of the cert DER, lowercase hex>"}\x00
//
// Its value is a compact JSON object, also followed by a NUL byte, with
// the fields in this order:
//
//	{"expires":<unix seconds>,"data":"<base64>","data_len":<bytes>}\x00           session
//	{"expires":<unix seconds>,"response":"<base64>","response_len":<bytes>}\x00   OCSP
//
// Numbers are plain decimal integers (mod_tls_redis prints them with
// %.16g, which is the same for every time and length it stores). Base64 is
// the standard alphabet with padding and no line breaks. For a session,
// "expires" is when the session ends; for an OCSP response it is when the
// response was obtained (ProFTPD's "age"), despite the name. Session data
// written by ProFTPD is an OpenSSL i2d_SSL_SESSION DER; ftpdtls writes the
// bytes of a crypto/tls SessionState, so each side can read the other's
// entries but not resume them (see doc.go).
//
// Readers accept what mod_tls_redis's JSON reader accepts: any field
// order, white space, a value with or without the trailing NUL, and
// numbers in any JSON form. A key without its NUL is a different key.
//
// The counters are plain keys in the same namespace, without NUL, whose
// values are ASCII decimals (INCR/INCRBY): see counters.go.
const (
	sessionPrefix = "mod_tls_redis.sessions."
	ocspPrefix    = "mod_tls_redis.ocsp."
)

// Size limits of mod_tls: larger sessions and responses are not stored in
// Redis (TLS_MAX_SSL_SESSION_SIZE, TLS_MAX_OCSP_RESPONSE_SIZE).
const (
	MaxSessionSize  = 10240
	MaxResponseSize = 4096
)

// errBadEntry classifies values that are not a valid cache entry.
var errBadEntry = errors.New("invalid cache entry")

// entryFormat names the JSON fields of one kind of entry.
type entryFormat struct {
	prefix  string // namespace
	data    string // "data" or "response"
	dataLen string // "data_len" or "response_len"
	// max is the largest data a reader accepts, as mod_tls_redis since
	// 1.3.8 does.
	max int
}

var (
	sessionFormat = entryFormat{sessionPrefix, "data", "data_len", MaxSessionSize}
	ocspFormat    = entryFormat{ocspPrefix, "response", "response_len", MaxResponseSize}
)

// appendSessionKey appends the Redis key of a session id to dst.
func appendSessionKey(dst, id []byte) []byte {
	dst = append(dst, sessionPrefix...)
	dst = append(dst, `{"id":"`...)
	dst = hex.AppendEncode(dst, id)
	return append(dst, "\"}\x00"...)
}

// appendOCSPKey appends the Redis key of a certificate fingerprint to dst.
// Fingerprints are lowercase hex, which JSON needs no escaping for; any
// other byte is escaped as a JSON string would be.
func appendOCSPKey(dst []byte, fingerprint string) []byte {
	dst = append(dst, ocspPrefix...)
	dst = append(dst, `{"fingerprint":`...)
	dst = appendJSONString(dst, fingerprint)
	return append(dst, "}\x00"...)
}

// appendJSONString appends s as a JSON string literal in the compact form
// ccan-json writes: only '"', '\\' and control characters are escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendValue appends an entry's value for data to dst.
func (f *entryFormat) appendValue(dst []byte, expires int64, data []byte) []byte {
	dst = append(dst, `{"expires":`...)
	dst = strconv.AppendInt(dst, expires, 10)
	dst = append(dst, `,"`...)
	dst = append(dst, f.data...)
	dst = append(dst, `":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, data)
	dst = append(dst, `","`...)
	dst = append(dst, f.dataLen...)
	dst = append(dst, `":`...)
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	return append(dst, "}\x00"...)
}

// entry is a decoded value.
type entry struct {
	expires int64
	data    []byte
}

// decode parses a value written by ftpdtls or mod_tls_redis. Its errors
// wrap errBadEntry and carry mod_tls_redis's wording.
func (f *entryFormat) decode(value []byte) (entry, error) {
	if n := len(value); n > 0 && value[n-1] == 0 {
		value = value[:n-1]
	}
	// A valid value is the base64 of at most max bytes and some JSON
	// around it; anything much longer is refused before decoding.
	if len(value) > 2*f.max+256 {
		return entry{}, fmt.Errorf("%w: %d-byte value", errBadEntry, len(value))
	}
	e, ok := f.decodeCompact(value)
	if !ok {
		var err error
		if e, err = f.decodeJSON(value); err != nil {
			return entry{}, err
		}
	}
	if len(e.data) > f.max {
		return entry{}, fmt.Errorf("%w: %d bytes of %s, more than %d", errBadEntry, len(e.data), f.data, f.max)
	}
	return e, nil
}

// decodeJSON reads any JSON object with the entry's fields.
func (f *entryFormat) decodeJSON(value []byte) (entry, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil || fields == nil {
		return entry{}, fmt.Errorf("%w: not a JSON object", errBadEntry)
	}
	var e entry
	expires, err := jsonNumber(fields, "expires")
	if err != nil {
		return entry{}, err
	}
	e.expires = expires
	raw, ok := fields[f.data]
	if !ok {
		return entry{}, fmt.Errorf("%w: missing required '%s' JSON field", errBadEntry, f.data)
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return entry{}, fmt.Errorf("%w: non-string '%s' JSON field", errBadEntry, f.data)
	}
	if e.data, err = base64.StdEncoding.DecodeString(text); err != nil {
		return entry{}, fmt.Errorf("%w: error base64-decoding %s", errBadEntry, f.data)
	}
	n, err := jsonNumber(fields, f.dataLen)
	if err != nil {
		return entry{}, err
	}
	if n < 0 || n > int64(len(e.data)) {
		return entry{}, fmt.Errorf("%w: '%s' %d does not match %d decoded bytes", errBadEntry, f.dataLen, n, len(e.data))
	}
	// data_len is authoritative: mod_tls_redis may leave up to two NULs
	// from its base64 decoder on the end.
	e.data = e.data[:n]
	return e, nil
}

// jsonNumber reads a required number field, as a double like ccan-json,
// and returns it truncated to an integer.
func jsonNumber(fields map[string]json.RawMessage, name string) (int64, error) {
	raw, ok := fields[name]
	if !ok {
		return 0, fmt.Errorf("%w: missing required '%s' JSON field", errBadEntry, name)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%w: non-number '%s' JSON field", errBadEntry, name)
	}
	if math.IsNaN(v) || v < math.MinInt64 || v >= math.MaxInt64 {
		return 0, fmt.Errorf("%w: '%s' out of range", errBadEntry, name)
	}
	return int64(v), nil
}

// decodeCompact reads the exact layout appendValue writes, which is what
// both ftpdtls and mod_tls_redis store, without encoding/json. It reports
// false for anything else, which decode then reads the slow way.
func (f *entryFormat) decodeCompact(v []byte) (entry, bool) {
	rest, ok := cutPrefix(v, `{"expires":`)
	if !ok {
		return entry{}, false
	}
	expires, rest, ok := cutInt(rest)
	if !ok {
		return entry{}, false
	}
	if rest, ok = cutPrefix(rest, `,"`); !ok {
		return entry{}, false
	}
	if rest, ok = cutPrefix(rest, f.data); !ok {
		return entry{}, false
	}
	if rest, ok = cutPrefix(rest, `":"`); !ok {
		return entry{}, false
	}
	end := 0
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' {
			return entry{}, false
		}
		end++
	}
	if end == len(rest) {
		return entry{}, false
	}
	b64 := rest[:end]
	rest = rest[end+1:]
	if rest, ok = cutPrefix(rest, `,"`); !ok {
		return entry{}, false
	}
	if rest, ok = cutPrefix(rest, f.dataLen); !ok {
		return entry{}, false
	}
	if rest, ok = cutPrefix(rest, `":`); !ok {
		return entry{}, false
	}
	n, rest, ok := cutInt(rest)
	if !ok || string(rest) != "}" {
		return entry{}, false
	}
	data := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	m, err := base64.StdEncoding.Decode(data, b64)
	if err != nil || n < 0 || n > int64(m) {
		return entry{}, false
	}
	return entry{expires: expires, data: data[:n]}, true
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// cutInt reads a non-negative decimal integer of at most 18 digits.
func cutInt(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for i < len(b) && i < 18 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
		return 0, b, false
	}
	return n, b[i:], true
}
