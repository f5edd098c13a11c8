package directives

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBool is ProFTPD's complaint about a Boolean parameter.
var ErrBool = errors.New("expected Boolean parameter")

// ParseBool reads a ProFTPD Boolean: on, off, yes, no, true, false, 1 or
// 0, case-insensitive, nothing else. Any other word is ErrBool.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "yes", "true", "1":
		return true, nil
	case "off", "no", "false", "0":
		return false, nil
	}
	return false, ErrBool
}

// Errno is a system error that prints as glibc's strerror does ("No such
// file or directory"; Go's own text is lower-case). errors.Is matches the
// underlying syscall.Errno.
type Errno struct{ Errno syscall.Errno }

func (e *Errno) Error() string { return Strerror(e.Errno) }

// Unwrap returns the syscall.Errno.
func (e *Errno) Unwrap() error { return e.Errno }

// Strerror returns err's text as ProFTPD prints errno values: the
// syscall.Errno inside err (if any) with its first letter capitalised, as
// glibc spells it; other errors unchanged.
func Strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// ParseDuration reads a ProFTPD duration (pr_str_get_duration):
// "HH:MM:SS" (each part at most two digits), a number followed by
// s/sec, m/min or h/hr (case-insensitive; the number is read like
// sscanf %d, so "5xs" is 5 seconds), or a bare number of seconds with no
// trailing characters. Negative values are ERANGE ("Numerical result out of
// range"); anything else unreadable is EINVAL ("Invalid argument"); both
// are *Errno.
func ParseDuration(s string) (time.Duration, error) {
	if h, m, sec, ok := scanHMS(s); ok {
		if h < 0 || m < 0 || sec < 0 {
			return 0, &Errno{syscall.ERANGE}
		}
		return time.Duration(h*3600+m*60+sec) * time.Second, nil
	}
	if s == "" {
		return 0, &Errno{syscall.EINVAL}
	}
	l := strings.ToLower(s)
	unit := 0
	switch {
	case strings.HasSuffix(l, "s"), strings.HasSuffix(l, "sec"):
		unit = 1
	case strings.HasSuffix(l, "m"), strings.HasSuffix(l, "min"):
		unit = 60
	case strings.HasSuffix(l, "h"), strings.HasSuffix(l, "hr"):
		unit = 3600
	}
	if unit != 0 {
		n, _, ok := scanInt(s, 0)
		if !ok {
			return 0, &Errno{syscall.EINVAL}
		}
		if n < 0 {
			return 0, &Errno{syscall.ERANGE}
		}
		return time.Duration(n*int64(unit)) * time.Second, nil
	}
	n, rest, ok := Strtol(s)
	if !ok || rest != "" {
		return 0, &Errno{syscall.EINVAL}
	}
	n = int64(int32(n)) // ProFTPD keeps the result in a C int
	if n < 0 {
		return 0, &Errno{syscall.ERANGE}
	}
	return time.Duration(n) * time.Second, nil
}

// scanHMS is sscanf(s, "%2d:%2d:%2d") == 3.
func scanHMS(s string) (h, m, sec int64, ok bool) {
	rest := s
	var vals [3]int64
	for i := range vals {
		if i > 0 {
			if rest == "" || rest[0] != ':' {
				return 0, 0, 0, false
			}
			rest = rest[1:]
		}
		var v int64
		v, rest, ok = scanInt(rest, 2)
		if !ok {
			return 0, 0, 0, false
		}
		vals[i] = v
	}
	return vals[0], vals[1], vals[2], true
}

// scanInt reads an integer like sscanf's %d with an optional field width
// (0 = none): leading white space, an optional sign and at least one
// digit, the sign counting toward the width.
func scanInt(s string, width int) (n int64, rest string, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	limit := len(s)
	if width > 0 && start+width < limit {
		limit = start + width
	}
	neg := false
	if i < limit && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	for i < limit && s[i] >= '0' && s[i] <= '9' {
		if n < 1<<40 {
			n = n*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == digits {
		return 0, s, false
	}
	if neg {
		n = -n
	}
	return int64(int32(n)), s[i:], true
}

// Strtol reads a base-10 integer as C's strtol(s, &end, 10) does on a
// 64-bit long: leading white space, an optional sign, digits, saturating
// at the int64 range. rest is what follows the number; ok is false when
// there is no number at all (n is then 0 and rest is s). Modules use it
// for the numeric arguments ProFTPD reads with strtol.
func Strtol(s string) (n int64, rest string, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	var u uint64
	over := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if u > (1<<63-d)/10 {
			over = true
		} else {
			u = u*10 + d
		}
		i++
	}
	if i == digits {
		return 0, s, false
	}
	switch {
	case over && neg:
		n = -1 << 63
	case over:
		n = 1<<63 - 1
	case neg:
		n = -int64(u)
	default:
		n = int64(u)
	}
	return n, s[i:], true
}

// Atoi reads a number as C's atoi does, which is how ProFTPD reads many
// numeric directives (Port, PassivePorts): leading white space, an
// optional sign, then digits; anything after them is ignored, and no
// digits at all is 0.
func Atoi(s string) int {
	n, _, ok := Strtol(s)
	if !ok {
		return 0
	}
	return int(int32(n))
}

// itoa is strconv.Itoa, kept short for messages.
func itoa(n int) string { return strconv.Itoa(n) }
