package trace

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidLevel is returned for a level specification or level range that
// ProFTPD rejects with EINVAL. Its text is glibc's strerror(EINVAL), so that a
// directive can print ProFTPD's message verbatim:
//
//	error parsing level "5-1" for channel 'tls.shmcache': Invalid argument
var ErrInvalidLevel = errors.New("Invalid argument") //nolint:staticcheck // strerror text, capitalised on purpose

// maxLevel is the largest level ProFTPD can hold: levels are C ints.
const maxLevel = math.MaxInt32

// ParseLevels parses the level part of a Trace setting the way ProFTPD's
// pr_trace_parse_levels does:
//
//	"N"    min 1, max N ("0" is special: min 0, max 0, which silences the channel)
//	"A-B"  min A, max B (split at the first '-')
//
// Each number is read like C's strtol(3) into a long (64 bits): leading
// white space and a sign are accepted, and an empty number is 0 (so "0-"
// is 0..0, as ProFTPD accepts it). The value is then stored in a C int,
// which keeps its low 32 bits, and only then checked. So, as in ProFTPD,
// "4294967296" is 0 (the channel is silenced), "4294967297" is 1,
// "2147483648" is negative and refused, and "0--4294967295" is 0..1.
//
// Everything ProFTPD rejects is ErrInvalidLevel: the empty string, a
// leading '-', trailing non-digits ("abc", "1-def"), a number outside the
// range of a long (strtol's ERANGE), a negative level after the cast
// ("0--1", "2147483653"), and a maximum below the minimum ("8-7", "10-").
func ParseLevels(spec string) (min, max int, err error) {
	if spec == "" || spec[0] == '-' {
		return 0, 0, ErrInvalidLevel
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	if !isRange {
		n, ok := parseLevel(spec)
		if !ok {
			return 0, 0, ErrInvalidLevel
		}
		if n == 0 {
			return 0, 0, nil
		}
		return 1, n, nil
	}
	min, ok := parseLevel(lo)
	if !ok {
		return 0, 0, ErrInvalidLevel
	}
	max, ok = parseLevel(hi)
	if !ok || max < min {
		return 0, 0, ErrInvalidLevel
	}
	return min, max, nil
}

// parseLevel reads one number of a level specification as ProFTPD does:
// strtol(s, &end, 10) into a long, ProFTPD's "*end must be NUL" check, the
// cast to a C int (the low 32 bits, two's complement), then "must not be
// negative". A string with no digits at all is 0 only when it is empty,
// because strtol then leaves end at the start of the string.
func parseLevel(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	num := strings.TrimLeft(s, " \t\n\v\f\r") // strtol skips leading blanks
	digits := num
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" || digits[0] < '0' || digits[0] > '9' {
		return 0, false // no number: end stays at the start, which is not NUL
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		// Either trailing garbage or a value outside a long (ERANGE); both
		// are EINVAL.
		return 0, false
	}
	level := int32(n) // the C int cast keeps the low 32 bits
	if level < 0 {
		return 0, false
	}
	return int(level), true
}

// Setting is one "channel:levels" argument of the Trace directive, parsed.
type Setting struct {
	Channel  string
	Min, Max int
}

// FormatError reports a Trace argument without a ':' between channel and
// levels. Its text is ProFTPD's directive message.
type FormatError struct {
	Arg string
}

func (e *FormatError) Error() string {
	return "badly formatted parameter: '" + e.Arg + "'"
}

// LevelError reports a Trace argument whose level part does not parse (Err
// is ErrInvalidLevel). Its text is ProFTPD's directive message, for example
//
//	error parsing level "5-1" for channel 'tls.shmcache': Invalid argument
type LevelError struct {
	Channel string
	Level   string
	Err     error
}

func (e *LevelError) Error() string {
	return "error parsing level \"" + e.Level + "\" for channel '" + e.Channel + "': " + e.Err.Error()
}

func (e *LevelError) Unwrap() error { return e.Err }

// ParseSetting parses one argument of the Trace directive, "channel:levels".
// The split is at the first ':', so channel names may contain dots
// ("tls.shmcache") but not colons; like ProFTPD, an empty channel name is
// accepted. Errors are *FormatError (no ':') or *LevelError.
func ParseSetting(arg string) (Setting, error) {
	channel, levels, ok := strings.Cut(arg, ":")
	if !ok {
		return Setting{}, &FormatError{Arg: arg}
	}
	min, max, err := ParseLevels(levels)
	if err != nil {
		return Setting{}, &LevelError{Channel: channel, Level: levels, Err: err}
	}
	return Setting{Channel: channel, Min: min, Max: max}, nil
}
