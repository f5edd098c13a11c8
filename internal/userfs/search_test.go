package userfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asUserEnv makes the test binary run one check as another user (see
// runAs) instead of the tests.
const asUserEnv = "FTPDTLS_USERFS_CHECK"

// checks are what runAs can run in a child process: each gets its
// argument and returns what went wrong.
var checks = map[string]func(arg string) error{
	"searchOnly":  searchOnlyChecks,
	"chmodOthers": chmodOthersChecks,
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(asUserEnv); spec != "" {
		name, arg, _ := strings.Cut(spec, ":")
		if err := checks[name](arg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runAs runs checks[name](arg) in this test binary with uid and gid (the
// caller is root).
func runAs(t *testing.T, uid, gid uint32, name, arg string) {
	t.Helper()
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{os.Args[0]}, Dir: "/",
		Env: append(os.Environ(), asUserEnv+"="+name+":"+arg)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", name, uid, err, out)
	}
}

// searchOnlyTree makes base/outer (mode outerMode: searchable, not
// readable, by the user who runs the checks), base/outer/home (the
// user's, with a file f and a subdirectory d), and base/outer/home/drop
// (dropMode: writable and searchable, not readable: an "incoming"
// directory). owner owns home and the files.
func searchOnlyTree(t *testing.T, outerMode, dropMode fs.FileMode, uid, gid int) string {
	t.Helper()
	base, err := os.MkdirTemp("", "userfs-search-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(base, func(p string, fi fs.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		os.Chmod(filepath.Join(base, "outer"), 0o700)
		os.Chmod(filepath.Join(base, "outer", "home", "drop"), 0o700)
		os.RemoveAll(base)
	})
	home := filepath.Join(base, "outer", "home")
	for _, d := range []string{home, filepath.Join(home, "d"), filepath.Join(home, "drop")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(home, "f"), "hello")
	for _, p := range []string{home, filepath.Join(home, "d"), filepath.Join(home, "f"), filepath.Join(home, "drop")} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(base, "outer"), uid, gid); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	for p, m := range map[string]fs.FileMode{base: 0o755, filepath.Join(base, "outer"): outerMode, filepath.Join(home, "drop"): dropMode} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// searchOnlyChecks runs, as the user who cannot read base/outer, what
// an FTP session does in base/outer/home, from a session root at "/"
// (no DefaultRoot), at the home (DefaultRoot ~) and at base/outer itself.
func searchOnlyChecks(base string) error {
	outer := filepath.Join(base, "outer")
	home := filepath.Join(outer, "home")
	if _, err := os.ReadDir(outer); !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("the test needs %s unreadable by uid %d; ReadDir: %v", outer, os.Getuid(), err)
	}
	var errs []error
	check := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	session := func(root, homeInRoot string) {
		l, err := NewLocal(root, nil)
		if err != nil {
			check("NewLocal "+root, err)
			return
		}
		defer l.Close()
		at := func(name string) string { return filepath.Join(homeInRoot, name) }
		fi, err := l.Stat(at("f"))
		check("Stat f", err)
		if err == nil && fi.Size != 5 {
			check("Stat f", fmt.Errorf("size %d", fi.Size))
		}
		f, _, err := l.Open(at("f"))
		check("Open f", err)
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != "hello" {
				check("Open f", fmt.Errorf("read %q", b))
			}
		}
		list, err := l.ReadDir(homeInRoot)
		check("ReadDir home", err)
		if err == nil && len(list) != 4 {
			check("ReadDir home", fmt.Errorf("%d entries, want d, drop, f and up.txt from the last session", len(list)))
		}
		for _, name := range []string{"up.txt", "drop/up.txt", "d/up.txt"} {
			u, err := l.Create(at(name), StoreOptions{Overwrite: true, Perm: 0o644})
			check("Create "+name, err)
			if err == nil {
				io.WriteString(u.File(), "uploaded")
				check("Commit "+name, u.Commit())
			}
		}
		u, err := l.Create(at("up.txt"), StoreOptions{Mode: StoreAppend, Perm: 0o644})
		check("Create (append) up.txt", err)
		if err == nil {
			io.WriteString(u.File(), "+")
			check("Commit (append)", u.Commit())
		}
		check("Mkdir", l.Mkdir(at("new"), 0o755))
		check("Rename", l.Rename(at("new"), at("renamed")))
		check("Rmdir", l.Rmdir(at("renamed")))
		check("Chtimes", l.Chtimes(at("f"), time.Unix(1e9, 0)))
		check("Remove", l.Remove(at("d/up.txt")))
		check("Remove in drop", l.Remove(at("drop/up.txt")))
		if _, err := l.ReadDir(at("drop")); !errors.Is(err, fs.ErrPermission) {
			check("ReadDir drop", fmt.Errorf("listed a directory the user may not read: %v", err))
		}
	}
	// The file uploaded by the first session counts in the listings of
	// the next ones: create it first.
	if err := os.WriteFile(filepath.Join(home, "up.txt"), nil, 0o644); err != nil {
		return err
	}
	session("/", home)
	session(home, "/")
	session(outer, "/home")
	if l, err := NewLocal(outer, nil); err == nil {
		if _, err := l.ReadDir("/"); !errors.Is(err, fs.ErrPermission) {
			check("ReadDir of a root the user may not read", fmt.Errorf("%v, want EACCES", err))
		}
		l.Close()
	}
	if b, err := os.ReadFile(filepath.Join(home, "up.txt")); err != nil || string(b) != "uploaded+" {
		check("up.txt on disk", fmt.Errorf("%q, %v", b, err))
	}
	return errors.Join(errs...)
}

// TestSearchOnlyDirectories: a session passes directories its user may
// search but not read (a home under a 0711 directory, a 0733 dropbox),
// as the kernel and ProFTPD do, with every operation: os.Root opens each
// directory of a path for reading and failed there with EACCES. As root
// the checks run as nobody (root reads everything); the directory is
// then another user's (0711) or nobody's own without read permission
// (0311).
func TestSearchOnlyDirectories(t *testing.T) {
	if os.Geteuid() != 0 {
		base := searchOnlyTree(t, 0o311, 0o333, os.Getuid(), os.Getgid())
		if err := searchOnlyChecks(base); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Run("other-owner-0711", func(t *testing.T) {
		base := searchOnlyTree(t, 0o711, 0o733, 65534, 65534)
		os.Chown(filepath.Join(base, "outer"), 0, 0)
		os.Chown(filepath.Join(base, "outer", "home", "drop"), 0, 0)
		runAs(t, 65534, 65534, "searchOnly", base)
	})
	t.Run("own-0311", func(t *testing.T) {
		base := searchOnlyTree(t, 0o311, 0o333, 65534, 65534)
		runAs(t, 65534, 65534, "searchOnly", base)
	})
}

// TestLinksResolveInsideTheRoot: symbolic links are followed as inside a
// chroot (ProFTPD's DefaultRoot): an absolute target starts at the
// session root, ".." stops there, and nothing outside is reached, even
// where the same path exists outside.
func TestLinksResolveInsideTheRoot(t *testing.T) {
	l, dir := newLocal(t)
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret"), "outside")
	if err := os.MkdirAll(filepath.Join(dir, strings.TrimPrefix(outside, "/")), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, strings.TrimPrefix(outside, "/"), "secret"), "inside")
	write(t, filepath.Join(dir, "f"), "root file")
	for name, target := range map[string]string{
		"abs":    outside,                   // absolute: from the session root
		"up":     "../../../../../../../..", // clamped at the root
		"absf":   "/f",
		"loop":   "loop",
		"chain1": "chain2",
		"chain2": "up/f",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func(name string) string {
		t.Helper()
		f, _, err := l.Open(name)
		if err != nil {
			t.Fatalf("Open %s: %v", name, err)
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return string(b)
	}
	if got := readAll("/abs/secret"); got != "inside" {
		t.Errorf("/abs/secret read %q, want the file inside the root", got)
	}
	for _, name := range []string{"/up/f", "/absf", "/chain1", "/up/up/absf"} {
		if got := readAll(name); got != "root file" {
			t.Errorf("%s read %q", name, got)
		}
	}
	if _, err := l.Stat("/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Stat /loop: %v, want ELOOP", err)
	}
	if fi, err := l.Stat("/up"); err != nil || !fi.IsDir() {
		t.Errorf("Stat /up = %+v, %v: want the root", fi, err)
	}
	// Through a link, a new file lands inside the root.
	u, err := l.Create("/abs/new", StoreOptions{Perm: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(u.File(), "x")
	if err := u.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an upload through a link reached outside the root: %v", err)
	}
	if got := read(t, filepath.Join(dir, strings.TrimPrefix(outside, "/"), "new")); got != "x" {
		t.Errorf("upload through /abs: %q", got)
	}
	// Removing or renaming a link acts on the link, never its target.
	if err := l.Remove("/absf"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "f")); got != "root file" {
		t.Errorf("removing a link changed its target: %q", got)
	}
}

// BenchmarkStatDeep is the cost of the path walk: a Stat three
// directories down.
func BenchmarkStatDeep(b *testing.B) {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "c", "f"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	l, err := NewLocal(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		if _, err := l.Stat("/a/b/c/f"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChmodChgrp: SITE CHMOD and SITE CHGRP act on the file, or on a
// link's target inside the root, never outside it; a user may not change
// another user's file (run as nobody when root).
func TestChmodChgrp(t *testing.T) {
	l, dir := newLocal(t)
	write(t, filepath.Join(dir, "f"), "x")
	outside := filepath.Join(t.TempDir(), "secret")
	write(t, outside, "secret")
	os.Chmod(outside, 0o600)
	for name, target := range map[string]string{"link": "f", "escape": outside, "up": "../" + outside} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Chmod("/link", 0o4751); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(filepath.Join(dir, "f")); fi.Mode().Perm() != 0o751 || fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("f after Chmod 04751 of its link: %v", fi.Mode())
	}
	if err := l.Chgrp("/f", uint32(os.Getgid())); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/escape", "/up"} {
		if err := l.Chmod(name, 0o666); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Chmod %s: %v, want ErrNotExist", name, err)
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o600 {
		t.Errorf("a Chmod through a link changed a file outside the root: %v", fi.Mode())
	}
	if err := l.Chmod("/missing", 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Chmod /missing: %v", err)
	}
	if os.Geteuid() == 0 {
		base, err := os.MkdirTemp("", "userfs-chmod-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		os.Chmod(base, 0o755)
		write(t, filepath.Join(base, "root's"), "x")
		runAs(t, 65534, 65534, "chmodOthers", base)
	}
}

// chmodOthersChecks: as a user who does not own base/root's.
func chmodOthersChecks(base string) error {
	l, err := NewLocal(base, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	var errs []error
	if err := l.Chmod("/root's", 0o666); !errors.Is(err, fs.ErrPermission) {
		errs = append(errs, fmt.Errorf("Chmod of another user's file: %v, want EPERM", err))
	}
	if err := l.Chgrp("/root's", 65534); !errors.Is(err, fs.ErrPermission) {
		errs = append(errs, fmt.Errorf("Chgrp of another user's file: %v, want EPERM", err))
	}
	return errors.Join(errs...)
}
