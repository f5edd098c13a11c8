package modtls

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrBadSession: bytes that do not start like a crypto/tls server
// SessionState.
var ErrBadSession = errors.New("malformed TLS session state")

// SessionInfo is what a cache's verbose status shows about one stored
// session, ProFTPD's "SSL SESSION PARAMETERS" block.
type SessionInfo struct {
	Version     uint16 // tls.VersionTLS12, tls.VersionTLS13, ...
	VersionName string // "TLSv1.2", "TLSv1.3", as OpenSSL names them; "unknown" otherwise
	CipherSuite uint16
	Created     time.Time // when the session's secret was made (SSL_SESSION_get_time)
	// VHost is the id of the virtual host that issued the session (0 when
	// the state carries none).
	VHost uint32
}

// DescribeSession reads the fixed-position fields of a crypto/tls
// SessionState.Bytes() encoding (crypto/tls ticket.go):
//
//	uint16 version;
//	uint8  type;          /* server(1), client(2) */
//	uint16 cipher_suite;
//	uint64 created_at;    /* seconds since the Unix epoch */
//	opaque secret<1..2^8-1>;
//	Extra  extra<0..2^24-1>;
//	...
//
// and the vhost entry modtls puts in Extra. It does not parse the
// certificates that follow, and it never allocates beyond the result.
func DescribeSession(state []byte) (SessionInfo, error) {
	const fixed = 2 + 1 + 2 + 8
	if len(state) < fixed+1 {
		return SessionInfo{}, fmt.Errorf("%w: %d bytes", ErrBadSession, len(state))
	}
	if state[2] != 1 {
		return SessionInfo{}, fmt.Errorf("%w: not a server session (type %d)", ErrBadSession, state[2])
	}
	info := SessionInfo{
		Version:     binary.BigEndian.Uint16(state[0:2]),
		CipherSuite: binary.BigEndian.Uint16(state[3:5]),
		Created:     time.Unix(int64(binary.BigEndian.Uint64(state[5:13])), 0),
	}
	info.VersionName = VersionName(info.Version)
	rest := state[fixed:]
	secretLen := int(rest[0])
	if len(rest) < 1+secretLen+3 {
		return info, fmt.Errorf("%w: truncated secret", ErrBadSession)
	}
	rest = rest[1+secretLen:]
	extraLen := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
	rest = rest[3:]
	if len(rest) < extraLen {
		return info, fmt.Errorf("%w: truncated extra", ErrBadSession)
	}
	for extras := rest[:extraLen]; len(extras) >= 3; {
		n := int(extras[0])<<16 | int(extras[1])<<8 | int(extras[2])
		if len(extras) < 3+n {
			return info, fmt.Errorf("%w: truncated extra entry", ErrBadSession)
		}
		if id, ok := parseVHostExtra(extras[3 : 3+n]); ok {
			info.VHost = id
		}
		extras = extras[3+n:]
	}
	return info, nil
}

// VersionName names a TLS version as OpenSSL's SSL_SESSION_get_protocol_version
// output appears in ProFTPD's status ("TLSv1.3"), or "unknown".
func VersionName(v uint16) string {
	switch v {
	case tls.VersionSSL30: //nolint:staticcheck // named for completeness
		return "SSLv3"
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}
