package access

import "strings"

// fnmatch flags, as ProFTPD passes them to its bundled fnmatch(3).
const (
	fnmNoEscape = 1 << iota // a backslash is an ordinary character
	fnmCaseFold             // letters match either case
)

// fnmatch reports whether s matches the shell pattern, as glibc's
// fnmatch(3) (which ProFTPD bundles) does with neither FNM_PATHNAME nor
// FNM_PERIOD: '*' matches any run of bytes, '/' and a leading '.'
// included; '?' any one byte; "[...]" a set ("!" or "^" negates, a ']'
// first is literal, ranges and [:class:] names); a backslash escapes the
// next byte unless fnmNoEscape. A '[' without its ']' is an ordinary
// byte. Bytes are compared one by one (the C locale).
func fnmatch(pattern, s string, flags int) bool {
	fold := func(c byte) byte {
		if flags&fnmCaseFold != 0 && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	p, n := 0, 0
	// The position to go back to when a later part fails: the pattern
	// just after the last '*', and the next byte of s that star absorbs.
	starP, starN := -1, -1
	for {
		if p < len(pattern) {
			c := pattern[p]
			switch {
			case c == '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starN = p, n
				continue
			case c == '?':
				if n < len(s) {
					p++
					n++
					continue
				}
			case c == '[':
				if m, next, ok := matchBracket(pattern, p, s, n, flags, fold); ok {
					if m {
						p = next
						n++
						continue
					}
				} else if n < len(s) && s[n] == '[' {
					// Unterminated set: an ordinary '['.
					p++
					n++
					continue
				}
			default:
				lit := c
				step := 1
				if c == '\\' && flags&fnmNoEscape == 0 {
					if p+1 >= len(pattern) {
						return false // a trailing backslash never matches
					}
					lit = pattern[p+1]
					step = 2
				}
				if n < len(s) && fold(s[n]) == fold(lit) {
					p += step
					n++
					continue
				}
			}
		} else if n == len(s) {
			return true
		}
		if starP < 0 || starN >= len(s) {
			return false
		}
		starN++
		p, n = starP, starN
	}
}

// matchBracket matches s[n] against the set starting at pattern[p] ('[').
// ok is false when the set has no closing ']' (the '[' is then an
// ordinary byte); otherwise matched tells whether s[n] is in the set and
// next is the pattern index after the set.
func matchBracket(pattern string, p int, s string, n int, flags int, fold func(byte) byte) (matched bool, next int, ok bool) {
	i := p + 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	var c byte
	have := n < len(s)
	if have {
		c = fold(s[n])
	}
	in := false
	first := true
	for {
		if i >= len(pattern) {
			return false, 0, false
		}
		b := pattern[i]
		if b == ']' && !first {
			i++
			break
		}
		first = false
		if b == '[' && i+1 < len(pattern) && pattern[i+1] == ':' {
			if end := strings.Index(pattern[i+2:], ":]"); end >= 0 {
				name := pattern[i+2 : i+2+end]
				if have && inClass(name, s[n]) {
					in = true
				}
				i += 2 + end + 2
				continue
			}
		}
		if b == '\\' && flags&fnmNoEscape == 0 && i+1 < len(pattern) {
			i++
			b = pattern[i]
		}
		lo := fold(b)
		i++
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi := pattern[i+1]
			i += 2
			if hi == '\\' && flags&fnmNoEscape == 0 && i < len(pattern) {
				hi = pattern[i]
				i++
			}
			if have && lo <= c && c <= fold(hi) {
				in = true
			}
			continue
		}
		if have && c == lo {
			in = true
		}
	}
	if !have {
		return false, i, true
	}
	return in != negate, i, true
}

// inClass implements the POSIX character classes of the C locale.
func inClass(name string, c byte) bool {
	isUpper := c >= 'A' && c <= 'Z'
	isLower := c >= 'a' && c <= 'z'
	isDigit := c >= '0' && c <= '9'
	switch name {
	case "alpha":
		return isUpper || isLower
	case "upper":
		return isUpper
	case "lower":
		return isLower
	case "digit":
		return isDigit
	case "alnum":
		return isUpper || isLower || isDigit
	case "xdigit":
		return isDigit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
	case "space":
		return c == ' ' || (c >= '\t' && c <= '\r')
	case "blank":
		return c == ' ' || c == '\t'
	case "punct":
		return c > ' ' && c < 0x7f && !(isUpper || isLower || isDigit)
	case "print":
		return c >= ' ' && c < 0x7f
	case "graph":
		return c > ' ' && c < 0x7f
	case "cntrl":
		return c < ' ' || c == 0x7f
	}
	return false
}

// isFnmatch reports whether str holds glob characters, as ProFTPD's
// pr_str_is_fnmatch decides it: a '*' or '?', or a ']' after a '[';
// a backslash hides the next byte.
func isFnmatch(str string) bool {
	bracket := false
	for i := 0; i < len(str); i++ {
		switch str[i] {
		case '?', '*':
			return true
		case '\\':
			if i+1 == len(str) {
				return false
			}
			i++
		case '[':
			bracket = true
		case ']':
			if bracket {
				return true
			}
		}
	}
	return false
}
