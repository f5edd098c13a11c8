package modtlsshm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The ownership rule (see checkOwner) and the cache controls' view of it.

const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (processes and segments of another user)")
	}
}

// TestPrivsepWorkerSharesTheCache runs a worker as a privilege-separated
// server does: it opens the cache as root (the segment a root master
// created), drops to nobody for good, and then uses the cache and holds
// its lock. The master (this process, root) must see that holder as alive
// and wait for it, never take the lock over; the worker, as nobody, must
// see the root master alive as a lock holder, also through kill(pid, 0)
// alone (EPERM) when /proc hides other users' processes, and must see a
// process that is gone as dead.
func TestPrivsepWorkerSharesTheCache(t *testing.T) {
	needRoot(t)
	path := cacheFile(t)
	env, traces, _, _ := testEnv(t)
	sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	master := sc.(*SessionCache)
	t.Cleanup(func() { master.Close() })
	tb := master.c.t
	if err := master.Add([]byte("made-by-the-master-0000000000000"), time.Now().Add(time.Hour), []byte("master's")); err != nil {
		t.Fatal(err)
	}
	// A process that is gone: started and reaped.
	gone := exec.Command(os.Args[0], "-test.run=^$")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPrivsepChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FTPDTLS_PRIVSEP_CHILD=1", "FTPDTLS_REL_INFO="+info(path, 0),
		"FTPDTLS_PRIVSEP_MASTER_TOKEN="+strconv.FormatUint(tb.token, 10),
		"FTPDTLS_PRIVSEP_GONE="+strconv.Itoa(gone.Process.Pid))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(out)
	expect := func(prefix string) string {
		t.Helper()
		line, err := r.ReadString('\n')
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("worker said %q (%v), want %q", line, err, prefix)
		}
		return strings.TrimSpace(strings.TrimPrefix(line, prefix))
	}
	if got := expect("dropped "); got != fmt.Sprintf("uid %d", nobody) {
		t.Fatalf("worker runs as %s", got)
	}
	// The worker, as nobody, holds the lock.
	expect("locked")
	if tb.h.Lock.Load()>>32 != uint64(cmd.Process.Pid) {
		t.Fatalf("lock word %#x, not the worker's", tb.h.Lock.Load())
	}
	if !holderAlive(tb.h.Lock.Load()) {
		t.Fatal("the master takes the worker (another user) for dead")
	}
	blocked := traceWatch(env, traces, fmt.Sprintf("process ID %d has blocking write-lock on shmcache fd %d", cmd.Process.Pid, tb.fd))
	done := make(chan error, 1)
	go func() {
		done <- master.Add([]byte("added-while-worker-held-the-lock"), time.Now().Add(time.Hour), []byte("x"))
	}()
	select {
	case <-blocked:
	case <-time.After(time.Minute):
		t.Fatalf("the master never waited for the worker's lock:\n%s", traces)
	}
	fmt.Fprintln(in, "release")
	expect("released")
	if err := <-done; err != nil {
		t.Fatalf("master's add after the worker's lock: %v", err)
	}
	if st, _ := master.SegmentStats(); st.LockRecoveries != 0 {
		t.Fatalf("the master took the lock over from a live worker: %+v", st)
	}
	// What the worker saw.
	for _, want := range []string{
		"got master's",
		"master alive true",
		"master alive without /proc true",
		"gone alive false",
		"gone alive without /proc false",
	} {
		if got := expect(""); got != want {
			t.Fatalf("worker said %q, want %q", got, want)
		}
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	if got, _, err := master.Get([]byte("added-by-the-worker-as-nobody-00")); err != nil || string(got) != "worker's" {
		t.Fatalf("the worker's session: %q %v", got, err)
	}
	checkInvariants(t, tb)
}

// TestPrivsepChild is the worker of TestPrivsepWorkerSharesTheCache.
func TestPrivsepChild(t *testing.T) {
	if os.Getenv("FTPDTLS_PRIVSEP_CHILD") == "" {
		t.Skip("helper process for TestPrivsepWorkerSharesTheCache")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("error: "+format+"\n", args...)
		os.Exit(2)
	}
	s := openChildCache() // as root, like a worker before it drops privileges
	if err := syscall.Setgroups(nil); err != nil {
		fail("setgroups: %v", err)
	}
	if err := syscall.Setresgid(nobody, nobody, nobody); err != nil {
		fail("setresgid: %v", err)
	}
	if err := syscall.Setresuid(nobody, nobody, nobody); err != nil {
		fail("setresuid: %v", err)
	}
	fmt.Printf("dropped uid %d\n", os.Geteuid())
	if err := s.Add([]byte("added-by-the-worker-as-nobody-00"), time.Now().Add(time.Hour), []byte("worker's")); err != nil {
		fail("add as nobody: %v", err)
	}
	got, _, err := s.Get([]byte("made-by-the-master-0000000000000"))
	if err != nil {
		fail("get as nobody: %v", err)
	}
	tb := s.c.t
	if _, err := tb.lock(); err != nil {
		fail("lock: %v", err)
	}
	fmt.Println("locked")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "release" {
		fail("no release")
	}
	tb.unlock()
	fmt.Println("released")
	fmt.Printf("got %s\n", got)
	master, _ := strconv.ParseUint(os.Getenv("FTPDTLS_PRIVSEP_MASTER_TOKEN"), 10, 64)
	gone, _ := strconv.Atoi(os.Getenv("FTPDTLS_PRIVSEP_GONE"))
	goneToken := uint64(gone) << 32
	fmt.Printf("master alive %v\n", holderAlive(master))
	procRoot = os.TempDir() + "/no-such-proc" // /proc hiding every process (hidepid)
	fmt.Printf("master alive without /proc %v\n", holderAlive(master))
	procRoot = "/proc"
	fmt.Printf("gone alive %v\n", holderAlive(goneToken))
	procRoot = os.TempDir() + "/no-such-proc"
	fmt.Printf("gone alive without /proc %v\n", holderAlive(goneToken))
	s.Close()
	for in.Scan() {
	}
	os.Exit(0)
}

// TestRootControlsOnAnotherUsersCache: a server running as a non-root
// user (nobody here) made its cache. Root running the cache controls on
// it is not told that anything is wrong, let alone to remove it: info
// shows it, clear clears it, remove removes it. A root server, though,
// does not serve from it (another user could have planted sessions in
// it), and its refusal says why without advising to remove a cache that
// a server is attached to.
func TestRootControlsOnAnotherUsersCache(t *testing.T) {
	needRoot(t)
	path := cacheFile(t)
	id := createAs(t, path, nobody)
	env, _, log, _ := testEnv(t)
	sp := NewSessionProvider()

	var out bytes.Buffer
	if err := sp.StatusInfo(info(path, 0), time.Hour, env, &out, true); err != nil {
		t.Fatalf("info as root on nobody's cache: %v\n%s", err, log)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("Shared memory segment ID: %d\n", id)) {
		t.Fatalf("status:\n%s", out.String())
	}
	c, err := sp.OpenExisting(info(path, 0), time.Hour, env)
	if err != nil {
		t.Fatalf("clear as root on nobody's cache: %v", err)
	}
	if _, err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if strings.Contains(log.String(), "refusing") || strings.Contains(log.String(), "remove") {
		t.Fatalf("the controls complained:\n%s", log)
	}

	// A root server refuses it; with a server attached, no removal advice.
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sp.Open(info(path, 0), time.Hour, env)
	unix.SysvShmDetach(mem)
	if !errors.Is(err, ErrOtherOwner) || errors.Is(err, ErrInsecureSegment) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("root server on nobody's cache: %v, want ErrOtherOwner", err)
	}
	want := fmt.Sprintf("shm ID %d belongs to UID %d, and this process runs as UID 0; it is the cache of a server running as UID %d: give this server another cache file, or run it as UID %d (1 process is attached to it)",
		id, nobody, nobody, nobody)
	if !strings.Contains(log.String(), want) || strings.Contains(log.String(), "remove it") {
		t.Fatalf("log lacks %q, or advises removal:\n%s", want, log)
	}
	if got := strings.Join(sp.CheckInfo(info(path, 0)), "\n"); !strings.Contains(got, "would be refused") || !strings.Contains(got, "belongs to UID 65534") {
		t.Fatalf("CheckInfo = %q", got)
	}

	if err := sp.RemoveInfo(info(path, 0)); err != nil {
		t.Fatalf("remove as root of nobody's cache: %v", err)
	}
	if _, err := shmStat(id); err == nil {
		t.Fatal("not removed")
	}
}

// TestRemoveInfoActsOnlyOnTheCache: RemoveInfo removes nothing, and says
// there is nothing (modtls.ErrNoStorage), when the configured file has no
// ftpdtls segment: no file, a file with no segment, or a file that only
// ProFTPD's cache uses (its project id 247). It keeps the file while
// another cache segment is keyed on it.
func TestRemoveInfoActsOnlyOnTheCache(t *testing.T) {
	sp, op := NewSessionProvider(), NewOCSPProvider()
	t.Run("no file", func(t *testing.T) {
		path := t.TempDir() + "/sess_cache"
		err := sp.RemoveInfo(info(path, 0))
		if !errors.Is(err, modtls.ErrNoStorage) || !errors.Is(err, ErrNoSegment) {
			t.Fatalf("RemoveInfo: %v, want ErrNoStorage", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a file was made: %v", err)
		}
	})
	t.Run("file, no segment", func(t *testing.T) {
		path := cacheFile(t)
		if err := sp.RemoveInfo(info(path, 0)); !errors.Is(err, modtls.ErrNoStorage) {
			t.Fatalf("RemoveInfo: %v, want ErrNoStorage", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the file went: %v", err)
		}
	})
	t.Run("ProFTPD's cache on the file", func(t *testing.T) {
		path := cacheFile(t)
		fid := mustFileID(t, path)
		id, err := unix.SysvShmGet(ftok(fid, 247), 16384, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if err != nil {
			t.Fatalf("ProFTPD's key: %v", err)
		}
		t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
		if err := sp.RemoveInfo(info(path, 0)); !errors.Is(err, modtls.ErrNoStorage) {
			t.Fatalf("RemoveInfo: %v, want ErrNoStorage", err)
		}
		if _, err := shmStat(id); err != nil {
			t.Fatalf("ProFTPD's segment went: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("ProFTPD's file went: %v", err)
		}
	})
	t.Run("both caches on one file", func(t *testing.T) {
		path := cacheFile(t)
		s := openSessionAt(t, path, 0)
		o := openOCSP(t, path, 0)
		sid, oid := s.c.shmid, o.c.shmid
		s.Close()
		o.Close()
		if err := sp.RemoveInfo(info(path, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := shmStat(sid); err == nil {
			t.Fatal("session segment not removed")
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the file went while the OCSP cache is keyed on it: %v", err)
		}
		if err := op.RemoveInfo(info(path, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := shmStat(oid); err == nil {
			t.Fatal("OCSP segment not removed")
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the file stayed after both caches went: %v", err)
		}
		if err := op.RemoveInfo(info(path, 0)); !errors.Is(err, modtls.ErrNoStorage) {
			t.Fatalf("second remove: %v, want ErrNoStorage", err)
		}
	})
}

// TestStatsReporter: both caches report modtls.Stats from the segment's
// counters, as every process sees them.
func TestStatsReporter(t *testing.T) {
	path := cacheFile(t)
	env, _, _, _ := testEnv(t)
	sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	other := openSessionAt(t, path, 0) // another attachment counts into the same segment
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 3; i++ {
		if err := sc.Add([]byte(fmt.Sprintf("stats-%026d", i)), exp, []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	other.Get([]byte("stats-00000000000000000000000000"))
	sc.Get([]byte("stats-00000000000000000000000001"))
	sc.Get([]byte("stats-missing-000000000000000000"))
	sc.Delete([]byte("stats-00000000000000000000000002"))
	sc.Add([]byte("stats-too-large-0000000000000000"), exp, make([]byte, 20000))
	sr, ok := sc.(modtls.StatsReporter)
	if !ok {
		t.Fatal("the session cache is not a modtls.StatsReporter")
	}
	st, err := sr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	capacity := other.c.t.g.capacity()
	want := modtls.Stats{Hits: 2, Misses: 1, Stored: 3, Deleted: 1, TooLarge: 1, Entries: 2, Capacity: capacity}
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	o := openOCSP(t, path, 0)
	var _ modtls.StatsReporter = o
	o.Add("fp", []byte("response"), time.Now())
	if st, err := o.Stats(); err != nil || st.Stored != 1 || st.Entries != 1 || st.Capacity == 0 {
		t.Fatalf("OCSP Stats = %+v, %v", st, err)
	}
}
