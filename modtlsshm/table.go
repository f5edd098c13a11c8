package modtlsshm

import (
	"bytes"
	"hash/crc32"
	"math"
	"runtime"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/trace"
)

// table is the cache proper: the index and data log of one attached
// segment. Every byte of the segment is treated as untrusted: each offset
// and length read from it is checked before use, and a record whose
// checksum does not match is an error and a miss, never a value.
//
// Writers (add, delete, clear) hold the write lock and keep Seq odd while
// they change anything. get takes no lock: it reads Seq, looks the key
// up, copies the value, checks the record's checksum and reads Seq again;
// if Seq moved it tries again, and after a few tries it takes the lock.
type table struct {
	seg   []byte
	h     *header
	slots []slot
	data  []byte
	g     geometry
	seed  uint64
	k     *kindSpec
	token uint64
	shmid int
	ch    *trace.Channel
	// damaged is set by a writer that found the header's counts wrong;
	// endWrite then repairs. Only the lock holder touches it.
	damaged bool
}

// newTable wraps a segment whose header checkGeometry accepted.
func newTable(seg []byte, k *kindSpec, shmid int, ch *trace.Channel) *table {
	h := (*header)(unsafe.Pointer(&seg[0]))
	g := geometry{
		segSize:  h.SegSize,
		buckets:  h.Buckets,
		dataOff:  h.DataOff,
		dataSize: h.DataSize,
		typical:  uint64(h.Typical),
	}
	return &table{
		seg:   seg,
		h:     h,
		slots: unsafe.Slice((*slot)(unsafe.Pointer(&seg[headerSize])), int(g.buckets)*bucketWays),
		data:  seg[g.dataOff : g.dataOff+g.dataSize],
		g:     g,
		seed:  h.Seed,
		k:     k,
		token: lockToken(),
		shmid: shmid,
		ch:    ch,
	}
}

type getResult int

const (
	resMiss getResult = iota
	resHit
	resExpired // found, but expired: now dropped
	resDamaged // found, but its checksum is wrong: now dropped
)

// A key may live in either of two buckets (two-choice hashing keeps the
// buckets evenly filled up to ~95% without a longer probe): the first is
// chosen by the low 32 bits of the hash, the second by a remix of it.
func (t *table) bucketOf(h uint64) int {
	return int((uint64(uint32(h)) * uint64(t.g.buckets)) >> 32)
}

func (t *table) bucket2Of(h uint64) int {
	return int((((h * hm3) >> 32) * uint64(t.g.buckets)) >> 32)
}

// buckets returns the first slot index of the key's two buckets.
func (t *table) bucketPair(h uint64) (int, int) {
	return t.bucketOf(h) * bucketWays, t.bucket2Of(h) * bucketWays
}

func tagOf(h uint64) uint32 { return uint32(h>>32) | 1 }

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
		if int(r.KeyLen) > t.k.maxKey || int(r.DataLen) > t.k.maxData ||
			uint64(r.Size) != align8(uint64(recHdrSize)+uint64(r.KeyLen)+uint64(r.DataLen)) {
			return record{}, false
		}
	default:
		return record{}, false
	}
	return r, true
}

// find looks key up in its two buckets: at most 16 slots, whatever the
// fill and the size.
func (t *table) find(key []byte, h uint64) (si int, off uint64, r record, ok bool) {
	si, off, r, ok, _ = t.lookup(key, h)
	return
}

// lookup is find that also reports, in bad, a slot with the key's tag
// whose record is not a readable live entry: damage (or, for a reader
// without the lock, a write in progress), or -1.
func (t *table) lookup(key []byte, h uint64) (si int, off uint64, r record, ok bool, bad int) {
	b1, b2 := t.bucketPair(h)
	// Load the second bucket's first slot now: its cache miss then
	// overlaps the first bucket's instead of following it.
	tag2 := t.slots[b2].Tag
	if si, off, r, ok, bad = t.findIn(b1, key, h); ok || b2 == b1 || tag2 == 0 && t.bucketEmpty(b2) {
		return
	}
	bad1 := bad
	if si, off, r, ok, bad = t.findIn(b2, key, h); bad < 0 {
		bad = bad1
	}
	return
}

// bucketEmpty reports whether no slot of the bucket at base is in use.
func (t *table) bucketEmpty(base int) bool {
	for i := base; i < base+bucketWays; i++ {
		if t.slots[i].Tag != 0 {
			return false
		}
	}
	return true
}

func (t *table) findIn(base int, key []byte, h uint64) (si int, off uint64, r record, ok bool, bad int) {
	tag := tagOf(h)
	bad = -1
	for i := base; i < base+bucketWays; i++ {
		s := &t.slots[i]
		if s.Tag != tag {
			continue
		}
		off := uint64(s.Off) * 8
		r, ok := t.recordAt(off)
		if !ok || r.Kind != recEntry || r.Flags&recDead != 0 {
			bad = i
			continue
		}
		if int(r.KeyLen) != len(key) {
			continue
		}
		k := off + recHdrSize
		if !bytes.Equal(t.data[k:k+uint64(len(key))], key) {
			continue
		}
		return i, off, r, true, bad
	}
	return -1, 0, record{}, false, bad
}

// dropBad frees a slot whose record is damaged, counting the error.
func (t *table) dropBad(si int) {
	if si >= 0 {
		t.slots[si] = slot{}
		t.count(statErrors)
	}
}

// expired tells whether a record's When counts as expired at now: a
// session past its expiry, an OCSP response cached over an hour ago (the
// age ProFTPD's statistics use).
func (t *table) expired(when, now int64) bool {
	if t.k.kind == kindSession {
		return when <= now
	}
	return now-when >= 3600
}

const optimisticTries = 8

// get returns a copy of the value stored under key. Sessions past their
// expiry (When <= now) are not returned; they are dropped and counted as
// expired.
func (t *table) get(key []byte, now int64) ([]byte, int64, getResult, error) {
	return t.getAt(key, func() time.Time { return time.Unix(now, 0) })
}

// getAt is get reading the clock only when a session is found, so that a
// miss costs no clock read.
func (t *table) getAt(key []byte, clock func() time.Time) ([]byte, int64, getResult, error) {
	h := hashKey(t.seed, key)
	var buf []byte
	now := int64(math.MinInt64)
	for try := 0; try < optimisticTries; try++ {
		s1 := t.h.Seq.Load()
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		_, off, r, ok, bad := t.lookup(key, h)
		if !ok {
			if t.h.Seq.Load() != s1 {
				continue
			}
			if bad >= 0 {
				break // a damaged slot: drop it under the lock
			}
			t.count(statMisses)
			return nil, 0, resMiss, nil
		}
		if t.k.kind == kindSession {
			if now == math.MinInt64 {
				now = clock().Unix()
			}
			if r.When <= now {
				break // drop it under the lock
			}
		}
		n := uint64(r.DataLen)
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		v := off + recHdrSize + uint64(r.KeyLen)
		copy(buf, t.data[v:v+n])
		sum := crc32.Checksum(t.data[off+4:v+n], castagnoli)
		if t.h.Seq.Load() != s1 {
			continue
		}
		if sum != r.Sum {
			break // confirm under the lock
		}
		t.count(statHits)
		return buf, r.When, resHit, nil
	}
	if now == math.MinInt64 {
		now = clock().Unix()
	}
	return t.getLocked(key, h, now, buf)
}

func (t *table) getLocked(key []byte, h uint64, now int64, buf []byte) ([]byte, int64, getResult, error) {
	if err := t.beginWrite(); err != nil {
		t.count(statMisses)
		return nil, 0, resMiss, err
	}
	defer t.endWrite()
	si, off, r, ok, bad := t.lookup(key, h)
	if !ok {
		t.count(statMisses)
		if bad >= 0 {
			t.dropBad(bad)
			return nil, 0, resDamaged, nil
		}
		return nil, 0, resMiss, nil
	}
	// The checksum covers the expiry too: check it first, so that a
	// damaged expiry is counted as damage, not as an expired session.
	v := off + recHdrSize + uint64(r.KeyLen)
	n := uint64(r.DataLen)
	if crc32.Checksum(t.data[off+4:v+n], castagnoli) != r.Sum {
		t.kill(si, off)
		t.count(statErrors)
		t.count(statMisses)
		return nil, 0, resDamaged, nil
	}
	if t.k.kind == kindSession && r.When <= now {
		t.kill(si, off)
		t.count(statExpired)
		t.count(statMisses)
		return nil, r.When, resExpired, nil
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, t.data[v:v+n])
	t.count(statHits)
	return buf, r.When, resHit, nil
}

// add stores val under key, replacing any entry with that key. It always
// makes room: it drops deleted and expired records at the head of the log,
// then the oldest records, and in a full bucket the entry that expires
// (or was cached) first. The caller has checked the lengths.
func (t *table) add(key, val []byte, when, now int64) error {
	need := align8(uint64(recHdrSize + len(key) + len(val)))
	h := hashKey(t.seed, key)
	if err := t.beginWrite(); err != nil {
		return err
	}
	defer t.endWrite()
	si, off, _, ok, bad := t.lookup(key, h)
	if ok {
		t.kill(si, off)
		t.count(statReplaced)
	}
	t.dropBad(bad)
	t.reclaimHead(now, 8)
	t.reserve(need, now)
	si = t.freeSlot(h, now)

	off = t.h.Tail % t.g.dataSize
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
	t.slots[si] = slot{Tag: tagOf(h), Off: uint32(off / 8), When: when}
	t.h.Live++
	t.h.LiveBytes += need
	t.count(statStored)
	return nil
}

// del removes key's entry; found is false if there was none. A removed
// session still valid counts as deleted, an expired one as expired; an
// OCSP response cached over an hour ago counts as expired (B15).
func (t *table) del(key []byte, now int64) (found bool, err error) {
	return t.delCounting(key, now, false)
}

// delCounting is del; with replaced set the removal counts as a
// replacement (an oversize add superseding a stored entry).
func (t *table) delCounting(key []byte, now int64, replaced bool) (found bool, err error) {
	h := hashKey(t.seed, key)
	if err := t.beginWrite(); err != nil {
		return false, err
	}
	defer t.endWrite()
	si, off, r, ok, bad := t.lookup(key, h)
	t.dropBad(bad)
	if !ok {
		return false, nil
	}
	switch {
	case replaced:
		t.count(statReplaced)
	case t.expired(r.When, now):
		t.count(statExpired)
	default:
		t.count(statDeleted)
	}
	t.kill(si, off)
	return true, nil
}

// clearAll drops and scrubs every entry; it returns how many were live.
func (t *table) clearAll() (int, error) {
	if err := t.beginWrite(); err != nil {
		return 0, err
	}
	defer t.endWrite()
	n := int(t.h.Live)
	t.reset()
	return n, nil
}

// kill removes the record at off, indexed by slot si: it marks the record
// dead and zeroes its key and value first, then frees the slot, so that a
// writer dying in between leaves nothing to resurrect.
func (t *table) kill(si int, off uint64) {
	r := (*record)(unsafe.Pointer(&t.data[off]))
	size := uint64(r.Size)
	r.Flags |= recDead
	r.Sum = 0
	clear(t.data[off+recHdrSize : off+size])
	t.slots[si] = slot{}
	t.dropLive(size)
}

// count adds one to a counter, stopping at the maximum rather than
// wrapping to a small number.
func (t *table) count(stat int) {
	c := &t.h.Stats[stat]
	for {
		v := c.Load()
		if v == ^uint64(0) || c.CompareAndSwap(v, v+1) {
			return
		}
	}
}

// dropLive takes one record of size bytes off the live counts. Counts
// that would go below zero were damaged: they are recomputed when the
// write ends.
func (t *table) dropLive(size uint64) {
	if t.h.Live == 0 || t.h.LiveBytes < size {
		t.damaged = true
		return
	}
	t.h.Live--
	t.h.LiveBytes -= size
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
	if r, ok := t.recordAt(off); ok && r.Kind == recEntry && r.Flags&recDead == 0 {
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

// evictHead drops the oldest record of the log. It returns false if the
// log is empty.
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
	if r.Kind == recEntry && r.Flags&recDead == 0 {
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
			if !ok || (r.Kind == recEntry && r.Flags&recDead == 0 &&
				(t.k.kind != kindSession || r.When > now)) {
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

// clearSlots empties the index, writing only slots in use.
func (t *table) clearSlots() {
	for i := range t.slots {
		if t.slots[i].Tag != 0 || t.slots[i].Off != 0 || t.slots[i].When != 0 {
			t.slots[i] = slot{}
		}
	}
}

// reset empties and scrubs the whole table.
func (t *table) reset() {
	hd, tl := t.h.Head, t.h.Tail
	if hd <= tl && tl-hd <= t.g.dataSize {
		t.scrub(hd, tl)
	} else {
		clear(t.data)
	}
	t.clearSlots()
	t.h.Head, t.h.Tail = 0, 0
	t.h.Live, t.h.LiveBytes = 0, 0
}

// repair checks the table after a writer died holding the lock, or
// when the header's positions are damaged. It never brings back a record
// the index had lost (that could be an older value of a key stored again
// since): it walks the log from head to tail, cutting it at the first
// record that cannot be read; keeps each slot only if it points at a live
// record of that walk whose checksum, tag and bucket agree, and, of two
// slots with one key, the newer record; then zeroes every live record
// that no slot kept (such as a record whose writer died before indexing
// it) and recounts.
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
	words := (D/8 + 63) / 64
	inLog, kept := make([]uint64, words), make([]uint64, words)
	bit := func(m []uint64, off uint64) bool { return m[off/8/64]&(1<<(off/8%64)) != 0 }
	set := func(m []uint64, off uint64, on bool) {
		if on {
			m[off/8/64] |= 1 << (off / 8 % 64)
		} else {
			m[off/8/64] &^= 1 << (off / 8 % 64)
		}
	}
	walk := func(fn func(p uint64, r record)) {
		for pos := t.h.Head; pos < t.h.Tail; {
			p := pos % D
			if D-p < recHdrSize {
				pos += D - p
				continue
			}
			r, _ := t.recordAt(p)
			fn(p, r)
			pos += uint64(r.Size)
		}
	}
	for pos := hd; pos < tl; {
		p := pos % D
		if D-p < recHdrSize {
			pos += D - p
			continue
		}
		r, ok := t.recordAt(p)
		if !ok || uint64(r.Size) > tl-pos {
			t.count(statErrors)
			t.scrub(pos, tl)
			t.h.Tail = pos
			break
		}
		if r.Kind == recEntry && r.Flags&recDead == 0 {
			set(inLog, p, true)
		}
		pos += uint64(r.Size)
	}

	var live, liveBytes uint64
	for i := range t.slots {
		s := t.slots[i]
		if s == (slot{}) {
			continue
		}
		off := uint64(s.Off) * 8
		var r record
		ok := s.Tag != 0 && off < D && bit(inLog, off) && !bit(kept, off)
		var h uint64
		if ok {
			r, _ = t.recordAt(off)
			k := off + recHdrSize
			end := k + uint64(r.KeyLen) + uint64(r.DataLen)
			h = hashKey(t.seed, t.data[k:k+uint64(r.KeyLen)])
			ok = crc32.Checksum(t.data[off+4:end], castagnoli) == r.Sum && tagOf(h) == s.Tag &&
				(t.bucketOf(h) == i/bucketWays || t.bucket2Of(h) == i/bucketWays)
		}
		if ok {
			// Another kept slot for the same key: keep the newer record.
			if j, offj, rj, dup := t.findKeptOther(i, h, off, kept); dup {
				if rj.Seq > r.Seq {
					ok = false
				} else {
					t.slots[j] = slot{}
					set(kept, offj, false)
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
		set(kept, off, true)
		live++
		liveBytes += uint64(r.Size)
	}
	walk(func(p uint64, r record) {
		if r.Kind == recEntry && r.Flags&recDead == 0 && !bit(kept, p) {
			rec := (*record)(unsafe.Pointer(&t.data[p]))
			rec.Flags |= recDead
			rec.Sum = 0
			clear(t.data[p+recHdrSize : p+uint64(r.Size)])
		}
	})
	t.h.Live, t.h.LiveBytes = live, liveBytes
	// Sequence numbers must keep growing for "newer" to mean anything.
	walk(func(_ uint64, r record) {
		if r.Kind == recEntry && r.Seq >= t.h.NextSeq {
			t.h.NextSeq = r.Seq + 1
		}
	})
}

// findKeptOther looks, in the buckets of hash h, for a slot other than
// si that repair has already kept and whose record has the same key as
// the record at off.
func (t *table) findKeptOther(si int, h uint64, off uint64, kept []uint64) (int, uint64, record, bool) {
	r, _ := t.recordAt(off)
	key := t.data[off+recHdrSize : off+recHdrSize+uint64(r.KeyLen)]
	b1, b2 := t.bucketPair(h)
	for _, base := range [2]int{b1, b2} {
		for j := base; j < base+bucketWays; j++ {
			s := t.slots[j]
			offj := uint64(s.Off) * 8
			if j == si || s.Tag != tagOf(h) || offj >= t.g.dataSize || kept[offj/8/64]&(1<<(offj/8%64)) == 0 {
				continue
			}
			rj, _ := t.recordAt(offj)
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

// entry is a copy of one live record, for status listings.
type entry struct {
	key, val []byte
	when     int64
	seq      uint64
}

// entries copies the live, undamaged records, oldest first.
func (t *table) entries() ([]entry, error) {
	if err := t.beginWrite(); err != nil {
		return nil, err
	}
	defer t.endWrite()
	var out []entry
	D := t.g.dataSize
	for pos := t.h.Head; pos < t.h.Tail; {
		p := pos % D
		if D-p < recHdrSize {
			pos += D - p
			continue
		}
		r, ok := t.recordAt(p)
		if !ok {
			break
		}
		if r.Kind == recEntry && r.Flags&recDead == 0 {
			k := p + recHdrSize
			v := k + uint64(r.KeyLen)
			end := v + uint64(r.DataLen)
			if crc32.Checksum(t.data[p+4:end], castagnoli) == r.Sum {
				out = append(out, entry{
					key:  bytes.Clone(t.data[k:v]),
					val:  bytes.Clone(t.data[v:end]),
					when: r.When,
					seq:  r.Seq,
				})
			}
		}
		pos += uint64(r.Size)
	}
	return out, nil
}
