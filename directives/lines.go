package directives

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// This file reads proftpd.conf the way ProFTPD 1.3.8 does (src/fsio.c
// pr_fsio_gets and pr_fsio_getline, src/parser.c pr_parser_read_line and
// src/str.c pr_str_get_word), including its corner cases, which were
// checked against Debian's proftpd 1.3.8 with `proftpd -t`:
//
//   - A logical line holds at most lineBufSize bytes, newline included. A
//     longer physical line is cut there (with a warning) and its rest is
//     read as the next line.
//   - A segment ending in backslash-newline continues on the next physical
//     line; both characters are removed and nothing is inserted. A segment
//     ending in backslash-newline whose first non-blank character is '#'
//     is dropped, even the first one, so a commented-out line ending in a
//     backslash does not swallow the next line. A '#' segment that ends
//     the line is kept ("Foo\<newline>#bar" is the word "Foo#bar").
//   - The line counter counts the newlines read so far, so a directive
//     spread over several lines is reported on its last line, and a last
//     line without a newline on the number of the line before it.
//   - Segments are C strings: bytes from a NUL to the end of the segment
//     are lost, newline included, so the next physical line is appended.

// lineBufSize is PR_TUNABLE_PARSER_BUFFER_SIZE: the most bytes, newline
// included, of one logical line.
const lineBufSize = 4096

// lineReader yields the logical lines of one configuration file.
type lineReader struct {
	r      *bufio.Reader
	lineno int // newlines read so far (cs_lineno)
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReader(r)}
}

// gets reads at most max bytes, up to and including a newline, like
// pr_fsio_gets; ok is false at end of input with nothing read.
func (lr *lineReader) gets(max int) (seg []byte, ok bool) {
	for len(seg) < max {
		b, err := lr.r.ReadByte()
		if err != nil {
			break
		}
		seg = append(seg, b)
		if b == '\n' {
			break
		}
	}
	return seg, len(seg) > 0
}

// getline returns the next raw logical line, continuations joined, as
// pr_fsio_getline does; ok is false at end of input.
func (lr *lineReader) getline() (line []byte, ok bool) {
	var buf []byte
	room := lineBufSize
	for {
		seg, more := lr.gets(room)
		if !more {
			return buf, len(buf) > 0
		}
		if i := bytes.IndexByte(seg, 0); i >= 0 {
			seg = seg[:i]
		}
		if n := len(seg); n >= 1 && seg[n-1] == '\n' {
			lr.lineno++
			if n < 2 || seg[n-2] != '\\' {
				return append(buf, seg...), true
			}
			seg = seg[:n-2]
			if isCommentSegment(seg) {
				continue
			}
		}
		if len(seg) == room {
			return append(buf, seg...), true // the buffer is full
		}
		buf = append(buf, seg...)
		room -= len(seg)
	}
}

func isCommentSegment(seg []byte) bool {
	for _, b := range seg {
		if !isSpace(b) {
			return b == '#'
		}
	}
	return false
}

// next returns the next line with content, as pr_parser_read_line does:
// trailing newline and one CR removed, leading white space skipped,
// comment and blank lines passed over. A line that did not end in a
// newline is reported to truncated (ProFTPD warns). The line number is
// the counter after reading it.
func (lr *lineReader) next(truncated func(lineno int)) (text string, lineno int, ok bool) {
	for {
		raw, more := lr.getline()
		if !more {
			return "", lr.lineno, false
		}
		eol := raw[len(raw)-1] == '\n'
		if eol {
			raw = raw[:len(raw)-1]
		}
		if n := len(raw); n > 0 && raw[n-1] == '\r' {
			raw = raw[:n-1]
		}
		if !eol {
			truncated(lr.lineno)
		}
		i := 0
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i == len(raw) || raw[i] == '#' {
			continue
		}
		return string(raw[i:]), lr.lineno, true
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// splitWords splits a line into words as pr_str_get_word does: white
// space separates words; a word starting with '#' ends the line; a word
// starting with '"' runs to the next '"', and inside it a backslash
// escapes the next character. The character that ends a word (the space
// or the closing quote) is consumed.
func splitWords(line string) []string {
	var words []string
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return words
		}
		var w strings.Builder
		quoted := line[i] == '"'
		if quoted {
			i++
		}
		for i < len(line) {
			c := line[i]
			if quoted && c == '"' || !quoted && isSpace(c) {
				break
			}
			if c == '\\' && quoted && i+1 < len(line) {
				w.WriteByte(line[i+1])
				i += 2
				continue
			}
			w.WriteByte(c)
			i++
		}
		if i < len(line) {
			i++
		}
		words = append(words, w.String())
	}
}

// maxEnvExpansions bounds %{env:} substitution. ProFTPD loops until no
// reference is left, so a variable whose value refers to itself hangs
// it; ftpdtls stops after this many substitutions instead.
const maxEnvExpansions = 64

// expandEnv replaces every %{env:NAME} in a word longer than 7 bytes with
// the variable's value, or with nothing when it is unset, restarting from
// the beginning after each substitution (so values may themselves hold
// references), as get_config_word does. Every occurrence of the same
// reference is replaced at once. The result is one word, spaces or not:
// ProFTPD 1.3.8 does not split it again.
func expandEnv(word string, lookup func(string) (string, bool)) string {
	if len(word) <= 7 {
		return word
	}
	from := 0
	for n := 0; n < maxEnvExpansions; {
		i := strings.Index(word[from:], "%{env:")
		if i < 0 {
			return word
		}
		start := from + i
		end := strings.IndexByte(word[start+6:], '}')
		if end < 0 {
			from = start + 6
			continue
		}
		end += start + 6
		ref, key := word[start:end+1], word[start+6:end]
		val, _ := lookup(key)
		word = strings.ReplaceAll(word, ref, val)
		from = 0
		n++
		if len(word) > 1<<20 {
			return word
		}
	}
	return word
}

// normaliseSection applies ProFTPD's fix-up of section tags: for a line
// starting with '<' whose last word ends in '>' (and which has more than
// one word), the '>' is removed from the last word (a lone ">" word is
// dropped) and added to the first.
func normaliseSection(words []string) []string {
	if len(words) < 2 || !strings.HasPrefix(words[0], "<") {
		return words
	}
	last := words[len(words)-1]
	if !strings.HasSuffix(last, ">") {
		return words
	}
	if last == ">" {
		words = words[:len(words)-1]
	} else {
		words[len(words)-1] = last[:len(last)-1]
	}
	if !strings.HasSuffix(words[0], ">") {
		words[0] += ">"
	}
	return words
}
