package modtlsshm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
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
	// ErrLayoutVersion: the segment is this file's cache, made by a
	// release of ftpdtls with another segment layout; nothing is migrated.
	ErrLayoutVersion = errors.New("shm segment has another layout version")
	// ErrInsecureSegment: the segment is not private to one user (its
	// owner and creator differ, or its mode is not 0600), or the cache
	// file is not a regular file.
	ErrInsecureSegment = errors.New("shm segment or cache file has the wrong owner or mode")
	// ErrOtherOwner: the segment is private to another user than this
	// process's (the cache of a server running as that user). The cache
	// controls run as root may use it; a server may not.
	ErrOtherOwner = errors.New("shm segment belongs to another user")
	// ErrCorruptSegment: the segment's header is damaged.
	ErrCorruptSegment = errors.New("shm segment header is damaged")
	// ErrClosed: the cache was closed or removed.
	ErrClosed = errors.New("shmcache is closed")
	// ErrNoSegment: OpenExisting or a removal found no cache file or no
	// segment for it; nothing was created or removed. It matches
	// modtls.ErrNoStorage.
	ErrNoSegment error = noSegment{}
)

type noSegment struct{}

func (noSegment) Error() string        { return "no shared memory segment exists" }
func (noSegment) Is(target error) bool { return target == modtls.ErrNoStorage }

// OpenError is the error of a failed Open: what failed, for which file.
type OpenError struct {
	Path string
	Err  error
}

// Error is the cause, which names the cache file (a cause that does not
// is followed by it): the reason mod_tls's "error opening 'shm'
// TLSSessionCache: ..." notice gives. System errors in it read as C's
// strerror spells them ("No such file or directory").
func (e *OpenError) Error() string {
	msg := e.Err.Error()
	if e.Path == "" || strings.Contains(msg, "'"+e.Path+"'") {
		return msg
	}
	return fmt.Sprintf("%s (cache file '%s')", msg, e.Path)
}

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

// sysError is a failed system call as ProFTPD's log lines report one:
// what failed, then strerror's text ("unable to open file '/x':
// No such file or directory"). It unwraps to the error it reports, so
// errors.Is matches the syscall.Errno (and fs.ErrNotExist, ...).
type sysError struct {
	what string
	err  error
}

func (e *sysError) Error() string { return e.what + ": " + strerror(e.err) }
func (e *sysError) Unwrap() error { return e.err }

// sysErrorf wraps err (a syscall.Errno, possibly inside an
// *os.PathError) in a sysError; other errors are returned as they are.
func sysErrorf(err error, format string, args ...any) error {
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		return err
	}
	return &sysError{what: fmt.Sprintf(format, args...), err: err}
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

// Who may use a segment. A cache segment holds session secrets, so it
// must be private to one user: created and owned by that user, mode 0600
// (the kernel keeps granting the creator access after a change of owner,
// so both count). A server uses only a segment private to its own
// effective user: a segment another user can write could hold sessions
// that user planted. The cache controls (`ftpdtls sesscache info`, clear,
// remove) run as root may also act on a segment private to another user:
// that is the cache of a server running as that user, not damage.
//
// Under privilege separation, workers open the caches as root and then
// drop to User, so the segments belong to root and keep working after
// the drop (the kernel checks permissions when attaching, not on each
// access); a server run as a non-root user makes segments that user owns.

// checkOwner applies that rule; controls is set for the cache controls.
func checkOwner(id int, d unix.SysvShmDesc, controls bool) error {
	uid := uint32(os.Geteuid())
	if d.Perm.Uid != d.Perm.Cuid || d.Perm.Mode&0o777 != 0o600 {
		return fmt.Errorf("%w: shm ID %d has owner UID %d, creator UID %d and mode %04o; a cache segment must be created and owned by one user, with mode 0600",
			ErrInsecureSegment, id, d.Perm.Uid, d.Perm.Cuid, d.Perm.Mode&0o777)
	}
	if d.Perm.Uid != uid && !(controls && uid == 0) {
		return fmt.Errorf("%w: shm ID %d belongs to UID %d, and this process runs as UID %d", ErrOtherOwner, id, d.Perm.Uid, uid)
	}
	return nil
}

// ownerHint says what to do about a segment checkOwner refused, without
// ever advising to remove a segment that processes are attached to;
// controls is set for the cache controls.
func ownerHint(k *kindSpec, id int, d unix.SysvShmDesc, err error, controls bool) string {
	if !errors.Is(err, ErrOtherOwner) {
		return foreignHint(id)
	}
	uid := d.Perm.Uid
	hint := fmt.Sprintf("it is the cache of a server running as UID %d: give this server another cache file, or run it as UID %d", uid, uid)
	if controls {
		hint = fmt.Sprintf("it is the cache of a server running as UID %d: run this command as UID %d or as root", uid, uid)
	}
	if d.Nattch > 0 {
		return fmt.Sprintf("%s (%s)", hint, attached(d.Nattch))
	}
	return fmt.Sprintf("%s; if no server of UID %d uses it any more, %s", hint, uid, removeHint(k, id, 0))
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
	h.IndexOff = g.indexOff
	h.DataOff = g.dataOff
	h.DataSize = g.dataSize
	h.MaxKey = g.maxKey
	h.MaxData = g.maxData
	h.Typical = uint32(g.typical)
	h.Stripes = g.stripes
	h.StripeOff = g.stripeOff
	h.GeomSum = geomSum(h)
	h.Magic.Store(magicValue)
}

// checkHeader decides whether an existing segment is this cache's: magic,
// version, kind, file identity, and a geometry that fits the segment. A
// segment whose magic is still zero is being initialised by its creator
// (process creator, from IPC_STAT): checkHeader waits for it while that
// process runs, up to lockTimeout; creator 0 means do not wait.
func checkHeader(mem []byte, k *kindSpec, fid fileID, creator int) error {
	if len(mem) < headerSize {
		return fmt.Errorf("%w: %d bytes", ErrForeignSegment, len(mem))
	}
	h := (*header)(unsafe.Pointer(&mem[0]))
	for deadline := time.Now().Add(lockTimeout); h.Magic.Load() == 0 && creator > 0 && time.Now().Before(deadline); {
		if _, zombie, exists := procStat(creator); !exists || zombie {
			break
		}
		time.Sleep(time.Millisecond)
	}
	switch m := h.Magic.Load(); {
	case m == 0:
		return fmt.Errorf("%w: header never initialised", ErrCorruptSegment)
	case m != magicValue:
		return fmt.Errorf("%w: not an ftpdtls shmcache segment (magic %#016x)", ErrForeignSegment, m)
	}
	if h.Kind != k.kind {
		return fmt.Errorf("%w: segment is of kind %d, not a %s cache", ErrForeignSegment, h.Kind, k.what)
	}
	if h.Dev != fid.dev || h.Ino != fid.ino {
		return fmt.Errorf("%w: it belongs to the cache file with device %d inode %d, not device %d inode %d (SysV key collision)",
			ErrForeignSegment, h.Dev, h.Ino, fid.dev, fid.ino)
	}
	// The segment is this file's ftpdtls cache (the fields read so far
	// never move, see header). Its write-once fields must check out
	// before its version means anything: a damaged version is damage, a
	// sound other version an old (or newer) cache.
	if !headerSumOK(mem) {
		return fmt.Errorf("%w: header checksum mismatch", ErrCorruptSegment)
	}
	if h.Version != layoutVer {
		return fmt.Errorf("%w: it was made by a release of ftpdtls with segment layout %d; this one reads layout %d, and nothing is migrated",
			ErrLayoutVersion, h.Version, layoutVer)
	}
	return checkGeometry(h, uint64(len(mem)))
}

// headerSumOK checks the checksum of a header's write-once fields where
// the header's version keeps it: bytes 124..128 over 8..124 from layout 2
// on, bytes 100..104 over 8..100 in layout 1.
func headerSumOK(mem []byte) bool {
	h := (*header)(unsafe.Pointer(&mem[0]))
	if h.Version == 1 {
		return binary.NativeEndian.Uint32(mem[100:]) == crc32.Checksum(mem[8:100], castagnoli)
	}
	return h.GeomSum == geomSum(h)
}

// checkGeometry checks the geometry a header records against bounds and
// invariants, never against what this program would choose (see header):
// the regions lie inside the segment in order, aligned for their fields,
// without overlapping; the log holds one record of the recorded largest
// key and value; record offsets fit a slot. A segment made with other
// tuning (another bucket ratio, typical size or stripe count) passes.
func checkGeometry(h *header, size uint64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: geometry does not fit a %d-byte segment: %s", ErrCorruptSegment, size, fmt.Sprintf(format, args...))
	}
	g := geometryOf(h)
	switch {
	case g.segSize != size:
		return bad("it records %d bytes", g.segSize)
	case h.Ways != bucketWays:
		return bad("%d slots per bucket", h.Ways)
	case g.maxKey == 0 || g.maxKey > 255 || g.maxData == 0 || uint64(g.maxData) > size:
		return bad("longest key %d, longest value %d", g.maxKey, g.maxData)
	case g.stripes == 0 || g.stripes > maxStripes:
		return bad("%d counter stripes", g.stripes)
	case g.stripeOff < headerSize || g.stripeOff%8 != 0 || g.stripeOff > size ||
		size-g.stripeOff < uint64(g.stripes)*stripeSize:
		return bad("stripes at %d", g.stripeOff)
	case g.indexOff < g.stripeOff+uint64(g.stripes)*stripeSize || g.indexOff%8 != 0 || g.indexOff > size:
		return bad("index at %d", g.indexOff)
	case g.buckets == 0 || (size-g.indexOff)/bucketSize < uint64(g.buckets):
		return bad("%d buckets at %d", g.buckets, g.indexOff)
	case g.dataOff < g.indexOff+uint64(g.buckets)*bucketSize || g.dataOff%8 != 0 || g.dataOff > size:
		return bad("data log at %d", g.dataOff)
	case g.dataSize%8 != 0 || g.dataSize > size-g.dataOff || g.dataSize > maxSegment:
		return bad("%d data bytes at %d", g.dataSize, g.dataOff)
	case g.dataSize < g.maxRecord():
		return bad("%d data bytes cannot hold a record of %d", g.dataSize, g.maxRecord())
	case g.typical < recHdrSize || g.typical > g.dataSize:
		return bad("typical record of %d bytes", g.typical)
	}
	return nil
}

// removeHint tells how to remove a segment that is in the way, and, when
// processes are attached to it, to stop the server first: a cache in use
// is never to be removed under a running server.
func removeHint(k *kindSpec, id int, nattch uint64) string {
	how := fmt.Sprintf("remove it using 'ftpdtls %s remove' with the server's configuration file (-c FILE), or 'ipcrm -m %d'", k.ctlName, id)
	if nattch > 0 {
		return fmt.Sprintf("stop the server using it (%s), then %s", attached(nattch), how)
	}
	return how
}

// attached says how many processes are attached to a segment.
func attached(n uint64) string {
	if n == 1 {
		return "1 process is attached to it"
	}
	return fmt.Sprintf("%d processes are attached to it", n)
}

// RemoveSessionCache removes the session cache segment and file that
// info ("/file=PATH[&size=N]") names, whatever the segment's size or
// layout version: what `ftpdtls sesscache remove` does when the cache
// cannot be opened (for example after a size change). It acts only on a
// segment it can prove is that file's ftpdtls session cache (magic, kind,
// device and inode in its header, owner); another is left alone and
// reported. When there is no such segment (or no file) it removes nothing
// and returns an error matching ErrNoSegment (and modtls.ErrNoStorage).
// The file is unlinked only when no other cache segment (the OCSP cache,
// ProFTPD's) is keyed on it.
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
			return fmt.Errorf("%w for '%s' (no cache file); nothing removed", ErrNoSegment, ci.path)
		}
		return &OpenError{Path: ci.path, Err: sysErrorf(err, "unable to open file '%s'", ci.path)}
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return &OpenError{Path: ci.path, Err: sysErrorf(err, "unable to stat file '%s'", ci.path)}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &OpenError{Path: ci.path, Err: fmt.Errorf("%w: not a regular file", ErrInsecureSegment)}
	}
	fid := fileID{uint64(st.Dev), st.Ino}
	key := ftok(fid, k.proj)
	id, err := unix.SysvShmGet(key, 0, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w for '%s' (key %#08x); nothing removed", ErrNoSegment, ci.path, uint32(key))
	case err != nil:
		return &OpenError{Path: ci.path, Err: sysErrorf(err, "unable to get shm for existing key %#08x", uint32(key))}
	}
	if err := removeSegment(id, k, fid); err != nil {
		return &OpenError{Path: ci.path, Err: err}
	}
	if err := unlinkUnlessShared(ci.path, fid, k); err != nil {
		return &OpenError{Path: ci.path, Err: sysErrorf(err, "unable to remove file '%s'", ci.path)}
	}
	return nil
}

// removeSegment marks segment id for removal after checking that it is
// the ftpdtls cache of kind k made for the file fid, of any layout
// version (it reads only the fields that never move), private to one
// user as checkOwner (for the controls) wants.
func removeSegment(id int, k *kindSpec, fid fileID) error {
	d, err := shmStat(id)
	if err != nil {
		return sysErrorf(err, "unable to stat shm ID %d", id)
	}
	if err := checkOwner(id, d, true); err != nil {
		return fmt.Errorf("%w; not removed: %s", err, ownerHint(k, id, d, err, true))
	}
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return sysErrorf(err, "unable to attach to shm ID %d", id)
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
	return sysErrorf(err, "unable to remove shm ID %d", id)
}

// Project ids that key segments on a cache file: ftpdtls's two and
// ProFTPD's (247 sessions, 249 OCSP responses).
var fileProjects = []byte{sessionKind.proj, ocspKind.proj, 247, 249}

// unlinkUnlessShared removes the cache file path, if it still is the
// file fid, unless a segment other than k's is keyed on it: the other
// cache on the same file (B26), or ProFTPD's, would be cut off from its
// file, and a new file would give it another key.
func unlinkUnlessShared(path string, fid fileID, k *kindSpec) error {
	for _, proj := range fileProjects {
		if proj == k.proj {
			continue
		}
		if _, err := unix.SysvShmGet(ftok(fid, proj), 0, 0); err == nil {
			return nil
		}
	}
	return unlinkIfSame(path, fid)
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
func describeSize(k *kindSpec, id int, path string, have, want, nattch uint64) string {
	return fmt.Sprintf("existing shm ID %d for file '%s' is %d bytes, not the requested %d bytes; nothing is migrated and the cache is not used: to use the new size, %s",
		id, path, have, want, removeHint(k, id, nattch))
}
