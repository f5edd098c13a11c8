package modtlsshm

import (
	"hash/crc32"
	"iter"
	"unsafe"
)

// The data log: records appended at Tail, dropped at Head. Positions are
// logical (they only grow); a position's offset in the log is the
// position mod DataSize. A record never wraps: when fewer bytes than the
// record needs are left before the end of the log, they are skipped (with
// a padding record if there is room for its header, implicitly if fewer
// than 32 bytes are left) and the record goes at offset 0.

// recordAt reads the record header at offset off of the data log,
// checking that it lies inside the log and is self-consistent.
func (t *table) recordAt(off uint64) (record, bool) {
	D := uint64(len(t.data))
	if off%8 != 0 || off > D || D-off < recHdrSize {
		return record{}, false
	}
	r := *(*record)(unsafe.Pointer(&t.data[off]))
	if r.Size < recHdrSize || r.Size%8 != 0 || uint64(r.Size) > D-off {
		return record{}, false
	}
	switch r.Kind {
	case recPad:
	case recEntry:
		if uint32(r.KeyLen) > t.g.maxKey || r.DataLen > t.g.maxData ||
			uint64(r.Size) != align8(uint64(recHdrSize)+uint64(r.KeyLen)+uint64(r.DataLen)) {
			return record{}, false
		}
	default:
		return record{}, false
	}
	return r, true
}

// logRec is a record as a walk of the log meets it.
type logRec struct {
	pos uint64 // logical position
	off uint64 // offset in the data log
	// end is the logical position after the record (and after the unused
	// end of the log that follows it, if the walk goes on from offset 0).
	end uint64
	rec record // a copy of its header, checked by recordAt
}

// skipGap returns pos, or the start of the next lap if pos is in the
// unused end of the log (fewer than 32 bytes) and the walk goes on past
// it, to to.
func (t *table) skipGap(pos, to uint64) uint64 {
	if gap := t.g.dataSize - pos%t.g.dataSize; gap < recHdrSize && pos+gap <= to {
		return pos + gap
	}
	return pos
}

// records yields the records between the logical positions from and to,
// oldest first, padding included. It stops at the first record that
// cannot be read: one recordAt refuses, or one that runs past to. It is
// the one walk of the log: whoever must know whether the walk reached to
// (repair, the invariant checks) compares the last end (skipGap(from,
// to) when nothing was yielded) with to.
func (t *table) records(from, to uint64) iter.Seq[logRec] {
	return func(yield func(logRec) bool) {
		for pos := t.skipGap(from, to); pos < to; {
			off := pos % t.g.dataSize
			r, ok := t.recordAt(off)
			if !ok || uint64(r.Size) > to-pos {
				return
			}
			end := t.skipGap(pos+uint64(r.Size), to)
			if !yield(logRec{pos: pos, off: off, end: end, rec: r}) {
				return
			}
			pos = end
		}
	}
}

// appendRecord writes a record for key and val at Tail, need bytes (room
// made by reserve), and returns its offset.
func (t *table) appendRecord(key, val []byte, when int64, need uint64) uint64 {
	off := t.h.Tail % t.g.dataSize
	p := t.data[off : off+need]
	r := (*record)(unsafe.Pointer(&p[0]))
	r.Size = uint32(need)
	r.Kind = recEntry
	r.KeyLen = uint8(len(key))
	r.Flags = 0
	r.DataLen = uint32(len(val))
	r.When = when
	r.Seq = t.h.NextSeq
	n := copy(p[recHdrSize:], key)
	n += copy(p[recHdrSize+n:], val)
	clear(p[recHdrSize+n:])
	r.Sum = crc32.Checksum(p[4:recHdrSize+n], castagnoli)
	t.h.NextSeq++
	t.h.Tail += need
	return off
}

// evictHead drops the oldest record of the log (or skips the unused end
// of the log). It returns false if the log is empty.
func (t *table) evictHead(now int64) bool {
	hd, tl := t.h.Head, t.h.Tail
	if hd == tl {
		return false
	}
	D := t.g.dataSize
	p := hd % D
	if D-p < recHdrSize {
		t.h.Head = hd + (D - p)
		return true
	}
	r, ok := t.recordAt(p)
	if !ok || uint64(r.Size) > tl-hd {
		// The log is damaged: start over rather than guess.
		t.count(statErrors)
		t.reset()
		return true
	}
	if r.live() {
		t.unindex(hashKey(t.seed, t.data[p+recHdrSize:p+recHdrSize+uint64(r.KeyLen)]), p)
		if t.expired(r.When, now) {
			t.count(statExpired)
		} else {
			t.count(statEvicted)
		}
		t.dropLive(uint64(r.Size))
	}
	t.h.Head = hd + uint64(r.Size)
	clear(t.data[p : p+uint64(r.Size)])
	return true
}

// reclaimHead drops up to limit dead, padding or expired records from the
// head of the log, so that expired sessions go away as new ones arrive,
// not only when the cache is full.
func (t *table) reclaimHead(now int64, limit int) {
	D := t.g.dataSize
	for i := 0; i < limit && t.h.Head != t.h.Tail; i++ {
		p := t.h.Head % D
		if D-p >= recHdrSize {
			r, ok := t.recordAt(p)
			if !ok || (r.live() && (t.k.kind != kindSession || r.When > now)) {
				return
			}
		}
		t.evictHead(now)
	}
}

// reserve makes need contiguous bytes free at the tail, wrapping to the
// start of the log (behind a padding record) when the end is too close.
func (t *table) reserve(need uint64, now int64) {
	D := t.g.dataSize
	for {
		hd, tl := t.h.Head, t.h.Tail
		p := tl % D
		if p+need > D {
			gap := D - p
			if tl+gap-hd > D {
				t.evictHead(now)
				continue
			}
			if gap >= recHdrSize {
				*(*record)(unsafe.Pointer(&t.data[p])) = record{Size: uint32(gap), Kind: recPad}
			}
			t.h.Tail = tl + gap
			continue
		}
		if tl+need-hd > D {
			t.evictHead(now)
			continue
		}
		return
	}
}

// scrub zeroes the log between logical positions from and to.
func (t *table) scrub(from, to uint64) {
	D := t.g.dataSize
	if to <= from {
		return
	}
	if to-from >= D {
		clear(t.data)
		return
	}
	p, q := from%D, to%D
	if p < q {
		clear(t.data[p:q])
	} else {
		clear(t.data[p:])
		clear(t.data[:q])
	}
}
