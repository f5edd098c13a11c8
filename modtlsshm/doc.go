// Package modtlsshm is ProFTPD's mod_tls_shmcache for ftpdtls: the "shm"
// TLS session cache and OCSP response cache, kept in a System V shared
// memory segment that every server process attaches, so that a session
// made by one process can be resumed by another and survives restarts.
// It is pure Go (golang.org/x/sys/unix, no cgo).
//
// Importing the package is the Go spelling of "LoadModule
// mod_tls_shmcache.c": its init registers the "shm" providers with
// modtls (modtls.RegisterSessionCache, modtls.RegisterOCSPCache) and the
// module, which has no directives, with the configuration parser:
//
//	import _ "github.com/ftpdtls/ftpdtls/modtlsshm"
//
//	TLSSessionCache  shm:/file=/var/ftpd/sess_cache&size=1574912 1800
//	TLSStaplingCache shm:/file=/var/ftpd/ocsp_cache
//
// # Info string
//
// The text after "shm:" is parsed as ProFTPD parses it: "/file=" then an
// absolute path up to the first '&', then optionally "size=" and a
// decimal byte count. A malformed size, a negative one, or one below
// ProFTPD's minimum (10,344 bytes for sessions, 4,224 for OCSP responses:
// room for one entry of the largest size) is ignored with ProFTPD's level-1
// trace line and the default, 1,574,912 bytes, is used. The segment size
// is the request rounded up to a multiple of 4096. The file is created if
// missing (mode 0600, never through a symbolic link, never a directory);
// it only names the segment: the SysV key is ftok(file, 'F') for sessions
// and ftok(file, 'O') for OCSP responses (ProFTPD uses 247 and 249, so
// the two programs never share a segment, even on one file).
//
// # Layout
//
// A segment is a 512-byte header, an index of 16-byte slots in buckets of
// 8, and a circular log of variable-length records (32-byte record header,
// key, value). The header records a magic, a layout version, the kind,
// the geometry (with a checksum), the device and inode of the cache file,
// the write-lock word, a write sequence number and the counters; see the
// header, slot and record types in layout.go, where every field is
// described. Nothing in the segment is a pointer, and every offset and
// length read from it is bounds-checked; a record whose CRC-32C does not
// match is a miss and an error count, never a value.
//
// A key hashes (all its bytes, with a per-segment seed) to two buckets;
// lookups read at most those 16 slots, whatever the size or fill. New
// records go at the tail of the log and room is made at its head, where
// the oldest records are: deleted and expired records there are dropped
// on every add, valid ones only when room is needed (counted as evicted;
// sessions share one timeout, so the oldest are also the first to
// expire). A full bucket pair gives up the entry that expires (or was
// cached) first. A new entry is never lost. With typical TLS 1.3 sessions
// (57-byte states, 32-byte ids, a 128-byte record plus 1.25 slots) the
// default segment holds about 10,650 sessions, some 6,900 per MiB
// (ProFTPD: 153 in all); "Max session cache size" in the status and the
// count in the "using shm ID" trace line are that estimate: the smaller of
// the index slots and the log size divided by a typical record. Sessions
// up to 10 KiB and OCSP responses up to 4 KiB always fit, even in the
// smallest segment; larger ones are counted as exceeding the maximum
// entry size and kept in a small per-process LRU list instead.
//
// # Locking
//
// Writers take a lock word in the header with a compare-and-swap (it
// excludes goroutines and processes alike, about 15 ns per pair against
// 800-1200 ns for flock or an fcntl lock, see BenchmarkLockOptions);
// readers take no lock and retry if the write sequence moved. A process
// killed while holding the lock is detected through /proc (the lock word
// holds its pid and start time) after 50 ms and the lock taken over; the
// index is then checked against the log: slots that do not point at a
// sound record are dropped, and so is any record the index does not
// reference (a half-written one, or one whose writer died before indexing
// it): a lost entry is a miss, never an older value coming back. All
// processes sharing a cache must see one another's pids (one PID
// namespace).
//
// # Security
//
// The segment is created with mode 0600 and an existing one is refused
// unless this process's effective user both owns and created it and its
// mode is 0600 (the kernel keeps granting the creator access after a
// change of owner).
// A segment that is not an ftpdtls cache of the right kind, or was made
// for another file whose key collides (ftok keeps 16 bits of the inode),
// or whose header is damaged, is refused with a message saying how to
// remove it. Deleted, expired, evicted and cleared entries are zeroed in
// the segment. Traces never show session ids or states; the verbose
// status shows the first 4 bytes of each id.
//
// # Clearing and removing
//
// Sessions survive restarts: the segment outlives the processes. To drop
// them, use `ftpdtls sesscache clear` (SessionCache.Clear: every entry is
// removed and zeroed, the counters stay). To destroy the cache, stop the
// server and use `ftpdtls sesscache remove` (SessionCache.Remove; when
// the cache cannot be opened, for instance after a size change, the
// provider's RemoveInfo, which is RemoveSessionCache): the segment is
// removed (IPC_RMID) and the file unlinked. A segment that is not this
// file's ftpdtls cache (another program's, or one whose header has no
// ftpdtls magic) is never removed: the error says to look at it with
// `ipcs -m -i ID` and, if it is stale, remove it with `ipcrm -m ID`.
// `ipcrm -m ID` also works for the cache itself; the ID is in the status
// output. The OCSP cache has the same commands under "ocspcache".
//
// Looking does not create: OpenExisting (on both providers) opens a
// cache only if its file and segment exist, else fails with an error
// matching ErrNoSegment, creating nothing; StatusInfo writes the status
// of an existing cache, or for a missing one the title line and "No
// shared memory segment exists for 'PATH' (not created yet, or removed);
// ...". `ftpdtls sesscache info` uses StatusInfo, and `clear` uses
// OpenExisting (a missing cache clears 0). Together with RemoveInfo they
// are optional methods beside modtls's provider interfaces:
//
//	(*SessionProvider).OpenExisting(info, timeout, env) (modtls.SessionCache, error)
//	(*SessionProvider).StatusInfo(info, timeout, env, w, verbose) error
//	(*SessionProvider).RemoveInfo(info) error
//	(*OCSPProvider).OpenExisting(info, env) (modtls.OCSPCache, error)
//	(*OCSPProvider).StatusInfo(info, env, w, verbose) error
//	(*OCSPProvider).RemoveInfo(info) error
//
// # Divergences from ProFTPD 1.3.8 (spec §1.16)
//
//   - B1: the hash covers every byte of the key (and a per-segment seed),
//     not only the first.
//   - B2: a lookup reads exactly the 16 slots of the key's two buckets;
//     there is no wrap-around arithmetic and no slot outside the index.
//   - B3, B4, B5: entries too large for the segment go to a working
//     per-process LRU list (64 entries, 4 MiB), which honours expiry and
//     keeps each entry's own copy.
//   - B6: there is no next-expiry hint to go stale: expired records at the
//     head of the log are dropped on every add, and an expired session
//     found by a lookup is dropped.
//   - B7: every write takes and releases the lock in one function (defer).
//   - B8: a contended lock is waited for (bounded, 10 s), never failed
//     at once; goroutines are excluded as well as processes.
//   - B9: attach errors are Go errors, checked.
//   - B10: the segment size is checked before attaching; a refused
//     segment is never left attached; the message says nothing migrates
//     and how to remove the old segment.
//   - B11, B12: a delete touches only live entries; the live count is kept
//     under the lock, recomputed from the index and log if it is ever
//     found wrong, and checked against the log in tests. Counters are 64
//     bits and stop at their maximum instead of wrapping.
//   - B13: an add replaces an entry with the same key.
//   - B14: a full OCSP cache drops its oldest responses.
//   - B15: deleting an OCSP response cached over an hour ago counts as
//     expired, a younger one as deleted.
//   - B16: keys are limited (32 bytes for session ids, 128 for OCSP
//     fingerprints) and longer ones refused with ErrKeyLength.
//   - B17, B18: no manual memory management; Close and Remove scrub and
//     release in order.
//   - B19: nothing to unload; Remove destroys the segment and the file.
//   - B20, B21: a closed or removed handle answers every call with
//     ErrClosed.
//   - B22: each Open attaches once and Close detaches; open files and
//     attachments do not accumulate.
//   - B23: the info string is never modified.
//   - B24: the layout is pointer-free, versioned, with a magic, and
//     described field by field; a different layout is refused.
//   - B25: a negative size is a malformed size; sizes over 32 GiB are
//     refused with "not enough memory".
//   - B26: the session and OCSP caches on one file have separate keys and
//     separate lock words; closing one does not unlock the other.
//   - B27: expired sessions are reclaimed continuously; get takes no
//     lock; clear zeroes ids and states; the file descriptor is
//     close-on-exec.
//
// Other differences: system errors in messages read as C's strerror
// ("Is a directory"); the package's own errors keep their Go spelling.
// The "migrating to larger/smaller shm" notices are
// replaced by one that says what happens; the remove hints name
// `ftpdtls sesscache remove` / `ftpdtls ocspcache remove`; the lock
// traces (level 19) name the shm ID instead of a file descriptor; the
// segment is not mlock'ed. Open errors match syscall.EINVAL, the errno
// ProFTPD reports, and wrap the cause (ErrSizeMismatch,
// ErrForeignSegment, ErrInsecureSegment, ErrCorruptSegment, ErrBadInfo,
// ErrFileMismatch). ProFTPD's NOTICE lines go to Env.Log at Warn level,
// its DEBUG lines at Debug level, and "shmcache: " lines to Env.TLSLog
// at Info level.
package modtlsshm
