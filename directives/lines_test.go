package directives

import (
	"reflect"
	"strings"
	"testing"
)

type line struct {
	text   string
	lineno int
}

func readAll(t *testing.T, input string) (lines []line, truncated []int) {
	t.Helper()
	lr := newLineReader(strings.NewReader(input))
	for {
		text, n, ok := lr.next(func(n int) { truncated = append(truncated, n) })
		if !ok {
			return lines, truncated
		}
		lines = append(lines, line{text, n})
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", lineBufSize-1) // plus its newline: exactly one buffer
	tests := []struct {
		name      string
		input     string
		want      []line
		truncated []int
	}{
		{"plain", "Port 21\nServerName x\n", []line{{"Port 21", 1}, {"ServerName x", 2}}, nil},
		{"blank and comment lines", "\n   \n# c\n  \t# c\nPort 1\n", []line{{"Port 1", 5}}, nil},
		{"leading white space", "  \tPort 1\n", []line{{"Port 1", 1}}, nil},
		{"CRLF", "Port 1\r\nPort 2\r\n", []line{{"Port 1", 1}, {"Port 2", 2}}, nil},
		{"only one CR stripped", "Port 1\r\r\n", []line{{"Port 1\r", 1}}, nil},
		// A continued directive is reported on its last line.
		{"continuation", "Port \\\n  70000\nX\n", []line{{"Port   70000", 2}, {"X", 3}}, nil},
		{"continuation joins without space", "Port 7\\\n0000\n", []line{{"Port 70000", 2}}, nil},
		{"three segments", "A \\\nB \\\nC\n", []line{{"A B C", 3}}, nil},
		{"space after backslash is no continuation", "Port \\ \n70000\n", []line{{"Port \\ ", 1}, {"70000", 2}}, nil},
		{"CR defeats continuation", "Port \\\r\n1\r\n", []line{{"Port \\", 1}, {"1", 2}}, nil},
		// A '#' segment that ends the line is kept (and is then a comment
		// word, or part of a word); one that continues is dropped.
		{"comment segment ends the line", "Port \\\n# c\n  70000\n", []line{{"Port # c", 2}, {"70000", 3}}, nil},
		{"comment segment glued to a word", "Foo\\\n#bar\n", []line{{"Foo#bar", 2}}, nil},
		{"comment segment with its own backslash is dropped", "Port \\\n# c \\\n  70000\n", []line{{"Port   70000", 3}}, nil},
		{"commented line ending in backslash", "# c \\\nPort 1\n", []line{{"Port 1", 2}}, nil},
		{"empty segment ends the line", "Port 1 \\\n\n 2\n", []line{{"Port 1 ", 2}, {"2", 3}}, nil},
		{"empty continued segments", "Port 1 \\\n\\\n\\\n 2\n", []line{{"Port 1  2", 4}}, nil},
		// The counter counts newlines: a last line without one is on the
		// previous line's number, and ProFTPD warns.
		{"no final newline", "Port 1\nPort 2", []line{{"Port 1", 1}, {"Port 2", 1}}, []int{1}},
		{"only line without newline", "Port 70000", []line{{"Port 70000", 0}}, []int{0}},
		{"continuation into end of file", "Port 1 \\\n", []line{{"Port 1 ", 1}}, []int{1}},
		{"line filling the buffer", long + "\nX\n", []line{{long, 1}, {"X", 2}}, nil},
		{"line one byte too long", long + "a\nX\n", []line{{long + "a", 0}, {"X", 2}}, []int{0}},
		{"line two bytes too long", "Port 1\n" + long + "ab\n", []line{{"Port 1", 1}, {long + "a", 1}, {"b", 2}}, []int{1}},
		// After a NUL the rest of the segment, newline included, is lost,
		// so the next line is glued on and its newline is the first counted.
		{"NUL ends the segment", "Port 1\x00junk\nX\n", []line{{"Port 1X", 1}}, nil},
		{"continuation filling the buffer", "A \\\n" + long + "\n", []line{{"A " + long[:lineBufSize-2], 1}, {"a", 2}}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, trunc := readAll(t, tt.input)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lines = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(trunc, tt.truncated) {
				t.Errorf("truncation warnings at %v, want %v", trunc, tt.truncated)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Port 21", []string{"Port", "21"}},
		{"a\t b  c", []string{"a", "b", "c"}},
		{`ServerName "a b"`, []string{"ServerName", "a b"}},
		{`X "a \"q\" b"`, []string{"X", `a "q" b`}},
		{`X "a\\b"`, []string{"X", `a\b`}},
		{`X "a\b"`, []string{"X", "ab"}},
		{`X a\b`, []string{"X", `a\b`}},            // backslash is literal outside quotes
		{`X ab"c d"`, []string{"X", `ab"c`, `d"`}}, // quotes count only at the start of a word
		{`X "a"b`, []string{"X", "a", "b"}},        // the closing quote ends the word
		{`X ""`, []string{"X", ""}},
		{`X "unterminated word`, []string{"X", "unterminated word"}},
		{`X "trailing\`, []string{"X", `trailing\`}},
		{"X a # comment", []string{"X", "a"}},
		{"X a #comment", []string{"X", "a"}},
		{"X a#b", []string{"X", "a#b"}},
		{`X "#a"`, []string{"X", "#a"}},
		{"# all comment", nil},
	}
	for _, tt := range tests {
		if got := splitWords(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{
		"A":    "alpha",
		"SP":   "1024 2048",
		"REF":  "%{env:A}",
		"LOOP": "%{env:LOOP}x",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"%{env:A}", "alpha"},
		{"%{env:A}-%{env:A}", "alpha-alpha"},
		{"pre%{env:A}post", "prealphapost"},
		{"%{env:SP}", "1024 2048"}, // one word, spaces and all
		{"%{env:NONE}", ""},
		{"x%{env:NONE}y", "xy"},
		{"%{env:REF}", "alpha"}, // values are expanded again
		{"%{env:A", "%{env:A"},  // no closing brace
		{"%{env:}", "%{env:}"},  // 7 bytes: too short to be looked at
		{"%{env:X}", ""},        // 8 bytes and X unset: replaced by nothing
		{"short", "short"},
	}
	for _, tt := range tests {
		if got := expandEnv(tt.in, lookup); got != tt.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A self-referencing value stops after maxEnvExpansions rounds instead
	// of looping forever.
	got := expandEnv("%{env:LOOP}", lookup)
	if want := strings.Repeat("x", maxEnvExpansions-1); !strings.HasPrefix(got, "%{env:LOOP}") || !strings.HasSuffix(got, want) {
		t.Errorf("self reference expanded to %q", got)
	}
}

func TestNormaliseSection(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"<VirtualHost", "1.2.3.4>"}, []string{"<VirtualHost>", "1.2.3.4"}},
		{[]string{"<VirtualHost", "a", "b>"}, []string{"<VirtualHost>", "a", "b"}},
		{[]string{"<Limit", "READ", ">"}, []string{"<Limit>", "READ"}},
		{[]string{"<Global>"}, []string{"<Global>"}},
		{[]string{"<Limit", "READ"}, []string{"<Limit", "READ"}}, // no '>': left alone, so unknown
		{[]string{"ServerName", "x>"}, []string{"ServerName", "x>"}},
		{[]string{"<Global>", "x>"}, []string{"<Global>", "x"}},
		{[]string{"<X", ""}, []string{"<X", ""}},
	}
	for _, tt := range tests {
		in := append([]string(nil), tt.in...)
		if got := normaliseSection(in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("normaliseSection(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
