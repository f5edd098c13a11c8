package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
