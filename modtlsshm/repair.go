package modtlsshm

import (
	"bytes"
	"hash/crc32"
	"unsafe"
)

// repair checks the table after a writer died holding the lock, or
// when the header's positions or counts are damaged. It never brings back
// a record the index had lost (that could be an older value of a key
// stored again since):
//
//  1. it walks the log from Head to Tail and cuts it at the first record
//     that cannot be read (the walk stops there; Tail moves back to it and
//     the rest is zeroed);
//  2. it keeps each slot only if it points at a live record of that walk
//     whose checksum, tag and bucket agree, and, of two slots with one
//     key, the one pointing at the newer record;
//  3. it zeroes every live record that no slot kept (such as a record
//     whose writer died before indexing it), recounts the live entries,
//     and moves NextSeq past every record's sequence number.
//
// Positions that are not even plausible are not walked: the table is
// emptied.
func (t *table) repair() {
	D := t.g.dataSize
	hd, tl := t.h.Head, t.h.Tail
	if hd > tl || tl-hd > D || hd%8 != 0 || tl%8 != 0 {
		t.count(statErrors)
		clear(t.data)
		t.clearSlots()
		t.h.Head, t.h.Tail, t.h.Live, t.h.LiveBytes = 0, 0, 0, 0
		return
	}
	inLog, kept := newOffsetSet(D), newOffsetSet(D)

	// 1. The walk, cut at the first record that cannot be read.
	end := t.skipGap(hd, tl)
	for lr := range t.records(hd, tl) {
		if lr.rec.live() {
			inLog.add(lr.off)
		}
		end = lr.end
	}
	if end != tl {
		t.count(statErrors)
		t.scrub(end, tl)
		t.h.Tail = end
	}

	// 2. The slots that point at sound records of the walk.
	var live, liveBytes uint64
	for i := range t.slots {
		s := t.slots[i]
		if s == (slot{}) {
			continue
		}
		off := uint64(s.Off) * 8
		var r record
		var h uint64
		ok := s.Tag != 0 && off < D && inLog.has(off) && !kept.has(off)
		if ok {
			r, _ = t.recordAt(off) // a record of the walk: readable
			k := off + recHdrSize
			end := k + uint64(r.KeyLen) + uint64(r.DataLen)
			h = hashKey(t.seed, t.data[k:k+uint64(r.KeyLen)])
			ok = crc32.Checksum(t.data[off+4:end], castagnoli) == r.Sum && tagOf(h) == s.Tag &&
				(t.bucketOf(h) == i/bucketWays || t.bucket2Of(h) == i/bucketWays)
		}
		if ok {
			// Another kept slot for the same key: keep the newer record.
			if j, offj, rj, dup := t.findKeptOther(i, h, off, r, kept); dup {
				if rj.Seq > r.Seq {
					ok = false
				} else {
					t.slots[j] = slot{}
					kept.remove(offj)
					live--
					liveBytes -= uint64(rj.Size)
				}
			}
		}
		if !ok {
			t.slots[i] = slot{}
			t.count(statErrors)
			continue
		}
		t.slots[i].When = r.When
		kept.add(off)
		live++
		liveBytes += uint64(r.Size)
	}

	// 3. Records no slot kept are zeroed; counts and NextSeq follow.
	for lr := range t.records(t.h.Head, t.h.Tail) {
		if lr.rec.live() && !kept.has(lr.off) {
			rec := (*record)(unsafe.Pointer(&t.data[lr.off]))
			rec.Flags |= recDead
			rec.Sum = 0
			clear(t.data[lr.off+recHdrSize : lr.off+uint64(lr.rec.Size)])
		}
		if lr.rec.Kind == recEntry && lr.rec.Seq >= t.h.NextSeq {
			t.h.NextSeq = lr.rec.Seq + 1 // "newer" must keep meaning something
		}
	}
	t.h.Live, t.h.LiveBytes = live, liveBytes
}

// findKeptOther looks, in the buckets of hash h, for a slot other than
// si that repair has already kept and whose record has the same key as
// the record r at off.
func (t *table) findKeptOther(si int, h uint64, off uint64, r record, kept offsetSet) (int, uint64, record, bool) {
	key := t.data[off+recHdrSize : off+recHdrSize+uint64(r.KeyLen)]
	b1, b2 := t.bucketPair(h)
	for _, base := range [2]int{b1, b2} {
		for j := base; j < base+bucketWays; j++ {
			s := t.slots[j]
			offj := uint64(s.Off) * 8
			if j == si || s.Tag != tagOf(h) || offj >= t.g.dataSize || !kept.has(offj) {
				continue
			}
			rj, _ := t.recordAt(offj) // kept: a readable record
			if int(rj.KeyLen) == len(key) && bytes.Equal(t.data[offj+recHdrSize:offj+recHdrSize+uint64(rj.KeyLen)], key) {
				return j, offj, rj, true
			}
		}
		if b2 == b1 {
			break
		}
	}
	return 0, 0, record{}, false
}

// offsetSet is a set of record offsets in a log of a given size (one bit
// per 8 bytes).
type offsetSet []uint64

func newOffsetSet(logSize uint64) offsetSet { return make(offsetSet, (logSize/8+63)/64) }

func (s offsetSet) has(off uint64) bool { return s[off/8/64]&(1<<(off/8%64)) != 0 }
func (s offsetSet) add(off uint64)      { s[off/8/64] |= 1 << (off / 8 % 64) }
func (s offsetSet) remove(off uint64)   { s[off/8/64] &^= 1 << (off / 8 % 64) }
