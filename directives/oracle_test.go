package directives

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// The oracle tests compare the parser with Debian 12's proftpd 1.3.8 on
// the snippets of testdata/oracle-snippets.txt (one configuration per
// line, with \n, \t, \r, \0 and \\ escapes and @TMP@ for a fixture
// directory).
// testdata/proftpd-1.3.8-oracle.json holds what `proftpd -t` printed for
// each, recorded with FTPDTLS_RECORD_ORACLE=1; TestOracleRecorded checks
// the parser against that file, TestOracleLive against proftpd itself.
//
// Snippets on which ftpdtls differs on purpose (see doc.go) are not in
// the file; their own tests are in parse_test.go.

const (
	oracleSnippets = "testdata/oracle-snippets.txt"
	oracleRecord   = "testdata/proftpd-1.3.8-oracle.json"
)

// oracleEnv is the environment of the %{env:} snippets.
var oracleEnv = map[string]string{
	"FTPDTLS_T_PP": "1024 2048",
	"FTPDTLS_T_P2": "70000",
}

// oracleNoise matches lines proftpd logs while checking that are not
// part of the parser's answer (debug and post-parse chatter). The notices
// of ProFTPD's log opening ("error: unable to stat() ...", "inappropriate
// log file: ...") are part of it: the parser gives them too.
//
// "unable to bind to local socket" is mod_ctrls finding the default
// ControlsSocket taken by another proftpd running at the same moment (the
// conformance tests run proftpd -t in parallel with these).
var oracleNoise = regexp.MustCompile(`masquerading as|already in use by|^processing configuration directory|` +
	`^mod_ctrls/[0-9.]+: error: unable to bind to local socket: Address already in use$`)

type oracleCase struct {
	Snippet string   `json:"snippet"`
	RC      int      `json:"rc"`
	Lines   []string `json:"lines"`
}

func unescapeSnippet(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func readSnippets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(oracleSnippets)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// oracleFixture builds the files the snippets refer to under a new
// directory, mode 0755 so that proftpd (as root) can read it.
func oracleFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"inc/d/b.conf":     "Port 1\n",
		"inc/d/c.conf":     "Port 70000\n",
		"inc/d/.hidden":    "Port 2\n",
		"inc/d/a.conf~":    "Port 3\n",
		"inc/w/a/x.conf":   "ServerName x\n",
		"inc/w/b/x.conf":   "Port 70001\n",
		"inc/e/.dot.conf":  "Port 70002\n",
		"inc/bad.conf":     "FooBar\n",
		"empty.conf":       "",
		"inc/d/sub/.keep":  "",
		"inc/e/z.conf.bak": "Port 70003\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "inc/d"), filepath.Join(dir, "inc/link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runProFTPD runs proftpd -t on conf and returns its exit status and its
// stderr lines, log prefixes stripped, dir written as @TMP@, noise dropped.
func runProFTPD(t *testing.T, proftpd, conf, dir string) (int, []string) {
	t.Helper()
	cmd := exec.Command(proftpd, "-t", "-c", conf)
	cmd.Env = os.Environ()
	for k, v := range oracleEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rc := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run proftpd: %v", err)
		}
		rc = ee.ExitCode()
	}
	prefix := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ proftpd\[\d+\]( [^:]*)?: `)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n") {
		l = strings.ReplaceAll(prefix.ReplaceAllString(l, ""), dir, "@TMP@")
		if l != "" && !oracleNoise.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return rc, lines
}

// runParser parses conf and renders the result like runProFTPD.
func runParser(conf, dir string) (int, []string) {
	opts := testOptions()
	opts.LookupEnv = func(k string) (string, bool) { v, ok := oracleEnv[k]; return v, ok }
	cfg, err := ParseFile(conf, opts)
	var warnings []Warning
	if cfg != nil {
		warnings = cfg.Warnings
	}
	rc := 0
	var fatal []string
	if err != nil {
		rc = 1
		e, ok := err.(*Error)
		if !ok {
			return rc, []string{"non-ProFTPD error: " + err.Error()}
		}
		warnings = e.Warnings
		for _, l := range e.Lines() {
			fatal = append(fatal, strings.Split(l, "\n")...)
		}
	}
	var lines []string
	for _, w := range warnings {
		lines = append(lines, strings.ReplaceAll(w.String(), dir, "@TMP@"))
	}
	for _, l := range fatal {
		lines = append(lines, strings.ReplaceAll(l, dir, "@TMP@"))
	}
	return rc, lines
}

// sameLines compares line sets: proftpd logs some warnings (such as the
// one for an empty <Class>) after the parse, so order is not compared.
func sameLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[string]int)
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
		if count[l] < 0 {
			return false
		}
	}
	return true
}

func writeSnippet(t *testing.T, dir, snippet string) string {
	t.Helper()
	conf := filepath.Join(dir, "a.conf")
	body := strings.ReplaceAll(unescapeSnippet(snippet), "@TMP@", dir)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestOracleRecorded(t *testing.T) {
	if os.Getenv("FTPDTLS_RECORD_ORACLE") == "1" {
		recordOracle(t)
	}
	data, err := os.ReadFile(oracleRecord)
	if err != nil {
		t.Fatal(err)
	}
	var cases []oracleCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(readSnippets(t)) {
		t.Fatalf("%s has %d cases, %s %d: record again with FTPDTLS_RECORD_ORACLE=1", oracleRecord, len(cases), oracleSnippets, len(readSnippets(t)))
	}
	dir := oracleFixture(t)
	for _, c := range cases {
		conf := writeSnippet(t, dir, c.Snippet)
		rc, lines := runParser(conf, dir)
		if rc != c.RC || !sameLines(lines, c.Lines) {
			t.Errorf("%s\n got rc=%d %q\nwant rc=%d %q", c.Snippet, rc, lines, c.RC, c.Lines)
		}
	}
}

func recordOracle(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	dir := oracleFixture(t)
	var cases []oracleCase
	for _, s := range readSnippets(t) {
		rc, lines := runProFTPD(t, proftpd, writeSnippet(t, dir, s), dir)
		cases = append(cases, oracleCase{Snippet: s, RC: rc, Lines: lines})
	}
	data, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oracleRecord, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOracleLive runs proftpd on every snippet and compares directly,
// which also shows when the recording has gone stale.
func TestOracleLive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs proftpd once per snippet")
	}
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	dir := oracleFixture(t)
	for _, s := range readSnippets(t) {
		conf := writeSnippet(t, dir, s)
		wantRC, want := runProFTPD(t, proftpd, conf, dir)
		rc, got := runParser(conf, dir)
		if rc != wantRC || !sameLines(got, want) {
			t.Errorf("%s\n got rc=%d %q\nwant rc=%d %q", s, rc, got, wantRC, want)
		}
	}
}
