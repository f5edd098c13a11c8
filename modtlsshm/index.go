package modtlsshm

import (
	"bytes"
	"sync/atomic"
)

// The index: buckets of 8 slots, each pointing at a record of the log.
//
// A key may live in either of two buckets (two-choice hashing keeps the
// buckets evenly filled up to ~95% without a longer probe): the first is
// chosen by the low 32 bits of the hash, the second by a remix of it. A
// lookup reads at most those 16 slots, whatever the size and the fill.

func (t *table) bucketOf(h uint64) int {
	return int((uint64(uint32(h)) * uint64(t.g.buckets)) >> 32)
}

func (t *table) bucket2Of(h uint64) int {
	return int((((h * hm3) >> 32) * uint64(t.g.buckets)) >> 32)
}

// bucketPair returns the first slot index of the key's two buckets.
func (t *table) bucketPair(h uint64) (int, int) {
	return t.bucketOf(h) * bucketWays, t.bucket2Of(h) * bucketWays
}

func tagOf(h uint64) uint32 { return uint32(h>>32) | 1 }

// slotTag and slotOff read a slot's tag and record offset with atomic
// loads (writers may be changing the slot; a tag and an offset of two
// different moments are caught like any other torn read, see table).
func (t *table) slotTag(i int) uint32 { return atomic.LoadUint32(&t.slots[i].Tag) }
func (t *table) slotOff(i int) uint32 { return atomic.LoadUint32(&t.slots[i].Off) }

// match is what a lookup found. It is small enough to be returned in
// registers: the record header it points at is read again, and checked,
// by whoever uses the record (readEntry, recordAt).
type match struct {
	slot int    // the slot pointing at the key's record; -1: not found
	off  uint64 // the record's offset in the data log
	// bad is a slot with the key's tag whose record is not a readable
	// live entry (damage, or for a reader without the lock a write in
	// progress); -1: none.
	bad int
}

func (m match) found() bool { return m.slot >= 0 }

// lookup looks key up in its two buckets.
func (t *table) lookup(key []byte, h uint64) match {
	b1, b2 := t.bucketPair(h)
	// Load the second bucket's first slot now: its cache miss then
	// overlaps the first bucket's instead of following it.
	tag2 := t.slotTag(b2)
	m := t.findIn(b1, key, h)
	if m.found() || b2 == b1 || tag2 == 0 && t.bucketEmpty(b2) {
		return m
	}
	bad1 := m.bad
	if m = t.findIn(b2, key, h); m.bad < 0 {
		m.bad = bad1
	}
	return m
}

// bucketEmpty reports whether no slot of the bucket at base is in use.
func (t *table) bucketEmpty(base int) bool {
	for i := base; i < base+bucketWays; i++ {
		if t.slotTag(i) != 0 {
			return false
		}
	}
	return true
}

func (t *table) findIn(base int, key []byte, h uint64) match {
	tag := tagOf(h)
	m := match{slot: -1, bad: -1}
	for i := base; i < base+bucketWays; i++ {
		if t.slotTag(i) != tag {
			continue
		}
		off := uint64(t.slotOff(i)) * 8
		r, ok := t.recordAt(off)
		if !ok || !r.live() {
			m.bad = i
			continue
		}
		if int(r.KeyLen) != len(key) {
			continue
		}
		k := off + recHdrSize
		if !bytes.Equal(t.data[k:k+uint64(len(key))], key) {
			continue
		}
		m.slot, m.off = i, off
		return m
	}
	return m
}

// dropBad frees a slot whose record is damaged, counting the error.
func (t *table) dropBad(si int) {
	if si >= 0 {
		t.slots[si] = slot{}
		t.count(statErrors)
	}
}

// unindex frees the slot that points at the record at off.
func (t *table) unindex(h uint64, off uint64) {
	b1, b2 := t.bucketPair(h)
	tag := tagOf(h)
	for _, base := range [2]int{b1, b2} {
		for i := base; i < base+bucketWays; i++ {
			if s := &t.slots[i]; s.Tag == tag && uint64(s.Off)*8 == off {
				*s = slot{}
				return
			}
		}
	}
}

// freeSlot returns a free slot in the emptier of h's buckets, emptying
// the one whose entry expires (or was cached) first if both are full.
func (t *table) freeSlot(h uint64, now int64) int {
	b1, b2 := t.bucketPair(h)
	free1, free2 := -1, -1
	n1, n2 := 0, 0
	victim := -1
	var vw int64
	for i := 0; i < bucketWays; i++ {
		if s := &t.slots[b1+i]; s.Tag == 0 {
			n1++
			free1 = b1 + i
		} else if victim < 0 || s.When < vw {
			victim, vw = b1+i, s.When
		}
		if s := &t.slots[b2+i]; s.Tag == 0 {
			n2++
			free2 = b2 + i
		} else if victim < 0 || s.When < vw {
			victim, vw = b2+i, s.When
		}
	}
	switch {
	case n1 > 0 && n1 >= n2:
		return free1
	case n2 > 0:
		return free2
	}
	off := uint64(t.slots[victim].Off) * 8
	if r, ok := t.recordAt(off); ok && r.live() {
		if t.expired(r.When, now) {
			t.count(statExpired)
		} else {
			t.count(statEvicted)
		}
		t.kill(victim, off)
	} else {
		t.slots[victim] = slot{}
		t.count(statErrors)
	}
	return victim
}

// clearSlots empties the index, writing only slots in use.
func (t *table) clearSlots() {
	for i := range t.slots {
		if t.slots[i] != (slot{}) {
			t.slots[i] = slot{}
		}
	}
}
