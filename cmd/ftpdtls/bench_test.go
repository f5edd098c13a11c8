package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestBenchCommand checks that "ftpdtls bench" is wired to the harness:
// its usage names the groups, and an argument error is a usage error.
// The harness itself is tested in bench/.
func TestBenchCommand(t *testing.T) {
	out := captureStderr(t, func() {
		if code := dispatch([]string{"bench", "-h"}); code != 0 {
			t.Errorf("bench -h: exit %d", code)
		}
	})
	for _, want := range []string{"usage: ftpdtls bench", "capacity", "cache", "scaling", "handshake", "redis", "e2e", "-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench -h lacks %q:\n%s", want, out)
		}
	}
	out = captureStderr(t, func() {
		if code := dispatch([]string{"bench", "-only", "nope"}); code != 2 {
			t.Errorf("bench -only nope: exit %d, want 2", code)
		}
	})
	if !strings.Contains(out, `unknown group "nope"`) {
		t.Errorf("no usage error:\n%s", out)
	}
}

// captureStderr runs f with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, r)
		done <- b.String()
	}()
	defer func() { os.Stderr = old }()
	f()
	w.Close()
	os.Stderr = old
	return <-done
}
