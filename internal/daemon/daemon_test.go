package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/modtls"
)

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testHome makes a Home and removes it, with its cache segments, at the
// end of the test.
func testHome(t *testing.T) *Home {
	t.Helper()
	h, err := NewHome()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cleanup(logrus.New()) })
	return h
}

func TestDefaultConfiguration(t *testing.T) {
	h := testHome(t)
	log := &syncLog{}
	cfg, err := Load("", h.Dir, newSystemLog(log))
	if err != nil {
		t.Fatalf("embedded default does not load: %v", err)
	}
	defer cfg.Close()
	if cfg.Addr != "127.0.0.1:2121" {
		t.Errorf("Addr = %s, want 127.0.0.1:2121", cfg.Addr)
	}
	if cfg.TLS == nil || !cfg.FTP.RequireTLSControl || !cfg.FTP.RequireTLSData {
		t.Fatalf("TLS %v, required control %v data %v; want TLSRequired on", cfg.TLS, cfg.FTP.RequireTLSControl, cfg.FTP.RequireTLSData)
	}
	if _, name := cfg.TLS.SessionCache(); name != "shm" {
		t.Errorf("session cache %q, want shm", name)
	}
	if _, name := cfg.TLS.OCSPCache(); name != "shm" {
		t.Errorf("OCSP cache %q, want shm", name)
	}
	if !cfg.TLS.NewControl(nil).ReuseRequired() {
		t.Error("data-channel session reuse is not required by default")
	}
	acct, err := cfg.FTP.Auth.Login(context.Background(), ftpd.LoginRequest{User: h.User, Password: h.Password})
	if err != nil || acct.Home != filepath.Join(h.Dir, "ftp") {
		t.Fatalf("default user: account %+v, %v", acct, err)
	}
	acct.FS.Close()
	if _, err := cfg.FTP.Auth.Login(context.Background(), ftpd.LoginRequest{User: h.User, Password: h.Password + "x"}); err == nil {
		t.Error("wrong password accepted")
	}
	for _, want := range []string{
		"curl --ssl-reqd -k --user " + h.User + ":" + h.Password + " ftp://127.0.0.1:2121/",
		"set ssl:verify-certificate no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes",
	} {
		if b := h.Banner("127.0.0.1:2121"); !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	h := testHome(t)
	for _, tc := range []struct{ name, conf, want string }{
		{"no users", "Port 2121\n", "no users"},
		{"missing user file", "AuthUserFile /nonexistent/passwd\n", "No such file"},
		{"proxy without trust", "AuthUserFile " + h.Dir + "/ftpd.passwd\nProxyProtocolEngine on\n", "ProxyProtocolTrustedSources"},
		{"bad masquerade", "AuthUserFile " + h.Dir + "/ftpd.passwd\nMasqueradeAddress ::1\n", "IPv4"},
		{"parse error", "TLSSessionCache\n", "TLSSessionCache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.conf")
			os.WriteFile(path, []byte(tc.conf), 0o600)
			cfg, err := Load(path, "", newSystemLog(&syncLog{}))
			if err == nil {
				cfg.Close()
				t.Fatalf("Load succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// greeting connects and returns the 220 line.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := textproto.NewReader(bufio.NewReader(c)).ReadResponse(220)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("QUIT\r\n"))
	return msg
}

// TestSignals: SIGHUP applies a changed configuration to new sessions,
// keeps the running one when the new one does not load, and SIGTERM stops
// the daemon without removing the session cache's segment.
func TestSignals(t *testing.T) {
	h := testHome(t)
	conf := filepath.Join(h.Dir, "p.conf")
	write := func(name string) {
		text := strings.ReplaceAll(defaultConf, "%{env:FTPDTLS_HOME}", h.Dir)
		text = strings.Replace(text, `"ftpdtls default server"`, `"`+name+`"`, 1)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal)
	log := &syncLog{}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Run(context.Background(), Options{ConfigPath: conf, Listener: ln, Signals: sigs, Stderr: log,
			Ready: func(net.Addr) { close(ready) }})
	}()
	<-ready
	addr := ln.Addr().String()
	if g := greeting(t, addr); !strings.Contains(g, "(first)") {
		t.Fatalf("greeting %q lacks the ServerName", g)
	}

	write("second")
	sigs <- syscall.SIGHUP
	waitFor(t, log, "configuration reloaded")
	if g := greeting(t, addr); !strings.Contains(g, "(second)") {
		t.Fatalf("after SIGHUP the greeting is %q, want ServerName second", g)
	}

	if err := os.WriteFile(conf, []byte("TLSSessionCache shm:/file=relative\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitFor(t, log, "error reloading configuration, keeping the current one")
	if g := greeting(t, addr); !strings.Contains(g, "(second)") {
		t.Fatalf("after a bad reload the greeting is %q, want ServerName second", g)
	}

	// The daemon's cache segment survives SIGTERM: a session stored now
	// is still there afterwards.
	write("second")
	dirs, err := Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := modtls.OpenSessionCache(modtls.SettingsOf(dirs.Main).SessionCache, modtls.Env{Server: dirs.Main})
	if err != nil || c == nil {
		t.Fatalf("open session cache: %v", err)
	}
	id := bytes.Repeat([]byte{7}, 32)
	if err := c.Add(id, time.Now().Add(time.Hour), []byte("state")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	sigs <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after SIGTERM")
	}
	c, err = modtls.OpenSessionCache(modtls.SettingsOf(dirs.Main).SessionCache, modtls.Env{Server: dirs.Main})
	if err != nil || c == nil {
		t.Fatalf("reopen session cache: %v", err)
	}
	defer c.Close()
	if got, _, err := c.Get(id); err != nil || string(got) != "state" {
		t.Fatalf("session after shutdown: %q, %v; want it kept", got, err)
	}
}

func waitFor(t *testing.T, log *syncLog, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", text, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthUserFileLines(t *testing.T) {
	h := testHome(t)
	f, warnings, err := authfile.Load(filepath.Join(h.Dir, "ftpd.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 || f.Users() != 1 {
		t.Fatalf("default user file: %v users, warnings %q", f.Users(), warnings)
	}
}

func TestLoadCoreAndTraceDirectives(t *testing.T) {
	h := testHome(t)
	dir := t.TempDir()
	conf := filepath.Join(h.Dir, "p.conf")
	text := strings.ReplaceAll(defaultConf, "%{env:FTPDTLS_HOME}", h.Dir) +
		"PassivePorts 50000 50010\nMasqueradeAddress 192.0.2.33\nPort 2990\nDefaultAddress 127.0.0.1\n" +
		"TLSOptions NoSessionReuseRequired\n" +
		"TraceLog " + dir + "/trace.log\nTrace tls:20 tls.shmcache:20\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(conf, "", newSystemLog(&syncLog{}))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if cfg.FTP.PassivePorts.Min != 50000 || cfg.FTP.PassivePorts.Max != 50010 {
		t.Errorf("PassivePorts %+v", cfg.FTP.PassivePorts)
	}
	if cfg.FTP.MasqueradeAddress.String() != "192.0.2.33" {
		t.Errorf("MasqueradeAddress %v", cfg.FTP.MasqueradeAddress)
	}
	if cfg.Addr != "127.0.0.1:2990" {
		t.Errorf("Addr %s, want 127.0.0.1:2990 (the later Port line sets it)", cfg.Addr)
	}
	if cfg.TLS.NewControl(nil).ReuseRequired() {
		t.Error("reuse still required with TLSOptions NoSessionReuseRequired")
	}
	b, err := os.ReadFile(filepath.Join(dir, "trace.log"))
	if err != nil || !strings.Contains(string(b), "<tls.shmcache:") {
		t.Errorf("TraceLog has no tls.shmcache records (%v):\n%s", err, b)
	}
}

// TestEffectiveConf: the home holds the configuration it runs, standing
// on its own (no %{env:...}), and the banner names it for the controls.
func TestEffectiveConf(t *testing.T) {
	h := testHome(t)
	text, err := os.ReadFile(h.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "%{env:") {
		t.Errorf("%s still refers to the environment:\n%s", h.ConfigFile(), text)
	}
	cfg, err := Parse(h.ConfigFile(), "")
	if err != nil {
		t.Fatalf("the written configuration does not parse: %v", err)
	}
	for _, tc := range []struct {
		name string
		spec modtls.CacheSpec
		want string
	}{
		{"TLSSessionCache", modtls.SettingsOf(cfg.Main).SessionCache, "/file=" + h.Dir + "/sess_cache"},
		{"TLSStaplingCache", modtls.SettingsOf(cfg.Main).StaplingCache, "/file=" + h.Dir + "/ocsp_cache"},
	} {
		if tc.spec.Provider != "shm" || tc.spec.Info != tc.want {
			t.Errorf("%s %s:%s, want shm:%s", tc.name, tc.spec.Provider, tc.spec.Info, tc.want)
		}
	}
	if b := h.Banner("127.0.0.1:2121"); !strings.Contains(b, "\n  ftpdtls sesscache info -v -c "+h.ConfigFile()+"\n") {
		t.Errorf("banner lacks the cache command:\n%s", b)
	}
}

// TestCacheControlCreatesNothing: status and clear of a cache that does
// not exist describe it and create neither the segment nor the file;
// remove of it succeeds.
func TestCacheControlCreatesNothing(t *testing.T) {
	h := testHome(t)
	cfg, err := Parse("", h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		handle func(*directives.Config, modtls.Env) (*modtls.CacheControl, error)
		file   string
	}{
		{"session", SessionCacheControl, "sess_cache"},
		{"OCSP", OCSPCacheControl, "ocsp_cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := tc.handle(cfg, modtls.Env{})
			if err != nil || ch == nil {
				t.Fatalf("handle: %v, %v", ch, err)
			}
			var out bytes.Buffer
			if err := ch.Status(&out, true); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "No shared memory segment exists for '"+filepath.Join(h.Dir, tc.file)+"'") {
				t.Errorf("status:\n%s", out.String())
			}
			if n, err := ch.Clear(); n != 0 || err != nil {
				t.Errorf("clear: %d, %v", n, err)
			}
			if _, err := os.Stat(filepath.Join(h.Dir, tc.file)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("status or clear made the cache file: %v", err)
			}
			if err := ch.Remove(); err != nil && !errors.Is(err, modtls.ErrNoStorage) {
				t.Errorf("remove of a cache that does not exist: %v, want nil or ErrNoStorage", err)
			}
		})
	}
}
