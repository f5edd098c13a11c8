package userfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newLocal(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := NewLocal(dir, NameMap{Users: map[uint32]string{uint32(os.Getuid()): "tester"},
		Groups: map[uint32]string{uint32(os.Getgid()): "testers"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// entries lists a directory's names, to see stray temporary files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func startUpload(t *testing.T, l *Local, name string, opt StoreOptions, data string) Upload {
	t.Helper()
	u, err := l.Create(name, opt)
	if err != nil {
		t.Fatalf("Create %s %+v: %v", name, opt, err)
	}
	if _, err := io.WriteString(u.File(), data); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestStatNamesAndConfinement(t *testing.T) {
	l, dir := newLocal(t)
	write(t, filepath.Join(dir, "f"), "12345")
	if err := os.Symlink("f", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	fi, err := l.Stat("/f")
	if err != nil || fi.Name != "f" || fi.Size != 5 || fi.Owner != "tester" || fi.Group != "testers" || fi.Nlink != 1 || fi.Ino == 0 {
		t.Fatalf("Stat /f = %+v, %v", fi, err)
	}
	if li, err := l.Lstat("/link"); err != nil || li.Mode&fs.ModeSymlink == 0 || li.Target != "f" {
		t.Fatalf("Lstat /link = %+v, %v", li, err)
	}
	if si, err := l.Stat("/link"); err != nil || !si.IsRegular() || si.Size != 5 {
		t.Fatalf("Stat /link = %+v, %v", si, err)
	}
	if _, err := l.Stat("/escape/x"); err == nil {
		t.Fatal("Stat through a link out of the root succeeded")
	}
	for _, bad := range []string{"f", "/a/../f", "/f/", ""} {
		if _, err := l.Stat(bad); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Stat(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	list, err := l.ReadDir("/")
	if err != nil || len(list) != 3 || list[0].Name != "escape" || list[1].Name != "f" || list[2].Name != "link" || list[2].Target != "f" {
		t.Fatalf("ReadDir / = %+v, %v", list, err)
	}
}

// TestOpenRefusesNonRegularWithoutBlocking: a FIFO without a writer
// would block a plain open(2) forever.
func TestOpenRefusesNonRegularWithoutBlocking(t *testing.T) {
	l, dir := newLocal(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	sock, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/fifo", "/sock", "/d"} {
		done := make(chan error, 1)
		go func() {
			f, _, err := l.Open(name)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("Open %s = %v, want ErrNotRegular", name, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("Open %s blocked", name)
		}
		u, err := l.Create(name, StoreOptions{Overwrite: true, Perm: 0o644})
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Create %s = %v, want ErrNotRegular", name, err)
		}
		if u != nil {
			u.Abort()
		}
		if u, err := l.Create(name, StoreOptions{Mode: StoreAppend, Perm: 0o644}); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Create %s append = %v, want ErrNotRegular", name, err)
			if u != nil {
				u.Abort()
			}
		}
	}
	write(t, filepath.Join(dir, "f"), "data")
	f, fi, err := l.Open("/f")
	if err != nil || fi.Size != 4 {
		t.Fatalf("Open /f: %+v, %v", fi, err)
	}
	defer f.Close()
	if b, err := io.ReadAll(f); err != nil || string(b) != "data" {
		t.Fatalf("read /f = %q, %v", b, err)
	}
}

func TestReplaceTouchesNothingBeforeCommit(t *testing.T) {
	l, dir := newLocal(t)
	target := filepath.Join(dir, "f")
	write(t, target, "old")
	if err := os.Chmod(target, 0o604); err != nil {
		t.Fatal(err)
	}

	// Aborted: the old file stays, no temporary file is left.
	u := startUpload(t, l, "/f", StoreOptions{Overwrite: true, Perm: 0o644}, "partial")
	if got := read(t, target); got != "old" {
		t.Fatalf("during the upload the file holds %q", got)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "old" {
		t.Fatalf("after Abort the file holds %q, want old", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("after Abort the directory holds %v", names)
	}

	// Committed: the new bytes, the old mode.
	u = startUpload(t, l, "/f", StoreOptions{Overwrite: true, Perm: 0o644}, "new content")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "new content" {
		t.Fatalf("after Commit the file holds %q", got)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o604 {
		t.Fatalf("replaced file mode %v, %v; want the old 0604", fi.Mode(), err)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("after Commit the directory holds %v", names)
	}

	// Without AllowOverwrite nothing happens.
	if _, err := l.Create("/f", StoreOptions{Perm: 0o644}); !errors.Is(err, ErrOverwrite) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Create without Overwrite = %v, want ErrOverwrite", err)
	}
}

func TestNewFileAbortRules(t *testing.T) {
	l, dir := newLocal(t)
	// A new file that received bytes stays as a partial file (ProFTPD).
	u := startUpload(t, l, "/partial", StoreOptions{Perm: 0o640}, "half")
	if _, err := os.Stat(filepath.Join(dir, "partial")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("new file visible before Commit: %v", err)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "partial")); got != "half" {
		t.Fatalf("partial file holds %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "partial")); fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file mode %v, want 0640 exactly", fi.Mode().Perm())
	}
	// DeleteAbortedStores removes it; nothing at all arrived: nothing left.
	u = startUpload(t, l, "/deleted", StoreOptions{Perm: 0o644, DeleteAborted: true}, "half")
	u.Abort()
	u = startUpload(t, l, "/empty", StoreOptions{Perm: 0o644}, "")
	u.Abort()
	if names := entries(t, dir); strings.Join(names, ",") != "partial" {
		t.Fatalf("directory holds %v, want only partial", names)
	}
	// A file that appeared under the name meanwhile is never replaced by
	// a new-file upload (no AllowOverwrite), on Abort nor on Commit.
	u = startUpload(t, l, "/raced", StoreOptions{Perm: 0o644}, "mine")
	write(t, filepath.Join(dir, "raced"), "theirs")
	if err := u.Commit(); !errors.Is(err, ErrOverwrite) {
		t.Fatalf("Commit over a file that appeared = %v, want ErrOverwrite", err)
	}
	if got := read(t, filepath.Join(dir, "raced")); got != "theirs" {
		t.Fatalf("raced file holds %q", got)
	}
	u = startUpload(t, l, "/raced2", StoreOptions{Perm: 0o644}, "mine")
	write(t, filepath.Join(dir, "raced2"), "theirs")
	u.Abort()
	if got := read(t, filepath.Join(dir, "raced2")); got != "theirs" {
		t.Fatalf("raced2 holds %q", got)
	}
	if n := len(entries(t, dir)); n != 3 {
		t.Fatalf("directory holds %v", entries(t, dir))
	}
}

func TestAppendInPlace(t *testing.T) {
	l, dir := newLocal(t)
	target := filepath.Join(dir, "f")
	write(t, target, "head")
	u := startUpload(t, l, "/f", StoreOptions{Mode: StoreAppend, Perm: 0o644}, "-tail")
	// A second in-place upload, or a replacement, must wait its turn.
	if _, err := l.Create("/f", StoreOptions{Mode: StoreAppend, Perm: 0o644}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second append = %v, want ErrBusy", err)
	}
	if _, err := l.Create("/f", StoreOptions{Overwrite: true, Perm: 0o644}); !errors.Is(err, ErrBusy) {
		t.Fatalf("replace during an append = %v, want ErrBusy", err)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "head" {
		t.Fatalf("after an aborted append the file holds %q, want head", got)
	}
	u = startUpload(t, l, "/f", StoreOptions{Mode: StoreAppend, Perm: 0o644}, "-tail")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "head-tail" {
		t.Fatalf("after append the file holds %q", got)
	}
	// APPE to a new file creates it.
	u = startUpload(t, l, "/new", StoreOptions{Mode: StoreAppend, Perm: 0o600}, "x")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "new")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 1 {
		t.Fatalf("new appended file: %v, %v", fi, err)
	}
}

func TestRestart(t *testing.T) {
	l, dir := newLocal(t)
	target := filepath.Join(dir, "f")
	write(t, target, "0123456789")
	if _, err := l.Create("/f", StoreOptions{Mode: StoreRestart, Offset: 11, Overwrite: true}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("restart beyond the end = %v, want ErrInvalidOffset", err)
	}
	if _, err := l.Create("/missing", StoreOptions{Mode: StoreRestart, Offset: 1, Overwrite: true}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("restart of a missing file = %v, want ErrInvalidOffset", err)
	}
	if fi, _ := os.Stat(target); fi.Size() != 10 {
		t.Fatalf("refused restart changed the size to %d", fi.Size())
	}
	// Before the end: a copy; aborted, the file is as it was.
	u := startUpload(t, l, "/f", StoreOptions{Mode: StoreRestart, Offset: 4, Overwrite: true}, "ab")
	if got := read(t, target); got != "0123456789" {
		t.Fatalf("during a restart the file holds %q", got)
	}
	u.Abort()
	if got := read(t, target); got != "0123456789" {
		t.Fatalf("after an aborted restart the file holds %q", got)
	}
	u = startUpload(t, l, "/f", StoreOptions{Mode: StoreRestart, Offset: 4, Overwrite: true}, "ab")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "0123ab6789" {
		t.Fatalf("after a restart at 4 the file holds %q", got)
	}
	// At the end: in place, truncated back on abort.
	u = startUpload(t, l, "/f", StoreOptions{Mode: StoreRestart, Offset: 10, Overwrite: true}, "XYZ")
	u.Abort()
	if got := read(t, target); got != "0123ab6789" {
		t.Fatalf("after an aborted restart at the end the file holds %q", got)
	}
	u = startUpload(t, l, "/f", StoreOptions{Mode: StoreRestart, Offset: 10, Overwrite: true}, "XYZ")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, target); got != "0123ab6789XYZ" {
		t.Fatalf("after a restart at the end the file holds %q", got)
	}
	if n := len(entries(t, dir)); n != 1 {
		t.Fatalf("directory holds %v", entries(t, dir))
	}
}

func TestHiddenStores(t *testing.T) {
	l, dir := newLocal(t)
	opt := StoreOptions{Overwrite: true, Perm: 0o644, Hidden: true, HiddenPrefix: ".in.", HiddenSuffix: ".", DeleteAborted: true}
	write(t, filepath.Join(dir, "f"), "old")
	u := startUpload(t, l, "/f", opt, "new")
	if got := read(t, filepath.Join(dir, ".in.f.")); got != "new" {
		t.Fatalf("hidden file holds %q", got)
	}
	// ProFTPD opens the hidden file with O_EXCL: a second upload fails.
	if _, err := l.Create("/f", opt); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second hidden upload = %v, want ErrExist", err)
	}
	u.Abort()
	if names := entries(t, dir); strings.Join(names, ",") != "f" || read(t, filepath.Join(dir, "f")) != "old" {
		t.Fatalf("after an aborted hidden upload: %v", names)
	}
	opt.DeleteAborted = false // "DeleteAbortedStores off": the hidden file stays
	u = startUpload(t, l, "/f", opt, "new")
	u.Abort()
	if names := entries(t, dir); strings.Join(names, ",") != ".in.f.,f" {
		t.Fatalf("after an aborted hidden upload kept: %v", names)
	}
	os.Remove(filepath.Join(dir, ".in.f."))
	u = startUpload(t, l, "/f", opt, "new")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if names := entries(t, dir); strings.Join(names, ",") != "f" || read(t, filepath.Join(dir, "f")) != "new" {
		t.Fatalf("after a hidden upload: %v", names)
	}
}

func TestDirectoriesAndRemoval(t *testing.T) {
	l, dir := newLocal(t)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if err := l.Mkdir("/d", 0o775); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "d")); err != nil || fi.Mode().Perm() != 0o775 {
		t.Fatalf("Mkdir mode %v, %v; want 0775 whatever the process umask", fi.Mode(), err)
	}
	write(t, filepath.Join(dir, "f"), "x")
	if err := l.Remove("/d"); err == nil {
		t.Fatal("Remove removed a directory")
	}
	if err := l.Rmdir("/f"); err == nil {
		t.Fatal("Rmdir removed a file")
	}
	if err := l.Remove("/"); err == nil {
		t.Fatal("Remove / succeeded")
	}
	if err := l.Rename("/f", "/d/g"); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove("/d/g"); err != nil {
		t.Fatal(err)
	}
	if err := l.Rmdir("/d"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "t"), "x")
	when := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := l.Chtimes("/t", when); err != nil {
		t.Fatal(err)
	}
	if fi, _ := l.Stat("/t"); !fi.ModTime.Equal(when) {
		t.Fatalf("Chtimes: mtime %v, want %v", fi.ModTime, when)
	}
	if err := l.Chtimes("/missing", when); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Chtimes of a missing file = %v", err)
	}
}

func TestNames(t *testing.T) {
	m := NameMap{Users: map[uint32]string{7: "seven"}, Next: SystemNames()}
	if got := m.UserName(7); got != "seven" {
		t.Errorf("UserName(7) = %q", got)
	}
	if got := m.UserName(0); got != "root" {
		t.Errorf("UserName(0) from the system = %q, want root", got)
	}
	if got := (NameMap{}).GroupName(0); got != "" {
		t.Errorf("empty NameMap GroupName = %q", got)
	}
	if got := SystemNames().UserName(4000000000); got != "" {
		t.Errorf("unknown uid has name %q", got)
	}
}

// TestConcurrentReplacementsNeverInterleave: two uploads of one file
// each land whole; the last commit wins.
func TestConcurrentReplacementsNeverInterleave(t *testing.T) {
	l, dir := newLocal(t)
	write(t, filepath.Join(dir, "f"), "old")
	a := bytes.Repeat([]byte("a"), 1<<20)
	b := bytes.Repeat([]byte("b"), 1<<20)
	ua := startUpload(t, l, "/f", StoreOptions{Overwrite: true, Perm: 0o644}, "")
	ub := startUpload(t, l, "/f", StoreOptions{Overwrite: true, Perm: 0o644}, "")
	for i := 0; i < len(a); i += 4096 {
		ua.File().Write(a[i : i+4096])
		ub.File().Write(b[i : i+4096])
	}
	if err := ua.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); !bytes.Equal(got, a) {
		t.Fatal("first commit did not land whole")
	}
	if err := ub.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); !bytes.Equal(got, b) {
		t.Fatal("second commit did not land whole")
	}
}
