package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
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
