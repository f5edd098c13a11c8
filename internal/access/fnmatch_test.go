package access

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestFnmatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		flags      int
		want       bool
	}{
		{"/srv/*", "/srv/a/b", 0, true}, // '*' matches '/'
		{"/srv/*", "/srv", 0, false},
		{"/srv/*", "/srv/", 0, true},
		{"/srv/?", "/srv/a", 0, true},
		{"/srv/?", "/srv/ab", 0, false},
		{"/home/*/priv/*", "/home/a/b/priv/c", 0, true},
		{"/d[0-9]", "/d7", 0, true},
		{"/d[!0-9]", "/d7", 0, false},
		{"/d[^0-9]", "/dx", 0, true},
		{"/d[]x]", "/d]", 0, true},
		{"/d[", "/d[", 0, true}, // an unterminated set is an ordinary '['
		{"/d[[:digit:]]", "/d3", 0, true},
		{"/a\\*", "/a*", 0, true},
		{"/a\\*", "/ab", 0, false},
		{"/a\\", "/a\\", 0, false}, // a trailing backslash never matches
		{"/a\\*", "/a\\b", fnmNoEscape, true},
		{"10.0.*", "10.0.1.2", fnmNoEscape | fnmCaseFold, true},
		{"FE80::*", "fe80::1", fnmNoEscape | fnmCaseFold, true},
		{"*", "", 0, true},
		{"", "", 0, true},
		{"", "a", 0, false},
		{".*", ".hidden", 0, true}, // no special leading period
	} {
		if got := fnmatch(c.pattern, c.s, c.flags); got != c.want {
			t.Errorf("fnmatch(%q, %q, %d) = %v, want %v", c.pattern, c.s, c.flags, got, c.want)
		}
	}
	for s, want := range map[string]bool{"/srv": false, "/srv/*": true, "/a?": true, "/a[b]": true, "/a[b": false, "/a]": false, "/a\\*": false} {
		if got := isFnmatch(s); got != want {
			t.Errorf("isFnmatch(%q) = %v", s, got)
		}
	}
}

// TestFnmatchMatchesGlibc compares fnmatch with glibc's fnmatch(3),
// which ProFTPD bundles, on random patterns (through python3's ctypes).
func TestFnmatchMatchesGlibc(t *testing.T) {
	python := testpeers.Need(t, "python3")
	r := rand.New(rand.NewPCG(1, 2))
	const alpha = "ab/.*?[]!^-\\c:"
	var in strings.Builder
	type tc struct {
		p, s  string
		flags int
	}
	var cases []tc
	for range 5000 {
		p := make([]byte, r.IntN(8))
		for j := range p {
			p[j] = alpha[r.IntN(len(alpha))]
		}
		s := make([]byte, r.IntN(6))
		for j := range s {
			s[j] = "ab/.c[]-!"[r.IntN(9)]
		}
		for _, fl := range []int{0, fnmNoEscape | fnmCaseFold} {
			cases = append(cases, tc{string(p), string(s), fl})
			fmt.Fprintf(&in, "h%x h%x %d\n", p, s, fl)
		}
	}
	const script = `
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
for line in sys.stdin:
    p, s, fl = line.split()
    flags = 0 if fl == "0" else 2 | 16  # FNM_NOESCAPE | FNM_CASEFOLD
    print(1 if libc.fnmatch(bytes.fromhex(p[1:]), bytes.fromhex(s[1:]), flags) == 0 else 0)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	i := 0
	for sc.Scan() {
		if i >= len(cases) {
			t.Fatal("too many answers")
		}
		c := cases[i]
		if got, want := fnmatch(c.p, c.s, c.flags), sc.Text() == "1"; got != want {
			t.Errorf("fnmatch(%q, %q, %d) = %v, glibc %v", c.p, c.s, c.flags, got, want)
		}
		i++
	}
	if i != len(cases) {
		t.Fatalf("%d answers for %d cases", i, len(cases))
	}
}
