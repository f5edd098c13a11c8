package modtlsshm

import (
	"runtime"
	"sync/atomic"
)

// The counters. Hits and misses, which every lookup counts, are in the
// stripes (one per process, see stripe); the others, counted by writers
// under the lock or on rare paths, are in the header. Every counter stops
// at its maximum instead of wrapping to a small number, and so do the
// sums of the stripes.

// count adds one to a header counter.
func (t *table) count(stat int) { incSaturating(&t.h.Stats[stat]) }

// countHit and countMiss count a lookup in this process's stripe.
func (t *table) countHit()  { incSaturating(&t.mine.Hits) }
func (t *table) countMiss() { incSaturating(&t.mine.Misses) }

func incSaturating(c *atomic.Uint64) {
	for {
		v := c.Load()
		if v == ^uint64(0) || c.CompareAndSwap(v, v+1) {
			return
		}
	}
}

// raiseTo raises a header counter to n if it is lower (the largest
// oversize entry).
func (t *table) raiseTo(stat int, n uint64) {
	c := &t.h.Stats[stat]
	for {
		cur := c.Load()
		if n <= cur || c.CompareAndSwap(cur, n) {
			return
		}
	}
}

func addSaturating(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// counters is a snapshot of a segment's counters.
type counters struct {
	hits, misses uint64 // summed over the stripes
	stats        [numStats]uint64
}

// readCounters reads every counter (atomically each, not as a whole).
func (t *table) readCounters() counters {
	var c counters
	for i := range t.stripes {
		c.hits = addSaturating(c.hits, t.stripes[i].Hits.Load())
		c.misses = addSaturating(c.misses, t.stripes[i].Misses.Load())
	}
	for i := range c.stats {
		c.stats[i] = t.h.Stats[i].Load()
	}
	return c
}

// fill is how full the segment is.
type fill struct {
	live, usedBytes uint64
}

// readFill reads the live count and the bytes between Head and Tail as
// one consistent snapshot: lock-free when no write overlaps (as a lookup
// reads), else under the lock.
func (t *table) readFill() (fill, error) {
	for try := 0; try < optimisticTries; try++ {
		s1 := t.h.Seq.Load()
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		f := fill{
			live:      atomic.LoadUint64(&t.h.Live),
			usedBytes: atomic.LoadUint64(&t.h.Tail) - atomic.LoadUint64(&t.h.Head),
		}
		if t.h.Seq.Load() == s1 {
			return f, nil
		}
	}
	if err := t.beginWrite(); err != nil {
		return fill{}, err
	}
	defer t.endWrite()
	return fill{live: t.h.Live, usedBytes: t.h.Tail - t.h.Head}, nil
}
