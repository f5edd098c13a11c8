// Package modtlsshm is a TLS session cache and OCSP response cache in
// System V shared memory, for servers made of several processes: a
// session made by one process is resumed by another, and survives
// restarts of all of them. It is ProFTPD's mod_tls_shmcache for ftpdtls
// (the "shm" TLSSessionCache and TLSStaplingCache types), in pure Go
// (golang.org/x/sys/unix, no cgo), with the defects of ProFTPD 1.3.8's
// module fixed.
//
// From a proftpd.conf, importing the package is the Go spelling of
// "LoadModule mod_tls_shmcache.c": its init registers the "shm" providers
// with modtls and the module (which has no directives) with the
// configuration parser:
//
//	import _ "github.com/ftpdtls/ftpdtls/modtlsshm"
//
//	TLSSessionCache  shm:/file=/var/ftpd/sess_cache&size=1574912 1800
//	TLSStaplingCache shm:/file=/var/ftpd/ocsp_cache
//
// From Go, open a cache with typed Options (no info string, no
// registry):
//
//	cache, err := modtlsshm.OpenSessionCache(modtlsshm.Options{File: "/var/ftpd/sess_cache", Size: 4 << 20}, 30*time.Minute)
//	if err != nil { ... } // strict: an error means no cache
//	defer cache.Close()   // the sessions stay for the next process
//	cfg, err := modtls.Resumable(myTLSConfig, cache, 30*time.Minute)
//
// OpenOCSPCache is its counterpart for TLSStaplingCache. The caches
// implement modtls.SessionCache (modtls.OCSPCache) and
// modtls.StatsReporter. The "shm" types of the registry read their info
// string into the same Options and call the same functions.
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
// A segment is a 512-byte header, counter stripes (128 bytes each, one
// per process, see below), an index of 16-byte slots in buckets of 8, and
// a circular log of variable-length records (32-byte record header, key,
// value). The header records a magic, a layout version, the kind, the
// geometry (with a checksum), the device and inode of the cache file, the
// write-lock word, a write sequence number and the counters; see the
// header, stripe, slot and record types in layout.go, where every field
// is described, and where the header type says which changes of the
// format need a new layout version. Readers take the geometry from the
// header and check it for bounds and invariants, never against their own
// tuning, so a segment made by another release of the same layout is
// used as it is; one of another layout is refused (ErrLayoutVersion) with
// the command that removes it. Nothing in the segment is a pointer, and
// every offset and length read from it is bounds-checked; a record whose
// CRC-32C does not match is a miss and an error count, never a value.
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
// default segment holds about 10,600 sessions (9,785 before the first
// eviction, some 6,500 per MiB; ProFTPD: 153 in all); "Max session cache
// size" in the status and the count in the "using shm ID" trace line are
// that estimate: the smaller of the index slots and the log size divided
// by a typical record. Sessions up to 10 KiB and OCSP responses up to
// 4 KiB always fit, even in the smallest segment; larger ones are counted
// as exceeding the maximum entry size and kept in a small per-process LRU
// list instead.
//
// # Locking and counting
//
// Writers take a lock word in the header with a compare-and-swap (it
// excludes goroutines and processes alike, about 15 ns per pair against
// 800-1200 ns for flock or an fcntl lock, see BenchmarkLockOptions).
// Lookups take no lock: they check the write sequence before and after
// reading, and the checksum of the copy they return (the argument is
// written at the table type). A process killed while holding the lock is
// detected (the lock word holds its pid and start time; /proc, or
// kill(pid, 0) where /proc hides the process, says whether it still runs)
// after 50 ms and the lock taken over; the index is then checked against
// the log: slots that do not point at a sound record are dropped, and so
// is any record the index does not reference (a half-written one, or one
// whose writer died before indexing it): a lost entry is a miss, never an
// older value coming back. All processes sharing a cache must see one
// another's pids (one PID namespace). The lock traces name the lock
// "shmcache fd N", as ProFTPD's do, N being the descriptor of the cache
// file this process keeps open for the cache.
//
// Each lookup counts a hit or a miss in the stripe of its process (pid mod
// the number of stripes), so that processes doing lookups do not take one
// cache line from each other; the status and Stats add the stripes up.
// Writers count in the header, under the lock. Counters stop at their
// maximum instead of wrapping.
//
// # Security
//
// A segment is created with mode 0600 by the process's effective user. A
// server uses an existing segment only if that user both owns and created
// it and its mode is 0600 (the kernel keeps granting the creator access
// after a change of owner): a segment another user can write could hold
// sessions that user planted. Under privilege separation workers open the
// caches as root, before they drop to User, so the segments belong to
// root and stay usable after the drop. The cache controls run as root may
// also look at, clear and remove a segment private to another user (the
// cache of a server running as that user); that is not reported as a
// problem. A segment that is not an ftpdtls cache of the right kind, or
// was made for another file whose key collides (ftok keeps 16 bits of the
// inode), or whose header is damaged, is refused with a message saying
// what to do; no message advises to remove a segment that processes are
// attached to without saying to stop them first. Deleted, expired,
// evicted and cleared entries are zeroed in the segment. Traces never
// show session ids or states; the verbose status shows the first 4 bytes
// of each id.
//
// # Clearing and removing
//
// Sessions survive restarts: the segment outlives the processes. To drop
// them, use `ftpdtls sesscache clear` (SessionCache.Clear: every entry is
// removed and zeroed, the counters stay). To destroy the cache, stop the
// server and use `ftpdtls sesscache remove` (SessionCache.Remove; when
// the cache cannot be opened, for instance after a size change or an
// upgrade to another layout, the provider's RemoveInfo, which is
// RemoveSessionCache): the segment is removed (IPC_RMID) and the file
// unlinked, unless another cache segment is keyed on it. RemoveInfo acts
// only on a segment it can prove is the configured cache (magic, kind,
// device and inode in its header, owner); another program's segment is
// never removed: the error says to look at it with `ipcs -m -i ID` and,
// if it is stale, remove it with `ipcrm -m ID`. When no ftpdtls segment
// exists, it removes nothing and returns an error matching ErrNoSegment
// (and modtls.ErrNoStorage). `ipcrm -m ID` also works for the cache
// itself; the ID is in the status output. The OCSP cache has the same
// commands under "ocspcache".
//
// Looking does not create: OpenExisting (on both providers) opens a
// cache only if its file and segment exist, else fails with an error
// matching ErrNoSegment, creating nothing; StatusInfo writes the status
// of an existing cache, or for a missing one the title line and "No
// shared memory segment exists for 'PATH' (not created yet, or removed);
// ...". `ftpdtls sesscache info` uses StatusInfo, and `clear` uses
// OpenExisting (a missing cache clears 0). Together with RemoveInfo they
// are modtls's optional provider interfaces (modtls/provider.go).
//
// # Divergences from ProFTPD 1.3.8
//
// docs/DIVERGENCES.md lists the mod_tls_shmcache defects ftpdtls fixes,
// B1 to B27, with the test that proves each; the code and the tests cite
// those ids. In short: the hash covers the whole key (B1); lookups read
// exactly two buckets (B2); oversize entries go to a working per-process
// list (B3-B5); expired entries are reclaimed continuously (B6, B27); the
// lock is released by every write (B7), waited for, and excludes
// goroutines as well as processes (B8); attach errors and size mismatches
// are checked and leak nothing (B9, B10); deletes and counts are exact
// (B11, B12); an add replaces the entry with its key (B13); a full OCSP
// cache drops its oldest responses (B14), and counts deletes the right
// way round (B15); key lengths are checked (B16); no manual memory
// management, closed and removed handles answer ErrClosed (B17-B22); the
// info string is never modified (B23); the layout is pointer-free and
// versioned (B24); a negative size is malformed (B25); the two caches on
// one file have separate keys and locks (B26).
//
// Other differences: system errors in messages and in the errors of Open
// read as C's strerror ("unable to open file '/x': No such file or
// directory"), so that mod_tls's "error opening 'shm' TLSSessionCache:"
// notice gives the real reason where ProFTPD says "Invalid argument";
// the package's own errors keep their Go spelling.
// The "migrating to larger/smaller shm" notices are replaced by one that
// says what happens; the remove hints name `ftpdtls sesscache remove` /
// `ftpdtls ocspcache remove`; status takes the write lock where ProFTPD
// takes a read lock, so its traces say "write-lock"; the segment is not
// mlock'ed. Open errors match syscall.EINVAL, the errno ProFTPD reports,
// and wrap the cause (ErrSizeMismatch, ErrForeignSegment,
// ErrLayoutVersion, ErrInsecureSegment, ErrOtherOwner, ErrCorruptSegment,
// ErrBadInfo, ErrFileMismatch). ProFTPD's NOTICE lines go to Env.Log at
// Warn level, its DEBUG lines at Debug level, and "shmcache: " lines to
// Env.TLSLog at Info level.
package modtlsshm
