package modtlsshm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// Errors a failed open wraps (test with errors.Is). Every open error also
// matches syscall.EINVAL, the errno ProFTPD's open reports to mod_tls.
var (
	// ErrSizeMismatch: a segment exists for the file with another size.
	ErrSizeMismatch = errors.New("existing shm segment has another size")
	// ErrForeignSegment: the segment at the file's key is not an ftpdtls
	// cache of this kind, or belongs to another cache file (ftok collision).
	ErrForeignSegment = errors.New("shm segment is not this cache's")
	// ErrInsecureSegment: the segment's owner or mode is not ours / 0600,
	// or the cache file is not a regular file.
	ErrInsecureSegment = errors.New("shm segment or cache file has the wrong owner or mode")
	// ErrCorruptSegment: the segment's header is damaged.
	ErrCorruptSegment = errors.New("shm segment header is damaged")
	// ErrClosed: the cache was closed or removed.
	ErrClosed = errors.New("shmcache is closed")
	// ErrNoSegment: OpenExisting found no cache file or no segment for it;
	// nothing was created.
	ErrNoSegment = fmt.Errorf("no shared memory segment exists yet (%w)", modtls.ErrNoStorage)
)

// OpenError is the error of a failed Open: what failed, for which file.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string { return fmt.Sprintf("open shmcache %q: %v", e.Path, e.Err) }

// Unwrap lets errors.Is match both the cause and syscall.EINVAL.
func (e *OpenError) Unwrap() []error { return []error{e.Err, syscall.EINVAL} }

// strerror renders an error the way ProFTPD's strerror(3) lines read: a
// system error (syscall.Errno, also inside an *os.PathError) as C's
// strerror spells it, "Is a directory" rather than Go's "is a directory".
// Other errors are ours and keep their own text.
func strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// fileID is what identifies the cache file: its device and inode.
type fileID struct{ dev, ino uint64 }

// openCacheFile opens the cache file, creating it (mode 0600) unless
// existing is set. It refuses a symbolic link (O_NOFOLLOW), a directory
// and anything not a regular file.
func openCacheFile(path string, existing bool) (*os.File, fileID, error) {
	flags := os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	if !existing {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fileID{}, fmt.Errorf("%w: not a regular file", ErrInsecureSegment)
	}
	return f, fileID{uint64(st.Dev), st.Ino}, nil
}

// ftok is glibc's ftok(3): 8 bits of project id, 8 of the device, 16 of
// the inode.
func ftok(id fileID, proj byte) int {
	return int(int32(uint32(proj)<<24 | uint32(id.dev&0xff)<<16 | uint32(id.ino&0xffff)))
}

// roundSize rounds a requested size up to a multiple of SHMLBA (4096).
func roundSize(n int64) uint64 { return (uint64(n) + 4095) &^ 4095 }

// shmStat is IPC_STAT of a segment.
func shmStat(id int) (unix.SysvShmDesc, error) {
	var d unix.SysvShmDesc
	_, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d)
	return d, err
}

// checkOwner refuses a segment not owned and created by this process's
// user, or not of mode 0600: another user could read the session secrets
// in it, or have planted sessions. The creator counts because the kernel
// keeps granting it access after the owner is changed.
func checkOwner(id int, d unix.SysvShmDesc) error {
	uid := uint32(os.Geteuid())
	if d.Perm.Uid != uid || d.Perm.Cuid != uid || d.Perm.Mode&0o777 != 0o600 {
		return fmt.Errorf("%w: shm ID %d has owner UID %d, creator UID %d and mode %04o, expected UID %d and mode 0600",
			ErrInsecureSegment, id, d.Perm.Uid, d.Perm.Cuid, d.Perm.Mode&0o777, uid)
	}
	return nil
}

// initHeader writes a new segment's header; the magic goes last so that
// a concurrent opener waits for the rest.
func initHeader(mem []byte, g geometry, k *kindSpec, fid fileID) {
	h := (*header)(unsafe.Pointer(&mem[0]))
	var seed [8]byte
	rand.Read(seed[:])
	h.Version = layoutVer
	h.Kind = k.kind
	h.SegSize = g.segSize
	h.Dev, h.Ino = fid.dev, fid.ino
	h.Created = time.Now().Unix()
	h.Seed = binary.LittleEndian.Uint64(seed[:])
	h.Buckets = g.buckets
	h.Ways = bucketWays
	h.IndexOff = headerSize
	h.DataOff = g.dataOff
	h.DataSize = g.dataSize
	h.MaxKey = uint32(k.maxKey)
	h.MaxData = uint32(k.maxData)
	h.Typical = uint32(g.typical)
	h.GeomSum = geomSum(h)
	h.Magic.Store(magicValue)
}

// checkHeader decides whether an existing segment is this cache's: magic,
// version, kind, file identity, and a geometry that fits the segment.
func checkHeader(mem []byte, k *kindSpec, fid fileID) error {
	if len(mem) < headerSize {
		return fmt.Errorf("%w: %d bytes", ErrForeignSegment, len(mem))
	}
	h := (*header)(unsafe.Pointer(&mem[0]))
	// A creator that has not finished yet: wait a little for the magic.
	for i := 0; h.Magic.Load() == 0 && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	switch m := h.Magic.Load(); {
	case m == 0:
		return fmt.Errorf("%w: header never initialised", ErrCorruptSegment)
	case m != magicValue:
		return fmt.Errorf("%w: not an ftpdtls shmcache segment (magic %#016x)", ErrForeignSegment, m)
	}
	if h.Version != layoutVer {
		return fmt.Errorf("%w: layout version %d, this program reads version %d", ErrForeignSegment, h.Version, layoutVer)
	}
	if h.Kind != k.kind {
		return fmt.Errorf("%w: segment is of kind %d, not a %s cache", ErrForeignSegment, h.Kind, k.what)
	}
	if h.GeomSum != geomSum(h) {
		return fmt.Errorf("%w: header checksum mismatch", ErrCorruptSegment)
	}
	if h.Dev != fid.dev || h.Ino != fid.ino {
		return fmt.Errorf("%w: it belongs to the cache file with device %d inode %d, not device %d inode %d (SysV key collision)",
			ErrForeignSegment, h.Dev, h.Ino, fid.dev, fid.ino)
	}
	return checkGeometry(h, uint64(len(mem)), k)
}

// checkGeometry checks that the recorded geometry is one this program
// would have made for the segment, so that every offset derived from it
// lies inside the segment.
func checkGeometry(h *header, size uint64, k *kindSpec) error {
	want, ok := computeGeometry(size, k)
	if !ok || h.SegSize != size || h.Ways != bucketWays || h.IndexOff != headerSize ||
		h.Buckets != want.buckets || h.DataOff != want.dataOff || h.DataSize != want.dataSize ||
		h.MaxKey != uint32(k.maxKey) || h.MaxData != uint32(k.maxData) || uint64(h.Typical) != want.typical {
		return fmt.Errorf("%w: geometry does not match a %d-byte segment", ErrCorruptSegment, size)
	}
	return nil
}

// removeHint tells how to remove a segment that is in the way.
func removeHint(k *kindSpec, id int) string {
	return fmt.Sprintf("remove it using 'ftpdtls %s remove' (or 'ipcrm -m %d')", k.ctlName, id)
}

// RemoveSessionCache removes the session cache segment and file that
// info ("/file=PATH[&size=N]") names, whatever the segment's size: what
// `ftpdtls sesscache remove` does when the cache cannot be opened (for
// example after a size change). A segment that is not this file's
// ftpdtls session cache is left alone and reported. A missing segment is
// not an error; the file is removed either way.
func RemoveSessionCache(info string) error { return removeByInfo(info, sessionKind) }

// RemoveOCSPCache is RemoveSessionCache for the OCSP response cache
// (`ftpdtls ocspcache remove`).
func RemoveOCSPCache(info string) error { return removeByInfo(info, ocspKind) }

func removeByInfo(info string, k *kindSpec) error {
	ci, err := parseInfo(info, k)
	if err != nil {
		return err
	}
	fd, err := unix.Open(ci.path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &OpenError{Path: ci.path, Err: err}
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return &OpenError{Path: ci.path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &OpenError{Path: ci.path, Err: fmt.Errorf("%w: not a regular file", ErrInsecureSegment)}
	}
	fid := fileID{uint64(st.Dev), st.Ino}
	id, err := unix.SysvShmGet(ftok(fid, k.proj), 0, 0)
	if err == nil {
		if err := removeSegment(id, k, fid); err != nil {
			return &OpenError{Path: ci.path, Err: err}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return &OpenError{Path: ci.path, Err: err}
	}
	if err := unlinkIfSame(ci.path, fid); err != nil {
		return &OpenError{Path: ci.path, Err: err}
	}
	return nil
}

// removeSegment marks segment id for removal after checking that it is
// the ftpdtls cache of kind k made for the file fid.
func removeSegment(id int, k *kindSpec, fid fileID) error {
	d, err := shmStat(id)
	if err != nil {
		return err
	}
	if err := checkOwner(id, d); err != nil {
		return fmt.Errorf("%w; not removed: %s", err, foreignHint(id))
	}
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return err
	}
	var herr error
	if len(mem) < headerSize {
		herr = fmt.Errorf("%w: shm ID %d has %d bytes; not removed: %s", ErrForeignSegment, id, len(mem), foreignHint(id))
	} else {
		h := (*header)(unsafe.Pointer(&mem[0]))
		if h.Magic.Load() != magicValue || h.Kind != k.kind || h.Dev != fid.dev || h.Ino != fid.ino {
			herr = fmt.Errorf("%w: shm ID %d is not the ftpdtls %s cache of this file; not removed: %s", ErrForeignSegment, id, k.what, foreignHint(id))
		}
	}
	unix.SysvShmDetach(mem)
	if herr != nil {
		return herr
	}
	_, err = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	return err
}

// foreignHint tells the operator what to do about a segment at the
// cache's key that this program will not remove: it may be another
// program's (ftok keeps only 16 bits of the inode).
func foreignHint(id int) string {
	return fmt.Sprintf("check what it is with 'ipcs -m -i %d' (creator PID, attach count); if it is a stale segment, remove it with 'ipcrm -m %d', otherwise use another cache file", id, id)
}

// unlinkIfSame removes path if it still is the file fid.
func unlinkIfSame(path string, fid fileID) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if uint64(st.Dev) != fid.dev || st.Ino != fid.ino {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// describeSize is the size-mismatch explanation for a NOTICE.
func describeSize(k *kindSpec, id int, path string, have, want uint64) string {
	return fmt.Sprintf("existing shm ID %d for file '%s' is %d bytes, not the requested %d bytes; nothing is migrated and the cache is not used: %s before using a new size",
		id, path, have, want, removeHint(k, id))
}
