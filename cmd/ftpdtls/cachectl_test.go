package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// ctlConfig writes a configuration with shm caches in a temporary
// directory and removes the segments when the test ends.
func ctlConfig(t *testing.T, directives string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "proftpd.conf")
	text := strings.ReplaceAll(directives, "DIR", dir)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		runCacheControl(sessionControl, []string{"-c", path, "remove"}, &bytes.Buffer{}, &bytes.Buffer{})
		runCacheControl(ocspControl, []string{"-c", path, "remove"}, &bytes.Buffer{}, &bytes.Buffer{})
	})
	return path
}

const shmCaches = "TLSEngine on\nTLSSessionCache shm:/file=DIR/sess 600\nTLSStaplingCache shm:/file=DIR/ocsp\n"

func ctl(k cacheKind, args ...string) (stdout, stderr string, status int) {
	var o, e bytes.Buffer
	status = runCacheControl(k, args, &o, &e)
	return o.String(), e.String(), status
}

func TestCacheControls(t *testing.T) {
	conf := ctlConfig(t, shmCaches)
	none := ctlConfig(t, "TLSEngine on\n")

	// Two sessions in the cache, for clear to count.
	cfg, err := daemon.Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := daemon.OpenSessionCache(cfg, modtls.Env{})
	if err != nil || c == nil {
		t.Fatalf("open: %v", err)
	}
	for i := range 2 {
		if err := c.Add(bytes.Repeat([]byte{byte(i + 1)}, 32), time.Now().Add(time.Hour), []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	for _, tc := range []struct {
		name   string
		kind   cacheKind
		args   []string
		stdout string // exact, or a prefix when it ends in "..."
		stderr string
		status int
	}{
		{"sess info", sessionControl, []string{"-c", conf, "info"}, "Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2\n...", "", 0},
		{"sess clear two", sessionControl, []string{"-c", conf, "clear"}, "tls sesscache: cleared 2 sessions from 'shm' session cache\n", "", 0},
		{"sess clear none", sessionControl, []string{"-c", conf, "clear"}, "tls sesscache: cleared 0 sessions from 'shm' session cache\n", "", 0},
		{"sess remove", sessionControl, []string{"-c", conf, "remove"}, "tls sesscache: removed 'shm' session cache\n", "", 0},
		{"sess info after remove", sessionControl, []string{"-c", conf, "info", "-v"}, "Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2\n...", "", 0},
		{"sess remove twice", sessionControl, []string{"-c", conf, "remove"}, "tls sesscache: removed 'shm' session cache\n", "", 0},
		{"ocsp info", ocspControl, []string{"-c", conf, "info", "-v"}, "Shared memory (shm) OCSP response cache provided by mod_tls_shmcache/0.2\n...", "", 0},
		{"ocsp clear", ocspControl, []string{"-c", conf, "clear"}, "tls ocspcache: cleared 0 responses from 'shm' OCSP cache\n", "", 0},
		{"ocsp remove says ocspcache", ocspControl, []string{"-c", conf, "remove"}, "tls ocspcache: removed 'shm' OCSP cache\n", "", 0},
		{"sess none configured", sessionControl, []string{"-c", none, "info"}, "No TLSSessionCache configured\n", "", 0},
		{"ocsp none configured", ocspControl, []string{"-c", none, "info"}, "No TLSStaplingCache configured\n", "", 0},
		{"sess clear none configured", sessionControl, []string{"-c", none, "clear"}, "", "tls sesscache: error clearing session cache: Function not implemented\n", 1},
		{"ocsp remove none configured", ocspControl, []string{"-c", none, "remove"}, "", "tls ocspcache: error removing OCSP cache: Function not implemented\n", 1},
		{"missing action", sessionControl, []string{"-c", conf}, "", "tls sesscache: missing required parameters\n", 2},
		{"unknown action", sessionControl, []string{"-c", conf, "bogus"}, "", "tls sesscache: unknown sesscache action: 'bogus'\n", 2},
		{"unknown ocsp action", ocspControl, []string{"-c", conf, "bogus"}, "", "tls ocspcache: unknown ocspcache action: 'bogus'\n", 2},
		{"bad info option", sessionControl, []string{"-c", conf, "info", "-x"}, "", "tls sesscache: unsupported parameter: '-x'\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := ctl(tc.kind, tc.args...)
			if status != tc.status {
				t.Errorf("status %d, want %d (stdout %q, stderr %q)", status, tc.status, stdout, stderr)
			}
			if p, ok := strings.CutSuffix(tc.stdout, "..."); ok {
				if !strings.HasPrefix(stdout, p) {
					t.Errorf("stdout %q, want it to start with %q", stdout, p)
				}
			} else if stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout, tc.stdout)
			}
			if stderr != tc.stderr {
				t.Errorf("stderr %q, want %q", stderr, tc.stderr)
			}
		})
	}
}

func TestCacheControlSingularAndVerbose(t *testing.T) {
	conf := ctlConfig(t, shmCaches)
	cfg, err := daemon.Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := daemon.OpenSessionCache(cfg, modtls.Env{})
	if err != nil || c == nil {
		t.Fatalf("open: %v", err)
	}
	if err := c.Add(bytes.Repeat([]byte{9}, 32), time.Now().Add(time.Hour), []byte("not a session")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	out, _, status := ctl(sessionControl, "-c", conf, "info")
	if status != 0 || !strings.Contains(out, "Current session cache size: 1\n") {
		t.Fatalf("info (status %d):\n%s", status, out)
	}
	if verbose, _, _ := ctl(sessionControl, "-c", conf, "info", "-v"); !strings.Contains(verbose, "Cached sessions:") || strings.Contains(out, "Cached sessions:") {
		t.Errorf("-v does not add the session list:\n%s", verbose)
	}
	out, _, _ = ctl(sessionControl, "-c", conf, "clear")
	if want := fmt.Sprintf("tls sesscache: cleared %d session from 'shm' session cache\n", 1); out != want {
		t.Errorf("clear of one: %q, want %q", out, want)
	}
}

func TestCacheControlBadConfig(t *testing.T) {
	conf := ctlConfig(t, "TLSSessionCache\n")
	_, stderr, status := ctl(sessionControl, "-c", conf, "info")
	if status != 1 || !strings.HasPrefix(stderr, "ftpdtls sesscache: fatal: TLSSessionCache: ") {
		t.Fatalf("status %d, stderr %q; want 1 and the parse error", status, stderr)
	}
	// A cache that parses but cannot be opened is the control's error.
	conf = ctlConfig(t, "TLSSessionCache shm:/file=relative\n")
	_, stderr, status = ctl(sessionControl, "-c", conf, "info")
	if status != 1 || !strings.HasPrefix(stderr, "tls sesscache: error obtaining session cache status: ") {
		t.Fatalf("status %d, stderr %q; want 1 and mod_tls's status error", status, stderr)
	}
	if _, _, status := ctl(sessionControl, "-c", filepath.Join(t.TempDir(), "missing.conf"), "info"); status != 1 {
		t.Errorf("missing config: status %d, want 1", status)
	}
}
