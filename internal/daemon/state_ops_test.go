package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// TestCacheFallbackIsVisible: a TLSSessionCache that cannot be opened
// (its directory does not exist) is a CheckServe warning saying what it
// means; serve starts, logs mod_tls's notice with the reason, and
// publishes that it does not use the cache, which RunningState (what
// `ftpdtls sesscache info` asks) returns, next to the PidFile or, without
// one, in the runtime directory; the state goes away with the server.
func TestCacheFallbackIsVisible(t *testing.T) {
	for _, withPidFile := range []bool{true, false} {
		name := "PidFile"
		if !withPidFile {
			name = "runtime directory"
		}
		t.Run(name, func(t *testing.T) {
			dir := worldDir(t)
			runtime := filepath.Join(dir, "runtime")
			t.Setenv(RuntimeDirEnv, runtime)
			opsUsers(t, dir)
			cert, key := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
			text := "AuthUserFile " + dir + "/ftpd.passwd\nTLSEngine on\nTLSECCertificateFile " + cert + "\nTLSECCertificateKeyFile " + key + "\n" +
				"TLSSessionCache shm:/file=" + dir + "/missing/sess_cache 600\nTLSStaplingCache shm:/file=" + dir + "/ocsp_cache\n"
			if withPidFile {
				text += "PidFile " + dir + "/ftpdtls.pid\n"
			}
			conf := writeConf(t, dir, text)
			cfg, err := Parse(conf, "")
			if err != nil {
				t.Fatal(err)
			}
			errs, warnings := CheckServe(cfg)
			if len(errs) > 0 {
				t.Fatalf("CheckServe: %v", errs)
			}
			var warned bool
			for _, w := range warnings {
				warned = warned || (w.Directive == "TLSSessionCache" && strings.Contains(w.Msg, "fall back to a cache in each process") &&
					strings.Contains(w.Msg, "No such file or directory") && w.Line == 5)
			}
			if !warned {
				t.Errorf("CheckServe does not warn about the session cache: %v", warnings)
			}
			if _, err := RunningState(cfg); !errors.Is(err, ErrNotRunning) {
				t.Fatalf("RunningState before the server runs: %v", err)
			}

			d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1}, RuntimeDirEnv+"="+runtime)
			d.waitLog(`warning: mod_tls/2\.9\.2: error opening 'shm' TLSSessionCache: .*(?i:no such file or directory)`)
			st, err := RunningState(cfg)
			if err != nil {
				t.Fatalf("RunningState: %v", err)
			}
			if st.PID != d.cmd.Process.Pid || len(st.Caches) != 2 {
				t.Fatalf("state %+v, want the master's pid %d and two caches", st, d.cmd.Process.Pid)
			}
			for _, c := range st.Caches {
				switch c.Directive {
				case "TLSSessionCache":
					if c.Shared || c.Provider != "shm" || !strings.Contains(c.Reason, "error opening 'shm' TLSSessionCache") {
						t.Errorf("session cache state %+v, want not shared with the reason", c)
					}
				case "TLSStaplingCache":
					if !c.Shared || c.Reason != "" {
						t.Errorf("OCSP cache state %+v, want shared", c)
					}
				}
			}
			stateFile, _ := stateFile(cfg)
			if withPidFile && stateFile != dir+"/ftpdtls.pid.state" || !withPidFile && filepath.Dir(stateFile) != runtime {
				t.Errorf("state published in %s", stateFile)
			}
			d.signal(syscall.SIGTERM)
			if code, err := d.exit(); code != 0 {
				t.Fatalf("serve: status %d (%v)", code, err)
			}
			if _, err := RunningState(cfg); !errors.Is(err, ErrNotRunning) {
				t.Errorf("RunningState after the server stopped: %v", err)
			}
			if _, err := os.Stat(stateFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file left behind: %v", err)
			}
		})
	}
}

// TestRunningStateTrustsOnlyLiveOwnedState: a state file left by a
// server that died without removing it (its pid now free or another
// process's) is not a running server, and a state file written by
// another user is not trusted.
func TestRunningStateTrustsOnlyLiveOwnedState(t *testing.T) {
	dir := t.TempDir()
	opsUsers(t, dir)
	conf := writeConf(t, dir, "AuthUserFile "+dir+"/ftpd.passwd\nPidFile "+dir+"/ftpdtls.pid\n")
	cfg, err := Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	write := func(st ServerState) {
		t.Helper()
		b, _ := json.Marshal(st)
		if err := writeAtomic(dir+"/ftpdtls.pid.state", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// This process, as it is: running.
	write(ServerState{PID: os.Getpid(), StartTicks: startTicks(os.Getpid())})
	if _, err := RunningState(cfg); err != nil {
		t.Fatalf("live state: %v", err)
	}
	// This pid, but another process's start: the writer died and the pid
	// was reused.
	write(ServerState{PID: os.Getpid(), StartTicks: startTicks(os.Getpid()) + 1})
	if _, err := RunningState(cfg); !errors.Is(err, ErrNotRunning) {
		t.Errorf("reused pid: %v", err)
	}
	// A process that has exited.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	write(ServerState{PID: cmd.Process.Pid, StartTicks: 1})
	if _, err := RunningState(cfg); !errors.Is(err, ErrNotRunning) {
		t.Errorf("exited process: %v", err)
	}
	if os.Geteuid() == 0 {
		write(ServerState{PID: os.Getpid(), StartTicks: startTicks(os.Getpid())})
		if err := os.Chown(dir+"/ftpdtls.pid.state", 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if _, err := RunningState(cfg); err == nil || errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "not trusting") {
			t.Errorf("state of another user: %v", err)
		}
	}
}

// TestMetricsEndpoint: serve -metrics ADDR serves Prometheus's /metrics:
// the shm session cache's figures from its shared storage (stored
// sessions counted by the worker that served them, read by the master),
// and, in a single process, the engine's counters.
func TestMetricsEndpoint(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	dir := worldDir(t)
	u := opsUsers(t, dir)
	os.WriteFile(filepath.Join(u.home, "README"), []byte("x\n"), 0o644)
	cert, key := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	conf := writeConf(t, dir, "AuthUserFile "+dir+"/ftpd.passwd\nRequireValidShell off\nDefaultRoot ~\nTLSEngine on\nTLSRequired on\n"+
		"TLSECCertificateFile "+cert+"\nTLSECCertificateKeyFile "+key+"\nTLSSessionCache shm:/file="+dir+"/sess_cache 600\n")
	t.Cleanup(func() {
		if dirs, err := Parse(conf, ""); err == nil {
			RemoveCaches(dirs)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	sigs := make(chan os.Signal, 1)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{ConfigPath: conf, Listener: ln, Stderr: &stderr, Stdout: io.Discard,
			Signals: sigs, Metrics: "127.0.0.1:0", Ready: func(net.Addr) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	case <-time.After(wait):
		t.Fatalf("serve not ready:\n%s", stderr.String())
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sigs <- syscall.SIGTERM
			if err := <-done; err != nil {
				t.Errorf("serve: %v\n%s", err, stderr.String())
			}
		}
	}
	t.Cleanup(stop)
	m := regexp.MustCompile(`serving metrics on (http://\S+/metrics)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no metrics line in the log:\n%s", stderr.String())
	}
	scrape := func() string {
		t.Helper()
		c := &http.Client{Timeout: wait}
		resp, err := c.Get(m[1])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", m[1], resp.Status, b)
		}
		return string(b)
	}
	stored := regexp.MustCompile(`(?m)^ftpdtls_tls_cache_stored_total\{cache="session",provider="shm"\} (\d+)$`)
	before := stored.FindStringSubmatch(scrape())
	if before == nil || before[1] != "0" {
		t.Fatalf("before any session, no shm session cache figure at 0:\n%s", scrape())
	}
	out, err := exec.Command(curl, "-s", "-k", "--ssl-reqd", "--user", u.name+":"+u.password, "ftp://"+ln.Addr().String()+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "README") {
		t.Fatalf("curl: %v\n%s\n%s", err, out, stderr.String())
	}
	text := scrape()
	after := stored.FindStringSubmatch(text)
	if after == nil || after[1] == "0" {
		t.Errorf("after a TLS session, the shm cache stored none:\n%s", text)
	}
	engine := strings.Contains(text, "ftpdtls_tls_sessions_issued_total")
	if privileged := os.Geteuid() == 0; engine == privileged {
		t.Errorf("engine counters exported=%v by a server whose sessions run in workers=%v:\n%s", engine, privileged, text)
	}
	stop()
	if _, err := (&http.Client{Timeout: wait}).Get(m[1]); err == nil {
		t.Error("the metrics endpoint still answers after the server stopped")
	}
}

// TestCheckServeWarnsAboutCaches: a bad info string, and (not as root) a
// cache directory this user cannot write, are CheckServe warnings on the
// directive's line that say what serve will do; a usable cache is none.
func TestCheckServeWarnsAboutCaches(t *testing.T) {
	dir := t.TempDir()
	opsUsers(t, dir)
	cert, key := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	base := "AuthUserFile " + dir + "/ftpd.passwd\nTLSEngine on\nTLSECCertificateFile " + cert + "\nTLSECCertificateKeyFile " + key + "\n"
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line, want string
	}{
		{"TLSSessionCache shm:file=" + dir + "/sess", "badly formatted info"},
		{"TLSStaplingCache shm:/file=" + dir + "/nodir/ocsp", "each process fetches and keeps its own OCSP responses"},
		{"TLSSessionCache shm:/file=" + locked + "/sess", "is not writable by uid"},
		{"TLSSessionCache shm:/file=" + dir + "/sess 600", ""},
	} {
		if tc.want == "is not writable by uid" && os.Geteuid() == 0 {
			continue // root writes anywhere
		}
		cfg := parseOps(t, dir, base+tc.line+"\n")
		errs, warnings := CheckServe(cfg)
		if len(errs) > 0 {
			t.Fatalf("%q: %v", tc.line, errs)
		}
		var got []string
		for _, w := range warnings {
			got = append(got, w.Msg)
			if w.Line != 5 || !strings.Contains(w.Msg, "ftpdtls serve will fail to open the 'shm' cache") {
				t.Errorf("%q: warning %+v", tc.line, w)
			}
		}
		if all := strings.Join(got, "\n"); (tc.want == "") != (len(got) == 0) || !strings.Contains(all, tc.want) {
			t.Errorf("%q: warnings %q, want one saying %q", tc.line, got, tc.want)
		}
	}
}
