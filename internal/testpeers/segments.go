package testpeers

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Segment is a SysV shared memory segment that looks like one of
// ftpdtls's caches: its key's top byte is modtlsshm's project id, 'F'
// (0x46, session caches) or 'O' (0x4f, OCSP response caches).
type Segment struct {
	ID, Key     int
	Size        uint64
	CreatorPID  int
	Attachments uint64
	Created     time.Time
}

func (s Segment) String() string {
	kind := "session"
	if uint32(s.Key)>>24 == 'O' {
		kind = "OCSP"
	}
	return fmt.Sprintf("shm ID %d key %#08x (%s cache, %d bytes, created %s by PID %d, %d attached)",
		s.ID, uint32(s.Key), kind, s.Size, s.Created.UTC().Format(time.TimeOnly), s.CreatorPID, s.Attachments)
}

// CacheSegments lists the ftpdtls cache segments on the machine, read
// from /proc/sysvipc/shm and checked with IPC_STAT.
func CacheSegments() ([]Segment, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSegments(f)
}

func parseSegments(r io.Reader) ([]Segment, error) {
	var out []Segment
	sc := bufio.NewScanner(r)
	sc.Scan() // the header line
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		id, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
			continue // gone meanwhile, or not ours to see
		}
		key := int(int32(d.Perm.Key))
		if p := uint32(key) >> 24; p != 'F' && p != 'O' {
			continue
		}
		out = append(out, Segment{
			ID: id, Key: key, Size: d.Segsz, CreatorPID: int(d.Cpid), Attachments: d.Nattch,
			Created: time.Unix(d.Ctime, 0),
		})
	}
	return out, sc.Err()
}

// SegmentsCreatedBy lists the ftpdtls cache segments created by process
// pid.
func SegmentsCreatedBy(pid int) ([]Segment, error) {
	all, err := CacheSegments()
	if err != nil {
		return nil, err
	}
	var out []Segment
	for _, s := range all {
		if s.CreatorPID == pid {
			out = append(out, s)
		}
	}
	return out, nil
}

// CheckNoLeakedSegments runs the tests and then fails the test binary
// (exit status 1) if any ftpdtls cache segment created by this process
// is left: every test must remove the segments it makes, even when it
// fails. The leaked segments are listed and then removed, so that one
// leak is reported once instead of piling up. Use it as TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testpeers.CheckNoLeakedSegments(m)) }
//
// Segments made by child processes carry the child's PID and are not
// seen here; tests that start such processes remove those segments in
// their own cleanups. A test binary run as a helper process by itself
// (its parent is the same executable) does not check: what it makes is
// its parent's to remove.
func CheckNoLeakedSegments(m *testing.M) int {
	code := m.Run()
	if helperProcess() {
		return code
	}
	if removeLeaked(os.Stderr, os.Getpid()) > 0 && code == 0 {
		code = 1
	}
	return code
}

// removeLeaked reports to w and removes the ftpdtls cache segments that
// process pid created and left, returning how many there were.
func removeLeaked(w io.Writer, pid int) int {
	leaked, err := SegmentsCreatedBy(pid)
	if err != nil {
		fmt.Fprintf(w, "testpeers: cannot check for leaked shm segments: %v\n", err)
		return 0
	}
	if len(leaked) == 0 {
		return 0
	}
	fmt.Fprintf(w, "FAIL: the tests left %d ftpdtls shm segment(s) behind (a test does not remove what it made); removing them:\n", len(leaked))
	for _, s := range leaked {
		fmt.Fprintf(w, "\t%v\n", s)
		if _, err := unix.SysvShmCtl(s.ID, unix.IPC_RMID, nil); err != nil {
			fmt.Fprintf(w, "\t\tcould not remove it: %v (run 'ipcrm -m %d')\n", err, s.ID)
		}
	}
	return len(leaked)
}

// helperProcess reports whether this process was started by a process
// running the same executable: a test binary re-running itself.
func helperProcess() bool {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return false
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", os.Getppid()))
	return err == nil && parent == self
}
