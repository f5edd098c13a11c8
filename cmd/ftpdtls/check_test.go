package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
)

// buildFtpdtls builds the ftpdtls command into a temporary directory and
// returns the binary's path.
func buildFtpdtls(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ftpdtls")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runFtpdtls runs the binary in dir and returns its exit status, stdout
// and stderr.
func runFtpdtls(t *testing.T, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run %s: %v", bin, err)
	return 0, "", ""
}

// logPrefixRE is the ProFTPD-style prefix of every stderr line of check.
var logPrefixRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ ftpdtls\[\d+\]: `)

// stripPrefixes checks that every line carries the log prefix and
// returns the lines without it.
func stripPrefixes(t *testing.T, stderr string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if l == "" {
			continue
		}
		loc := logPrefixRE.FindStringIndex(l)
		if loc == nil {
			t.Errorf("stderr line without ProFTPD's log prefix: %q", l)
			lines = append(lines, l)
			continue
		}
		lines = append(lines, l[loc[1]:])
	}
	return lines
}

const (
	banner   = "Checking syntax of configuration file\n"
	complete = "Syntax check complete.\n"
)

// TestFtpdtls builds the command once and runs it: the command table and
// "ftpdtls check".
func TestFtpdtls(t *testing.T) {
	bin := buildFtpdtls(t)
	t.Run("help", func(t *testing.T) { testHelp(t, bin) })
	t.Run("check", func(t *testing.T) { testCheck(t, bin) })
	t.Run("version", func(t *testing.T) { testVersion(t, bin) })
	t.Run("shipped example", func(t *testing.T) { testShippedExample(t, bin) })
}

func testCheck(t *testing.T, bin string) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "ServerName \"check test\"\nLoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\n"
	// ftpdtls serve needs users; the AuthUserFile line comes last, so
	// that the line numbers of the messages below do not move.
	line, err := authfile.Line("alice", "secret", dir)
	if err != nil {
		t.Fatal(err)
	}
	users := write("ftpd.passwd", line+"\n")
	if err := os.Chmod(users, 0o600); err != nil {
		t.Fatal(err)
	}
	write = func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text+"AuthUserFile "+users+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", head+"TLSSessionCache shm:/file="+dir+"/sess_cache 600\n")
	badTimeout := write("bad.conf", head+"\n# a comment\nTLSSessionCache shm:/file="+dir+"/sess_cache abc\n")
	relative := write("relative.conf", head+"TLSSessionCache shm:/file=relative/sess_cache\n")
	twice := write("twice.conf", head+"LoadModule mod_tls_shmcache.c\n")
	noticeThenFatal := write("notice-then-fatal.conf", head+"LoadModule mod_tls_shmcache.c\nTLSSessionCache off 0\n")
	noLoad := write("noload.conf", "ServerName x\nTLSSessionCache shm:/file="+dir+"/sess_cache\n")
	unknown := write("unknown.conf", "ServerName x\nServerNam y\n")
	typo := write("typo.conf", "ServerName x\n<IfModule mod_tls.c>\n  TLSEngin on\n</IfModule>\n")

	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantStdout string // exact
		// wantStderr are the stderr lines without the log prefix; nil
		// means stderr must be empty.
		wantStderr []string
		// stderrHas, if set, replaces wantStderr: each must occur in stderr.
		stderrHas []string
		plain     bool // stderr lines carry no prefix
	}{
		{name: "accepted", args: []string{"check", "-c", good},
			wantStdout: banner + complete},
		{name: "fatal", args: []string{"check", "-c", badTimeout}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{"fatal: TLSSessionCache: 'abc' is not a valid timeout value on line 6 of '" + badTimeout + "'"}},
		{name: "plain", args: []string{"check", "-plain", "-c", badTimeout}, wantStatus: 1, wantStdout: banner, plain: true,
			wantStderr: []string{"fatal: TLSSessionCache: 'abc' is not a valid timeout value on line 6 of '" + badTimeout + "'"}},
		{name: "relative -c is made absolute", args: []string{"check", "-c", "bad.conf"}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{"fatal: TLSSessionCache: 'abc' is not a valid timeout value on line 6 of '" + badTimeout + "'"}},
		{name: "warning does not fail", args: []string{"check", "-c", relative}, wantStdout: banner + complete,
			stderrHas: []string{"'relative/sess_cache'", "line 4 of '" + relative + "'"}},
		{name: "already loaded", args: []string{"check", "-proftpd", "-c", twice}, wantStdout: banner + complete,
			stderrHas: []string{"mod_dso/0.5: module 'mod_tls_shmcache.c' already loaded"}},
		// For serve, the modules it links are compiled in: LoadModule of
		// one is a silent no-op.
		{name: "serve: LoadModule of a linked module", args: []string{"check", "-c", twice}, wantStdout: banner + complete},
		{name: "notice before the fatal line", args: []string{"check", "-proftpd", "-c", noticeThenFatal}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{
				"mod_dso/0.5: module 'mod_tls_shmcache.c' already loaded on line 4 of '" + noticeThenFatal + "'",
				"fatal: TLSSessionCache: timeout be greater than 1 on line 5 of '" + noticeThenFatal + "'",
			}},
		{name: "proftpd: needs LoadModule like Debian", args: []string{"check", "-proftpd", "-c", noLoad}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{"fatal: unknown configuration directive 'TLSSessionCache' on line 2 of '" + noLoad + "'"}},
		{name: "serve: linked modules need no LoadModule", args: []string{"check", "-c", noLoad}, wantStdout: banner + complete},
		{name: "compiled in", args: []string{"check", "-proftpd", "-compiled-in", "linked", "-c", noLoad},
			wantStdout: banner + complete},
		{name: "compiled in by name", args: []string{"check", "-proftpd", "-compiled-in", "mod_tls.c,mod_tls_shmcache.c", "-c", noLoad},
			wantStdout: banner + complete},
		{name: "compiled-in without -proftpd", args: []string{"check", "-compiled-in", "linked", "-c", noLoad}, wantStatus: 2,
			stderrHas: []string{"-compiled-in applies to -proftpd"}, plain: true},
		// Issue 13's case: a typo inside <IfModule mod_tls.c> is skipped
		// by proftpd -t without LoadModule mod_tls.c, and fatal for serve.
		{name: "serve: typo in a module block", args: []string{"check", "-c", typo}, wantStatus: 1, wantStdout: banner,
			stderrHas: []string{"fatal: unknown configuration directive 'TLSEngin' on line 3 of '" + typo + "'", "fatal: Did you mean:", "  TLSEngine"}},
		{name: "proftpd: typo in a skipped module block", args: []string{"check", "-proftpd", "-c", typo}, wantStdout: banner + complete},
		{name: "did you mean", args: []string{"check", "-c", unknown}, wantStatus: 1, wantStdout: banner,
			stderrHas: []string{"fatal: unknown configuration directive 'ServerNam' on line 2 of '" + unknown + "'", "ServerName"}},
		{name: "missing file", args: []string{"check", "-c", filepath.Join(dir, "nonexistent.conf")}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{"fatal: unable to read configuration file '" + filepath.Join(dir, "nonexistent.conf") + "': No such file or directory"}},
		{name: "directory", args: []string{"check", "-c", dir}, wantStatus: 1, wantStdout: banner,
			wantStderr: []string{"fatal: unable to read configuration file '" + dir + "': Is a directory"}},
		{name: "stray argument", args: []string{"check", "-c", good, "extra"}, wantStatus: 2,
			stderrHas: []string{`unexpected argument "extra"`, "usage: ftpdtls check"}, plain: true},
		{name: "check -h", args: []string{"check", "-h"}, stderrHas: []string{"usage: ftpdtls check", "-compiled-in", "/etc/proftpd/proftpd.conf"}, plain: true},
		{name: "no command", args: nil, wantStatus: 2, stderrHas: []string{"usage: ftpdtls COMMAND", "check", "help"}, plain: true},
		{name: "unknown command", args: []string{"frobnicate"}, wantStatus: 2, stderrHas: []string{`unknown command "frobnicate"`, "usage:"}, plain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runFtpdtls(t, bin, dir, tt.args...)
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", status, tt.wantStatus, stdout, stderr)
			}
			if tt.wantStdout != "" && stdout != tt.wantStdout {
				t.Errorf("stdout %q, want %q", stdout, tt.wantStdout)
			}
			if tt.stderrHas != nil {
				for _, s := range tt.stderrHas {
					if !strings.Contains(stderr, s) {
						t.Errorf("stderr does not contain %q:\n%s", s, stderr)
					}
				}
				if !tt.plain {
					stripPrefixes(t, stderr)
				}
				return
			}
			var got []string
			if tt.plain {
				if stderr != "" {
					got = strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
				}
			} else {
				got = stripPrefixes(t, stderr)
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantStderr, "\n") {
				t.Errorf("stderr lines:\n got %q\nwant %q", got, tt.wantStderr)
			}
		})
	}
}

// testShippedExample checks examples/proftpd.conf: it is refused, or
// warned about, only for files the machine lacks (the AuthUserFile, the
// cache directory: the README's setup steps); on a machine set up as the
// README says it checks clean.
func testShippedExample(t *testing.T, bin string) {
	example, err := filepath.Abs("../../examples/proftpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runFtpdtls(t, bin, t.TempDir(), "check", "-plain", "-c", example)
	if !strings.HasPrefix(stdout, banner) || (status == 0) != (stdout == banner+complete) {
		t.Fatalf("check: status %d, stdout %q", status, stdout)
	}
	quoted := regexp.MustCompile(`'(/[^']*)'|unable to use (/\S+):`)
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" || strings.Contains(line, " of '"+example+"'") && !quoted.MatchString(strings.Split(line, " on line ")[0]) {
			if line != "" {
				t.Errorf("the example has a problem of its own: %s", line)
			}
			continue
		}
		missing := false
		for _, m := range quoted.FindAllStringSubmatch(strings.Split(line, " on line ")[0], -1) {
			p := m[1] + m[2]
			if _, err := os.Stat(p); err != nil {
				missing = true
			} else if _, err := os.Stat(filepath.Dir(p)); err != nil {
				missing = true
			}
		}
		if !missing {
			t.Errorf("the example is refused or warned about for a file this machine has: %s", line)
		}
	}
}

func testHelp(t *testing.T, bin string) {
	status, stdout, stderr := runFtpdtls(t, bin, t.TempDir(), "help")
	if status != 0 || stderr != "" {
		t.Fatalf("help: status %d, stderr %q", status, stderr)
	}
	// Every registered command is listed with its summary.
	for name, c := range commands {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +` + regexp.QuoteMeta(c.summary) + `$`).MatchString(stdout) {
			t.Errorf("help does not list %q with its summary:\n%s", name, stdout)
		}
	}
	if status, _, stderr := runFtpdtls(t, bin, t.TempDir(), "help", "check"); status != 0 || !strings.Contains(stderr, "usage: ftpdtls check") {
		t.Errorf("help check: status %d, stderr %q", status, stderr)
	}
}
