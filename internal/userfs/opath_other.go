//go:build unix && !linux

package userfs

import "golang.org/x/sys/unix"

// openPath opens the directories of a path walk. Without Linux's O_PATH,
// a directory is opened for reading: a path through a directory the
// user may search but not read is refused with EACCES.
const openPath = unix.O_RDONLY
