package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
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
	c, err := modtls.OpenSessionCache(modtls.SettingsOf(cfg.Main).SessionCache, modtls.Env{Server: cfg.Main})
	if err != nil || c == nil {
		t.Fatalf("open: %v", err)
	}
	for i := range 2 {
		if err := c.Add(bytes.Repeat([]byte{byte(i + 1)}, 32), time.Now().Add(time.Hour), []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	oc, err := modtls.OpenOCSPCache(modtls.SettingsOf(cfg.Main).StaplingCache, modtls.Env{Server: cfg.Main})
	if err != nil || oc == nil {
		t.Fatalf("open OCSP cache: %v", err)
	}
	oc.Close()

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
		// Nothing to remove: said so, status 0 as for clear and info of a
		// missing segment.
		{"sess remove twice", sessionControl, []string{"-c", conf, "remove"}, "tls sesscache: no shared memory segment exists ...", "", 0},
		{"ocsp info", ocspControl, []string{"-c", conf, "info", "-v"}, "Shared memory (shm) OCSP response cache provided by mod_tls_shmcache/0.2\n...", "", 0},
		{"ocsp clear", ocspControl, []string{"-c", conf, "clear"}, "tls ocspcache: cleared 0 responses from 'shm' OCSP cache\n", "", 0},
		{"ocsp remove says ocspcache", ocspControl, []string{"-c", conf, "remove"}, "tls ocspcache: removed 'shm' OCSP cache\n", "", 0},
		{"ocsp remove twice", ocspControl, []string{"-c", conf, "remove"}, "tls ocspcache: no shared memory segment exists ...", "", 0},
		// Nothing configured: mod_tls's words, status 1 for every action.
		{"sess none configured", sessionControl, []string{"-c", none, "info"}, "", "No TLSSessionCache configured\n", 1},
		{"ocsp none configured", ocspControl, []string{"-c", none, "info"}, "", "No TLSStaplingCache configured\n", 1},
		{"sess clear none configured", sessionControl, []string{"-c", none, "clear"}, "", "tls sesscache: error clearing session cache: Function not implemented\n", 1},
		{"sess remove none configured", sessionControl, []string{"-c", none, "remove"}, "", "tls sesscache: error removing session cache: Function not implemented\n", 1},
		{"ocsp clear none configured", ocspControl, []string{"-c", none, "clear"}, "", "tls ocspcache: error clearing OCSP cache: Function not implemented\n", 1},
		{"ocsp remove none configured", ocspControl, []string{"-c", none, "remove"}, "", "tls ocspcache: error removing OCSP cache: Function not implemented\n", 1},
		{"no arguments", sessionControl, nil, "", "tls sesscache: missing required parameters\nusage: ftpdtls sesscache [-c FILE] info [-v] | clear | remove\n...", 2},
		{"ocsp no arguments", ocspControl, nil, "", "tls ocspcache: missing required parameters\nusage: ftpdtls ocspcache [-c FILE] info [-v] | clear | remove\n...", 2},
		{"missing action", sessionControl, []string{"-c", conf}, "", "tls sesscache: missing required parameters\nusage: ftpdtls sesscache ...", 2},
		{"unknown action", sessionControl, []string{"-c", conf, "bogus"}, "", "tls sesscache: unknown sesscache action: 'bogus'\nusage: ftpdtls sesscache ...", 2},
		{"unknown ocsp action", ocspControl, []string{"-c", conf, "bogus"}, "", "tls ocspcache: unknown ocspcache action: 'bogus'\nusage: ftpdtls ocspcache ...", 2},
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
			if p, ok := strings.CutSuffix(tc.stderr, "..."); ok {
				if !strings.HasPrefix(stderr, p) {
					t.Errorf("stderr %q, want it to start with %q", stderr, p)
				}
			} else if stderr != tc.stderr {
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
	c, err := modtls.OpenSessionCache(modtls.SettingsOf(cfg.Main).SessionCache, modtls.Env{Server: cfg.Main})
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
	// The provider's notice, then mod_tls's error response.
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if status != 1 || len(lines) != 2 || lines[0] != "mod_tls_shmcache/0.2: file 'relative' not an absolute path" ||
		!strings.HasPrefix(lines[1], "tls sesscache: error obtaining session cache status: ") {
		t.Fatalf("status %d, stderr %q; want 1, the notice and mod_tls's status error", status, stderr)
	}
	if _, _, status := ctl(sessionControl, "-c", filepath.Join(t.TempDir(), "missing.conf"), "info"); status != 1 {
		t.Errorf("missing config: status %d, want 1", status)
	}
}

// TestCacheControlSizeChange: a cache opened at one size, then
// configured with another, cannot be opened; info says why and what to
// do, remove works (the advice of that message), and the new size then
// opens. The same for the OCSP cache.
func TestCacheControlSizeChange(t *testing.T) {
	for _, tc := range []struct {
		name, directive, file string
		kind                  cacheKind
		open                  func(*directives.Config) (io.Closer, error)
	}{
		{"session", "TLSSessionCache", "sess", sessionControl, func(cfg *directives.Config) (io.Closer, error) {
			c, err := modtls.OpenSessionCache(modtls.SettingsOf(cfg.Main).SessionCache, modtls.Env{Server: cfg.Main})
			return c, err
		}},
		{"OCSP", "TLSStaplingCache", "ocsp", ocspControl, func(cfg *directives.Config) (io.Closer, error) {
			c, err := modtls.OpenOCSPCache(modtls.SettingsOf(cfg.Main).StaplingCache, modtls.Env{Server: cfg.Main})
			return c, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := func(size int) string {
				return fmt.Sprintf("TLSEngine on\n%s shm:/file=DIR/%s&size=%d\n", tc.directive, tc.file, size)
			}
			conf := ctlConfig(t, line(512000))
			open := func() (io.Closer, error) {
				cfg, err := daemon.Parse(conf, "")
				if err != nil {
					t.Fatal(err)
				}
				return tc.open(cfg)
			}
			c, err := open()
			if err != nil {
				t.Fatalf("open at 512000 bytes: %v", err)
			}
			c.Close()
			out, _, _ := ctl(tc.kind, "-c", conf, "info")
			oldID := statusID(t, out)

			// Reconfigure: the default size.
			text := strings.Replace(line(512000), "&size=512000", "", 1)
			if err := os.WriteFile(conf, []byte(strings.ReplaceAll(text, "DIR", filepath.Dir(conf))), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, status := ctl(tc.kind, "-c", conf, "info")
			for _, want := range []string{
				fmt.Sprintf("existing shm ID %d for file '%s' is 512000 bytes, not the requested 1576960 bytes", oldID, filepath.Join(filepath.Dir(conf), tc.file)),
				fmt.Sprintf("remove it using 'ftpdtls %s remove'", tc.kind.action),
				fmt.Sprintf("tls %s: error obtaining %s cache status: ", tc.kind.action, tc.kind.what),
				"existing shm segment has another size",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("info stderr lacks %q:\n%s", want, stderr)
				}
			}
			if status != 1 || stdout != "" {
				t.Errorf("info: status %d, stdout %q; want 1 and nothing", status, stdout)
			}
			stdout, stderr, status = ctl(tc.kind, "-c", conf, "remove")
			if status != 0 || stdout != fmt.Sprintf("tls %s: removed 'shm' %s\n", tc.kind.action, tc.kind.cacheName) {
				t.Fatalf("remove: status %d, stdout %q, stderr %q", status, stdout, stderr)
			}
			var d unix.SysvShmDesc
			if _, err := unix.SysvShmCtl(oldID, unix.IPC_STAT, &d); err == nil {
				t.Errorf("shm ID %d still exists after remove", oldID)
			}
			c, err = open()
			if err != nil {
				t.Fatalf("open at the new size after remove: %v", err)
			}
			c.Close()
			out, _, status = ctl(tc.kind, "-c", conf, "info")
			if status != 0 || !strings.Contains(out, "Shared memory segment size: 1576960 bytes\n") {
				t.Errorf("info at the new size (status %d):\n%s", status, out)
			}
		})
	}
}

// TestCacheControlsCreateNothing: info and clear of a cache that does not
// exist (yet, or any more) say so and create neither segment nor file.
func TestCacheControlsCreateNothing(t *testing.T) {
	conf := ctlConfig(t, shmCaches)
	dir := filepath.Dir(conf)
	for _, tc := range []struct {
		name   string
		kind   cacheKind
		args   []string
		stdout string
	}{
		{"sess info", sessionControl, []string{"info", "-v"}, "Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2\n\n" +
			"No shared memory segment exists for '" + dir + "/sess' (not created yet, or removed); the server creates it when it opens the cache\n"},
		{"ocsp info", ocspControl, []string{"info"}, "Shared memory (shm) OCSP response cache provided by mod_tls_shmcache/0.2\n\n" +
			"No shared memory segment exists for '" + dir + "/ocsp' (not created yet, or removed); the server creates it when it opens the cache\n"},
		{"sess clear", sessionControl, []string{"clear"}, "tls sesscache: cleared 0 sessions from 'shm' session cache\n"},
		{"ocsp clear", ocspControl, []string{"clear"}, "tls ocspcache: cleared 0 responses from 'shm' OCSP cache\n"},
		{"sess remove", sessionControl, []string{"remove"}, "tls sesscache: no shared memory segment exists for '" + dir + "/sess' ..."},
		{"sess info after remove", sessionControl, []string{"info"}, "Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2\n\n" +
			"No shared memory segment exists for '" + dir + "/sess' (not created yet, or removed); the server creates it when it opens the cache\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := ctl(tc.kind, append([]string{"-c", conf}, tc.args...)...)
			want, prefix := strings.CutSuffix(tc.stdout, "...")
			if status != 0 || (stdout != want && !(prefix && strings.HasPrefix(stdout, want))) || stderr != "" {
				t.Errorf("status %d, stdout %q, stderr %q; want 0 and %q", status, stdout, stderr, tc.stdout)
			}
			for _, f := range []string{"sess", "ocsp"} {
				if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cache file %s exists: %v", f, err)
				}
			}
		})
	}
	// After remove of a cache that was there, info says so too.
	cfg, err := daemon.Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := modtls.OpenSessionCache(modtls.SettingsOf(cfg.Main).SessionCache, modtls.Env{Server: cfg.Main})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if out, _, _ := ctl(sessionControl, "-c", conf, "info"); !strings.Contains(out, "Shared memory segment ID: ") {
		t.Fatalf("info of an existing cache:\n%s", out)
	}
	if _, _, status := ctl(sessionControl, "-c", conf, "remove"); status != 0 {
		t.Fatalf("remove: status %d", status)
	}
	if out, _, _ := ctl(sessionControl, "-c", conf, "info"); !strings.Contains(out, "No shared memory segment exists for") {
		t.Errorf("info after remove:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "sess")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("info after remove made the cache file: %v", err)
	}
}

// TestCacheControlRemoveRefusesForeignSegment: a segment at the cache
// file's key that is not its cache (another program's) is never removed;
// the message says how to check and remove it by hand.
func TestCacheControlRemoveRefusesForeignSegment(t *testing.T) {
	conf := ctlConfig(t, shmCaches)
	path := filepath.Join(filepath.Dir(conf), "sess")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	key := int(int32(uint32('F')<<24 | uint32(st.Dev&0xff)<<16 | uint32(st.Ino&0xffff)))
	id, err := unix.SysvShmGet(key, 8192, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		t.Skipf("key %#08x in use: %v", uint32(key), err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(mem, "another program's data")
	unix.SysvShmDetach(mem)

	stdout, stderr, status := ctl(sessionControl, "-c", conf, "remove")
	if status != 1 || stdout != "" {
		t.Errorf("remove: status %d, stdout %q; want 1 and nothing", status, stdout)
	}
	for _, want := range []string{
		"tls sesscache: error removing session cache: ",
		fmt.Sprintf("shm ID %d is not the ftpdtls session cache of this file; not removed", id),
		fmt.Sprintf("'ipcs -m -i %d'", id), fmt.Sprintf("'ipcrm -m %d'", id),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
		t.Errorf("the foreign segment was removed: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the cache file was removed although its key is another program's: %v", err)
	}
}

// TestCacheInfoRunningState: info says when the running server does not
// use the configured cache, with the reason it published; nothing when no
// server runs or it uses the cache.
func TestCacheInfoRunningState(t *testing.T) {
	conf := ctlConfig(t, shmCaches)
	relative := ctlConfig(t, "TLSSessionCache shm:/file=relative\n")
	old := runningState
	t.Cleanup(func() { runningState = old })
	const reason = "error opening 'shm' TLSSessionCache: unable to open file '/x/sess': Permission denied"
	state := func(*directives.Config) (*daemon.ServerState, error) {
		return &daemon.ServerState{PID: 4242, Caches: []daemon.CacheState{
			{Directive: "TLSSessionCache", Provider: "shm", Reason: reason},
			{Directive: "TLSStaplingCache", Provider: "shm", Shared: true},
		}}, nil
	}
	note := "\nThe running ftpdtls serve (PID 4242) does not use this session cache: " + reason + "\n"
	for _, tc := range []struct {
		name        string
		state       func(*directives.Config) (*daemon.ServerState, error)
		kind        cacheKind
		conf        string
		status      int
		note        bool
		stderrHas   string
		stderrEmpty bool
	}{
		{"fallen back", state, sessionControl, conf, 0, true, "", true},
		{"shared", state, ocspControl, conf, 0, false, "", true},
		{"cannot open it either", state, sessionControl, relative, 1, true, "tls sesscache: error obtaining session cache status: ", false},
		{"not running", func(*directives.Config) (*daemon.ServerState, error) { return nil, daemon.ErrNotRunning }, sessionControl, conf, 0, false, "", true},
		{"unknown", func(*directives.Config) (*daemon.ServerState, error) { return nil, errors.New("state file unreadable") },
			sessionControl, conf, 0, false, "ftpdtls sesscache: cannot tell whether a running server uses this cache: state file unreadable", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runningState = tc.state
			stdout, stderr, status := ctl(tc.kind, "-c", tc.conf, "info")
			if status != tc.status {
				t.Errorf("status %d, want %d\n%s%s", status, tc.status, stdout, stderr)
			}
			if got := strings.Contains(stdout, "does not use this"); got != tc.note {
				t.Errorf("note in stdout: %v, want %v:\n%s", got, tc.note, stdout)
			}
			if tc.note && !strings.Contains(stdout, note) {
				t.Errorf("stdout lacks %q:\n%s", note, stdout)
			}
			if tc.stderrEmpty && stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
			if !strings.Contains(stderr, tc.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderrHas, stderr)
			}
		})
	}
}

// removalAdvice matches a message that tells the reader to destroy a cache.
var removalAdvice = regexp.MustCompile(`(?i)\bremove it\b|ipcrm|(sesscache|ocspcache) remove`)

// TestCacheControlsLiveCacheOfAnotherUser is issue 13's case: root runs the
// controls on the cache of a server that runs as another user. Whatever
// they can or cannot do with it, nothing they print advises removing it:
// it is in use.
func TestCacheControlsLiveCacheOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root, to run a server as nobody")
	}
	const nobody = 65534
	bin := buildFtpdtls(t)
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil { // let nobody reach its files
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	cacheDir := filepath.Join(dir, "cache")
	if err := os.Mkdir(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{certFile, keyFile, cacheDir} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	line, err := authfile.Line("alice", "secret", dir)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "ftpd.passwd")
	// ProFTPD's rule, which serve follows: not readable by others.
	if err := os.WriteFile(users, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(users, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(dir, "proftpd.conf")
	sess := filepath.Join(cacheDir, "sess")
	text := fmt.Sprintf("ServerName \"live\"\nDefaultAddress 127.0.0.1\nPort %d\nAuthUserFile %s\n"+
		"TLSEngine on\nTLSECCertificateFile %s\nTLSECCertificateKeyFile %s\nTLSSessionCache shm:/file=%s 600\n",
		port, users, certFile, keyFile, sess)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The segment goes when the test ends, whoever made it.
	t.Cleanup(func() {
		var st unix.Stat_t
		if unix.Stat(sess, &st) != nil {
			return
		}
		key := int(int32(uint32('F')<<24 | uint32(st.Dev&0xff)<<16 | uint32(st.Ino&0xffff)))
		if id, err := unix.SysvShmGet(key, 0, 0); err == nil {
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
	})

	s := startServeAs(t, bin, port, &syscall.Credential{Uid: nobody, Gid: nobody}, "-c", conf)
	defer s.stop()
	if !s.waitStarted(t) {
		t.Fatalf("serve as nobody did not start:\n%s", s.stderr)
	}
	if _, err := os.Stat(sess); err != nil {
		t.Fatalf("the server made no cache file: %v\n%s", err, s.stderr)
	}
	for _, args := range [][]string{{"info"}, {"info", "-v"}, {"clear"}} {
		stdout, stderr, status := ctl(sessionControl, append([]string{"-c", conf}, args...)...)
		t.Logf("sesscache %s: status %d\n%s%s", args, status, stdout, stderr)
		if removalAdvice.MatchString(stdout + stderr) {
			t.Errorf("sesscache %s (status %d) advises removing a cache in use:\n%s%s", args, status, stdout, stderr)
		}
	}
}
