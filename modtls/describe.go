package modtls

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
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

// DescribeSession reads the leading fields of a crypto/tls
// SessionState.Bytes() encoding (crypto/tls ticket.go):
//
//	uint16 version;
//	uint8  type;          /* server(1), client(2) */
//	uint16 cipher_suite;
//	uint64 created_at;    /* seconds since the Unix epoch */
//	opaque secret<1..2^8-1>;
//	Extra  extra<0..2^24-1>;   /* opaque entries<0..2^24-1> */
//	...
//
// and the vhost entry modtls puts in Extra. It does not parse the
// certificates that follow.
func DescribeSession(state []byte) (SessionInfo, error) {
	s := cryptobyte.String(state)
	var info SessionInfo
	var typ uint8
	var created uint64
	if !s.ReadUint16(&info.Version) || !s.ReadUint8(&typ) || !s.ReadUint16(&info.CipherSuite) || !s.ReadUint64(&created) {
		return SessionInfo{}, fmt.Errorf("%w: %d bytes", ErrBadSession, len(state))
	}
	if typ != 1 {
		return SessionInfo{}, fmt.Errorf("%w: not a server session (type %d)", ErrBadSession, typ)
	}
	info.Created = time.Unix(int64(created), 0)
	info.VersionName = VersionName(info.Version)
	var secret, extras cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&secret) || secret.Empty() {
		return info, fmt.Errorf("%w: truncated secret", ErrBadSession)
	}
	if !s.ReadUint24LengthPrefixed(&extras) {
		return info, fmt.Errorf("%w: truncated extra", ErrBadSession)
	}
	for !extras.Empty() {
		var e cryptobyte.String
		if !extras.ReadUint24LengthPrefixed(&e) {
			return info, fmt.Errorf("%w: truncated extra entry", ErrBadSession)
		}
		if id, ok := parseVHostExtra(e); ok {
			info.VHost = id
		}
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
