package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure Run. The zero value of a field means its default.
type Options struct {
	// Duration is the length of one measurement run (default 200ms).
	Duration time.Duration
	// Runs is how many times each measurement is repeated; tables show
	// the median (default 3). Runs of the measurements compared in one
	// table are interleaved, so that drift in the machine's load hits
	// them alike.
	Runs int
	// Sizes are the shm segment sizes of the cache and capacity groups
	// (default ProFTPD's 1,574,912 bytes and 256 MiB).
	Sizes []int64
	// Procs is the largest number of processes in the scaling group
	// (default 2).
	Procs int
	// Goroutines are the goroutine counts of the scaling group
	// (default 1, 2, 4, 8).
	Goroutines []int
	// Groups selects what to measure (default DefaultGroups).
	Groups []string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Verbose also reports each segment made.
	Verbose bool
	// StartWorker returns an unstarted command that runs Worker in
	// another process (the scaling group's second process); nil skips
	// the multi-process rows.
	StartWorker func() *exec.Cmd
	// E2E configures the end-to-end group.
	E2E E2EOptions
	// TempDir is where cache files and configurations go (default
	// os.TempDir()); a fresh directory is made inside it and removed.
	TempDir string
}

// AllGroups are the groups Run knows, in the order they run.
var AllGroups = []string{"capacity", "cache", "scaling", "handshake", "redis", "e2e"}

// DefaultGroups run when Options.Groups is empty. "redis" is skipped
// (and says so) when the redis provider is not linked or redis-server is
// missing; "e2e" needs root, proftpd and the ftpdtls binary, so it runs
// only when asked for.
var DefaultGroups = []string{"capacity", "cache", "scaling", "handshake", "redis"}

// ErrUnknownGroup is returned for a group name Run does not know.
var ErrUnknownGroup = errors.New("unknown benchmark group")

func (o *Options) defaults() error {
	if o.Duration <= 0 {
		o.Duration = 200 * time.Millisecond
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int64{1574912, 256 << 20}
	}
	if o.Procs <= 0 {
		o.Procs = 2
	}
	if len(o.Goroutines) == 0 {
		o.Goroutines = []int{1, 2, 4, 8}
	}
	if len(o.Groups) == 0 {
		o.Groups = DefaultGroups
	}
	for _, g := range o.Groups {
		if !slices.Contains(AllGroups, g) {
			return fmt.Errorf("%w %q (known: %s)", ErrUnknownGroup, g, strings.Join(AllGroups, ", "))
		}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	o.E2E.defaults(o.Duration)
	return nil
}

// group is one benchmark group: steps says how many progress steps it
// will take (for the counter), run measures and returns its tables.
type group struct {
	name  string
	steps func(r *runner) int
	// ready reports why the group cannot run here ("" if it can).
	ready func(r *runner) string
	run   func(ctx context.Context, r *runner) ([]*Table, error)
}

var groups = map[string]*group{}

func register(g *group) { groups[g.name] = g }

// runner is the state of one Run.
type runner struct {
	o    Options
	dir  string
	prog *progress
	segs *segments

	pkiOnce sync.Once
	pki     *pki
	pkiErr  error

	sampleOnce sync.Once
	sampleSet  *sampleSet
	sampleErr  error
}

// Run measures the selected groups and returns their tables. It removes
// every shm segment, file and process it made before returning, also
// when ctx is cancelled (the command cancels it on SIGINT), in which case
// the error is ctx's and the report holds the tables finished so far.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.TempDir, "ftpdtls-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r := &runner{o: o, dir: dir, prog: &progress{w: o.Progress, start: time.Now()}}
	r.segs = &segments{dir: dir, verbose: o.Verbose, prog: r.prog}
	rep := &Report{
		Machine: machine(),
		Started: time.Now(),
		Settings: Settings{Duration: o.Duration.String(), Runs: o.Runs, Sizes: o.Sizes, Procs: o.Procs,
			Groups: o.Groups},
	}
	if slices.Contains(o.Groups, "e2e") {
		rep.Settings.E2E = fmt.Sprintf("%d clients, %s per run", o.E2E.Clients, o.E2E.Duration)
		if o.E2E.Workers > 0 {
			rep.Settings.E2E += fmt.Sprintf(", also ftpdtls serve -workers %d", o.E2E.Workers)
		}
	}
	defer func() {
		rep.Segments = r.segs.cleanup(r.prog)
		os.RemoveAll(dir)
		rep.Finished = time.Now()
		rep.Machine.LoadAtFinish = loadAvg()
	}()

	var selected []*group
	for _, name := range AllGroups {
		if !slices.Contains(o.Groups, name) {
			continue
		}
		g := groups[name]
		if why := g.ready(r); why != "" {
			rep.Skipped = append(rep.Skipped, name+": "+why)
			r.prog.printf("skipping %s: %s", name, why)
			continue
		}
		selected = append(selected, g)
		r.prog.total += g.steps(r)
	}
	for _, g := range selected {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		tables, err := g.run(ctx, r)
		rep.Tables = append(rep.Tables, tables...)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			return rep, fmt.Errorf("bench %s: %w", g.name, err)
		}
	}
	return rep, nil
}

// progress writes one line per step: a counter, the elapsed time and
// what was measured.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	n, total int
}

// step counts a step and reports it.
func (p *progress) step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	width := len(fmt.Sprint(p.total))
	fmt.Fprintf(p.w, "[%*d/%d %5.1fs] %s\n", width, p.n, p.total, time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// printf reports without counting a step.
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// rounds runs each of n measurements o.Runs times, interleaved (all of
// round 1, then all of round 2, ...), and returns the samples per
// measurement. measure returns one sample.
func (r *runner) rounds(ctx context.Context, n int, measure func(ctx context.Context, i, round int) (float64, error)) ([][]float64, error) {
	out := make([][]float64, n)
	for round := 0; round < r.o.Runs; round++ {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			// Start each run with no garbage from the previous one, so
			// that no run pays for another's collections.
			runtime.GC()
			v, err := measure(ctx, i, round)
			if err != nil {
				return out, err
			}
			out[i] = append(out[i], v)
		}
	}
	return out, nil
}
