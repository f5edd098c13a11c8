package modtlsshm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The multi-process tests re-execute the test binary with
// -test.run=TestChildProcess and MODTLSSHM_CHILD set to a mode; the child
// opens the cache named by MODTLSSHM_INFO, reports on stdout and takes
// its cues from stdin.

const childEnv = "MODTLSSHM_CHILD"

func childID(child, i int) []byte { return []byte(fmt.Sprintf("child%02d-%024d", child, i)) }

func TestChildProcess(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	env, _, _, _ := testEnv(t)
	sc, err := NewSessionProvider().Open(os.Getenv("MODTLSSHM_INFO"), time.Hour, env)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	s := sc.(*SessionCache)
	me, _ := strconv.Atoi(os.Getenv("MODTLSSHM_INDEX"))
	switch mode {
	case "worker":
		runWorker(s, me)
	case "holdlock":
		// Add a session, then die (by SIGKILL from the parent) in the middle
		// of a write: lock held, Seq odd, a half-written record at the tail.
		s.Add(childID(me, 0), time.Now().Add(time.Hour), []byte("survivor"))
		tb := s.c.t
		if err := tb.beginWrite(); err != nil {
			fmt.Println("lock:", err)
			os.Exit(2)
		}
		off := tb.h.Tail % tb.g.dataSize
		r := (*record)(unsafe.Pointer(&tb.data[off]))
		*r = record{Size: 96, Kind: recEntry, KeyLen: 32, DataLen: 30, When: time.Now().Add(time.Hour).Unix()}
		copy(tb.data[off+recHdrSize:], childID(me, 1)) // key written, value and sum not yet
		tb.h.Tail += 96
		fmt.Println("locked")
		time.Sleep(time.Minute)
	}
	os.Exit(0)
}

func runWorker(s *SessionCache, me int) {
	n, _ := strconv.Atoi(os.Getenv("MODTLSSHM_N"))
	children, _ := strconv.Atoi(os.Getenv("MODTLSSHM_CHILDREN"))
	var hits, misses int
	get := func(id []byte, want []byte) {
		got, _, err := s.Get(id)
		switch {
		case err == nil:
			hits++
			if want != nil && !bytes.Equal(got, want) {
				fmt.Printf("wrong value for %s\n", id)
				os.Exit(3)
			}
		case errors.Is(err, modtls.ErrCacheMiss):
			misses++
		default:
			fmt.Println("get:", err)
			os.Exit(3)
		}
	}
	for i := 0; i < n; i++ {
		id := childID(me, i)
		if err := s.Add(id, time.Now().Add(time.Hour), id); err != nil {
			fmt.Println("add:", err)
			os.Exit(3)
		}
		get(id, id)
		get(childID((me+1)%children, i), nil) // another child's, maybe not there yet
	}
	// Wait for every child to have added its sessions: the parent says
	// "go" when all have said "added".
	fmt.Println("added")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); strings.TrimSpace(line) != "go" {
		fmt.Printf("no go from the parent: %q %v\n", line, err)
		os.Exit(4)
	}
	found := 0
	for c := 0; c < children; c++ {
		for i := 0; i < n; i++ {
			h := hits
			get(childID(c, i), childID(c, i))
			found += hits - h
		}
	}
	fmt.Printf("hits %d misses %d found %d\n", hits, misses, found)
}

func childCmd(t *testing.T, ctx context.Context, mode string, index int, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "MODTLSSHM_INDEX="+strconv.Itoa(index))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestMultiProcess(t *testing.T) {
	path := cacheFile(t)
	parent := openSessionAt(t, path, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const children, n = 3, 1000
	type kid struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var kids []kid
	for c := 0; c < children; c++ {
		cmd := childCmd(t, ctx, "worker", c, "MODTLSSHM_INFO="+info(path, 0),
			"MODTLSSHM_N="+strconv.Itoa(n), "MODTLSSHM_CHILDREN="+strconv.Itoa(children))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		kids = append(kids, kid{cmd, in, bufio.NewReader(out)})
	}
	line := func(c int) string {
		l, err := kids[c].out.ReadString('\n')
		if err != nil {
			t.Fatalf("child %d: %q %v", c, l, err)
		}
		return strings.TrimSpace(l)
	}
	for c := range kids {
		if l := line(c); l != "added" {
			t.Fatalf("child %d said %q", c, l)
		}
	}
	for _, k := range kids {
		fmt.Fprintln(k.in, "go")
	}
	var hits, misses int
	for c, k := range kids {
		l := line(c)
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v: %s", c, err, l)
		}
		var h, m, f int
		if _, err := fmt.Sscanf(l, "hits %d misses %d found %d", &h, &m, &f); err != nil {
			t.Fatalf("child %d said %q", c, l)
		}
		if f != children*n {
			t.Fatalf("child %d found %d of the %d sessions the children added", c, f, children*n)
		}
		hits, misses = hits+h, misses+m
	}
	// Sessions added by the children are visible to the parent too.
	for c := 0; c < children; c++ {
		if got, _, err := parent.Get(childID(c, n-1)); err != nil || !bytes.Equal(got, childID(c, n-1)) {
			t.Fatalf("parent: child %d's session: %v", c, err)
		}
	}
	st, _ := parent.SegmentStats()
	if st.Stored != children*n || st.Current != children*n ||
		st.Hits != uint64(hits+children) || st.Misses != uint64(misses) {
		t.Fatalf("counters %+v; children counted %d hits, %d misses", st, hits, misses)
	}
	checkInvariants(t, parent.c.t)
}

func TestKilledLockHolderDoesNotBlockOthers(t *testing.T) {
	path := cacheFile(t)
	s := openSessionAt(t, path, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := childCmd(t, ctx, "holdlock", 7, "MODTLSSHM_INFO="+info(path, 0))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("child said %q", line)
	}
	if s.c.t.h.Lock.Load()>>32 != uint64(cmd.Process.Pid) {
		t.Fatal("the child does not hold the lock")
	}
	// Killed and not yet reaped (a zombie still has its pid).
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		// A get (lock-free, sees Seq odd, falls back to the lock) and an add.
		if got, _, err := s.Get(childID(7, 0)); err != nil || string(got) != "survivor" {
			done <- fmt.Errorf("get: %q %v", got, err)
			return
		}
		done <- s.Add(randBytes(t, 32), time.Now().Add(time.Hour), []byte("after"))
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("blocked by the killed lock holder")
	}
	t.Logf("lock recovered after %v", time.Since(start))
	if _, _, err := s.Get(childID(7, 1)); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatalf("half-written session: %v", err)
	}
	st, _ := s.SegmentStats()
	if st.LockRecoveries != 1 || st.Current != 2 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, s.c.t)
}
