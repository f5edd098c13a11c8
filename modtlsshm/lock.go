package modtlsshm

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The write lock is the header's Lock word, taken with a compare-and-swap
// in shared memory. It excludes goroutines of one process as well as
// processes (a POSIX fcntl lock excludes neither goroutines nor, once any
// fd of the file is closed, anything), and an uncontended lock/unlock pair
// costs about 15 ns instead of the 800-1100 ns of flock or an OFD fcntl
// lock (BenchmarkLockOptions). Readers take no lock (see table).
//
// A holder that dies keeps the word set. A waiter that has seen the same
// holder for deadCheckAfter asks whether that process still exists and is
// the same process (the token carries its start time; a zombie counts as
// dead); if not, it takes the lock over with a compare-and-swap and
// checks the index against the log before using it (repair). Holders may
// run as other users (privilege-separated workers drop to User after
// attaching): /proc/PID/stat is readable by every user, and where /proc
// hides other users' processes (hidepid) kill(pid, 0) decides, EPERM
// meaning "alive". Holders are assumed to share the waiter's PID
// namespace, as ProFTPD's F_GETLK reports also assume.
//
// The traces name the lock "shmcache fd N" as ProFTPD's do, N being the
// descriptor of the cache file this handle keeps open (ProFTPD locks that
// file; here it only names the handle, and stays the same while the cache
// is open).

var (
	// ErrLockTimeout: the write lock stayed held by a live process for
	// longer than the lock timeout.
	ErrLockTimeout = errors.New("timed out waiting for the shmcache write lock")
)

const (
	deadCheckAfter = 50 * time.Millisecond
	lockTimeout    = 10 * time.Second
)

var tokenOnce = sync.OnceValue(func() uint64 {
	pid := os.Getpid()
	start, _, _ := procStat(pid)
	return uint64(uint32(pid))<<32 | uint64(uint32(start))
})

// lockToken identifies this process as a lock holder.
func lockToken() uint64 { return tokenOnce() }

// procRoot is where procStat looks for processes (a test points it
// elsewhere to act as a /proc that hides other users' processes).
var procRoot = "/proc"

// procStat reads a process's start time (field 22 of /proc/PID/stat) and
// whether it is a zombie. exists is false if the process is gone. When
// /proc does not show the process (no /proc, or one mounted with hidepid
// that hides other users' processes), kill(pid, 0) decides: ESRCH means
// gone, anything else (EPERM: another user's process) that it exists,
// with an unknown start time (0).
func procStat(pid int) (start uint64, zombie, exists bool) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		err := unix.Kill(pid, 0)
		return 0, false, !errors.Is(err, syscall.ESRCH)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, true
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, false, true
	}
	state := f[0]                                       // field 3
	start, _ = strconv.ParseUint(string(f[19]), 10, 64) // field 22
	return start, len(state) == 1 && (state[0] == 'Z' || state[0] == 'X'), true
}

// holderAlive reports whether the process a lock token names still runs.
// A process whose start time cannot be read counts as the holder: a lock
// wrongly kept costs a lock timeout, a lock wrongly taken over could
// corrupt the table.
func holderAlive(token uint64) bool {
	pid := int(token >> 32)
	if pid <= 0 {
		return false
	}
	start, zombie, exists := procStat(pid)
	if !exists || zombie {
		return false
	}
	return start == 0 || uint32(start) == uint32(token)
}

// lock takes the segment's write lock. recovered is true if it was taken
// over from a dead holder, in which case the caller must repair the table.
func (t *table) lock() (recovered bool, err error) {
	tok := t.token
	if t.h.Lock.CompareAndSwap(0, tok) {
		return false, nil
	}
	return t.lockSlow(tok)
}

func (t *table) lockSlow(tok uint64) (bool, error) {
	start := time.Now()
	var seen uint64
	seenSince := start
	traced := false
	sleep := 5 * time.Microsecond
	for i := 0; ; i++ {
		cur := t.h.Lock.Load()
		if cur == 0 {
			if t.h.Lock.CompareAndSwap(0, tok) {
				return false, nil
			}
			continue
		}
		if i < 100 {
			if i%10 == 9 {
				runtime.Gosched()
			}
			continue
		}
		now := time.Now()
		if cur != seen {
			seen, seenSince = cur, now
		}
		if !traced && t.ch.Enabled(3) {
			traced = true
			t.ch.Msg(3, "process ID %d has blocking write-lock on shmcache fd %d", cur>>32, t.fd)
		}
		if cur != tok && now.Sub(seenSince) >= deadCheckAfter {
			if !holderAlive(cur) && t.h.Lock.CompareAndSwap(cur, tok) {
				t.count(statRecovered)
				t.ch.Msg(1, "process ID %d died holding the write-lock on shmcache fd %d; lock recovered", cur>>32, t.fd)
				return true, nil
			}
			seenSince = now
		}
		if now.Sub(start) >= lockTimeout {
			t.count(statLockTimeouts)
			return false, ErrLockTimeout
		}
		time.Sleep(sleep)
		sleep = min(sleep*2, time.Millisecond)
	}
}

func (t *table) unlock() { t.h.Lock.Store(0) }

// beginWrite takes the lock and marks the table as being changed;
// endWrite undoes both. A lock taken from a dead holder is followed by a
// check of the index against the log (repair).
func (t *table) beginWrite() error {
	if t.ch.Enabled(19) {
		t.ch.Msg(19, "attempting to write-lock shmcache fd %d", t.fd)
	}
	recovered, err := t.lock()
	if err != nil {
		t.ch.Msg(3, "write-lock of shmcache fd %d failed: %v", t.fd, err)
		return err
	}
	if t.ch.Enabled(19) {
		t.ch.Msg(19, "write-lock of shmcache fd %d succeeded", t.fd)
	}
	// An atomic add, not a store: on weakly ordered processors a
	// read-modify-write also keeps the writes that follow from becoming
	// visible before Seq is odd (see table).
	if s := t.h.Seq.Load(); s&1 == 0 {
		t.h.Seq.Add(1)
	} else if !recovered {
		// A previous holder died between its Seq updates and its lock
		// was recovered by someone who did not repair: repair now.
		recovered = true
	}
	if hd, tl := t.h.Head, t.h.Tail; hd > tl || tl-hd > t.g.dataSize || (hd|tl)%8 != 0 ||
		t.h.Live > uint64(len(t.slots)) || t.h.LiveBytes > t.g.dataSize {
		recovered = true // damaged positions: rebuild (or reset) before use
	}
	if recovered {
		t.repair()
	}
	return nil
}

func (t *table) endWrite() {
	if t.damaged {
		t.damaged = false
		t.repair()
	}
	t.h.Seq.Add(1)
	if t.ch.Enabled(19) {
		t.ch.Msg(19, "attempting to unlock shmcache fd %d", t.fd)
	}
	t.unlock()
	if t.ch.Enabled(19) {
		t.ch.Msg(19, "unlock of shmcache fd %d succeeded", t.fd)
	}
}
