package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
)

// captureStdout runs f with os.Stdout redirected and returns the output.
func captureStdout(t *testing.T, f func() int) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	status := f()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b), status
}

func TestServePrintDefault(t *testing.T) {
	out, status := captureStdout(t, func() int { return runServe([]string{"-print-default"}) })
	if status != 0 || out != daemon.DefaultConf() {
		t.Fatalf("status %d, output differs from the embedded default:\n%s", status, out)
	}
	for _, want := range []string{"TLSRequired           on", "TLSSessionCache       shm:/file=%{env:FTPDTLS_HOME}/sess_cache",
		"TLSStaplingCache      shm:/file=%{env:FTPDTLS_HOME}/ocsp_cache", "Port                    2121"} {
		if !strings.Contains(out, want) {
			t.Errorf("default configuration lacks %q", want)
		}
	}
	home, err := daemon.NewHome()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home.Dir)
	if _, err := daemon.Parse("", home.Dir); err != nil {
		t.Errorf("default configuration does not parse: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-bogus"}, 2},
		{[]string{"extra"}, 2},
		{[]string{"-workers", "-1"}, 2},
		{[]string{"-grace", "0s"}, 2},
		{[]string{"-grace", "soon"}, 2},
	} {
		if status := runServe(tc.args); status != tc.status {
			t.Errorf("serve %q: status %d, want %d", tc.args, status, tc.status)
		}
	}
	if status := runServe([]string{"-c", "/nonexistent/proftpd.conf"}); status != 1 {
		t.Errorf("serve with a missing configuration: status %d, want 1", status)
	}
	if _, ok := commands["serve"]; !ok {
		t.Error("serve is not in the command table")
	}
}

// TestServeDefaultCacheCommand: serving the embedded default writes the
// effective configuration into its directory and prints a cache command
// that works, as printed, while the server runs; stopping removes the
// directory and the segments.
func TestServeDefaultCacheCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(context.Background(), daemon.Options{Listener: ln, Signals: sigs, Stdout: stdout, Stderr: stderr,
			Ready: func(net.Addr) { close(ready) }})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sigs <- syscall.SIGTERM
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		stopped = true
		t.Fatalf("Run ended at once: %v\n%s", err, stderr)
	}

	m := regexp.MustCompile(`(?m)^  ftpdtls sesscache info -v -c (\S+)$`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("the banner has no cache command:\n%s", stdout)
	}
	conf := m[1]
	dir := filepath.Dir(conf)
	if filepath.Base(conf) != "proftpd.conf" || !strings.HasPrefix(filepath.Base(dir), "ftpdtls-serve-") {
		t.Fatalf("cache command names %s, want proftpd.conf in the serve directory", conf)
	}
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "%{env:") || !strings.Contains(string(text), "shm:/file="+dir+"/sess_cache") {
		t.Errorf("the written configuration is not self-contained:\n%s", text)
	}

	// The command as printed (flags after the action), while serving.
	args := strings.Fields(m[0])[2:] // after "ftpdtls sesscache"
	out, errs, status := ctl(sessionControl, args...)
	if status != 0 || errs != "" {
		t.Fatalf("sesscache %q: status %d, stderr %q", args, status, errs)
	}
	for _, want := range []string{"Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2\n",
		"Shared memory attach count: 2\n", "Cached sessions:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("sesscache info lacks %q:\n%s", want, out)
		}
	}
	sessID := statusID(t, out)
	out, _, status = ctl(ocspControl, "-c", conf, "info")
	if status != 0 || !strings.Contains(out, "Shared memory (shm) OCSP response cache provided by") {
		t.Fatalf("ocspcache info: status %d:\n%s", status, out)
	}
	ocspID := statusID(t, out)
	// `ftpdtls check` (Debian's module set) accepts it too.
	var chkOut, chkErr bytes.Buffer
	if status := check(conf, directives.Options{}, &chkOut, &chkErr, func() string { return "" }); status != 0 || chkErr.Len() != 0 {
		t.Errorf("ftpdtls check -c %s: status %d:\n%s%s", conf, status, chkOut.String(), chkErr.String())
	}

	stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve directory left behind: %v", err)
	}
	for _, id := range []int{sessID, ocspID} {
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err == nil {
			t.Errorf("shm ID %d left behind", id)
		}
	}
}

// statusID reads "Shared memory segment ID: N" from a status text.
func statusID(t *testing.T, status string) int {
	t.Helper()
	m := regexp.MustCompile(`Shared memory segment ID: (\d+)`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no segment ID in:\n%s", status)
	}
	id, _ := strconv.Atoi(m[1])
	return id
}
