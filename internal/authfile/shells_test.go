package authfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTemp writes text to a file of a temporary directory.
func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidShell: a shell is valid when a line of the file is exactly it
// (trailing CR and LF aside), as ProFTPD 1.3.8 reads /etc/shells;
// without the file every shell is.
func TestValidShell(t *testing.T) {
	long := "/" + strings.Repeat("x", 300)
	text := "# /etc/shells: valid login shells\n" +
		"/bin/sh\n" +
		"/usr/bin/bash\r\n" +
		"  /bin/indented\n" +
		"/bin/commented # a comment\n" +
		"/bin/trailing \n" +
		"#/bin/hashed\n" +
		"/bin/nul\x00ignored\n" +
		long + "\n" +
		"/bin/last" // no newline
	path := writeTemp(t, "shells", text)
	for _, tc := range []struct {
		shell string
		want  bool
	}{
		{"/bin/sh", true},
		{"/usr/bin/bash", true}, // CR LF removed
		{"/bin/last", true},
		{"/bin/nul", true}, // the line is a C string
		{"/bin/false", false},
		{"/bin/s", false},
		{"/bin/sh ", false},
		{"/bin/indented", false}, // lines are not trimmed ...
		{"  /bin/indented", true},
		{"/bin/commented", false}, // ... nor comments removed
		{"/bin/commented # a comment", true},
		{"/bin/trailing", false},
		{"/bin/hashed", false},
		{"#/bin/hashed", true},
		{"# /etc/shells: valid login shells", true},
		{"", false},
		{long, false},      // longer than fgets's 254 bytes: read in pieces
		{long[:254], true}, // its first piece
		{long[254:], true}, // and the rest
	} {
		if got := ValidShell(path, tc.shell); got != tc.want {
			t.Errorf("ValidShell(%q) = %v, want %v", tc.shell, got, tc.want)
		}
	}
	// An empty line lists the empty shell (an AuthUserFile entry
	// without one).
	if !ValidShell(writeTemp(t, "shells", "/bin/sh\n\n"), "") {
		t.Error("an empty line does not list the empty shell")
	}
	// An empty file lists nothing.
	if ValidShell(writeTemp(t, "shells", ""), "/bin/sh") {
		t.Error("an empty file lists /bin/sh")
	}
	// A file that cannot be opened accepts every shell.
	missing := filepath.Join(t.TempDir(), "missing")
	for _, shell := range []string{"/bin/false", "/bin/sh", ""} {
		if !ValidShell(missing, shell) {
			t.Errorf("without the file, %q is refused", shell)
		}
	}
	// A directory opens but reads nothing: no shell is listed.
	if ValidShell(t.TempDir(), "/bin/sh") {
		t.Error("a directory lists /bin/sh")
	}
}

// TestInFtpUsers: a user is banned by a line that is exactly its name
// once leading white space is skipped and trailing CR and LF removed;
// empty and '#' lines are skipped; without the file nobody is banned.
func TestInFtpUsers(t *testing.T) {
	text := "# /etc/ftpusers: list of users disallowed FTP access.\n" +
		"\n" +
		"root\n" +
		"  \tdaemon\n" +
		"trailing \n" +
		"crlf\r\n" +
		"   # indented comment\n" +
		"#hashed\n" +
		"two words\n" +
		"last" // no newline
	path := writeTemp(t, "ftpusers", text)
	for _, tc := range []struct {
		user string
		want bool
	}{
		{"root", true},
		{"daemon", true}, // leading white space skipped
		{"crlf", true},
		{"last", true},
		{"two words", true},
		{"trailing", false}, // trailing blanks stay
		{"trailing ", true},
		{"hashed", false},
		{"#hashed", false}, // a comment, not a name
		{"# indented comment", false},
		{"alice", false},
		{"roo", false},
		{"Root", false},
		{"", false},
	} {
		if got := InFtpUsers(path, tc.user); got != tc.want {
			t.Errorf("InFtpUsers(%q) = %v, want %v", tc.user, got, tc.want)
		}
	}
	if InFtpUsers(filepath.Join(t.TempDir(), "missing"), "root") {
		t.Error("without the file, root is banned")
	}
}

func TestFgetsLines(t *testing.T) {
	for _, tc := range []struct {
		data string
		size int
		want []string
	}{
		{"", 10, nil},
		{"a\nb\n", 10, []string{"a", "b"}},
		{"a\r\r\n\nb", 10, []string{"a", "", "b"}},
		{"abcdefgh\n", 5, []string{"abcd", "efgh", ""}}, // 4 bytes a piece, then the newline
		{"abcd\nef", 5, []string{"abcd", "", "ef"}},     // the newline is a piece of its own
		{"ab\x00cd\nef\n", 10, []string{"ab", "ef"}},    // up to the NUL
		{"\r\n\r\n", 10, []string{"", ""}},
	} {
		got := fgetsLines([]byte(tc.data), tc.size)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("fgetsLines(%q, %d) = %q, want %q", tc.data, tc.size, got, tc.want)
		}
	}
}
