package main

import (
	"bytes"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestWriteVersion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bi    *debug.BuildInfo
		first string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ftpdtls/ftpdtls", Version: "v1.4.0"}},
			"ftpdtls v1.4.0 (github.com/ftpdtls/ftpdtls)"},
		{"source build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ftpdtls/ftpdtls", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			"ftpdtls (devel) (github.com/ftpdtls/ftpdtls, revision 0123456789ab, modified)"},
		{"no build info", nil, "ftpdtls (unknown) (github.com/ftpdtls/ftpdtls)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeVersion(&b, tc.bi)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 3 lines, got:\n%s", b.String())
			}
			if lines[0] != tc.first {
				t.Errorf("first line %q, want %q", lines[0], tc.first)
			}
			goVersion := runtime.Version()
			if tc.bi != nil {
				goVersion = tc.bi.GoVersion
			}
			if want := "Go " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH; lines[1] != want {
				t.Errorf("second line %q, want %q", lines[1], want)
			}
			// The modules the command links, with their ProFTPD versions.
			for _, m := range []string{"mod_tls/2.9.2", "mod_tls_shmcache/0.2"} {
				if !strings.Contains(lines[2], m) {
					t.Errorf("compatibility line lacks %s: %q", m, lines[2])
				}
			}
			if !strings.HasPrefix(lines[2], "ProFTPD 1.3.8 compatible") {
				t.Errorf("compatibility line %q", lines[2])
			}
		})
	}
}

// testVersion runs the built command: its module version comes from the
// binary's build information.
func testVersion(t *testing.T, bin string) {
	status, stdout, stderr := runFtpdtls(t, bin, t.TempDir(), "version")
	if status != 0 || stderr != "" {
		t.Fatalf("version: status %d, stderr %q", status, stderr)
	}
	re := regexp.MustCompile(`\Aftpdtls \S+ \(github\.com/ftpdtls/ftpdtls[^)]*\)\nGo go\S+ \S+/\S+\nProFTPD 1\.3\.8 compatible .*mod_tls/2\.9\.2.*\n\z`)
	if !re.MatchString(stdout) {
		t.Errorf("version output:\n%s", stdout)
	}
	if status, _, stderr := runFtpdtls(t, bin, t.TempDir(), "version", "extra"); status != 2 || !strings.Contains(stderr, "usage: ftpdtls version") {
		t.Errorf("version extra: status %d, stderr %q", status, stderr)
	}
}
