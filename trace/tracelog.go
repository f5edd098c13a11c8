package trace

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// ErrUnsafeLogPath is returned by OpenLog and CheckLogPath when the log file
// is a symbolic link or its directory is world-writable. The text is what
// ProFTPD's TraceLog directive prints:
//
//	error using TraceLog '/var/log/trace.log': directory is symlink or is world-writable
var ErrUnsafeLogPath = errors.New("directory is symlink or is world-writable")

// ErrRelativeLogPath is returned for a log path that does not start with '/'.
var ErrRelativeLogPath = errors.New("must be an absolute path")

// logMode is the mode ProFTPD creates a TraceLog with (before the umask).
const logMode = 0o660

// OpenLog opens a TraceLog for appending the way ProFTPD's safe log opener
// does. It refuses a log in a world-writable directory (sticky /tmp
// included) and a log path that is a symbolic link (ErrUnsafeLogPath); a
// directory is EISDIR. A new file is created with mode 0660 under the
// process umask, exactly like ProFTPD (umask 022 gives 0640); an existing
// file keeps its mode. The file is opened O_APPEND|O_NOFOLLOW, so records
// from several processes sharing it are never torn.
//
// Errors other than the two sentinels wrap a syscall.Errno (errors.Is works)
// and read like C's strerror ("Is a directory", "No such file or
// directory"), so a directive can print ProFTPD's message
// "error using TraceLog '<path>': <err>".
func OpenLog(path string) (*os.File, error) {
	if err := checkLogDir(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, logMode)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.ELOOP || errno == syscall.EMLINK) {
			return nil, ErrUnsafeLogPath
		}
		return nil, sysError(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, sysError(err)
	}
	if st.IsDir() {
		f.Close()
		return nil, strerror(syscall.EISDIR)
	}
	return f, nil
}

// CheckLogPath makes the checks of OpenLog without creating or opening
// anything, for configuration checks. A missing log file is fine (OpenLog
// would create it); a missing directory is not.
func CheckLogPath(path string) error {
	if err := checkLogDir(path); err != nil {
		return err
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return sysError(err)
	case st.Mode()&fs.ModeSymlink != 0:
		return ErrUnsafeLogPath
	case st.IsDir():
		return strerror(syscall.EISDIR)
	}
	return nil
}

// checkLogDir checks the directory part of an absolute log path: it must
// exist (symbolic links followed), be a directory, and not be writable by
// others.
func checkLogDir(path string) error {
	if !strings.HasPrefix(path, "/") {
		return ErrRelativeLogPath
	}
	dir := path[:strings.LastIndexByte(path, '/')]
	if dir == "" {
		dir = "/"
	}
	st, err := os.Stat(dir)
	if err != nil {
		return sysError(err)
	}
	if !st.IsDir() {
		return strerror(syscall.ENOTDIR)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return ErrUnsafeLogPath
	}
	return nil
}

// Errno is a system error that prints like C's strerror(3) ("Is a
// directory"); Go's own text is lower-case ("is a directory").
type Errno struct {
	Errno syscall.Errno
}

func (e *Errno) Error() string {
	s := e.Errno.Error()
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func (e *Errno) Unwrap() error { return e.Errno }

func strerror(errno syscall.Errno) error { return &Errno{Errno: errno} }

// sysError turns an error from the os package into its bare Errno, or
// returns it unchanged when it carries none.
func sysError(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return strerror(errno)
	}
	return err
}
