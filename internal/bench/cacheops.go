package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// Cache operations are timed in batches of opBatch calls; each batch
// gives one sample (its time divided by opBatch), so the tables show the
// distribution of per-operation costs, not only a mean.
const opBatch = 64

// opSamples runs batches of op until d has passed and returns the
// per-operation time of each batch in nanoseconds. between, if set, runs
// untimed after each batch.
func opSamples(ctx context.Context, d time.Duration, op func() error, between func() error) ([]float64, error) {
	var out []float64
	deadline := time.Now().Add(d)
	for {
		start := time.Now()
		for j := 0; j < opBatch; j++ {
			if err := op(); err != nil {
				return out, err
			}
		}
		out = append(out, float64(time.Since(start).Nanoseconds())/opBatch)
		if between != nil {
			if err := between(); err != nil {
				return out, err
			}
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
}

// opStats is the median over runs of each run's median and p99.
type opStats struct{ p50, p99 []float64 }

func (s *opStats) add(samples []float64) {
	s.p50 = append(s.p50, median(samples))
	s.p99 = append(s.p99, quantile(samples, 0.99))
}

func (s *opStats) cells() []Cell {
	if s == nil {
		return []Cell{text("-"), text("-")}
	}
	return []Cell{nanos(median(s.p50)), nanos(median(s.p99))}
}

// cacheOps are the operations measured on a cache.
var cacheOps = []string{"get-hit", "get-miss", "add", "delete"}

// ring is the order in which ids were stored, oldest first, so that
// re-adding the oldest keeps the log in order and the fill level steady.
type ring struct {
	ids        []uint64
	head, size int
}

func newRing(capacity int) *ring { return &ring{ids: make([]uint64, capacity)} }

func (q *ring) push(id uint64) {
	q.ids[(q.head+q.size)%len(q.ids)] = id
	q.size++
}

func (q *ring) pop() uint64 {
	id := q.ids[q.head]
	q.head = (q.head + 1) % len(q.ids)
	q.size--
	return id
}

func (q *ring) at(i int) uint64 { return q.ids[(q.head+i)%len(q.ids)] }

// rng is a small xorshift generator for picking ids.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

// shmBench is one session cache at one fill level.
type shmBench struct {
	sc     *modtlsshm.SessionCache
	q      *ring
	values [][]byte
	exp    time.Time
	next   uint64 // next fresh id
	miss   uint64
	rnd    rng
	id     []byte
	lost   int // stored ids that a get-hit did not find
}

func (b *shmBench) value(i uint64) []byte { return b.values[i%uint64(len(b.values))] }

// topUp stores fresh ids until n are held.
func (b *shmBench) topUp(n int) error {
	for b.q.size < n {
		if err := b.sc.Add(sessionID(b.id, b.next), b.exp, b.value(b.next)); err != nil {
			return err
		}
		b.q.push(b.next)
		b.next++
	}
	return nil
}

func (b *shmBench) op(name string) (op func() error, between func() error) {
	switch name {
	case "get-hit":
		return func() error {
			i := b.q.at(int(b.rnd.next() % uint64(b.q.size)))
			if _, _, err := b.sc.Get(sessionID(b.id, i)); err != nil {
				if !errors.Is(err, modtls.ErrCacheMiss) {
					return err
				}
				b.lost++
			}
			return nil
		}, nil
	case "get-miss":
		return func() error {
			b.miss++
			if _, _, err := b.sc.Get(sessionID(b.id, 1<<62+b.miss)); !errors.Is(err, modtls.ErrCacheMiss) {
				return fmt.Errorf("get of a missing id: %v", err)
			}
			return nil
		}, nil
	case "add":
		return func() error {
			i := b.q.pop()
			b.q.push(i)
			return b.sc.Add(sessionID(b.id, i), b.exp, b.value(i))
		}, nil
	case "delete":
		// Delete the oldest opBatch ids (timed), then store them again at
		// the tail (untimed), which keeps the fill level.
		var batch [opBatch]uint64
		k := 0
		return func() error {
				i := b.q.pop()
				batch[k%opBatch] = i
				k++
				return b.sc.Delete(sessionID(b.id, i))
			}, func() error {
				for _, i := range batch[:min(k, opBatch)] {
					if err := b.sc.Add(sessionID(b.id, i), b.exp, b.value(i)); err != nil {
						return err
					}
					b.q.push(i)
				}
				k = 0
				return nil
			}
	}
	panic("unknown op " + name)
}

// fills are the fill levels measured, in percent of the entries the
// segment held at the first eviction.
var fills = []int{1, 50, 95}

func init() {
	register(&group{
		name: "cache",
		steps: func(r *runner) int {
			return len(r.o.Sizes)*(1+(len(fills)+1)*len(cacheOps)*r.o.Runs) + 2*r.o.Runs
		},
		ready: func(*runner) string { return "" },
		run:   runCacheOps,
	})
}

func runCacheOps(ctx context.Context, r *runner) ([]*Table, error) {
	set, err := r.samples(ctx)
	if err != nil {
		return nil, err
	}
	values := set.values["tls13"]
	t := &Table{
		ID:    "cache",
		Title: "Cache operations (ns per operation, median and p99 of batch samples; median over runs)",
		Note: fmt.Sprintf("Real TLS 1.3 session states (%.0f B) under 32-byte ids, one goroutine. Each sample is a batch of %d operations "+
			"timed together. Fill is a percentage of the entries held at the first eviction. "+
			"add replaces the oldest entry (the fill stays put); delete removes the oldest and they are stored again untimed. "+
			"Floors: the lock word pair (compare-and-swap in a SysV segment, then a store: what every shm write takes) and "+
			"a Go map under a sync.RWMutex holding as many sessions as the fullest row above it; "+
			"for reference, an fcntl F_SETLKW lock/unlock pair, ProFTPD's lock.",
			set.meanLen("tls13"), opBatch),
		Columns: []string{"cache", "get-hit p50", "p99", "get-miss p50", "p99", "add p50", "p99", "delete p50", "p99",
			"evicted", "hits lost"},
	}
	var shmP50 [][]float64 // per shm row, per op
	var sameSize []string
	for _, size := range r.o.Sizes {
		rows, mapP50, n, err := r.cacheOpsAt(ctx, t, size, values)
		if err != nil {
			return []*Table{t}, err
		}
		shmP50 = append(shmP50, rows...)
		fullest := rows[len(rows)-1]
		vs := make([]string, len(cacheOps))
		for i, op := range cacheOps {
			vs[i] = fmt.Sprintf("%s %.2fx", op, ratio(fullest[i], mapP50[i]))
		}
		sameSize = append(sameSize, fmt.Sprintf("%s at %d%% (%s sessions): shm p50 / map p50 = %s.",
			sizeName(size), fills[len(fills)-1], thousands(int64(n)), strings.Join(vs, ", ")))
	}
	if err := r.lockFloors(ctx, t); err != nil {
		return []*Table{t}, err
	}
	for i, op := range cacheOps {
		lo, hi := math.Inf(1), 0.0
		for _, row := range shmP50 {
			lo, hi = min(lo, row[i]), max(hi, row[i])
		}
		t.Findings = append(t.Findings, fmt.Sprintf("%s p50 across sizes and fills: %.0f to %.0f ns (max/min %.2f).", op, lo, hi, hi/lo))
	}
	t.Findings = append(t.Findings, sameSize...)
	return []*Table{t}, nil
}

// cacheOpsAt measures a segment of size at each fill level, then the map
// floor holding as many sessions as the fullest level; it adds their rows
// to t and returns the shm p50s (per fill, per op), the map's p50s and
// the map's entry count.
func (r *runner) cacheOpsAt(ctx context.Context, t *Table, size int64, values [][]byte) (shm [][]float64, mapP50 []float64, n int, err error) {
	res, sc, _, err := r.fillSessions(ctx, size, values)
	if sc != nil {
		defer sc.Remove()
	}
	if err != nil {
		return nil, nil, 0, err
	}
	r.prog.step("cache %s: holds %s sessions at the first eviction", sizeName(size), thousands(int64(res.first)))
	if _, err := sc.Clear(); err != nil {
		return nil, nil, 0, err
	}
	b := &shmBench{sc: sc, q: newRing(max(int(res.first), 2*opBatch) + opBatch), values: values,
		exp: time.Now().Add(time.Hour), rnd: 0x2545f4914f6cdd1d, id: make([]byte, 32)}
	for _, pct := range fills {
		n = max(int(res.first)*pct/100, 2*opBatch)
		if err := b.topUp(n); err != nil {
			return nil, nil, 0, err
		}
		before, _ := sc.Stats()
		b.lost = 0
		stats, err := r.measureOps(ctx, fmt.Sprintf("cache %s fill %d%%", sizeName(size), pct), b)
		if err != nil {
			return nil, nil, 0, err
		}
		after, _ := sc.Stats()
		row := []Cell{text(fmt.Sprintf("shm %s, %d%% (%s sessions)", sizeName(size), pct, thousands(int64(n))))}
		for i := range stats {
			row = append(row, stats[i].cells()...)
		}
		t.add(append(row, count(float64(after.Evicted-before.Evicted)), count(float64(b.lost)))...)
		shm = append(shm, p50s(stats))
	}
	sc.Remove() // before the map takes its memory

	m := newMapCache(n, values)
	stats, err := r.measureOps(ctx, fmt.Sprintf("cache floor map (%s entries)", thousands(int64(n))), m)
	if err != nil {
		return nil, nil, 0, err
	}
	row := []Cell{text(fmt.Sprintf("floor: Go map + sync.RWMutex, %s sessions (one process only)", thousands(int64(n))))}
	for i := range stats {
		row = append(row, stats[i].cells()...)
	}
	t.add(append(row, text("-"), text("-"))...)
	return shm, p50s(stats), n, nil
}

// opSource gives, for an operation name, the timed operation and what
// to run, untimed, after each batch.
type opSource interface {
	op(name string) (op, between func() error)
}

// measureOps times every cache operation of src, in interleaved rounds.
func (r *runner) measureOps(ctx context.Context, what string, src opSource) ([]opStats, error) {
	stats := make([]opStats, len(cacheOps))
	_, err := r.rounds(ctx, len(cacheOps), func(ctx context.Context, i, round int) (float64, error) {
		op, between := src.op(cacheOps[i])
		s, err := opSamples(ctx, r.o.Duration, op, between)
		if err != nil {
			return 0, err
		}
		stats[i].add(s)
		r.prog.step("%s %-8s run %d/%d: p50 %.0f ns, p99 %.0f ns", what, cacheOps[i], round+1, r.o.Runs, median(s), quantile(s, 0.99))
		return median(s), nil
	})
	return stats, err
}

func p50s(stats []opStats) []float64 {
	out := make([]float64, len(stats))
	for i := range stats {
		out[i] = median(stats[i].p50)
	}
	return out
}

// lockFloors measures the lock word pair and an fcntl lock pair.
func (r *runner) lockFloors(ctx context.Context, t *Table) error {
	word, detach, err := privateLockWord()
	if err != nil {
		return err
	}
	defer detach()
	tok := uint64(os.Getpid())<<32 | 1
	lockPair := func() error {
		for !word.CompareAndSwap(0, tok) {
		}
		word.Store(0)
		return nil
	}
	lockFile := filepath.Join(r.dir, "fcntl.lock")
	fd, err := unix.Open(lockFile, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	fcntlPair := func() error {
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		if err := unix.FcntlFlock(uintptr(fd), unix.F_SETLKW, &lk); err != nil {
			return err
		}
		lk.Type = unix.F_UNLCK
		return unix.FcntlFlock(uintptr(fd), unix.F_SETLKW, &lk)
	}
	names := []string{"lock word pair", "fcntl lock pair"}
	ops := []func() error{lockPair, fcntlPair}
	stats := make([]opStats, len(ops))
	_, err = r.rounds(ctx, len(ops), func(ctx context.Context, i, round int) (float64, error) {
		s, err := opSamples(ctx, r.o.Duration, ops[i], nil)
		if err != nil {
			return 0, err
		}
		stats[i].add(s)
		r.prog.step("cache floor %-15s run %d/%d: p50 %.1f ns", names[i], round+1, r.o.Runs, median(s))
		return median(s), nil
	})
	if err != nil {
		return err
	}
	dash := []Cell{text("-"), text("-")}
	lockRow := func(label string, s *opStats) {
		row := []Cell{text(label)}
		row = append(row, dash...)
		row = append(row, dash...)
		row = append(row, s.cells()...)
		row = append(row, s.cells()...)
		row = append(row, text("-"), text("-"))
		t.add(row...)
	}
	lockRow("floor: lock word pair (modtlsshm's write lock)", &stats[0])
	lockRow("reference: fcntl F_SETLKW pair (ProFTPD's lock)", &stats[1])
	return nil
}

// privateLockWord attaches a one-page private SysV segment that is
// already marked for removal (it disappears when detached, even if this
// process dies) and returns a word in it.
func privateLockWord() (*atomic.Uint64, func(), error) {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("private shm segment: %w", err)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("attach private shm segment: %w", err)
	}
	return (*atomic.Uint64)(unsafe.Pointer(&mem[64])), func() { unix.SysvShmDetach(mem) }, nil
}

// mapCache is the in-process floor: what a cache costs without shared
// memory, a lock word, checksums or copies into a segment.
type mapCache struct {
	mu     sync.RWMutex
	m      map[string]mapEntry
	q      *ring
	values [][]byte
	id     []byte
	rnd    rng
	miss   uint64
}

type mapEntry struct {
	expires time.Time
	state   []byte
}

func newMapCache(n int, values [][]byte) *mapCache {
	c := &mapCache{m: make(map[string]mapEntry, n), q: newRing(n + opBatch), values: values, id: make([]byte, 32), rnd: 0x9e3779b97f4a7c15}
	exp := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		c.put(uint64(i), exp)
		c.q.push(uint64(i))
	}
	return c
}

func (c *mapCache) put(i uint64, exp time.Time) {
	c.Add(sessionID(c.id, i), exp, c.values[i%uint64(len(c.values))])
}

func (c *mapCache) get(i uint64) ([]byte, bool) {
	v, _, err := c.Get(sessionID(c.id, i))
	return v, err == nil
}

// Add and Get have modtls.SessionCache's signatures, so that the
// scaling group runs the same jobs on the map.
func (c *mapCache) Add(id []byte, exp time.Time, state []byte) error {
	c.mu.Lock()
	c.m[string(id)] = mapEntry{exp, append([]byte(nil), state...)}
	c.mu.Unlock()
	return nil
}

func (c *mapCache) Get(id []byte) ([]byte, time.Time, error) {
	c.mu.RLock()
	e, ok := c.m[string(id)]
	var out []byte
	if ok {
		out = append(out, e.state...)
	}
	c.mu.RUnlock()
	if !ok {
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	return out, e.expires, nil
}

func (c *mapCache) op(name string) (op, between func() error) {
	exp := time.Now().Add(time.Hour)
	switch name {
	case "get-hit":
		return func() error {
			if _, ok := c.get(c.q.at(int(c.rnd.next() % uint64(c.q.size)))); !ok {
				return errors.New("map lost an entry")
			}
			return nil
		}, nil
	case "get-miss":
		return func() error {
			c.miss++
			c.get(1<<62 + c.miss)
			return nil
		}, nil
	case "add":
		return func() error {
			i := c.q.pop()
			c.q.push(i)
			c.put(i, exp)
			return nil
		}, nil
	}
	var batch [opBatch]uint64
	k := 0
	return func() error {
			i := c.q.pop()
			batch[k%opBatch] = i
			k++
			c.mu.Lock()
			delete(c.m, string(sessionID(c.id, i)))
			c.mu.Unlock()
			return nil
		}, func() error {
			for _, i := range batch[:min(k, opBatch)] {
				c.put(i, exp)
				c.q.push(i)
			}
			k = 0
			return nil
		}
}
