package testpeers

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// makeSegment creates a small segment with the given project id in its
// key's top byte and removes it at cleanup.
func makeSegment(t *testing.T, proj byte) int {
	t.Helper()
	for range 20 {
		var b [4]byte
		rand.Read(b[:])
		key := int(int32(uint32(proj)<<24 | binary.LittleEndian.Uint32(b[:])&0xffffff))
		id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if err != nil {
			continue // a key in use: try another
		}
		t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
		return id
	}
	t.Fatal("no free SysV key found")
	return 0
}

func TestSegmentsCreatedBy(t *testing.T) {
	sess, ocsp, other := makeSegment(t, 'F'), makeSegment(t, 'O'), makeSegment(t, 'Z')
	mine, err := SegmentsCreatedBy(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := map[int]Segment{}
	for _, s := range mine {
		found[s.ID] = s
	}
	for _, tc := range []struct {
		name string
		id   int
		want bool
		kind string
	}{
		{"session key", sess, true, "session cache"},
		{"OCSP key", ocsp, true, "OCSP cache"},
		{"another program's key", other, false, ""},
	} {
		s, ok := found[tc.id]
		if ok != tc.want {
			t.Errorf("%s: listed %v, want %v (%v)", tc.name, ok, tc.want, mine)
			continue
		}
		if ok && (s.CreatorPID != os.Getpid() || s.Size != 4096 || !strings.Contains(s.String(), tc.kind)) {
			t.Errorf("%s: %v", tc.name, s)
		}
	}
	// Another PID's list does not hold them.
	theirs, err := SegmentsCreatedBy(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range theirs {
		if s.ID == sess || s.ID == ocsp {
			t.Errorf("segment %v listed for the parent process", s)
		}
	}
}

func TestHelperProcessDetection(t *testing.T) {
	// `go test` runs the test binary from the go command, another
	// executable.
	if helperProcess() {
		t.Fatal("the test binary run by go test counts as a helper process")
	}
}

func TestRemoveLeaked(t *testing.T) {
	var clean strings.Builder
	if n := removeLeaked(&clean, os.Getpid()); n != 0 {
		t.Fatalf("%d leaks before the test made any:\n%s", n, clean.String())
	}
	id := makeSegment(t, 'F')
	var out strings.Builder
	if n := removeLeaked(&out, os.Getpid()); n != 1 {
		t.Fatalf("%d leaks reported, want 1:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "FAIL: the tests left 1 ftpdtls shm segment(s) behind") ||
		!strings.Contains(out.String(), "shm ID "+strconv.Itoa(id)+" ") {
		t.Errorf("report:\n%s", out.String())
	}
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err == nil {
		t.Errorf("leaked segment %d was not removed", id)
	}
}
