package modtls

import (
	"errors"
	"math"
)

// errInvalid is strerror(EINVAL), which ProFTPD's parse errors quote.
var errInvalid = errors.New("Invalid argument")

// strtol is C's strtol(s, &end, 10) on a 64-bit long: leading spaces, an
// optional sign, decimal digits, saturating at the long range. rest is
// what follows the number; with no digits at all the value is 0 and rest
// is the whole of s, as strtol leaves end at the start.
func strtol(s string) (v int64, rest string) {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var u uint64
	over := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if !over {
			u = u*10 + uint64(s[i]-'0')
			if u > math.MaxInt64 {
				over = true
			}
		}
		i++
	}
	if i == start {
		return 0, s
	}
	switch {
	case over && neg:
		v = math.MinInt64
	case over:
		v = math.MaxInt64
	case neg:
		v = -int64(u)
	default:
		v = int64(u)
	}
	return v, s[i:]
}
