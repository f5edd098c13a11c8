//go:build unix

package userfs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const removeDir = unix.AT_REMOVEDIR

// unlinkat removes base in the directory d: a file (flags 0) or an empty
// directory (removeDir), never the other.
func unlinkat(d *os.File, base string, flags int) error {
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			uerr = unix.Unlinkat(int(fd), base, flags)
			if uerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return uerr
}

// lockFile takes an exclusive flock without waiting; ErrBusy when another
// upload holds it. Closing the file releases it.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if lerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) {
		return ErrBusy
	}
	return lerr
}
