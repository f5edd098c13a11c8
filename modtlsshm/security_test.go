package modtlsshm

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// makeSegment creates a session segment by hand for path's key, of
// size bytes, returning its id; init, if set, fills it.
func makeSegment(t *testing.T, path string, size int, init func(mem []byte, fid fileID)) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	fid := fileID{uint64(st.Dev), st.Ino}
	id, err := unix.SysvShmGet(ftok(fid, sessionKind.proj), size, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	if init != nil {
		mem, err := unix.SysvShmAttach(id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		init(mem, fid)
		unix.SysvShmDetach(mem)
	}
	return id
}

func openFails(t *testing.T, path string, target error, logWant string) {
	t.Helper()
	env, _, log, _ := testEnv(t)
	c, err := NewSessionProvider().Open(info(path, 0), time.Minute, env)
	if err == nil {
		c.Close()
		t.Fatal("opened")
	}
	mustErr(t, err, target)
	if !strings.Contains(log.String(), logWant) {
		t.Fatalf("log lacks %q:\n%s", logWant, log)
	}
}

func TestSegmentOwnerAndModeChecked(t *testing.T) {
	cases := []struct {
		name string
		uid  uint32
		mode uint32
	}{
		{"foreign owner", 4242, 0o600},
		{"group readable", uint32(os.Geteuid()), 0o640},
		{"world readable", uint32(os.Geteuid()), 0o644},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			s := openSessionAt(t, path, 0)
			id := s.c.shmid
			s.Close()
			d, err := shmStat(id)
			if err != nil {
				t.Fatal(err)
			}
			d.Perm.Uid, d.Perm.Mode = tc.uid, tc.mode
			if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &d); err != nil {
				t.Skipf("IPC_SET needs root: %v", err)
			}
			openFails(t, path, ErrInsecureSegment, "refusing shm ID")
		})
	}
}

func TestForeignSegmentRefused(t *testing.T) {
	path := cacheFile(t)
	id := makeSegment(t, path, 1576960, func(mem []byte, _ fileID) {
		copy(mem, "some other program's data")
	})
	openFails(t, path, ErrForeignSegment, "not an ftpdtls shmcache segment")
	if got := NewSessionProvider().CheckInfo(info(path, 0)); len(got) != 1 ||
		!strings.Contains(got[0], "would be refused") || !strings.Contains(got[0], "not an ftpdtls shmcache segment") {
		t.Fatalf("CheckInfo = %q", got)
	}
	// Left alone: not removed, not changed.
	if _, err := shmStat(id); err != nil {
		t.Fatalf("foreign segment disappeared: %v", err)
	}
	if err := RemoveSessionCache(info(path, 0)); !errors.Is(err, ErrForeignSegment) {
		t.Fatalf("remove of a foreign segment: %v", err)
	}
	if _, err := shmStat(id); err != nil {
		t.Fatalf("remove took a foreign segment: %v", err)
	}
}

func TestCollidingSegmentRefused(t *testing.T) {
	// Another cache file whose key collides (ftok keeps 16 bits of the
	// inode): a valid ftpdtls header, but for another device/inode.
	path := cacheFile(t)
	makeSegment(t, path, 1576960, func(mem []byte, fid fileID) {
		g, _ := computeGeometry(1576960, sessionKind)
		initHeader(mem, g, sessionKind, fileID{fid.dev, fid.ino + 0x10000})
	})
	openFails(t, path, ErrForeignSegment, "SysV key collision")
}

func TestCorruptHeaderRefused(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(h *header)
		target  error
		log     string
	}{
		{"geometry", func(h *header) { h.DataSize += 4096 }, ErrCorruptSegment, "header checksum mismatch"},
		{"geometry with matching sum", func(h *header) { h.DataSize += 4096; h.GeomSum = geomSum(h) }, ErrCorruptSegment, "geometry does not fit a 1576960-byte segment: "},
		{"damaged version", func(h *header) { h.Version = 9 }, ErrCorruptSegment, "header checksum mismatch"},
		{"another layout version", func(h *header) { h.Version = 9; h.GeomSum = geomSum(h) }, ErrLayoutVersion,
			"it was made by a release of ftpdtls with segment layout 9; this one reads layout 2, and nothing is migrated; remove it using 'ftpdtls sesscache remove' with the server's configuration file (-c FILE), or 'ipcrm -m "},
		{"kind", func(h *header) { h.Kind = kindOCSP }, ErrForeignSegment, "not a session cache"},
		{"never initialised", func(h *header) { h.Magic.Store(0) }, ErrCorruptSegment, "header never initialised"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			makeSegment(t, path, 1576960, func(mem []byte, fid fileID) {
				g, _ := computeGeometry(1576960, sessionKind)
				initHeader(mem, g, sessionKind, fid)
				tc.corrupt((*header)(unsafe.Pointer(&mem[0])))
			})
			openFails(t, path, tc.target, tc.log)
		})
	}
}

func TestDamagedLogIsRepaired(t *testing.T) {
	s, _ := openSession(t, 0)
	for i := 0; i < 20; i++ {
		s.Add(randBytes(t, 32), time.Now().Add(time.Hour), make([]byte, 100))
	}
	// Wreck a record header in the middle, as a writer killed half-way
	// could: repair cuts the log there and keeps what precedes it.
	tb := s.c.t
	tb.data[10*168+4] = 0xff
	if err := tb.beginWrite(); err != nil {
		t.Fatal(err)
	}
	tb.repair()
	tb.endWrite()
	checkInvariants(t, tb)
	if st, _ := s.SegmentStats(); st.Current != 10 || st.Errors == 0 {
		t.Fatalf("stats after repair %+v", st)
	}
}

func TestDamagedPositionsReset(t *testing.T) {
	s, _ := openSession(t, 0)
	id := randBytes(t, 32)
	s.Add(id, time.Now().Add(time.Hour), []byte("x"))
	tb := s.c.t
	tb.h.Head, tb.h.Tail = 1<<40+3, 5 // written by a confused or hostile process
	if err := s.Add(randBytes(t, 32), time.Now().Add(time.Hour), []byte("y")); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, tb)
	if st, _ := s.SegmentStats(); st.Current != 1 || st.Errors == 0 {
		t.Fatalf("stats %+v", st)
	}
}
