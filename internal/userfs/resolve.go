//go:build unix

package userfs

import (
	"io/fs"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The path walk of Local.
//
// The kernel's own path resolution needs only search permission (x) on
// the directories it passes through; os.Root opens every directory of a
// path for reading (openat with O_RDONLY), so a path through a
// directory the user may search but not read (mode 0711, 0311, as homes
// under /home often are, or the parent of a dropbox directory) fails
// with EACCES although the user can reach what is under it. ProFTPD
// passes such directories, inside a chroot or not.
//
// resolve walks a path one element at a time from the session root,
// opening each directory with O_PATH (Linux: no read permission needed,
// only search, as the kernel's walk), and resolves symbolic links itself
// with the semantics of a chroot: an absolute target starts again from
// the session root, and ".." never goes above it. Nothing outside the
// root is ever reached, whatever the links say, and no directory is
// opened through a name that could have been replaced by a link: each
// element is opened with O_NOFOLLOW relative to the descriptor of the
// directory before it. Operations then act on the last element through
// the descriptor of its directory (fstatat, openat, mkdirat, unlinkat,
// renameat, linkat, utimensat), never through a path.

// maxLinks is how many symbolic links one resolution follows (Linux's
// limit), and maxRetries how often an operation starts over when the
// element it resolved was replaced by a link before it acted.
const (
	maxLinks   = 40
	maxRetries = 8
)

// resolved is where a path leads: base in the directory dir.
type resolved struct {
	dir  int  // descriptor of the directory (O_PATH on Linux)
	own  bool // dir is this resolution's to close (not the root's)
	base string
	// st is the last element's lstat when the walk followed it: never a
	// symbolic link; nil when it does not exist.
	st *unix.Stat_t
}

func (r *resolved) close() {
	if r.own {
		unix.Close(r.dir)
	}
}

// resolve walks name (relative to the root: "a/b", or "." for the
// root) from the directory root. follow: a symbolic link as the last
// element is followed too (its target is what resolved names), and the
// result carries the last element's lstat.
func resolve(root int, name string, follow bool) (resolved, error) {
	todo := elements(nil, name)
	var stack []int // directories walked, each owned; the current one is the top
	cur := func() int {
		if len(stack) == 0 {
			return root
		}
		return stack[len(stack)-1]
	}
	closeAll := func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
		stack = nil
	}
	// result hands the current directory to the caller.
	result := func(base string, st *unix.Stat_t) resolved {
		r := resolved{dir: cur(), own: len(stack) > 0, base: base, st: st}
		if len(stack) > 0 {
			stack = stack[:len(stack)-1]
		}
		closeAll()
		return r
	}
	links := 0
	expand := func(dir int, elem string, rest []string) error {
		links++
		if links > maxLinks {
			return unix.ELOOP
		}
		target, err := readlinkat(dir, elem)
		if err != nil {
			return err
		}
		if strings.HasPrefix(target, "/") {
			closeAll() // from the session root again
		}
		todo = append(elements(nil, target), rest...)
		return nil
	}
	for {
		if len(todo) == 0 {
			// The path ends in the current directory itself ("." or a
			// ".." at the end of a link's target).
			var st unix.Stat_t
			if err := fstatat(cur(), ".", &st, 0); err != nil {
				closeAll()
				return resolved{}, err
			}
			return result(".", &st), nil
		}
		elem, rest := todo[0], todo[1:]
		if elem == ".." {
			if len(stack) > 0 {
				unix.Close(stack[len(stack)-1])
				stack = stack[:len(stack)-1]
			}
			todo = rest
			continue
		}
		if len(rest) == 0 {
			if !follow {
				return result(elem, nil), nil
			}
			var st unix.Stat_t
			err := fstatat(cur(), elem, &st, unix.AT_SYMLINK_NOFOLLOW)
			switch {
			case err == unix.ENOENT:
				return result(elem, nil), nil
			case err != nil:
				closeAll()
				return resolved{}, err
			case st.Mode&unix.S_IFMT == unix.S_IFLNK:
				if err := expand(cur(), elem, rest); err != nil {
					closeAll()
					return resolved{}, err
				}
				continue
			}
			return result(elem, &st), nil
		}
		fd, err := openat(cur(), elem, openPath|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOTDIR || err == unix.ELOOP {
			// A symbolic link, or not a directory at all.
			if _, lerr := readlinkat(cur(), elem); lerr == unix.EINVAL {
				closeAll()
				return resolved{}, unix.ENOTDIR
			}
			if err := expand(cur(), elem, rest); err != nil {
				closeAll()
				return resolved{}, err
			}
			continue
		}
		if err != nil {
			closeAll()
			return resolved{}, err
		}
		stack = append(stack, fd)
		todo = rest
	}
}

// elements appends the elements of a path to list, without empty ones
// and ".".
func elements(list []string, p string) []string {
	for e := range strings.SplitSeq(p, "/") {
		if e != "" && e != "." {
			list = append(list, e)
		}
	}
	return list
}

// fileMode turns st_mode into an fs.FileMode, as package os does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// statInfo describes a file from its stat, with its owner's names.
func (l *Local) statInfo(name string, st *unix.Stat_t) FileInfo {
	fi := fileInfoOf(name, st)
	fi.Owner = l.names.UserName(st.Uid)
	fi.Group = l.names.GroupName(st.Gid)
	return fi
}

// sameFile reports whether an open file is the one st describes.
func sameFile(fi fs.FileInfo, st *unix.Stat_t) bool {
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(s.Dev) == uint64(st.Dev) && uint64(s.Ino) == uint64(st.Ino)
}

// fileInfoOf describes a file from its stat, without names.
func fileInfoOf(name string, st *unix.Stat_t) FileInfo {
	return FileInfo{
		Name:    name,
		Size:    st.Size,
		Mode:    fileMode(uint32(st.Mode)),
		ModTime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		Nlink:   uint64(st.Nlink),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Dev:     uint64(st.Dev),
		Ino:     uint64(st.Ino),
	}
}

// ---- system calls, retried on EINTR ----

func openat(dir int, name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func fstatat(dir int, name string, st *unix.Stat_t, flags int) error {
	for {
		if err := unix.Fstatat(dir, name, st, flags); err != unix.EINTR {
			return err
		}
	}
}

func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, b)
		if err == unix.EINTR {
			size /= 2
			continue
		}
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
		if size > 1<<16 {
			return "", unix.ENAMETOOLONG
		}
	}
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}
