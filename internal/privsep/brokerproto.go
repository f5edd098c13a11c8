package privsep

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// The broker channel joins the master to one broker: a socketpair whose
// broker end is the broker's file descriptor 3. The master opens sessions
// on it; the broker answers each and says when it has ended. SessionOpened
// and SessionEnded carry the id of the OpenSession they are about.
//
//	type  name           direction  descriptor
//	20    OpenSession    M -> B     the broker's end of the session channel
//	21    SessionOpened  B -> M     -
//	22    SessionEnded   B -> M     -
//
// The session channel joins a worker to a broker for one FTP session: the
// worker sends FSRequest records, one at a time, and the broker answers
// each with FSReply records carrying the request's id (several for a long
// ReadDir: all but the last have more set). Open and Create pass the open
// file with the reply.
//
//	type  name       direction  descriptor
//	40    FSRequest  W -> B     -
//	41    FSReply    B -> W     Open, Create: the open file

// Record types of the broker and session channels.
const (
	TypeOpenSession   = 20
	TypeSessionOpened = 21
	TypeSessionEnded  = 22
	TypeFSRequest     = 40
	TypeFSReply       = 41
)

// OpenSession asks the broker to serve a session rooted at Root (a real,
// absolute path) on the channel that comes with it.
//
//	struct {
//	    string<MaxPath> root;
//	    string<MaxName> user;  // for the broker's log
//	} OpenSession;
type OpenSession struct {
	Root string
	User string
}

func (*OpenSession) Type() uint8 { return TypeOpenSession }
func (m *OpenSession) encode(e *encoder) {
	e.str(m.Root, MaxPath)
	e.str(m.User, MaxName)
}
func (m *OpenSession) decode(d *decoder) {
	m.Root = d.str(MaxPath)
	m.User = d.str(MaxName)
}

// SessionOpened answers OpenSession: an empty error means the broker
// serves the session.
//
//	struct {
//	    string<MaxText> error;
//	    uint32 errno;          // the error's errno, 0 if it has none
//	} SessionOpened;
type SessionOpened struct {
	Err   string
	Errno uint32
}

func (*SessionOpened) Type() uint8 { return TypeSessionOpened }
func (m *SessionOpened) encode(e *encoder) {
	e.str(Truncate(m.Err, MaxText), MaxText)
	e.u32(m.Errno)
}
func (m *SessionOpened) decode(d *decoder) {
	m.Err = d.str(MaxText)
	m.Errno = d.u32()
}

// SessionError is a broker's refusal to open a session; it unwraps to
// the errno the broker met (opening the session root), so that
// errors.Is finds fs.ErrNotExist and the like.
type SessionError struct {
	Msg   string
	Errno syscall.Errno
}

func (e *SessionError) Error() string { return e.Msg }
func (e *SessionError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// errnoOf is the errno in err's chain, 0 if none.
func errnoOf(err error) uint32 {
	var en syscall.Errno
	if errors.As(err, &en) {
		return uint32(en)
	}
	return 0
}

// SessionEnded: the session's channel was closed and its uploads were
// aborted.
//
//	struct {} SessionEnded;
type SessionEnded struct{}

func (*SessionEnded) Type() uint8       { return TypeSessionEnded }
func (*SessionEnded) encode(e *encoder) {}
func (*SessionEnded) decode(d *decoder) {}

// File system operations (FSRequest.op): the methods of userfs.FS and
// userfs.Upload.
const (
	OpStat    = 1
	OpLstat   = 2
	OpReadDir = 3
	OpOpen    = 4
	OpCreate  = 5
	OpCommit  = 6
	OpAbort   = 7
	OpMkdir   = 8
	OpRemove  = 9
	OpRmdir   = 10
	OpRename  = 11
	OpChtimes = 12
	OpChmod   = 13
	OpChgrp   = 14
	opMax     = OpChgrp
)

// FSRequest is one file system operation. Every field is always present;
// those an operation does not use are zero.
//
//	struct {
//	    uint8 op;
//	    string<MaxPath> name;           // session path ("/" is the session root)
//	    string<MaxPath> name2;          // Rename: the new name
//	    uint32 perm;                    // Mkdir, Chmod; Create: of a new file
//	    int64 mtime;                    // Chtimes: Unix time in nanoseconds
//	    uint32 upload;                  // Commit, Abort: from the Create reply
//	    uint8 mode;                     // Create: userfs.StoreMode
//	    int64 offset;                   // Create: StoreRestart's offset
//	    bool overwrite;                 // Create: userfs.StoreOptions
//	    bool hidden;
//	    string<MaxName> hidden_prefix;
//	    string<MaxName> hidden_suffix;
//	    bool delete_aborted;
//	    uint32 gid;                     // Chgrp
//	} FSRequest;
type FSRequest struct {
	Op     uint8
	Name   string
	Name2  string
	Perm   uint32
	Mtime  int64
	Upload uint32
	Store  userfs.StoreOptions
	Gid    uint32
}

func (*FSRequest) Type() uint8 { return TypeFSRequest }
func (m *FSRequest) encode(e *encoder) {
	e.u8(m.Op)
	e.str(m.Name, MaxPath)
	e.str(m.Name2, MaxPath)
	e.u32(m.Perm)
	e.i64(m.Mtime)
	e.u32(m.Upload)
	e.u8(uint8(m.Store.Mode))
	e.i64(m.Store.Offset)
	e.bool(m.Store.Overwrite)
	e.bool(m.Store.Hidden)
	e.str(m.Store.HiddenPrefix, MaxName)
	e.str(m.Store.HiddenSuffix, MaxName)
	e.bool(m.Store.DeleteAborted)
	e.u32(m.Gid)
}
func (m *FSRequest) decode(d *decoder) {
	m.Op = d.u8()
	if m.Op == 0 || m.Op > opMax {
		d.fail("operation %d", m.Op)
	}
	m.Name = d.str(MaxPath)
	m.Name2 = d.str(MaxPath)
	m.Perm = d.u32()
	if m.Perm&^0o7777 != 0 {
		d.fail("permissions %#o", m.Perm)
	}
	m.Mtime = d.i64()
	m.Upload = d.u32()
	mode := d.u8()
	if mode > uint8(userfs.StoreRestart) {
		d.fail("store mode %d", mode)
	}
	m.Store.Mode = userfs.StoreMode(mode)
	m.Store.Offset = d.i64()
	if m.Store.Offset < 0 {
		d.fail("offset %d", m.Store.Offset)
	}
	m.Store.Overwrite = d.bool()
	m.Store.Hidden = d.bool()
	m.Store.HiddenPrefix = d.str(MaxName)
	m.Store.HiddenSuffix = d.str(MaxName)
	m.Store.DeleteAborted = d.bool()
	m.Gid = d.u32()
	m.Store.Perm = fs.FileMode(m.Perm)
}

// Error kinds of FSReply: how the broker's error is rebuilt so that
// errors.Is finds the same sentinels in the worker.
const (
	errNone          = 0
	errErrno         = 1 // a syscall.Errno
	errNotExist      = 2
	errPermission    = 3
	errExist         = 4
	errInvalid       = 5
	errNotRegular    = 6
	errBusy          = 7
	errOverwrite     = 8
	errInvalidOffset = 9
	errOther         = 10
	errMax           = errOther
)

// MaxInfos bounds the entries of one FSReply.
const MaxInfos = 4096

// FSReply answers an FSRequest.
//
//	struct {
//	    uint8 error;                      // 0: success; else an error kind
//	    uint32 errno;                     // kind 1
//	    string<MaxName> op;               // the failed operation, "" if none
//	    string<MaxPath> path;             // its path
//	    string<MaxText> text;             // kind 10: the message
//	    uint32 upload;                    // Create: names the upload for Commit/Abort
//	    bool more;                        // ReadDir: more replies follow
//	    list<MaxInfos, FileInfo> infos;   // Stat, Lstat, Open: one; ReadDir: a part
//	} FSReply;
//
//	struct {
//	    string<MaxPath> name;
//	    int64 size;
//	    uint32 mode;                      // fs.FileMode
//	    int64 mtime;                      // Unix nanoseconds
//	    uint64 nlink;
//	    uint32 uid;
//	    uint32 gid;
//	    uint64 dev;
//	    uint64 ino;
//	    string<MaxPath> target;           // a symbolic link's
//	} FileInfo;
//
// Owner and group names are not sent: the worker fills them in from its
// own table (the broker, running as the user, may not read the
// AuthUserFile).
type FSReply struct {
	Err    error
	Upload uint32
	More   bool
	Infos  []userfs.FileInfo
}

func (*FSReply) Type() uint8 { return TypeFSReply }

func (m *FSReply) encode(e *encoder) {
	kind, errno, op, path, text := classify(m.Err)
	e.u8(kind)
	e.u32(errno)
	e.str(Truncate(op, MaxName), MaxName)
	e.str(Truncate(path, MaxPath), MaxPath)
	e.str(Truncate(text, MaxText), MaxText)
	e.u32(m.Upload)
	e.bool(m.More)
	if len(m.Infos) > MaxInfos {
		e.err = errors.New("privsep: too many entries in one reply")
		return
	}
	e.b = append(e.b, byte(len(m.Infos)>>8), byte(len(m.Infos)))
	for _, fi := range m.Infos {
		e.str(fi.Name, MaxPath)
		e.i64(fi.Size)
		e.u32(uint32(fi.Mode))
		e.i64(fi.ModTime.UnixNano())
		e.u64(fi.Nlink)
		e.u32(fi.Uid)
		e.u32(fi.Gid)
		e.u64(fi.Dev)
		e.u64(fi.Ino)
		e.str(fi.Target, MaxPath)
	}
}

func (m *FSReply) decode(d *decoder) {
	kind := d.u8()
	errno := d.u32()
	op := d.str(MaxName)
	path := d.str(MaxPath)
	text := d.str(MaxText)
	if kind > errMax {
		d.fail("error kind %d", kind)
	}
	m.Err = rebuild(kind, errno, op, path, text)
	m.Upload = d.u32()
	m.More = d.bool()
	n := int(d.u16())
	if n > MaxInfos {
		d.fail("%d entries", n)
		return
	}
	for range n {
		if d.err != nil {
			return
		}
		var fi userfs.FileInfo
		fi.Name = d.str(MaxPath)
		fi.Size = d.i64()
		fi.Mode = fs.FileMode(d.u32())
		fi.ModTime = time.Unix(0, d.i64())
		fi.Nlink = d.u64()
		fi.Uid = d.u32()
		fi.Gid = d.u32()
		fi.Dev = d.u64()
		fi.Ino = d.u64()
		fi.Target = d.str(MaxPath)
		m.Infos = append(m.Infos, fi)
	}
}

// infoSize is an upper bound of a FileInfo's encoded size.
func infoSize(fi *userfs.FileInfo) int { return 2 + len(fi.Name) + 56 + 2 + len(fi.Target) }

// classify turns an error into its wire form. The userfs sentinels come
// first (ErrOverwrite wraps fs.ErrPermission), then errno values, which
// keep every distinction the kernel made (ENOSPC, ENOTEMPTY, ...).
func classify(err error) (kind uint8, errno uint32, op, path, text string) {
	if err == nil {
		return errNone, 0, "", "", ""
	}
	inner := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		op, path, inner = pe.Op, pe.Path, pe.Err
	}
	var en syscall.Errno
	switch {
	case errors.Is(inner, userfs.ErrOverwrite):
		kind = errOverwrite
	case errors.Is(inner, userfs.ErrNotRegular):
		kind = errNotRegular
	case errors.Is(inner, userfs.ErrBusy):
		kind = errBusy
	case errors.Is(inner, userfs.ErrInvalidOffset):
		kind = errInvalidOffset
	case errors.As(inner, &en) && en != 0:
		kind, errno = errErrno, uint32(en)
	case errors.Is(inner, fs.ErrNotExist):
		kind = errNotExist
	case errors.Is(inner, fs.ErrPermission):
		kind = errPermission
	case errors.Is(inner, fs.ErrExist):
		kind = errExist
	case errors.Is(inner, fs.ErrInvalid):
		kind = errInvalid
	default:
		kind, text = errOther, inner.Error()
	}
	return kind, errno, op, path, text
}

func rebuild(kind uint8, errno uint32, op, path, text string) error {
	var err error
	switch kind {
	case errNone:
		return nil
	case errErrno:
		err = syscall.Errno(errno)
	case errNotExist:
		err = fs.ErrNotExist
	case errPermission:
		err = fs.ErrPermission
	case errExist:
		err = fs.ErrExist
	case errInvalid:
		err = fs.ErrInvalid
	case errNotRegular:
		err = userfs.ErrNotRegular
	case errBusy:
		err = userfs.ErrBusy
	case errOverwrite:
		err = userfs.ErrOverwrite
	case errInvalidOffset:
		err = userfs.ErrInvalidOffset
	default:
		err = errors.New(text)
	}
	if op != "" || path != "" {
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	return err
}
