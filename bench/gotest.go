package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The micro groups run the packages' own benchmarks: `go test -c` builds
// a package's test binary once, and each round runs it with -test.bench,
// so that a table's benchmarks alternate from round to round (round 1 of
// all of them, then round 2, ...). The binary's output is the standard
// benchmark format, parsed line by line as it arrives (each result is a
// progress step). The test binaries run in a process group of their own
// (a Ctrl-C reaches them through this program), and any shm segment one
// of them or of their helper processes made and did not remove (because
// it was interrupted) is removed when it ends.

// benchResult is one result line: the benchmark's name (without the
// -GOMAXPROCS suffix) and its metrics by unit ("ns/op", "B/op", ...).
type benchResult struct {
	Name    string
	N       int64
	Metrics map[string]float64
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBenchLine reads one line of `go test -bench` output; ok is false
// for anything else.
func parseBenchLine(line string) (benchResult, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return benchResult{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return benchResult{}, false
	}
	r := benchResult{Name: procSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchResult{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true
}

// pkgBench is one package's benchmarks in a group.
type pkgBench struct {
	Pkg       string // import path relative to the module: "./modtlsshm"
	Pattern   string // -test.bench
	Benchtime string // -test.benchtime; "" takes the run's -duration
	// Env is added to the test binary's environment.
	Env []string
}

// results holds every round of every benchmark of a group.
type results struct {
	mu     sync.Mutex
	rounds map[string][]map[string]float64 // name -> one metrics map per round
	order  []string
}

func (r *results) add(b benchResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rounds == nil {
		r.rounds = map[string][]map[string]float64{}
	}
	if _, ok := r.rounds[b.Name]; !ok {
		r.order = append(r.order, b.Name)
	}
	r.rounds[b.Name] = append(r.rounds[b.Name], b.Metrics)
}

// values are a metric's values over the rounds.
func (r *results) values(name, unit string) []float64 {
	var out []float64
	for _, m := range r.rounds[name] {
		if v, ok := m[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

// goTest builds and runs test binaries of the module in Src.
type goTest struct {
	src, dir  string // the module's root; where binaries and TMPDIRs go
	goCmd     string
	runs      int
	benchtime string // the default -test.benchtime
	prog      stepper
	removed   []string // segments removed after an interrupted binary
	hookPids  func(map[int]bool)
}

type stepper interface {
	Step(format string, args ...any)
	Printf(format string, args ...any)
	AddSteps(n int)
}

// build compiles pkg's test binary.
func (g *goTest) build(ctx context.Context, pkg string) (string, error) {
	bin := filepath.Join(g.dir, strings.NewReplacer("./", "", "/", "_", ".", "_").Replace(pkg)+".test")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, g.goCmd, "test", "-c", "-o", bin, pkg)
	cmd.Dir = g.src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// run measures the packages' benchmarks over g.runs rounds.
func (g *goTest) run(ctx context.Context, group string, pkgs []pkgBench) (*results, error) {
	res := &results{}
	bins := make([]string, len(pkgs))
	for i, p := range pkgs {
		g.prog.Printf("%s: building the test binary of %s", group, p.Pkg)
		bin, err := g.build(ctx, p.Pkg)
		if err != nil {
			return res, err
		}
		bins[i] = bin
	}
	for round := 0; round < g.runs; round++ {
		for i, p := range pkgs {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			n := 0
			err := g.runOnce(ctx, bins[i], p, func(b benchResult) {
				res.add(b)
				n++
				if round == 0 {
					g.prog.AddSteps(g.runs)
				}
				g.prog.Step("%s %s run %d/%d: %s", group, strings.TrimPrefix(b.Name, "Benchmark"), round+1, g.runs, summary(b))
			})
			if err != nil {
				return res, fmt.Errorf("%s: %w", p.Pkg, err)
			}
			if n == 0 {
				return res, fmt.Errorf("%s: no benchmark matched %q", p.Pkg, p.Pattern)
			}
		}
	}
	return res, nil
}

// summary is a result's main figures for the progress line.
func summary(b benchResult) string {
	var parts []string
	for _, u := range []string{"ns/op", "B/op", "allocs/op"} {
		if v, ok := b.Metrics[u]; ok {
			parts = append(parts, strconv.FormatFloat(v, 'g', 4, 64)+" "+u)
		}
	}
	for u, v := range b.Metrics {
		if u != "ns/op" && u != "B/op" && u != "allocs/op" && u != "MB/s" {
			parts = append(parts, strconv.FormatFloat(v, 'g', 4, 64)+" "+u)
		}
	}
	return strings.Join(parts, ", ")
}

// runOnce runs one round of a package's benchmarks, calling found for
// each result as it is printed.
func (g *goTest) runOnce(ctx context.Context, bin string, p pkgBench, found func(benchResult)) error {
	tmp, err := os.MkdirTemp(g.dir, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	benchtime := p.Benchtime
	if benchtime == "" {
		benchtime = g.benchtime
	}
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", p.Pattern, "-test.benchtime", benchtime,
		"-test.benchmem", "-test.count", "1")
	cmd.Dir = filepath.Join(g.src, p.Pkg)
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	pids := &pidTracker{root: cmd.Process.Pid, seen: map[int]bool{cmd.Process.Pid: true}}
	stopTracking := pids.track()
	stopped := context.AfterFunc(ctx, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var tail []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if b, ok := parseBenchLine(line); ok {
			found(b)
		} else if strings.TrimSpace(line) != "" {
			tail = append(tail[max(0, len(tail)-20):], line)
		}
	}
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	stopped()
	stopTracking()
	g.removed = append(g.removed, removeSegmentsOf(pids.all())...)
	if g.hookPids != nil {
		g.hookPids(pids.all())
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: %v\n%s%s", filepath.Base(bin), err, strings.Join(tail, "\n"), stderr.String())
	}
	return nil
}

// pidTracker notes the processes a test binary starts (helpers that
// attach segments), polling /proc, so that what they leave can be found.
type pidTracker struct {
	mu   sync.Mutex
	root int
	seen map[int]bool
}

func (t *pidTracker) track() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			t.poll()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (t *pidTracker) poll() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || t.seen[pid] {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); t.seen[ppid] {
				t.seen[pid] = true
			}
		}
	}
}

func (t *pidTracker) all() map[int]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int]bool{}
	for p := range t.seen {
		out[p] = true
	}
	return out
}

// removeSegmentsOf removes the ftpdtls cache segments (key 'F' or 'O' in
// its top byte) that one of pids created, and describes them.
func removeSegmentsOf(pids map[int]bool) []string {
	var out []string
	for _, id := range segmentIDs() {
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
			continue
		}
		if p := uint32(d.Perm.Key) >> 24; (p != 'F' && p != 'O') || !pids[int(d.Cpid)] {
			continue
		}
		if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err == nil {
			out = append(out, fmt.Sprintf("shm ID %d (%d bytes, left by PID %d)", id, d.Segsz, d.Cpid))
		}
	}
	return out
}

// segmentIDs lists the SysV shm segments of the machine.
func segmentIDs() []int {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return nil
	}
	var ids []int
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(f[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// findModule returns the root of the ftpdtls source tree: src if given,
// else the module of the working directory, which must be ftpdtls's.
func findModule(goCmd, src string) (string, error) {
	dir := src
	if dir == "" {
		cmd := exec.Command(goCmd, "env", "GOMOD")
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go env GOMOD: %w", err)
		}
		mod := strings.TrimSpace(string(out))
		if mod == "" || mod == os.DevNull {
			return "", errors.New("not in a Go module")
		}
		dir = filepath.Dir(mod)
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	if !strings.Contains(strings.SplitN(string(b), "\n", 2)[0], "github.com/ftpdtls/ftpdtls") {
		return "", fmt.Errorf("%s is not the ftpdtls module", dir)
	}
	return dir, nil
}
