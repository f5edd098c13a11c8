// Package userfs is the file system of one logged-in FTP session: every
// operation the FTP engine performs on files goes through an FS, which
// acts with that user's rights and confines the user to the session root.
//
// Paths are absolute and clean in the session's view: "/" is the session
// root (the DefaultRoot directory, or the real "/" without DefaultRoot).
// Errors wrap fs.ErrNotExist, fs.ErrPermission, fs.ErrExist, ErrNotRegular,
// ErrBusy, ErrOverwrite or ErrInvalidOffset, so that the engine can answer
// with ProFTPD's replies.
//
// Two implementations exist: Local (this package), which works in the
// calling process, and the privilege-separation broker's client, which
// runs a Local inside a process that has the user's uid and gid and
// passes the opened files back.
//
// Local resolves every path itself, from a descriptor of the session
// root, one element at a time: symbolic links are followed as inside a
// chroot (an absolute target starts at the session root, ".." stops
// there), so nothing outside the root is reached, and directories are
// opened with O_PATH, so that a path through a directory the user may
// search but not read (a home under a 0711 directory, a 0733 "incoming"
// directory) works as it does for the kernel and for ProFTPD. (os.Root,
// which Local used before, opens every directory of a path for reading.)
//
// Uploads never destroy data: Create prepares an upload without changing
// what is visible under the name, and only Commit makes the new bytes
// visible, after they are on disk. See Upload.
package userfs

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// FS is the file system of one FTP session.
type FS interface {
	// Stat follows symbolic links (which must stay inside the root).
	Stat(name string) (FileInfo, error)
	Lstat(name string) (FileInfo, error)
	// ReadDir lists a directory, sorted by name, without "." and "..".
	// Entries are described as Lstat describes them; symbolic links carry
	// their target in FileInfo.Target.
	ReadDir(name string) ([]FileInfo, error)
	// Open opens a regular file for reading. Anything else (directory,
	// FIFO, device, socket) is refused with ErrNotRegular without ever
	// blocking.
	Open(name string) (*os.File, FileInfo, error)
	// Create starts an upload as opt says. Nothing visible under name
	// changes before Commit, except in the in-place modes (see Upload).
	Create(name string, opt StoreOptions) (Upload, error)
	// Mkdir creates a directory with exactly perm (the engine has
	// applied the Umask already; the process's umask does not apply).
	Mkdir(name string, perm fs.FileMode) error
	// Remove removes a file, never a directory.
	Remove(name string) error
	// Rmdir removes an empty directory.
	Rmdir(name string) error
	Rename(from, to string) error
	// Chtimes sets the modification (and access) time: MFMT.
	Chtimes(name string, mtime time.Time) error
	// Chmod sets the permission bits (07777, as chmod(2)) of name, or of
	// its target if it is a symbolic link: SITE CHMOD.
	Chmod(name string, mode uint32) error
	// Chgrp sets the group of name, or of its target if it is a symbolic
	// link: SITE CHGRP.
	Chgrp(name string, gid uint32) error
	Close() error
}

// FileInfo describes a file for listings and replies.
type FileInfo struct {
	Name    string // the base name
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
	Nlink   uint64
	Uid     uint32
	Gid     uint32
	// Owner and Group are the names listings show: from the
	// AuthUserFile/AuthGroupFile, else the system's; "" if unknown.
	Owner, Group string
	Dev, Ino     uint64
	// Target is a symbolic link's target (Lstat and ReadDir only).
	Target string
}

// IsDir reports whether fi describes a directory.
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// IsRegular reports whether fi describes a regular file.
func (fi FileInfo) IsRegular() bool { return fi.Mode.IsRegular() }

// StoreMode says how an upload treats an existing file.
type StoreMode int

const (
	// StoreReplace (STOR) replaces the file: the bytes go to a new file
	// that Commit renames into place.
	StoreReplace StoreMode = iota
	// StoreAppend (APPE) adds to the end of the file, in place.
	StoreAppend
	// StoreRestart (REST n, then STOR) writes from Offset on.
	StoreRestart
)

func (m StoreMode) String() string {
	switch m {
	case StoreReplace:
		return "replace"
	case StoreAppend:
		return "append"
	case StoreRestart:
		return "restart"
	}
	return "StoreMode(?)"
}

// StoreOptions describe one upload.
type StoreOptions struct {
	Mode StoreMode
	// Offset is where a StoreRestart starts writing; it may not exceed
	// the file's size (ErrInvalidOffset).
	Offset int64
	// Overwrite is AllowOverwrite: StoreReplace may replace an existing
	// file (ErrOverwrite otherwise). The engine checks AllowStoreRestart
	// for the other modes.
	Overwrite bool
	// Hidden is HiddenStores: a StoreReplace writes to
	// HiddenPrefix+name+HiddenSuffix (which must not exist) in the same
	// directory, renamed to name by Commit.
	Hidden                     bool
	HiddenPrefix, HiddenSuffix string
	// DeleteAborted is DeleteAbortedStores, resolved by the caller
	// (ProFTPD's default is on for HiddenStores uploads, off otherwise):
	// Abort removes what a new file received. Without it, an aborted
	// upload of a new file leaves the partial file under its name, and an
	// aborted HiddenStores upload leaves its hidden file, as ProFTPD does.
	// A pre-existing file is never removed or cut by Abort.
	DeleteAborted bool
	// Perm is the mode of a new file, the Umask already applied. A
	// replaced file keeps its mode.
	Perm fs.FileMode
}

// Upload is one upload in progress. Exactly one of Commit and Abort must
// be called; both release the file.
//
// A StoreReplace writes to a temporary (or HiddenStores) file: the file
// under the name is untouched until Commit renames the new one into
// place. StoreAppend and StoreRestart at the end of a file write in place,
// under an exclusive lock (a second in-place upload of the file gets
// ErrBusy); Abort truncates the file back to its former size, so a
// pre-existing file is left as it was. A StoreRestart before the end of
// a file works on a copy, renamed into place by Commit.
type Upload interface {
	// File is where the bytes go, positioned where writing starts.
	File() *os.File
	// Commit flushes the file to disk (fsync), moves it into place and
	// flushes the directory. When it returns nil, the bytes are on disk
	// under the name.
	Commit() error
	// Abort undoes the upload: the name shows what it showed before
	// (a new file that received bytes stays as a partial file unless
	// DeleteAborted; see StoreOptions).
	Abort() error
}

var (
	// ErrNotRegular refuses a transfer of a directory, FIFO, device or
	// socket ("Not a regular file", as ProFTPD says).
	ErrNotRegular = errors.New("Not a regular file")
	// ErrBusy refuses an upload of a file another upload is writing in
	// place.
	ErrBusy = errors.New("Resource temporarily unavailable")
	// ErrOverwrite refuses to replace an existing file without
	// AllowOverwrite. It wraps fs.ErrPermission.
	ErrOverwrite error = &wrapped{"Overwrite permission denied", fs.ErrPermission}
	// ErrInvalidOffset refuses a restart offset beyond the end of the
	// file.
	ErrInvalidOffset = errors.New("invalid restart offset")
)

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
