package modtlsshm

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// DefaultSize is the segment size requested when the info string names
// none: ProFTPD's 1538 KiB. It holds about 10,650 typical TLS 1.3
// sessions here (ProFTPD: 153) or about 950 typical OCSP responses.
const DefaultSize = 1538 * 1024

// ErrBadInfo: the info string after "shm:" is not /file=PATH[&size=BYTES]
// with an absolute PATH, or Options name no absolute File or a Size out
// of range.
var ErrBadInfo = errors.New("badly formatted shmcache info")

// infoError is a parse failure; its text is ProFTPD's NOTICE text.
type infoError struct{ text string }

func (e *infoError) Error() string { return e.text }
func (e *infoError) Unwrap() error { return ErrBadInfo }

// cacheInfo is a parsed info string.
type cacheInfo struct {
	path string
	size int64 // requested size, before rounding
	// notes are ProFTPD's level-1 trace lines about an ignored size=.
	notes []string
}

// parseInfo parses "/file=PATH[&size=BYTES]" as ProFTPD does,
// without modifying info (ProFTPD overwrote the '&' in the caller's
// string, B23). A size= that is malformed, negative (B25) or below the
// minimum is ignored with a note and DefaultSize used. The error's text
// is ProFTPD's NOTICE text.
func parseInfo(info string, k *kindSpec) (cacheInfo, error) {
	const prefix = "/file="
	if !strings.HasPrefix(info, prefix) {
		return cacheInfo{}, &infoError{fmt.Sprintf("badly formatted info '%s', unable to open shmcache", info)}
	}
	ci := cacheInfo{size: DefaultSize}
	path, param, hasParam := strings.Cut(info[len(prefix):], "&")
	ci.path = path
	if hasParam {
		n, ok := parseSizeParam(param)
		switch {
		case !ok:
			ci.notes = append(ci.notes, fmt.Sprintf("badly formatted size parameter '%s', ignoring", param))
		case n < k.minRequest:
			ci.notes = append(ci.notes, fmt.Sprintf("requested size (%d bytes) smaller than minimum size (%d bytes), ignoring", n, k.minRequest))
		default:
			ci.size = n
		}
	}
	if !strings.HasPrefix(path, "/") {
		return ci, &infoError{fmt.Sprintf("file '%s' not an absolute path", path)}
	}
	return ci, nil
}

// parseSizeParam reads "size=N" with strtol's rules as ProFTPD applies
// them: leading white space and '+' allowed, decimal digits only, nothing
// after them, an empty number reads as 0, and an overflow saturates.
// Unlike ProFTPD, a negative number is refused (B25).
func parseSizeParam(param string) (int64, bool) {
	s, ok := strings.CutPrefix(param, "size=")
	if !ok {
		return 0, false
	}
	if s == "" {
		return 0, true
	}
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if s == "" {
		return 0, false // only white space: strtol reads no number
	}
	neg := false
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		neg = true
		s = s[1:]
	}
	if s == "" {
		// strtol reads no number: "size=+" is size 0 with "+" left over.
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
		} else if n != math.MaxInt64 {
			n = n*10 + d
		}
	}
	if neg && n != 0 {
		return 0, false
	}
	return n, true
}
