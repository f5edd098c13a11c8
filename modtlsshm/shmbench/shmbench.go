// Package shmbench measures how lookups in one shm session cache scale
// over processes: N processes attach the same segment and look up stored
// sessions at the same time, and the result is the lookups per second of
// all of them together, for each N. The process counts are measured in
// alternating rounds (1, 2, 1, 2, ...), so that whatever else the machine
// does weighs on each of them alike, and the ratio to the first count is
// the scaling figure ("2 processes do 1.9x the lookups of 1").
//
// The helper processes are re-executions of the running binary, so a
// program that calls LookupScaling must call RunHelper first thing in
// main (a test binary: in TestMain):
//
//	func main() {
//		shmbench.RunHelper() // returns unless this process is a helper
//		...
//		res, err := shmbench.LookupScaling(ctx, shmbench.Options{Procs: []int{1, 2}})
//	}
//
// `go test -bench BenchmarkLookupScaling ./modtlsshm/shmbench/` runs it
// with the defaults.
package shmbench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// Options say what to measure. Zero fields take the defaults.
type Options struct {
	// Dir is where the cache file is made; a new temporary directory
	// (removed afterwards) by default.
	Dir string
	// Size is the segment size; modtlsshm.DefaultSize by default.
	Size int64
	// Sessions is how many sessions are stored and then looked up, each
	// process striding through all of them; 4096 by default (well below
	// the default segment's capacity, so that none is evicted).
	Sessions int
	// StateSize is the size of each stored state; 57 bytes (a typical
	// crypto/tls TLS 1.3 session) by default.
	StateSize int
	// Procs are the process counts measured; {1, 2} by default. Ratios
	// are to the first.
	Procs []int
	// Duration is how long each measurement runs; 1 s by default.
	Duration time.Duration
	// Runs is the number of rounds; each round measures every count of
	// Procs once. 3 by default; results are medians over rounds.
	Runs int
	// Progress, if set, is called after each measurement with its
	// lookups per second and per CPU second.
	Progress func(procs, round int, perSec, perCPUSecond float64)
}

// Result is what was measured for one process count.
type Result struct {
	Procs  int
	PerSec []float64 // each round's lookups per second, all processes together
	Median float64   // median of PerSec
	Ratio  float64   // Median / the Median of the first process count
	// PerCPUSecond is each round's lookups per second of CPU time the
	// helpers used (all of them together). Unlike PerSec it does not drop
	// when other programs take the CPUs; it drops when lookups get dearer,
	// for instance when processes write one cache line in turn.
	PerCPUSecond []float64
	MedianPerCPU float64 // median of PerCPUSecond
}

// helperEnv names the environment variable that makes RunHelper act.
const helperEnv = "FTPDTLS_SHMBENCH_HELPER"

// LookupScaling stores o.Sessions sessions in a new shm session cache,
// starts max(o.Procs) helper processes that attach it, and measures the
// lookups per second of the first n of them for each n in o.Procs, in
// o.Runs alternating rounds. The cache (segment and file) is removed
// before it returns, and every helper is stopped. A lookup that misses
// is an error: the measurement is of hits.
func LookupScaling(ctx context.Context, o Options) ([]Result, error) {
	o = o.withDefaults()
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "shmbench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	info := fmt.Sprintf("/file=%s&size=%d", filepath.Join(dir, "sess_cache"), o.Size)
	c, err := modtlsshm.NewSessionProvider().Open(info, time.Hour, modtls.Env{})
	if err != nil {
		return nil, err
	}
	defer c.Remove()
	state := make([]byte, o.StateSize)
	for i := range state {
		state[i] = byte(i * 7)
	}
	id := make([]byte, 32)
	exp := time.Now().Add(24 * time.Hour)
	for i := 0; i < o.Sessions; i++ {
		if err := c.Add(SessionID(id, i), exp, state); err != nil {
			return nil, fmt.Errorf("storing session %d: %w", i, err)
		}
	}

	var hs []*helper
	defer func() {
		for _, h := range hs {
			h.stop()
		}
	}()
	for i := 0; i < slices.Max(o.Procs); i++ {
		h, err := startHelper(ctx, info, o.Sessions, i)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	res := make([]Result, len(o.Procs))
	for round := 0; round < o.Runs; round++ {
		for pi, n := range o.Procs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, perCPU, err := measure(hs[:n], o.Duration)
			if err != nil {
				return nil, fmt.Errorf("%d processes: %w", n, err)
			}
			res[pi].Procs = n
			res[pi].PerSec = append(res[pi].PerSec, v)
			res[pi].PerCPUSecond = append(res[pi].PerCPUSecond, perCPU)
			if o.Progress != nil {
				o.Progress(n, round, v, perCPU)
			}
		}
	}
	for i := range res {
		res[i].Median = median(res[i].PerSec)
		res[i].MedianPerCPU = median(res[i].PerCPUSecond)
		if res[0].Median > 0 {
			res[i].Ratio = res[i].Median / res[0].Median
		}
	}
	return res, nil
}

func (o Options) withDefaults() Options {
	if o.Size == 0 {
		o.Size = modtlsshm.DefaultSize
	}
	if o.Sessions == 0 {
		o.Sessions = 4096
	}
	if o.StateSize == 0 {
		o.StateSize = 57
	}
	if len(o.Procs) == 0 {
		o.Procs = []int{1, 2}
	}
	if o.Duration == 0 {
		o.Duration = time.Second
	}
	if o.Runs == 0 {
		o.Runs = 3
	}
	return o
}

// SessionID writes the id of session i into id (32 bytes) and returns
// it: the ids LookupScaling stores and its helpers look up.
func SessionID(id []byte, i int) []byte {
	binary.LittleEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(id[8:], uint64(i))
	clear(id[16:32])
	return id[:32]
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measure runs the helpers for d at the same time and returns their
// lookups per second added up, and their lookups per CPU second.
func measure(hs []*helper, d time.Duration) (perSec, perCPUSecond float64, err error) {
	for _, h := range hs {
		if _, err := fmt.Fprintf(h.in, "go %d\n", d.Nanoseconds()); err != nil {
			return 0, 0, fmt.Errorf("helper %d: %w", h.index, err)
		}
	}
	var (
		mu         sync.Mutex
		ops, cpuNs float64
		errs       []error
		wg         sync.WaitGroup
	)
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.result(d + 30*time.Second)
			mu.Lock()
			defer mu.Unlock()
			perSec += r.perSec
			ops += float64(r.ops)
			cpuNs += float64(r.cpuNs)
			errs = append(errs, err)
		}()
	}
	wg.Wait()
	if cpuNs > 0 {
		perCPUSecond = ops / (cpuNs / 1e9)
	}
	return perSec, perCPUSecond, errors.Join(errs...)
}

// helper is a started helper process.
type helper struct {
	index int
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
}

func startHelper(ctx context.Context, info string, sessions, index int) (*helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), helperEnv+"=lookup", "FTPDTLS_SHMBENCH_INFO="+info,
		"FTPDTLS_SHMBENCH_SESSIONS="+strconv.Itoa(sessions), "FTPDTLS_SHMBENCH_INDEX="+strconv.Itoa(index))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &helper{index: index, cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := h.line(30 * time.Second)
	if err != nil || line != "ready" {
		h.stop()
		return nil, fmt.Errorf("helper %d did not start: %q %v", index, line, err)
	}
	return h, nil
}

// line reads one line from the helper, within d.
func (h *helper) line(d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := h.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(d):
		h.cmd.Process.Kill() // unblocks the reader
		return "", fmt.Errorf("helper %d: no answer within %v", h.index, d)
	}
}

// helperResult is one helper's report of one measurement.
type helperResult struct {
	ops, cpuNs int64
	perSec     float64
}

// result reads the helper's "done OPS MISSES NANOSECONDS CPU-NANOSECONDS"
// line.
func (h *helper) result(d time.Duration) (helperResult, error) {
	line, err := h.line(d)
	if err != nil {
		return helperResult{}, err
	}
	var r helperResult
	var misses, ns int64
	if _, err := fmt.Sscanf(line, "done %d %d %d %d", &r.ops, &misses, &ns, &r.cpuNs); err != nil {
		return r, fmt.Errorf("helper %d said %q", h.index, line)
	}
	if misses > 0 {
		return r, fmt.Errorf("helper %d: %d of %d lookups missed", h.index, misses, r.ops)
	}
	if ns <= 0 {
		return r, fmt.Errorf("helper %d: no time measured", h.index)
	}
	r.perSec = float64(r.ops) / (float64(ns) / 1e9)
	return r, nil
}

// stop ends the helper: it exits when its input closes.
func (h *helper) stop() {
	h.in.Close()
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}

// RunHelper makes this process a helper of LookupScaling if it was
// started as one (an environment variable says so): it then runs the
// helper and exits. Otherwise it returns at once.
func RunHelper() {
	if os.Getenv(helperEnv) != "lookup" {
		return
	}
	if err := runLookupHelper(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shmbench helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runLookupHelper attaches the cache, says "ready", then for each "go
// NANOSECONDS" line looks sessions up for that long and answers "done
// OPS MISSES NANOSECONDS CPU-NANOSECONDS"; it returns when its input
// ends.
func runLookupHelper(in io.Reader, out io.Writer) error {
	info := os.Getenv("FTPDTLS_SHMBENCH_INFO")
	n, err := strconv.Atoi(os.Getenv("FTPDTLS_SHMBENCH_SESSIONS"))
	if err != nil || n <= 0 {
		return fmt.Errorf("bad session count %q", os.Getenv("FTPDTLS_SHMBENCH_SESSIONS"))
	}
	index, _ := strconv.Atoi(os.Getenv("FTPDTLS_SHMBENCH_INDEX"))
	c, err := modtlsshm.NewSessionProvider().Open(info, time.Hour, modtls.Env{})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	id := make([]byte, 32)
	// Lookups stride through the sessions (not sequential in memory), each
	// process from its own starting point.
	const stride = 7919
	i := index * (n / 2)
	for sc.Scan() {
		var ns int64
		if _, err := fmt.Sscanf(sc.Text(), "go %d", &ns); err != nil {
			return fmt.Errorf("bad command %q", sc.Text())
		}
		var ops, misses int64
		cpu0 := cpuTime()
		start := time.Now()
		deadline := start.Add(time.Duration(ns))
		for {
			for j := 0; j < 1024; j++ {
				if _, _, err := c.Get(SessionID(id, i%n)); err != nil {
					misses++
				}
				i += stride
			}
			ops += 1024
			if !time.Now().Before(deadline) {
				break
			}
		}
		wall := time.Since(start)
		fmt.Fprintf(out, "done %d %d %d %d\n", ops, misses, wall.Nanoseconds(), (cpuTime() - cpu0).Nanoseconds())
	}
	return sc.Err()
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
