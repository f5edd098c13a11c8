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

func runScaling(ctx context.Context, r *runner) ([]*Table, error) {
	set, err := r.samples(ctx)
	if err != nil {
		return nil, err
	}
	values := set.values["tls13"]
	size := int64(modtlsshm.DefaultSize)
	res, sc, info, err := r.fillSessions(ctx, size, values)
	if sc != nil {
		defer sc.Remove()
	}
	if err != nil {
		return nil, err
	}
	if _, err := sc.Clear(); err != nil {
		return nil, err
	}
	stored := uint64(res.first) * scalingFill / 100
	exp := time.Now().Add(time.Hour)
	id := make([]byte, 32)
	for i := uint64(0); i < stored; i++ {
		if err := sc.Add(sessionID(id, i), exp, values[i%uint64(len(values))]); err != nil {
			return nil, err
		}
	}
	r.prog.step("scaling: %s segment holding %s sessions", sizeName(size), thousands(int64(stored)))

	mk := func(op string, g, part, of int) job {
		return job{Info: info, Op: op, Goroutines: g, Duration: int64(r.o.Duration), Stored: stored,
			Part: part, Of: of, Values: values}
	}
	goroutines := &Table{
		ID:    "scaling-goroutines",
		Title: "Scaling with goroutines in one process (operations/s, all goroutines together)",
		Note: fmt.Sprintf("shm: one %s segment at %d%% fill, real TLS 1.3 states; add replaces entries in order. "+
			"map: a Go map under a sync.RWMutex. Median over runs. The machine has %d CPUs.", sizeName(size), scalingFill, runtime.NumCPU()),
		Columns: []string{"goroutines", "shm get-hit", "shm add", "map get-hit", "map add", "shm get-hit vs 1", "shm add vs 1"},
	}
	m := newMapCache(int(stored), values)
	type scase struct {
		g     int
		op    string
		onMap bool
	}
	var cases []scase
	for _, g := range r.o.Goroutines {
		for _, op := range scalingOps {
			cases = append(cases, scase{g, op, false}, scase{g, op, true})
		}
	}
	samples, err := r.rounds(ctx, len(cases), func(ctx context.Context, i, round int) (float64, error) {
		c := cases[i]
		var res jobResult
		if c.onMap {
			res = runJob(ctx, m, mk(c.op, c.g, 0, 1))
		} else {
			res = runJob(ctx, sc, mk(c.op, c.g, 0, 1))
		}
		if res.Err != "" {
			return 0, fmt.Errorf("%s: %s", c.op, res.Err)
		}
		v := float64(res.Ops) / res.Seconds
		what := "shm"
		if c.onMap {
			what = "map"
		}
		r.prog.step("scaling %s %-7s %d goroutines run %d/%d: %s ops/s", what, c.op, c.g, round+1, r.o.Runs, thousands(int64(v)))
		return v, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	var base [2]float64
	for gi, g := range r.o.Goroutines {
		row := []Cell{count(float64(g))}
		med := make([]float64, 4)
		for k := 0; k < 4; k++ {
			// cases per g: get-hit shm, get-hit map, add shm, add map
			med[k] = median(samples[gi*4+k])
		}
		if gi == 0 {
			base = [2]float64{med[0], med[2]}
		}
		row = append(row, count(med[0]), count(med[2]), count(med[1]), count(med[3]),
			times(ratio(med[0], base[0])), times(ratio(med[2], base[1])))
		goroutines.add(row...)
	}

	tables := []*Table{goroutines}
	if t, err := r.scalingHandshakes(ctx); t != nil || err != nil {
		if t != nil {
			tables = append(tables, t)
		}
		if err != nil {
			return tables, err
		}
	}
	if r.o.StartWorker == nil {
		return tables, nil
	}
	procs := &Table{
		ID:      "scaling-processes",
		Title:   "Scaling with processes sharing one segment (operations/s, all processes together, one goroutine each)",
		Note:    "Each process attaches the same segment; they start together. add: each process replaces its own share of the entries in order.",
		Columns: []string{"processes", "shm get-hit", "shm add", "get-hit vs 1", "add vs 1"},
	}
	type pcase struct {
		n  int
		op string
	}
	var pcases []pcase
	for n := 1; n <= r.o.Procs; n++ {
		for _, op := range scalingOps {
			pcases = append(pcases, pcase{n, op})
		}
	}
	psamples, err := r.rounds(ctx, len(pcases), func(ctx context.Context, i, round int) (float64, error) {
		c := pcases[i]
		v, err := r.multiProcess(ctx, sc, c.n, mk, c.op)
		if err == nil {
			r.prog.step("scaling %d processes %-7s run %d/%d: %s ops/s", c.n, c.op, round+1, r.o.Runs, thousands(int64(v)))
		}
		return v, err
	})
	if err != nil {
		return tables, err
	}
	var pbase [2]float64
	for n := 1; n <= r.o.Procs; n++ {
		hit, add := median(psamples[(n-1)*2]), median(psamples[(n-1)*2+1])
		if n == 1 {
			pbase = [2]float64{hit, add}
		}
		procs.add(count(float64(n)), count(hit), count(add), times(ratio(hit, pbase[0])), times(ratio(add, pbase[1])))
	}
	return append(tables, procs), nil
}

// multiProcess runs op in this process and n-1 workers at once and
// returns the total operations per second.
func (r *runner) multiProcess(ctx context.Context, sc *modtlsshm.SessionCache, n int, mk func(op string, g, part, of int) job, op string) (float64, error) {
	start := time.Now().Add(300 * time.Millisecond) // time for the workers to start and attach
	var workers []*worker
	defer func() {
		for _, w := range workers {
			if w.cmd.ProcessState == nil {
				w.kill()
			}
		}
	}()
	for p := 1; p < n; p++ {
		j := mk(op, 1, p, n)
		j.Start = start.UnixNano()
		w, err := startWorker(r.o.StartWorker, j)
		if err != nil {
			return 0, err
		}
		workers = append(workers, w)
	}
	time.Sleep(time.Until(start))
	own := runJob(ctx, sc, mk(op, 1, 0, n))
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
func (r *runner) scalingHandshakes(ctx context.Context) (*Table, error) {
	info, err := r.shmSessionInfo()
	if err != nil {
		return nil, err
	}
	var cases []*hsCase
	for range r.o.Goroutines {
		cases = append(cases,
			&hsCase{version: tls.VersionTLS13, kind: "ecdsa", mode: shmMode(info)},
			&hsCase{version: tls.VersionTLS13, kind: "ecdsa", mode: goTickets})
	}
	p, err := r.certs()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range cases {
			c.stop()
		}
	}()
	for _, c := range cases {
		if err := c.start(p); err != nil {
			return nil, err
		}
	}
	samples, err := r.rounds(ctx, len(cases), func(ctx context.Context, i, round int) (float64, error) {
		c := cases[i]
		g := r.o.Goroutines[i/2]
		v, err := c.measure(ctx, r.o.Duration, g)
		if err == nil {
			r.prog.step("scaling handshakes TLS 1.3 ECDSA %-10s %d clients run %d/%d: %s hs/s", c.mode.name, g, round+1, r.o.Runs, thousands(int64(v)))
		}
		return v, err
	})
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
