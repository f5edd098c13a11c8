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
//	"A-B"  min A, max B
//
// Numbers are read like strtol(3): leading white space and a '+' sign are
// accepted, and an empty number is 0 (so "0-" is 0..0, as ProFTPD accepts
// it). Everything ProFTPD rejects is ErrInvalidLevel: the empty string, a
// leading '-', trailing non-digits ("abc", "1-def"), negative numbers
// ("0--1"), a maximum below the minimum ("8-7", "10-"), and numbers that do
// not fit a C int ("2147483653", which ProFTPD rejects because the cast
// makes it negative).
//
// One deliberate difference: ProFTPD truncates larger numbers to 32 bits, so
// it reads "4294967297" as 1; ParseLevels rejects every number above
// 2147483647 instead.
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

// parseLevel reads one number of a level specification like strtol(s, &end,
// 10) followed by ProFTPD's "*end must be NUL" and "must not be negative"
// checks. A string with no digits at all is 0 only when it is empty, because
// strtol then leaves end at the start of the string.
func parseLevel(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	digits := strings.TrimLeft(s, " \t\n\v\f\r")
	digits = strings.TrimPrefix(digits, "+")
	if digits == "" || digits[0] < '0' || digits[0] > '9' {
		return 0, false // no number: end stays at the start, which is not NUL
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		// Either trailing garbage or a value strtol clamps to LONG_MAX,
		// which the int cast turns negative; both are EINVAL.
		return 0, false
	}
	if n > maxLevel {
		return 0, false
	}
	return int(n), true
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
