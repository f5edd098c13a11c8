package directives

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// logFileCheck is what ProFTPD's pr_log_openfile would find wrong with a
// log path, found without opening or creating anything. ControlsLog and
// TraceLog open their files through it while the configuration is read,
// so its notices come before their directive's own messages.
type logFileCheck struct {
	// Notice is the line pr_log_openfile logs about the directory
	// ("error: unable to stat() /x: No such file or directory"), or "".
	Notice string
	// Err is the errno of a failure (EINVAL for a name without a '/',
	// the stat error, ENOTDIR, EISDIR), or nil.
	Err error
	// WorldWritable: the directory is writable by others (ProFTPD's
	// PR_LOG_WRITABLE_DIR).
	WorldWritable bool
	// Symlink: the log file is a symbolic link (PR_LOG_SYMLINK).
	Symlink bool
}

func (c logFileCheck) ok() bool { return c.Err == nil && !c.WorldWritable && !c.Symlink }

// checkLogFile applies pr_log_openfile's checks in its order: a '/' in
// the path; the directory before the last '/' (the path itself when that
// '/' is the first character, as ProFTPD cuts there only after the
// start) exists, is a directory and is not world-writable; the file is
// not a symbolic link or a directory. Relative paths are taken from the
// current directory, as ProFTPD takes them.
func checkLogFile(path string) logFileCheck {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return logFileCheck{Notice: "inappropriate log file: " + path, Err: syscall.EINVAL}
	}
	dir := path
	if i > 0 {
		dir = path[:i]
	}
	st, err := os.Stat(dir)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EACCES
		}
		return logFileCheck{Notice: fmt.Sprintf("error: unable to stat() %s: %s", dir, Strerror(errno)), Err: errno}
	}
	if !st.IsDir() {
		return logFileCheck{Notice: fmt.Sprintf("error: %s is not a directory", dir), Err: syscall.ENOTDIR}
	}
	if st.Mode().Perm()&0o002 != 0 {
		return logFileCheck{Notice: fmt.Sprintf("error: %s is a world-writable directory", dir), WorldWritable: true}
	}
	switch lst, err := os.Lstat(path); {
	case errors.Is(err, fs.ErrNotExist):
		return logFileCheck{} // created when opened
	case err != nil:
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EACCES
		}
		return logFileCheck{Err: errno}
	case lst.Mode()&fs.ModeSymlink != 0:
		return logFileCheck{Symlink: true}
	case lst.IsDir():
		return logFileCheck{Err: syscall.EISDIR}
	}
	return logFileCheck{}
}
