package trace

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// setUmask sets the process umask for the rest of the test. Tests that use
// it must not run in parallel.
func setUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestOpenLogCreatesWithMode(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  fs.FileMode
	}{
		{0, 0o660},
		{0o022, 0o640}, // what proftpd 1.3.8 does under umask 022
		{0o077, 0o600},
	} {
		t.Run(tc.want.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trace.log") // before the umask changes
			setUmask(t, tc.umask)
			f, err := OpenLog(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != tc.want {
				t.Fatalf("mode %v under umask %03o; want %v", st.Mode(), tc.umask, tc.want)
			}
		})
	}
}

func TestOpenLogAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("new\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old\nnew\n" {
		t.Fatalf("file holds %q", got)
	}
	if st, _ := os.Stat(path); st.Mode() != 0o600 {
		t.Fatalf("existing file's mode changed to %v", st.Mode())
	}
}

func TestLogPathRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.log")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.log")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		is   error
		text string
	}{
		{"symlink", link, ErrUnsafeLogPath, "directory is symlink or is world-writable"},
		{"dangling symlink", dangling, ErrUnsafeLogPath, "directory is symlink or is world-writable"},
		{"world-writable dir", filepath.Join(open, "trace.log"), ErrUnsafeLogPath, "directory is symlink or is world-writable"},
		{"sticky world-writable dir", filepath.Join(sticky, "trace.log"), ErrUnsafeLogPath, "directory is symlink or is world-writable"},
		{"directory", subdir, syscall.EISDIR, "Is a directory"},
		{"root", "/", syscall.EISDIR, "Is a directory"},
		{"missing dir", filepath.Join(dir, "missing", "trace.log"), fs.ErrNotExist, "No such file or directory"},
		{"parent is a file", filepath.Join(target, "trace.log"), syscall.ENOTDIR, "Not a directory"},
		{"relative", "trace.log", ErrRelativeLogPath, "must be an absolute path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenLog(tc.path)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, tc.is) || err.Error() != tc.text {
				t.Errorf("OpenLog(%q) = %v; want %q (errors.Is %v)", tc.path, err, tc.text, tc.is)
			}
			err = CheckLogPath(tc.path)
			if !errors.Is(err, tc.is) || err.Error() != tc.text {
				t.Errorf("CheckLogPath(%q) = %v; want %q (errors.Is %v)", tc.path, err, tc.text, tc.is)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(open, "trace.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused path was created: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dangling symlink was followed: %v", err)
	}
}

func TestCheckLogPathCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.log")
	if err := CheckLogPath(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CheckLogPath created %s: %v", path, err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckLogPath(path); err != nil {
		t.Fatalf("existing regular file: %v", err)
	}
}

// Two Tracers (as two processes would) share one TraceLog; every line stays
// whole.
func TestSharedLogWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.log")
	const tracers, each = 4, 250
	var wg sync.WaitGroup
	for i := range tracers {
		f, err := OpenLog(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		tr := New()
		tr.SetPID(1000 + i)
		tr.SetOutput(f)
		tr.SetLevels("tls.shmcache", 1, 20)
		wg.Go(func() {
			ch := tr.Channel("tls.shmcache")
			for j := range each {
				ch.Msg(9, "message %d %s", j, strings.Repeat("y", 1000))
			}
		})
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxRecord)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		_, msg, ok := strings.Cut(line, "] <tls.shmcache:9>: message ")
		if !ok || !strings.HasSuffix(msg, strings.Repeat("y", 1000)) || len(msg) > 1004 {
			t.Fatalf("torn line %q", line)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != tracers*each {
		t.Fatalf("%d lines; want %d", n, tracers*each)
	}
}
