package directives

import (
	"fmt"
	"strings"
)

// ProFTPD compiles the patterns of its configuration with PCRE2 (Debian's
// build), so a pattern that PCRE2 refuses is a fatal error with PCRE2's
// message. ftpdtls never matches these patterns; it only needs to tell,
// as PCRE2 does, whether one compiles, and why not. checkPCRE2 follows
// PCRE2's syntax for the constructs a configuration uses and reports its
// messages for the common mistakes: unbalanced parentheses and brackets,
// misplaced quantifiers, bad {} quantifiers, ranges out of order, unknown
// (? groups, POSIX class names and verbs.

// checkPCRE2 reports whether PCRE2 compiles pattern; if not, msg is
// pcre2_get_error_message's text.
func checkPCRE2(pattern string) (msg string, ok bool) {
	msg, _, ok = pcre2Compile(pattern)
	return msg, ok
}

// pcre2Compile is checkPCRE2 with the error's offset in the pattern.
func pcre2Compile(pattern string) (msg string, offset int, ok bool) {
	p := &reParser{s: pattern, errAt: -1}
	if m := p.parseAlt(0); m != "" {
		if p.errAt < 0 {
			p.errAt = p.i
		}
		return m, p.errAt, false
	}
	return "", 0, true
}

// checkPOSIXRegex reports whether pcre2_regcomp (the POSIX API of PCRE2,
// which AllowUser regex and friends use) compiles pattern; msg is
// pcre2_regerror's text.
func checkPOSIXRegex(pattern string) (msg string, ok bool) {
	m, off, ok := pcre2Compile(pattern)
	if ok {
		return "", true
	}
	// pcre2_regerror: the message, then " at offset %-6d".
	return fmt.Sprintf("%s at offset %-6d", posixMessage(m), off), false
}

// posixMessage maps a PCRE2 compile error to the POSIX error string
// pcre2_regerror gives for it.
func posixMessage(m string) string {
	switch m {
	case "missing closing parenthesis", "unmatched closing parenthesis":
		return "unbalanced ()"
	case "missing terminating ] for character class":
		return "unbalanced []"
	case "quantifier does not follow a repeatable item":
		return "? * + invalid"
	case "numbers out of order in {} quantifier", "number too big in {} quantifier":
		return "invalid repeat counts in {}"
	case "range out of order in character class":
		return "bad range inside []"
	case "unknown POSIX class name":
		return "bad class"
	case "\\ at end of pattern":
		return "bad escape sequence"
	}
	return "pattern error"
}

type reParser struct {
	s     string
	i     int
	depth int
	errAt int // the error's offset, when not p.i
}

func (p *reParser) eof() bool { return p.i >= len(p.s) }

// parseAlt parses alternatives until a ')' at this depth or the end.
func (p *reParser) parseAlt(depth int) string {
	repeatable := false
	for !p.eof() {
		c := p.s[p.i]
		switch c {
		case '|':
			p.i++
			repeatable = false
		case ')':
			if depth == 0 {
				return "unmatched closing parenthesis"
			}
			return ""
		case '(':
			m, rep := p.parseGroup(depth)
			if m != "" {
				return m
			}
			repeatable = rep
		case '[':
			if m := p.parseClass(); m != "" {
				return m
			}
			repeatable = true
		case '\\':
			p.i++
			if p.eof() {
				return "\\ at end of pattern"
			}
			p.i++
			repeatable = true
		case '*', '+', '?':
			if !repeatable {
				return "quantifier does not follow a repeatable item"
			}
			p.i++
			// A lazy or possessive marker may follow.
			if !p.eof() && (p.s[p.i] == '?' || p.s[p.i] == '+') {
				p.i++
			}
			repeatable = false
		case '{':
			isQ, m := p.parseBrace()
			if m != "" {
				return m
			}
			if isQ {
				if !repeatable {
					return "quantifier does not follow a repeatable item"
				}
				if !p.eof() && (p.s[p.i] == '?' || p.s[p.i] == '+') {
					p.i++
				}
				repeatable = false
			} else {
				repeatable = true
			}
		case '^', '$':
			p.i++
			repeatable = c == '$' && false
		default:
			p.i++
			repeatable = true
		}
	}
	if depth > 0 {
		return "missing closing parenthesis"
	}
	return ""
}

// parseGroup parses from '(' to its ')'; rep tells whether a quantifier
// may follow.
func (p *reParser) parseGroup(depth int) (string, bool) {
	start := p.i
	p.i++ // '('
	if strings.HasPrefix(p.s[p.i:], "*") {
		// (*VERB) or (*VERB:NAME); PCRE2 knows a fixed set.
		end := strings.IndexByte(p.s[p.i:], ')')
		if end < 0 {
			p.i = len(p.s)
			return "(*VERB) not recognized or malformed", false
		}
		verb := p.s[p.i+1 : p.i+end]
		name, _, _ := strings.Cut(verb, ":")
		switch name {
		case "ACCEPT", "FAIL", "F", "COMMIT", "PRUNE", "SKIP", "THEN", "MARK", "", "UTF", "UCP", "NOTEMPTY", "NOTEMPTY_ATSTART",
			"NO_AUTO_POSSESS", "NO_START_OPT", "NO_DOTSTAR_ANCHOR", "NO_JIT", "CR", "LF", "CRLF", "ANYCRLF", "ANY", "NUL",
			"BSR_ANYCRLF", "BSR_UNICODE":
			p.i += end + 1
			return "", false
		}
		p.i += end
		return "(*VERB) not recognized or malformed", false
	}
	lookbehind := false
	if strings.HasPrefix(p.s[p.i:], "?") {
		p.i++
		if p.eof() {
			return "unrecognized character after (? or (?-", false
		}
		switch c := p.s[p.i]; {
		case c == ':' || c == '|' || c == '>' || c == '=' || c == '!':
			p.i++
		case c == '<' && p.i+1 < len(p.s) && (p.s[p.i+1] == '=' || p.s[p.i+1] == '!'):
			p.i += 2
			lookbehind = true
		case c == '<' || c == '\'' || (c == 'P' && p.i+1 < len(p.s) && p.s[p.i+1] == '<'):
			if c == 'P' {
				p.i++
			}
			term := byte('>')
			if c == '\'' {
				term = '\''
			}
			p.i++
			n := p.i
			for !p.eof() && (isWordByte(p.s[p.i])) {
				p.i++
			}
			if p.eof() || p.s[p.i] != term {
				return "syntax error in subpattern name (missing terminator?)", false
			}
			if p.i == n {
				return "subpattern name expected", false
			}
			p.i++
		case c == '#':
			end := strings.IndexByte(p.s[p.i:], ')')
			if end < 0 {
				return "missing ) after (?# comment", false
			}
			p.i += end + 1
			return "", false
		case c == 'R' || (c >= '0' && c <= '9') || c == '+' || c == '&' || (c == 'P' && p.i+1 < len(p.s) && (p.s[p.i+1] == '>' || p.s[p.i+1] == '=')):
			end := strings.IndexByte(p.s[p.i:], ')')
			if end < 0 {
				return "missing closing parenthesis", false
			}
			p.i += end + 1
			return "", true
		case c == '(':
			// A condition: parse it as a group of its own.
			if m, _ := p.parseGroup(depth + 1); m != "" {
				return m, false
			}
		default:
			// Option letters, then ')' or ':'.
			for !p.eof() && strings.IndexByte("imnsxJU-^", p.s[p.i]) >= 0 {
				p.i++
			}
			if p.eof() {
				return "missing closing parenthesis", false
			}
			switch p.s[p.i] {
			case ')':
				p.i++
				return "", false
			case ':':
				p.i++
			default:
				return "unrecognized character after (? or (?-", false
			}
		}
	}
	bodyStart := p.i
	if m := p.parseAlt(depth + 1); m != "" {
		return m, false
	}
	if p.eof() {
		return "missing closing parenthesis", false
	}
	body := p.s[bodyStart:p.i]
	p.i++ // ')'
	if lookbehind && !fixedLength(body) {
		p.errAt = start
		return "lookbehind assertion is not fixed length", false
	}
	_ = start
	return "", true
}

// fixedLength is a rough test for a lookbehind body: no quantifier that
// makes its length vary.
func fixedLength(body string) bool {
	esc := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if esc {
			esc = false
			continue
		}
		switch c {
		case '\\':
			esc = true
		case '*', '+', '?':
			return false
		case '{':
			if j := strings.IndexByte(body[i:], '}'); j > 0 && strings.Contains(body[i:i+j], ",") {
				return false
			}
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// parseBrace reads '{': a quantifier {n}, {n,}, {n,m} (PCRE2 10.42 also
// takes {,m}), or a literal brace.
func (p *reParser) parseBrace() (quantifier bool, msg string) {
	rest := p.s[p.i+1:]
	end := strings.IndexByte(rest, '}')
	if end < 0 {
		p.i++
		return false, ""
	}
	body := rest[:end]
	lo, hi, comma := body, "", false
	if k := strings.IndexByte(body, ','); k >= 0 {
		lo, hi, comma = body[:k], body[k+1:], true
	}
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if !digits(lo) || !digits(hi) || (lo == "" && (!comma || hi == "")) || (lo == "" && hi == "") {
		p.i++
		return false, ""
	}
	big := func(s string) bool {
		s = strings.TrimLeft(s, "0")
		return len(s) > 5 || (len(s) == 5 && s > "65535")
	}
	if big(lo) || big(hi) {
		p.errAt = p.i + 1 + end
		return true, "number too big in {} quantifier"
	}
	if comma && lo != "" && hi != "" && atoiPlain(hi) < atoiPlain(lo) {
		p.errAt = p.i + 1 + end
		return true, "numbers out of order in {} quantifier"
	}
	p.i += end + 2
	return true, ""
}

func atoiPlain(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

var posixClasses = map[string]bool{
	"alpha": true, "lower": true, "upper": true, "alnum": true, "ascii": true, "blank": true, "cntrl": true,
	"digit": true, "graph": true, "print": true, "punct": true, "space": true, "word": true, "xdigit": true,
}

// parseClass reads a character class from '[' to its ']'.
func (p *reParser) parseClass() string {
	p.i++ // '['
	if !p.eof() && p.s[p.i] == '^' {
		p.i++
	}
	first := true
	prev := -1 // the previous single character, for ranges
	for {
		if p.eof() {
			return "missing terminating ] for character class"
		}
		c := p.s[p.i]
		switch {
		case c == ']' && !first:
			p.i++
			return ""
		case c == '[' && p.i+1 < len(p.s) && (p.s[p.i+1] == ':' || p.s[p.i+1] == '.' || p.s[p.i+1] == '='):
			kind := p.s[p.i+1]
			end := strings.Index(p.s[p.i+2:], string(kind)+"]")
			if end < 0 {
				p.i++
				prev = '['
				break
			}
			name := p.s[p.i+2 : p.i+2+end]
			if kind != ':' {
				return "POSIX collating elements are not supported"
			}
			if !posixClasses[strings.TrimPrefix(name, "^")] {
				p.errAt = p.i + 2
				return "unknown POSIX class name"
			}
			p.i += end + 4
			prev = -1
		case c == '\\':
			p.i++
			if p.eof() {
				return "\\ at end of pattern"
			}
			e := p.s[p.i]
			p.i++
			if strings.IndexByte("dDsSwWhHvVpPN", e) >= 0 {
				prev = -1
			} else {
				prev = int(e)
			}
		case c == '-' && prev >= 0 && p.i+1 < len(p.s) && p.s[p.i+1] != ']':
			p.i++
			hi := int(p.s[p.i])
			if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
				p.i++
				hi = int(p.s[p.i])
				if strings.IndexByte("dDsSwWhHvV", p.s[p.i]) >= 0 {
					p.i++
					prev = -1
					break
				}
			} else if p.s[p.i] == '[' && p.i+1 < len(p.s) && p.s[p.i+1] == ':' {
				return "invalid range in character class"
			}
			if hi < prev {
				return "range out of order in character class"
			}
			p.i++
			prev = -1
		default:
			prev = int(c)
			p.i++
		}
		first = false
	}
}
