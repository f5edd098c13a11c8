package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"runtime"
	"time"

	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// scalingFill is the fill level (percent of the first-eviction count)
// of the scaling group's segment.
const scalingFill = 50

var scalingOps = []string{"get-hit", "add"}

func init() {
	register(&group{
		name: "scaling",
		steps: func(r *runner) int {
			n := 1 + len(r.o.Goroutines)*len(scalingOps)*2*r.o.Runs + len(r.o.Goroutines)*2*r.o.Runs
			if r.o.StartWorker != nil {
				n += r.o.Procs * len(scalingOps) * r.o.Runs
			}
			return n
		},
		ready: func(*runner) string { return "" },
		run:   runScaling,
	})
}

// scaling is the scaling group's segment and how to make jobs on it.
type scaling struct {
	sc     *modtlsshm.SessionCache
	info   string
	size   int64
	stored uint64
	values [][]byte
	d      time.Duration
}

// job returns the job of process part (of of) with g goroutines.
func (s *scaling) job(op string, g, part, of int) job {
	return job{Info: s.info, Op: op, Goroutines: g, Duration: int64(s.d), Stored: s.stored,
		Part: part, Of: of, Values: s.values}
}

func runScaling(ctx context.Context, r *runner) ([]*Table, error) {
	set, err := r.samples(ctx)
	if err != nil {
		return nil, err
	}
	s := &scaling{size: int64(modtlsshm.DefaultSize), values: set.values["tls13"], d: r.o.Duration}
	res, sc, info, err := r.fillSessions(ctx, s.size, s.values)
	if sc != nil {
		defer sc.Remove()
	}
	if err != nil {
		return nil, err
	}
	s.sc, s.info = sc, info
	if _, err := sc.Clear(); err != nil {
		return nil, err
	}
	s.stored = uint64(res.first) * scalingFill / 100
	exp := time.Now().Add(time.Hour)
	id := make([]byte, 32)
	for i := uint64(0); i < s.stored; i++ {
		if err := sc.Add(sessionID(id, i), exp, s.values[i%uint64(len(s.values))]); err != nil {
			return nil, err
		}
	}
	r.prog.step("scaling: %s segment holding %s sessions", sizeName(s.size), thousands(int64(s.stored)))

	var tables []*Table
	for _, measure := range []func(context.Context, *scaling) (*Table, error){
		r.scalingGoroutines, r.scalingHandshakes, r.scalingProcesses,
	} {
		t, err := measure(ctx, s)
		if t != nil {
			tables = append(tables, t)
		}
		if err != nil {
			return tables, err
		}
	}
	return tables, nil
}

// scalingGoroutines measures get-hit and add with 1..8 goroutines, on
// the segment and on a Go map holding as many sessions.
func (r *runner) scalingGoroutines(ctx context.Context, s *scaling) (*Table, error) {
	t := &Table{
		ID:    "scaling-goroutines",
		Title: "Scaling with goroutines in one process (operations/s, all goroutines together)",
		Note: fmt.Sprintf("shm: one %s segment at %d%% fill (%s sessions), real TLS 1.3 states; add replaces entries in order. "+
			"map: a Go map under a sync.RWMutex with as many sessions. Median over runs. The machine has %d CPUs.",
			sizeName(s.size), scalingFill, thousands(int64(s.stored)), runtime.NumCPU()),
		Columns: []string{"goroutines", "shm get-hit", "shm add", "map get-hit", "map add", "shm get-hit vs 1", "shm add vs 1"},
	}
	m := newMapCache(int(s.stored), s.values)
	type scase struct {
		g     int
		op    string
		cache getAdder
		what  string
	}
	// Per goroutine count: shm get-hit, map get-hit, shm add, map add.
	var cases []scase
	for _, g := range r.o.Goroutines {
		for _, op := range scalingOps {
			cases = append(cases, scase{g, op, s.sc, "shm"}, scase{g, op, m, "map"})
		}
	}
	samples, err := r.rounds(ctx, len(cases), func(ctx context.Context, i, round int) (float64, error) {
		c := cases[i]
		res := runJob(ctx, c.cache, s.job(c.op, c.g, 0, 1))
		if res.Err != "" {
			return 0, fmt.Errorf("%s %s: %s", c.what, c.op, res.Err)
		}
		v := float64(res.Ops) / res.Seconds
		r.prog.step("scaling %s %-7s %d goroutines run %d/%d: %s ops/s", c.what, c.op, c.g, round+1, r.o.Runs, thousands(int64(v)))
		return v, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	var base [2]float64
	for gi, g := range r.o.Goroutines {
		shmHit, mapHit := median(samples[gi*4]), median(samples[gi*4+1])
		shmAdd, mapAdd := median(samples[gi*4+2]), median(samples[gi*4+3])
		if gi == 0 {
			base = [2]float64{shmHit, shmAdd}
		}
		t.add(count(float64(g)), count(shmHit), count(shmAdd), count(mapHit), count(mapAdd),
			times(ratio(shmHit, base[0])), times(ratio(shmAdd, base[1])))
	}
	return t, nil
}

// scalingProcesses measures get-hit and add with 1..Procs processes
// attached to the segment, one goroutine each.
func (r *runner) scalingProcesses(ctx context.Context, s *scaling) (*Table, error) {
	if r.o.StartWorker == nil {
		return nil, nil
	}
	t := &Table{
		ID:      "scaling-processes",
		Title:   "Scaling with processes sharing one segment (operations/s, all processes together, one goroutine each)",
		Note:    "Each process attaches the same segment; they start together. add: each process replaces its own share of the entries in order.",
		Columns: []string{"processes", "shm get-hit", "shm add", "get-hit vs 1", "add vs 1"},
	}
	type pcase struct {
		n  int
		op string
	}
	var cases []pcase
	for n := 1; n <= r.o.Procs; n++ {
		for _, op := range scalingOps {
			cases = append(cases, pcase{n, op})
		}
	}
	samples, err := r.rounds(ctx, len(cases), func(ctx context.Context, i, round int) (float64, error) {
		c := cases[i]
		v, err := r.multiProcess(ctx, s, c.n, c.op)
		if err == nil {
			r.prog.step("scaling %d processes %-7s run %d/%d: %s ops/s", c.n, c.op, round+1, r.o.Runs, thousands(int64(v)))
		}
		return v, err
	})
	if err != nil {
		return nil, err
	}
	var base [2]float64
	for n := 1; n <= r.o.Procs; n++ {
		hit, add := median(samples[(n-1)*2]), median(samples[(n-1)*2+1])
		if n == 1 {
			base = [2]float64{hit, add}
		}
		t.add(count(float64(n)), count(hit), count(add), times(ratio(hit, base[0])), times(ratio(add, base[1])))
	}
	return t, nil
}

// multiProcess runs op in this process and n-1 workers at once and
// returns the total operations per second.
func (r *runner) multiProcess(ctx context.Context, s *scaling, n int, op string) (float64, error) {
	start := time.Now().Add(500 * time.Millisecond) // time for the workers to start and attach
	var workers []*worker
	defer func() {
		for _, w := range workers {
			if w.cmd.ProcessState == nil {
				w.kill()
			}
		}
	}()
	for p := 1; p < n; p++ {
		j := s.job(op, 1, p, n)
		j.Start = start.UnixNano()
		w, err := startWorker(r.o.StartWorker, j)
		if err != nil {
			return 0, err
		}
		workers = append(workers, w)
	}
	time.Sleep(time.Until(start))
	own := runJob(ctx, s.sc, s.job(op, 1, 0, n))
	if own.Err != "" {
		return 0, fmt.Errorf("%s: %s", op, own.Err)
	}
	total := float64(own.Ops) / own.Seconds
	for _, w := range workers {
		res, err := w.result()
		if err != nil {
			return 0, err
		}
		total += float64(res.Ops) / res.Seconds
	}
	return total, ctx.Err()
}

// scalingHandshakes measures resumed TLS 1.3 ECDSA handshakes through
// the shm cache and through Go's tickets with 1..8 client goroutines.
func (r *runner) scalingHandshakes(ctx context.Context, _ *scaling) (*Table, error) {
	info, err := r.shmSessionInfo()
	if err != nil {
		return nil, err
	}
	var cases []*hsCase
	for _, g := range r.o.Goroutines {
		cases = append(cases,
			&hsCase{version: tls.VersionTLS13, kind: "ecdsa", mode: shmMode(info), conc: g},
			&hsCase{version: tls.VersionTLS13, kind: "ecdsa", mode: goTickets, conc: g})
	}
	samples, err := r.runCases(ctx, cases)
	if err != nil {
		return nil, err
	}
	t := &Table{
		ID:      "scaling-handshakes",
		Title:   "Scaling of resumed TLS 1.3 ECDSA handshakes with concurrent clients (handshakes/s)",
		Note:    "Client and server in one process over TCP loopback; each client goroutine handshakes in a loop.",
		Columns: []string{"clients", "shm:", "Go tickets", "shm / Go tickets"},
	}
	for gi, g := range r.o.Goroutines {
		shm, tk := median(samples[gi*2]), median(samples[gi*2+1])
		t.add(count(float64(g)), count(shm), count(tk), times(ratio(shm, tk)))
	}
	return t, nil
}
