package userfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Local is an FS in the calling process, acting with the process's own
// uid and gid. Every path is resolved from the session root by its own
// walk (see resolve), so neither ".." nor a symbolic link reaches outside
// the root, and directories the user may search but not read can be
// passed as the kernel passes them. Its methods are safe for concurrent
// use.
type Local struct {
	dir   string
	root  *os.File // the root directory (O_PATH on Linux)
	rc    syscall.RawConn
	names Names
}

// NewLocal opens dir as the root of a session's file system. names turns
// owners into the names listings show; nil shows none. dir needs search
// permission only.
func NewLocal(dir string, names Names) (*Local, error) {
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = unix.Open(dir, openPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	root := os.NewFile(uintptr(fd), dir)
	rc, err := root.SyscallConn()
	if err != nil {
		root.Close()
		return nil, err
	}
	if names == nil {
		names = NameMap{}
	}
	return &Local{dir: dir, root: root, rc: rc, names: names}, nil
}

// Dir is the real path of the root, as given to NewLocal.
func (l *Local) Dir() string { return l.dir }

func (l *Local) Close() error { return l.root.Close() }

// at resolves r (see resolve) and runs op on the result, with the root's
// descriptor held open. follow: a symbolic link at the end of r is
// followed. An op that finds the last element replaced by a symbolic
// link after the walk (ELOOP from an O_NOFOLLOW open) is run again on a
// new walk.
func (l *Local) at(r string, follow bool, op func(res *resolved) error) error {
	var err error
	for range maxRetries {
		cerr := l.rc.Control(func(root uintptr) {
			var res resolved
			res, err = resolve(int(root), r, follow)
			if err != nil {
				return
			}
			defer res.close()
			err = op(&res)
		})
		if cerr != nil {
			return cerr
		}
		if err != unix.ELOOP || !follow {
			return err
		}
	}
	return err
}

// stat is r's stat; follow: of a symbolic link's target.
func (l *Local) stat(r string, follow bool) (st unix.Stat_t, err error) {
	err = l.at(r, follow, func(res *resolved) error {
		if follow {
			if res.st == nil {
				return unix.ENOENT
			}
			st = *res.st
			return nil
		}
		return fstatat(res.dir, res.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	return st, err
}

// openFile opens r as os.OpenFile would (a symbolic link at its end is
// followed, inside the root, except with O_CREATE|O_EXCL).
func (l *Local) openFile(r string, flags int, perm fs.FileMode) (*os.File, error) {
	excl := flags&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL
	var f *os.File
	err := l.at(r, !excl, func(res *resolved) error {
		fd, err := openat(res.dir, res.base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), filepath.Join(l.dir, r))
		return nil
	})
	return f, err
}

// openDir opens the directory r for reading (a listing, an fsync).
func (l *Local) openDir(r string) (*os.File, error) {
	return l.openFile(r, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

func (l *Local) remove(r string) error {
	return l.at(r, false, func(res *resolved) error {
		err := retryEINTR(func() error { return unix.Unlinkat(res.dir, res.base, 0) })
		if err == unix.EISDIR {
			err = retryEINTR(func() error { return unix.Unlinkat(res.dir, res.base, unix.AT_REMOVEDIR) })
		}
		return err
	})
}

// twoAt resolves two names (their last elements not followed) and runs op
// on both.
func (l *Local) twoAt(a, b string, op func(ra, rb *resolved) error) error {
	return l.at(a, false, func(ra *resolved) error {
		return l.at(b, false, func(rb *resolved) error { return op(ra, rb) })
	})
}

func (l *Local) rename(from, to string) error {
	return l.twoAt(from, to, func(rf, rt *resolved) error {
		return retryEINTR(func() error { return unix.Renameat(rf.dir, rf.base, rt.dir, rt.base) })
	})
}

func (l *Local) link(from, to string) error {
	return l.twoAt(from, to, func(rf, rt *resolved) error {
		return retryEINTR(func() error { return unix.Linkat(rf.dir, rf.base, rt.dir, rt.base, 0) })
	})
}

func (l *Local) readlink(r string) (target string, err error) {
	err = l.at(r, false, func(res *resolved) error {
		target, err = readlinkat(res.dir, res.base)
		return err
	})
	return target, err
}

// rel turns a session path ("/a/b") into a name relative to the root
// ("a/b", "." for the root).
func rel(op, name string) (string, error) {
	if !path.IsAbs(name) || path.Clean(name) != name {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "/" {
		return ".", nil
	}
	return name[1:], nil
}

// dirBase splits a root-relative name into its directory and last
// element.
func dirBase(r string) (dir, base string) {
	dir, base = path.Split(r)
	if dir == "" {
		return ".", base
	}
	return strings.TrimSuffix(dir, "/"), base
}

// pathErr puts the session's name into an error.
func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: op, Path: name, Err: le.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// info describes an open file or a listed entry.
func (l *Local) info(name string, fi fs.FileInfo) FileInfo {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out := FileInfo{Name: name, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(),
			Nlink: uint64(st.Nlink), Uid: st.Uid, Gid: st.Gid, Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
		out.Owner = l.names.UserName(st.Uid)
		out.Group = l.names.GroupName(st.Gid)
		return out
	}
	return FileInfo{Name: name, Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(), Nlink: 1}
}

func baseName(name string) string {
	if name == "/" {
		return "/"
	}
	return path.Base(name)
}

func (l *Local) Stat(name string) (FileInfo, error) {
	r, err := rel("stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := l.stat(r, true)
	if err != nil {
		return FileInfo{}, pathErr("stat", name, err)
	}
	return l.statInfo(baseName(name), &st), nil
}

func (l *Local) Lstat(name string) (FileInfo, error) {
	r, err := rel("lstat", name)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := l.stat(r, false)
	if err != nil {
		return FileInfo{}, pathErr("lstat", name, err)
	}
	out := l.statInfo(baseName(name), &st)
	if out.Mode&fs.ModeSymlink != 0 {
		out.Target, _ = l.readlink(r)
	}
	return out, nil
}

func (l *Local) ReadDir(name string) ([]FileInfo, error) {
	r, err := rel("readdir", name)
	if err != nil {
		return nil, err
	}
	d, err := l.openDir(r)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	defer d.Close()
	// Readdir describes the entries with fstatat on the directory, so
	// they are found inside the root.
	fis, err := d.Readdir(-1)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]FileInfo, 0, len(fis))
	rc, err := d.SyscallConn()
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	for _, fi := range fis {
		e := l.info(fi.Name(), fi)
		if fi.Mode()&fs.ModeSymlink != 0 {
			rc.Control(func(fd uintptr) { e.Target, _ = readlinkat(int(fd), fi.Name()) })
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open opens with O_NONBLOCK, so that a FIFO or a device never blocks the
// open, then checks the open file itself: what is read is what was
// checked, even if the name changed in between.
func (l *Local) Open(name string) (*os.File, FileInfo, error) {
	r, err := rel("open", name)
	if err != nil {
		return nil, FileInfo{}, err
	}
	// Refuse what is visibly not a file before opening it at all:
	// opening some devices has effects.
	if st, err := l.stat(r, true); err != nil {
		return nil, FileInfo{}, pathErr("open", name, err)
	} else if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, FileInfo{}, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	f, err := l.openFile(r, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, FileInfo{}, pathErr("open", name, err)
	}
	fi, err := regularFile(f, name)
	if err != nil {
		f.Close()
		return nil, FileInfo{}, err
	}
	return f, l.info(baseName(name), fi), nil
}

// regularFile checks that an open file is a regular file and puts it back
// in blocking mode (O_NONBLOCK means nothing for regular files, but the
// descriptor may be passed to another process).
func regularFile(f *os.File, name string) (fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, pathErr("fstat", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	if err := setBlocking(f); err != nil {
		return nil, pathErr("fcntl", name, err)
	}
	return fi, nil
}

func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

func (l *Local) Mkdir(name string, perm fs.FileMode) error {
	r, err := rel("mkdir", name)
	if err != nil {
		return err
	}
	perm = perm.Perm()
	err = l.at(r, false, func(res *resolved) error {
		if err := retryEINTR(func() error { return unix.Mkdirat(res.dir, res.base, uint32(perm)) }); err != nil {
			return err
		}
		// The process's umask may have taken bits the configured Umask
		// leaves: set exactly what was asked for, on the directory just
		// made (never through a link that replaced it).
		var st unix.Stat_t
		if err := fstatat(res.dir, res.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || fileMode(uint32(st.Mode)).Perm() == perm {
			return nil
		}
		return retryEINTR(func() error { return unix.Fchmodat(res.dir, res.base, uint32(perm), 0) })
	})
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	return l.syncDir(r)
}

// Remove unlinks a file through its parent directory, so that it never
// removes a directory that replaced the file.
func (l *Local) Remove(name string) error { return l.unlink("remove", name, 0) }

// Rmdir removes an empty directory, never a file.
func (l *Local) Rmdir(name string) error { return l.unlink("rmdir", name, removeDir) }

func (l *Local) unlink(op, name string, flags int) error {
	r, err := rel(op, name)
	if err != nil {
		return err
	}
	if r == "." {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	err = l.at(r, false, func(res *resolved) error {
		if res.base == "." {
			return unix.EBUSY // a link's target that ends in the root
		}
		return retryEINTR(func() error { return unix.Unlinkat(res.dir, res.base, flags) })
	})
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	dir, _ := dirBase(r)
	return l.syncDir(dir)
}

func (l *Local) Rename(from, to string) error {
	rf, err := rel("rename", from)
	if err != nil {
		return err
	}
	rt, err := rel("rename", to)
	if err != nil {
		return err
	}
	if rf == "." || rt == "." {
		return &fs.PathError{Op: "rename", Path: from, Err: fs.ErrPermission}
	}
	if err := l.rename(rf, rt); err != nil {
		return pathErr("rename", from, err)
	}
	df, _ := dirBase(rf)
	dt, _ := dirBase(rt)
	if err := l.syncDir(dt); err != nil {
		return err
	}
	if df != dt {
		return l.syncDir(df)
	}
	return nil
}

func (l *Local) Chtimes(name string, mtime time.Time) error {
	r, err := rel("chtimes", name)
	if err != nil {
		return err
	}
	// MFMT sets both times, as ProFTPD's mod_facts does.
	ts := unix.NsecToTimespec(mtime.UnixNano())
	err = l.at(r, true, func(res *resolved) error {
		if res.st == nil {
			return unix.ENOENT
		}
		return retryEINTR(func() error {
			return unix.UtimesNanoAt(res.dir, res.base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
		})
	})
	if err != nil {
		return pathErr("chtimes", name, err)
	}
	return nil
}

// Chmod sets name's permission bits (its target's, for a symbolic
// link, inside the root).
func (l *Local) Chmod(name string, mode uint32) error {
	r, err := rel("chmod", name)
	if err != nil {
		return err
	}
	err = l.at(r, true, func(res *resolved) error {
		if res.st == nil {
			return unix.ENOENT
		}
		return retryEINTR(func() error { return unix.Fchmodat(res.dir, res.base, mode&0o7777, 0) })
	})
	if err != nil {
		return pathErr("chmod", name, err)
	}
	return nil
}

// Chgrp sets name's group (its target's, for a symbolic link, inside
// the root); the owner is left as it is.
func (l *Local) Chgrp(name string, gid uint32) error {
	r, err := rel("chgrp", name)
	if err != nil {
		return err
	}
	err = l.at(r, true, func(res *resolved) error {
		if res.st == nil {
			return unix.ENOENT
		}
		return retryEINTR(func() error {
			return unix.Fchownat(res.dir, res.base, -1, int(gid), unix.AT_SYMLINK_NOFOLLOW)
		})
	})
	if err != nil {
		return pathErr("chgrp", name, err)
	}
	return nil
}

// syncDir flushes a directory, so that a new, removed or renamed entry
// survives a crash. A directory the user may not read cannot be opened to
// be flushed (ProFTPD flushes no directory at all): it is left to the
// file system's own commit.
func (l *Local) syncDir(dir string) error {
	d, err := l.openDir(dir)
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return pathErr("sync", "/"+dir, err)
	}
	defer d.Close()
	return syncFile(d)
}

func syncFile(f *os.File) error {
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// ---- uploads ----

// upload kinds.
const (
	viaTemp   = iota // a new file, renamed into place by Commit
	inPlace          // the target itself, locked; Abort truncates back
	copyTemp         // a copy of the target, renamed into place by Commit
	hiddenTmp        // HiddenStores: like viaTemp with ProFTPD's name and abort rules
)

type upload struct {
	l       *Local
	f       *os.File
	kind    int
	name    string // session path, for errors
	target  string // root-relative name of the target
	tmp     string // root-relative name of the temporary file
	existed bool   // the target existed when the upload started
	orig    int64  // its size then (inPlace)
	replace bool   // Commit may replace a file under the name
	delete  bool   // DeleteAborted
	done    bool
}

func (u *upload) File() *os.File { return u.f }

// Create prepares an upload; see Upload for what each mode does.
func (l *Local) Create(name string, opt StoreOptions) (Upload, error) {
	r, err := rel("create", name)
	if err != nil {
		return nil, err
	}
	if r == "." {
		return nil, &fs.PathError{Op: "create", Path: name, Err: ErrNotRegular}
	}
	st, err := l.stat(r, true)
	existed := err == nil
	fi := fileInfoOf("", &st)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, pathErr("create", name, err)
	case existed && !fi.Mode.IsRegular():
		return nil, &fs.PathError{Op: "create", Path: name, Err: ErrNotRegular}
	case existed && opt.Mode != StoreAppend && !opt.Overwrite:
		return nil, &fs.PathError{Op: "create", Path: name, Err: ErrOverwrite}
	}
	perm := opt.Perm.Perm()
	u := &upload{l: l, name: name, target: r, existed: existed, replace: opt.Overwrite, delete: opt.DeleteAborted}

	switch {
	case opt.Mode == StoreRestart && opt.Offset > 0:
		if !existed || opt.Offset > fi.Size {
			return nil, &fs.PathError{Op: "create", Path: name, Err: ErrInvalidOffset}
		}
		if opt.Offset == fi.Size {
			err = u.openInPlace(perm, opt.Offset)
		} else {
			err = u.openCopy(fi, opt.Offset)
		}
	case opt.Mode == StoreAppend:
		err = u.openInPlace(perm, -1)
	case opt.Hidden:
		dir, base := dirBase(r)
		u.kind, u.tmp = hiddenTmp, path.Join(dir, opt.HiddenPrefix+base+opt.HiddenSuffix)
		if existed {
			perm = fi.Mode.Perm()
		}
		u.f, err = l.openFile(u.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			err = fixPerm(u.f, perm)
		}
		if err != nil {
			err = pathErr("create", "/"+u.tmp, err)
		}
	default:
		if existed {
			// A replacement keeps the mode of the file it replaces, as an
			// overwrite in place would.
			perm = fi.Mode.Perm()
			if err := l.notBusy(r, true); err != nil {
				return nil, pathErr("create", name, err)
			}
		}
		err = u.openTemp(perm)
	}
	if err != nil {
		if u.f != nil {
			u.f.Close()
		}
		return nil, err
	}
	return u, nil
}

// openTemp creates the temporary file of a replacement in the target's
// directory (a rename works only within one file system).
func (u *upload) openTemp(perm fs.FileMode) error {
	dir, _ := dirBase(u.target)
	for range 10 {
		u.kind, u.tmp = viaTemp, path.Join(dir, tempName())
		f, err := u.l.openFile(u.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return pathErr("create", u.name, err)
		}
		u.f = f
		if err := fixPerm(f, perm); err != nil {
			u.l.remove(u.tmp)
			return pathErr("create", u.name, err)
		}
		return nil
	}
	return &fs.PathError{Op: "create", Path: u.name, Err: fs.ErrExist}
}

// TempPrefix starts the names of replacements being uploaded. Listings
// hide them as they hide every dot file.
const TempPrefix = ".ftpdtls-upload-"

func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return TempPrefix + hex.EncodeToString(b[:])
}

// fixPerm sets exactly perm on a new file: the process's umask may have
// taken bits that the configured Umask leaves.
func fixPerm(f *os.File, perm fs.FileMode) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != perm {
		return f.Chmod(perm)
	}
	return nil
}

// openInPlace opens the target for an append (at < 0) or a restart at
// its end, under an exclusive lock, and checks that the locked file is
// still the one under the name.
func (u *upload) openInPlace(perm fs.FileMode, at int64) error {
	u.kind = inPlace
	flags := os.O_WRONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	if at < 0 {
		flags |= os.O_CREATE
	}
	for range 3 {
		f, err := u.l.openFile(u.target, flags, perm)
		if err != nil {
			return pathErr("create", u.name, err)
		}
		fi, err := regularFile(f, u.name)
		if err == nil {
			err = lockFile(f)
		}
		if err != nil {
			f.Close()
			return err
		}
		now, err := u.l.stat(u.target, true)
		if err != nil || !sameFile(fi, &now) {
			// Replaced (or removed) between open and lock: try again on
			// what the name shows now.
			f.Close()
			continue
		}
		u.f, u.orig = f, fi.Size()
		if !u.existed {
			// Created here (or by a concurrent upload that has not
			// written yet): this upload owns a new file.
			u.existed = fi.Size() > 0
			if err := fixPerm(f, perm); err != nil {
				return pathErr("create", u.name, err)
			}
		}
		if at < 0 {
			at = u.orig
		}
		if at != u.orig {
			return &fs.PathError{Op: "create", Path: u.name, Err: ErrInvalidOffset}
		}
		if _, err := f.Seek(at, io.SeekStart); err != nil {
			return pathErr("seek", u.name, err)
		}
		return nil
	}
	return &fs.PathError{Op: "create", Path: u.name, Err: ErrBusy}
}

// openCopy prepares a restart before the end of a file: a copy of the
// whole file, written from offset on and renamed into place by Commit,
// so that an aborted restart leaves the file as it was.
func (u *upload) openCopy(fi FileInfo, offset int64) error {
	if err := u.l.notBusy(u.target, true); err != nil {
		return pathErr("create", u.name, err)
	}
	src, err := u.l.openFile(u.target, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return pathErr("open", u.name, err)
	}
	defer src.Close()
	if _, err := regularFile(src, u.name); err != nil {
		return err
	}
	if err := u.openTemp(fi.Mode.Perm()); err != nil {
		return err
	}
	u.kind = copyTemp
	// os.File.ReadFrom uses copy_file_range: no copy through user space,
	// and none at all on file systems that share extents.
	if _, err := u.f.ReadFrom(src); err != nil {
		u.f.Close()
		u.l.remove(u.tmp)
		return pathErr("copy", u.name, err)
	}
	if _, err := u.f.Seek(offset, io.SeekStart); err != nil {
		u.f.Close()
		u.l.remove(u.tmp)
		return pathErr("seek", u.name, err)
	}
	return nil
}

// notBusy reports ErrBusy when an in-place upload holds the file's lock.
// With writable, it also checks that the user may write the file: a
// replacement is a rename, which the directory's permissions allow, but
// ProFTPD overwrites in place, which the file's permissions must allow.
func (l *Local) notBusy(r string, writable bool) error {
	flags := os.O_RDONLY
	if writable {
		flags = os.O_WRONLY
	}
	f, err := l.openFile(r, flags|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if !writable && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)) {
			// Gone, or unreadable (a write-only file): nothing to wait for
			// that this user could have started.
			return nil
		}
		return err
	}
	defer f.Close()
	return lockFile(f)
}

func (u *upload) Commit() error {
	if u.done {
		return errors.New("upload already finished")
	}
	u.done = true
	if err := u.f.Sync(); err != nil {
		u.f.Close()
		u.undo()
		return pathErr("fsync", u.name, err)
	}
	if u.kind == inPlace {
		// Closing releases the lock.
		if err := u.f.Close(); err != nil {
			return pathErr("close", u.name, err)
		}
		if !u.existed {
			dir, _ := dirBase(u.target)
			return u.l.syncDir(dir)
		}
		return nil
	}
	if err := u.f.Close(); err != nil {
		u.l.remove(u.tmp)
		return pathErr("close", u.name, err)
	}
	if err := u.moveIntoPlace(u.replace); err != nil {
		u.l.remove(u.tmp)
		return err
	}
	dir, _ := dirBase(u.target)
	return u.l.syncDir(dir)
}

// moveIntoPlace renames the temporary file to the target: replacing what
// is there when replace, else only if the name is still free.
func (u *upload) moveIntoPlace(replace bool) error {
	if replace {
		// Wait for no in-place upload of the file being replaced: its
		// bytes would go to a file that is no longer under the name.
		if err := u.l.notBusy(u.target, false); err != nil {
			return pathErr("rename", u.name, err)
		}
		if err := u.l.rename(u.tmp, u.target); err != nil {
			return pathErr("rename", u.name, err)
		}
		return nil
	}
	// A hard link fails when the name exists: a rename that never
	// replaces.
	err := u.l.link(u.tmp, u.target)
	if errors.Is(err, fs.ErrExist) {
		return &fs.PathError{Op: "rename", Path: u.name, Err: ErrOverwrite}
	}
	if err != nil {
		// File systems without hard links: check, then rename.
		if _, serr := u.l.stat(u.target, false); serr == nil {
			return &fs.PathError{Op: "rename", Path: u.name, Err: ErrOverwrite}
		}
		if err := u.l.rename(u.tmp, u.target); err != nil {
			return pathErr("rename", u.name, err)
		}
		return nil
	}
	return u.l.remove(u.tmp)
}

func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	var size int64
	if fi, err := u.f.Stat(); err == nil {
		size = fi.Size()
	}
	if u.kind == inPlace {
		defer u.f.Close() // releases the lock after the truncation
		if u.existed {
			// Leave the file as it was.
			if size == u.orig {
				return nil
			}
			if err := u.f.Truncate(u.orig); err != nil {
				return pathErr("truncate", u.name, err)
			}
			return u.f.Sync()
		}
		if size == 0 || u.delete {
			return u.removeOwnTarget()
		}
		return u.f.Sync()
	}
	u.f.Close()
	switch {
	case u.kind == hiddenTmp && !u.delete:
		// ProFTPD leaves an aborted HiddenStores file when
		// DeleteAbortedStores is explicitly off.
		return nil
	case u.kind == viaTemp && !u.existed && !u.delete && size > 0:
		// A new file keeps what arrived, as ProFTPD leaves a partial
		// upload, but never over a file that appeared meanwhile.
		if err := u.moveIntoPlace(false); err == nil {
			dir, _ := dirBase(u.target)
			return u.l.syncDir(dir)
		}
	}
	return u.undo()
}

// undo removes the temporary file.
func (u *upload) undo() error {
	if u.tmp == "" {
		return nil
	}
	if err := u.l.remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pathErr("remove", "/"+u.tmp, err)
	}
	return nil
}

// removeOwnTarget removes a file this upload created, if the name still
// shows it.
func (u *upload) removeOwnTarget() error {
	fi, err := u.f.Stat()
	if err != nil {
		return err
	}
	now, err := u.l.stat(u.target, false)
	if err != nil || !sameFile(fi, &now) {
		return nil
	}
	if err := u.l.remove(u.target); err != nil {
		return pathErr("remove", u.name, err)
	}
	return nil
}

// String describes the upload for logs.
func (u *upload) String() string {
	return fmt.Sprintf("upload of %s (kind %d)", u.name, u.kind)
}
