package modtlsshm

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// statusTime is ProFTPD's pr_strtime3 layout (day zero-padded).
const statusTime = "Mon Jan 02 15:04:05 2006"

// Stats are the counters kept in a segment, shared by every process
// using it, plus the segment's geometry and fill: what the status shows.
// The modtls.Stats of a cache (its Stats method) are a summary of these.
type Stats struct {
	Hits, Misses             uint64
	Stored, Deleted, Expired uint64
	Errors                   uint64 // damaged entries found
	Exceeded                 uint64 // entries too large for the segment
	ExceededMax              uint64 // largest of those, bytes
	Evicted                  uint64 // valid entries dropped to make room
	Replaced                 uint64 // entries replaced by an add of the same key
	LockRecoveries           uint64 // locks taken over from a dead holder
	LockTimeouts             uint64
	Capacity                 uint64 // typical entries the segment holds
	Current                  uint64 // entries in the segment now
	IndexSlots               uint64
	DataBytes, UsedBytes     uint64
	CounterStripes           uint64
	Created                  time.Time
	Oversize                 int // entries in this process's oversize list
}

// segmentStats reads the counters and the fill without the write lock
// (unless writes keep overlapping the read of the fill).
func (c *cache) segmentStats() (Stats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.t == nil {
		return Stats{}, ErrClosed
	}
	f, err := c.t.readFill()
	if err != nil {
		return Stats{}, err
	}
	return c.statsOf(c.t.readCounters(), f), nil
}

// statsOf assembles the Stats; the caller holds c.mu.
func (c *cache) statsOf(n counters, f fill) Stats {
	s := &n.stats
	return Stats{
		Hits: n.hits, Misses: n.misses,
		Stored: s[statStored], Deleted: s[statDeleted], Expired: s[statExpired],
		Errors: s[statErrors], Exceeded: s[statExceeded], ExceededMax: s[statExceededMax],
		Evicted: s[statEvicted], Replaced: s[statReplaced],
		LockRecoveries: s[statRecovered], LockTimeouts: s[statLockTimeouts],
		Capacity: c.t.g.capacity(), Current: f.live,
		IndexSlots:     uint64(c.t.g.buckets) * bucketWays,
		DataBytes:      c.t.g.dataSize,
		UsedBytes:      f.usedBytes,
		CounterStripes: uint64(c.t.g.stripes),
		Created:        time.Unix(c.t.h.Created, 0),
		Oversize:       c.large.len(),
	}
}

// stats is the modtls.Stats summary of segmentStats.
func (c *cache) stats() (modtls.Stats, error) {
	st, err := c.segmentStats()
	if err != nil {
		return modtls.Stats{}, err
	}
	return modtls.Stats{
		Hits: st.Hits, Misses: st.Misses,
		Stored: st.Stored, Deleted: st.Deleted, Expired: st.Expired, Evicted: st.Evicted,
		Errors:   addSaturating(st.Errors, st.LockTimeouts),
		TooLarge: st.Exceeded,
		Entries:  st.Current,
		Capacity: st.Capacity,
	}, nil
}

// status writes the status text: ProFTPD's lines first, exactly as
// mod_tls_shmcache prints them, then ours.
func (c *cache) status(out io.Writer, verbose bool) error {
	c.ch.Msg(9, "checking shmcache %s %p", c.cacheWord(), c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.t == nil {
		return ErrClosed
	}
	if err := c.t.beginWrite(); err != nil {
		c.debug("error read-locking shmcache: %v", err)
		return err
	}
	st := c.statsOf(c.t.readCounters(), fill{live: c.t.h.Live, usedBytes: c.t.h.Tail - c.t.h.Head})
	c.t.endWrite()
	var list []entry
	if verbose {
		var err error
		if list, err = c.t.entries(); err != nil {
			c.debug("error read-locking shmcache: %v", err)
			return err
		}
	}

	w := bufio.NewWriter(out)
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	noun, nouns, Nouns := "session", "sessions", "Sessions"
	if c.k.kind != kindSession {
		noun, nouns, Nouns = "response", "responses", "Responses"
	}
	p("%s", statusTitle(c.k))
	p("")
	if d, err := shmStat(c.shmid); err != nil {
		p("Unable to stat shared memory segment ID %d: %s", c.shmid, strerror(err))
	} else {
		p("Shared memory segment ID: %d", c.shmid)
		p("Shared memory segment size: %d bytes", d.Segsz)
		p("Shared memory cache created on: %s", st.Created.Local().Format(statusTime))
		p("Shared memory attach count: %d", d.Nattch)
	}
	p("")
	p("Max %s cache size: %d", noun, st.Capacity)
	p("Current %s cache size: %d", noun, st.Current)
	p("")
	p("Cache lifetime hits: %d", st.Hits)
	p("Cache lifetime misses: %d", st.Misses)
	p("")
	p("Cache lifetime %s stored: %d", nouns, st.Stored)
	p("Cache lifetime %s deleted: %d", nouns, st.Deleted)
	p("Cache lifetime %s expired: %d", nouns, st.Expired)
	p("")
	p("Cache lifetime errors handling %s in cache: %d", nouns, st.Errors)
	p("Cache lifetime %s exceeding max entry size: %d", nouns, st.Exceeded)
	if st.Exceeded > 0 {
		p("  Largest %s exceeding max entry size: %d", noun, st.ExceededMax)
	}
	if verbose {
		p("")
		p("Cached sessions:")
		if len(list) == 0 {
			p("  (none)")
		}
		for _, e := range list {
			c.writeSession(w, e)
		}
		for _, e := range list {
			clear(e.val)
		}
	}
	// Ours, after ProFTPD's lines.
	p("")
	p("Cache lifetime %s replaced: %d", nouns, st.Replaced)
	p("Cache lifetime %s evicted to make room: %d", nouns, st.Evicted)
	p("Cache lifetime lock recoveries from dead processes: %d", st.LockRecoveries)
	p("Cache lifetime lock timeouts: %d", st.LockTimeouts)
	p("%s in this process's oversize list: %d", Nouns, st.Oversize)
	p("Shared memory layout: ftpdtls version %d, %d index slots, %d data bytes (%d in use), %d counter stripes",
		layoutVer, st.IndexSlots, st.DataBytes, st.UsedBytes, st.CounterStripes)
	return w.Flush()
}

// writeSession writes ProFTPD's block for one session, with a line of
// ours giving the first 4 bytes of the id (never the state).
func (c *cache) writeSession(w io.Writer, e entry) {
	info, err := modtls.DescribeSession(e.val)
	if err != nil {
		c.notice("error retrieving session from session cache: %v", err)
		return
	}
	expires := time.Unix(e.when, 0)
	secs := int64(c.timeout / time.Second)
	if secs <= 0 {
		secs = int64(expires.Sub(info.Created) / time.Second)
	}
	prefix := e.key[:min(4, len(e.key))]
	fmt.Fprintf(w, "  -----BEGIN SSL SESSION PARAMETERS-----\n")
	fmt.Fprintf(w, "    Protocol: %s\n", info.VersionName)
	fmt.Fprintf(w, "    Started: %s\n", info.Created.Local().Format(statusTime))
	fmt.Fprintf(w, "    Expires: %s (%d secs)\n", expires.Local().Format(statusTime), secs)
	fmt.Fprintf(w, "    Session ID prefix: %s\n", hex.EncodeToString(prefix))
	fmt.Fprintf(w, "  -----END SSL SESSION PARAMETERS-----\n")
	fmt.Fprintf(w, "\n")
}

// checkInfo reports, without creating anything, what opening info would
// get wrong: ProFTPD's texts for a bad prefix, a relative path and an
// ignored size, and ours for a file that cannot be used and a segment
// that would be refused. The texts have no module prefix.
func checkInfo(info string, k *kindSpec) []string {
	problems := checkInfoProblems(info, k)
	// InfoChecker lines read as ProFTPD's server log prints them, with the
	// module's prefix, so that `ftpdtls check` shows what `proftpd -t` shows.
	for i, p := range problems {
		problems[i] = ModuleVersion + ": " + p
	}
	return problems
}

// checkInfoProblems lists the problems of info, without the module prefix.
func checkInfoProblems(info string, k *kindSpec) []string {
	ci, err := parseInfo(info, k)
	out := append([]string(nil), ci.notes...)
	if err != nil {
		return append(out, err.Error())
	}
	if ci.size > maxSegment {
		out = append(out, fmt.Sprintf("not enough memory for %d shm bytes; try specifying a smaller size", ci.size))
	}
	var st unix.Stat_t
	switch err := unix.Lstat(ci.path, &st); {
	case errors.Is(err, unix.ENOENT):
		// The file will be created if its directory exists.
		var dst unix.Stat_t
		dir := ci.path[:max(1, lastSlash(ci.path))]
		if err := unix.Stat(dir, &dst); err != nil {
			return append(out, fmt.Sprintf("error: unable to open file '%s': %s", ci.path, strerror(err)))
		}
		if dst.Mode&unix.S_IFMT != unix.S_IFDIR {
			return append(out, fmt.Sprintf("error: unable to open file '%s': %s", ci.path, strerror(unix.ENOTDIR)))
		}
		return out
	case err != nil:
		return append(out, fmt.Sprintf("error: unable to open file '%s': %s", ci.path, strerror(err)))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return append(out, fmt.Sprintf("error: unable to open file '%s': %s", ci.path, strerror(unix.EISDIR)))
	case unix.S_IFLNK:
		return append(out, fmt.Sprintf("error: unable to open file '%s': %s (symbolic links are refused)", ci.path, strerror(unix.ELOOP)))
	default:
		return append(out, fmt.Sprintf("error: unable to use file '%s': not a regular file", ci.path))
	}
	fid := fileID{uint64(st.Dev), st.Ino}
	key := ftok(fid, k.proj)
	id, err := unix.SysvShmGet(key, 0, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			out = append(out, fmt.Sprintf("unable to get shm for existing key %#08x: %s", uint32(key), strerror(err)))
		}
		return out
	}
	d, err := shmStat(id)
	if err != nil {
		return append(out, fmt.Sprintf("unable to stat shm ID %d: %s", id, strerror(err)))
	}
	if err := checkOwner(id, d, false); err != nil {
		return append(out, fmt.Sprintf("existing shm ID %d for file '%s' would be refused: %v; %s", id, ci.path, err, ownerHint(k, id, d, err, false)))
	}
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return append(out, fmt.Sprintf("unable to attach to shm ID %d: %s", id, strerror(err)))
	}
	defer unix.SysvShmDetach(mem)
	if err := checkHeaderNow(mem, k, fid); err != nil {
		hint := removeHint(k, id, d.Nattch)
		if errors.Is(err, ErrForeignSegment) || errors.Is(err, ErrCorruptSegment) && len(mem) >= headerSize && (*header)(unsafe.Pointer(&mem[0])).Magic.Load() != magicValue {
			hint = foreignHint(id)
		}
		return append(out, fmt.Sprintf("existing shm ID %d (key %#08x) for file '%s' would be refused: %v; %s", id, uint32(key), ci.path, err, hint))
	}
	if want := roundSize(ci.size); d.Segsz != want && ci.size <= maxSegment {
		out = append(out, describeSize(k, id, ci.path, d.Segsz, want, d.Nattch))
	}
	return out
}

// checkHeaderNow is checkHeader without waiting for a creator.
func checkHeaderNow(mem []byte, k *kindSpec, fid fileID) error {
	if len(mem) >= headerSize && (*header)(unsafe.Pointer(&mem[0])).Magic.Load() == 0 {
		return fmt.Errorf("%w: header never initialised", ErrCorruptSegment)
	}
	return checkHeader(mem, k, fid, 0)
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return 0
}

// statusTitle is the first line of a status: ProFTPD's words.
func statusTitle(k *kindSpec) string {
	if k.kind == kindSession {
		return "Shared memory (shm) SSL session cache provided by " + ModuleVersion
	}
	return "Shared memory (shm) OCSP response cache provided by " + ModuleVersion
}

// statusInfo writes the status of the existing cache info names, without
// creating anything: when there is no segment (or no cache file) it
// writes the title and a line saying so, and returns nil.
func statusInfo(p *provider, info string, timeout time.Duration, env modtls.Env, w io.Writer, verbose bool) error {
	c, err := openMode(p, info, timeout, env, true)
	if errors.Is(err, ErrNoSegment) {
		ci, _ := parseInfo(info, p.k)
		_, werr := fmt.Fprintf(w, "%s\n\nNo shared memory segment exists for '%s' (not created yet, or removed); the server creates it when it opens the cache\n",
			statusTitle(p.k), ci.path)
		return werr
	}
	if err != nil {
		return err
	}
	defer c.close()
	return c.status(w, verbose)
}
