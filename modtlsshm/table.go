package modtlsshm

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"time"
	"unsafe"

	"github.com/ftpdtls/ftpdtls/trace"
)

// table is the cache proper: the index and data log of one attached
// segment (index.go, log.go), the counters (counters.go) and, when a
// writer died half-way, the repair (repair.go). Every byte of the segment
// is untrusted: each offset and length read from it is checked before
// use, and a record whose checksum does not match is an error and a miss,
// never a value.
//
// Writers (add, delete, clear) hold the write lock (lock.go) and keep Seq
// odd while they change the index or the log. A lookup takes no lock.
//
// # The lock-free read
//
// getAt reads while writers in other processes may be changing the very
// record it reads: replacing it, evicting it, or reusing its bytes for
// another record after the log wrapped. It returns a value only if the
// following hold; together they mean the value was stored whole under
// the key asked for, with the expiry returned.
//
//  1. Sequence. A writer makes Seq odd (an atomic add) before its first
//     change and even (another) after its last. The reader loads Seq
//     (s1), retries while it is odd, looks up and copies, and loads Seq
//     again: if it still reads s1, no write overlapped the read, and
//     every write that ended before s1 was read is visible (the Seq
//     accesses are sequentially consistent atomics; the compiler keeps
//     the plain loads of the lookup and the copy between them). On amd64
//     loads are not reordered with loads, so this is exact. Where the
//     processor may satisfy a plain load after a later load-acquire
//     (arm64), a copy torn by a concurrent write can escape the Seq check,
//     and 4 is what catches it. After optimisticTries reads that
//     overlapped writes (or Seq odd that long: a writer died holding the
//     lock) the reader takes the lock, which recovers a dead holder's
//     lock and repairs.
//  2. Bounds. Every offset and length comes from a local copy (of the
//     slot's fields, read with atomic loads, and of the record header)
//     that is checked against the log before it is used, so a torn or
//     hostile value can only select other bytes of the log, never memory
//     outside it.
//  3. Key. The slot's tag only selects candidates; the record's key bytes
//     are compared with the key asked for in the segment (a filter that
//     costs no allocation), and the checksum below is computed over the
//     key asked for, not over the bytes in the segment.
//  4. Checksum of the copy. The value is copied out of the segment once,
//     into the buffer that is returned, and the CRC-32C is computed over
//     the record header as read for the copy (the local copy whose
//     lengths and expiry are used), the key asked for and that copy of
//     the value; it must equal that header's Sum. The bytes checked are
//     the bytes returned, whatever writers do to the segment afterwards,
//     and they are bound to the key and the expiry reported.
//  5. Early checksum. No field of the record decides anything (the
//     expiry included) before the checksum has covered it; a record whose
//     expiry is damaged is damage, not an expired session.
//
// What a read that overlaps a write can produce: a retry (Seq moved); a
// miss (the slot was freed or now points at another key's record); the
// locked path (the checksum fails); or the value of an entry that a
// concurrent delete or replace removes just after: that read is ordered
// before the write. What it cannot produce: bytes from outside the log
// (2); a value of another key, a mix of two values, or a value with
// another record's expiry (3 and 4: that takes a torn read that Seq does
// not catch, none on amd64, and whose CRC-32C matches, a chance of 2^-32
// per such read); a value deleted or replaced before the read began (1:
// its slot was freed before Seq went even). The race detector cannot see
// any of this (the segment is not Go memory): TestLockFreeReadInterleavings
// places a write at each step of a read, and TestLockFreeReadUnderRewrites
// has writers rewrite, evict and replace the entries readers are reading
// while the readers check every value they get.
type table struct {
	seg     []byte
	h       *header
	stripes []stripe
	mine    *stripe // the stripe this process counts in
	slots   []slot
	data    []byte
	g       geometry
	seed    uint64
	k       *kindSpec
	token   uint64
	shmid   int
	fd      int // the cache file's descriptor, which the lock traces name
	ch      *trace.Channel
	// damaged is set by a writer that found the header's counts wrong;
	// endWrite then repairs. Only the lock holder touches it.
	damaged bool
}

// newTable wraps a segment whose header checkGeometry accepted; fd is the
// cache file's descriptor (for the traces).
func newTable(seg []byte, k *kindSpec, shmid, fd int, ch *trace.Channel) *table {
	h := (*header)(unsafe.Pointer(&seg[0]))
	g := geometryOf(h)
	t := &table{
		seg:     seg,
		h:       h,
		stripes: unsafe.Slice((*stripe)(unsafe.Pointer(&seg[g.stripeOff])), int(g.stripes)),
		slots:   unsafe.Slice((*slot)(unsafe.Pointer(&seg[g.indexOff])), int(g.buckets)*bucketWays),
		data:    seg[g.dataOff : g.dataOff+g.dataSize],
		g:       g,
		seed:    h.Seed,
		k:       k,
		token:   lockToken(),
		shmid:   shmid,
		fd:      fd,
		ch:      ch,
	}
	t.mine = &t.stripes[uint64(t.token>>32)%uint64(len(t.stripes))]
	return t
}

// fits reports whether an entry with this key and value goes into the
// segment (the segment records the largest of each it takes).
func (t *table) fits(key, val []byte) bool {
	return len(key) <= int(t.g.maxKey) && len(val) <= int(t.g.maxData)
}

type getResult int

const (
	resMiss getResult = iota
	resHit
	resExpired // found, but expired: now dropped
	resDamaged // found, but its checksum is wrong: now dropped
)

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

// testHookRead, when set (by tests only), is called at each step of a
// lock-free read, so that a test can write in between.
var testHookRead func(step readStep)

type readStep int

const (
	stepSeqLoaded readStep = iota // after the first Seq load
	stepLookedUp                  // after the slot and record header were read
	stepCopied                    // after the value was copied
)

// getAt is get reading the clock only when a session is found, so that a
// miss costs no clock read. It is the lock-free read (see table).
func (t *table) getAt(key []byte, clock func() time.Time) ([]byte, int64, getResult, error) {
	h := hashKey(t.seed, key)
	now := int64(math.MinInt64)
	for try := 0; try < optimisticTries; try++ {
		s1 := t.h.Seq.Load()
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		if testHookRead != nil {
			testHookRead(stepSeqLoaded)
		}
		m := t.lookup(key, h)
		if testHookRead != nil {
			testHookRead(stepLookedUp)
		}
		var (
			val  []byte
			when int64
			ok   bool
		)
		if m.found() {
			val, when, ok = t.readEntry(m, key)
			if testHookRead != nil {
				testHookRead(stepCopied)
			}
		}
		if t.h.Seq.Load() != s1 {
			continue
		}
		if !m.found() {
			if m.bad >= 0 {
				break // a damaged slot: drop it under the lock
			}
			t.countMiss()
			return nil, 0, resMiss, nil
		}
		if !ok {
			break // the checks of the copy fail: confirm and drop under the lock
		}
		if t.k.kind == kindSession {
			if now == math.MinInt64 {
				now = clock().Unix()
			}
			if when <= now {
				break // drop it under the lock
			}
		}
		t.countHit()
		return val, when, resHit, nil
	}
	if now == math.MinInt64 {
		now = clock().Unix()
	}
	return t.getLocked(key, h, now)
}

// readEntry reads the header of the record m found (a local copy,
// checked by recordAt: a live entry inside the log, with key's length),
// copies the value out of the log and checks the checksum of what it
// copied: the CRC-32C of that header copy, key and the value copy must
// equal the header copy's Sum. It returns the value and the expiry (When)
// of that header copy; ok is false if a check failed. The value goes
// into one new buffer, which first holds the header and key for the
// first part of the checksum (a buffer on the stack would escape into
// crc32's assembly); its length is the value's.
func (t *table) readEntry(m match, key []byte) (val []byte, when int64, ok bool) {
	r, ok := t.recordAt(m.off)
	if !ok || !r.live() || int(r.KeyLen) != len(key) {
		return nil, 0, false
	}
	kl, dl := uint64(len(key)), uint64(r.DataLen)
	const tail = recHdrSize - 4 // the header bytes after Sum
	buf := make([]byte, max(dl, tail+kl))
	e := binary.NativeEndian
	e.PutUint32(buf[0:], r.Size)
	buf[4], buf[5] = r.Kind, r.KeyLen
	e.PutUint16(buf[6:], r.Flags)
	e.PutUint32(buf[8:], r.DataLen)
	e.PutUint64(buf[12:], uint64(r.When))
	e.PutUint64(buf[20:], r.Seq)
	copy(buf[tail:], key)
	sum := crc32.Update(0, castagnoli, buf[:tail+kl])
	v := m.off + recHdrSize + kl
	copy(buf, t.data[v:v+dl])
	if crc32.Update(sum, castagnoli, buf[:dl]) != r.Sum {
		return nil, 0, false
	}
	return buf[:dl:dl], r.When, true
}

// getLocked is the read under the lock: after reads that overlapped
// writes, and to drop what a lock-free read found damaged or expired.
func (t *table) getLocked(key []byte, h uint64, now int64) ([]byte, int64, getResult, error) {
	if err := t.beginWrite(); err != nil {
		t.countMiss()
		return nil, 0, resMiss, err
	}
	defer t.endWrite()
	m := t.lookup(key, h)
	if !m.found() {
		t.countMiss()
		if m.bad >= 0 {
			t.dropBad(m.bad)
			return nil, 0, resDamaged, nil
		}
		return nil, 0, resMiss, nil
	}
	// The checksum covers the expiry too: readEntry checks it first, so
	// that a damaged expiry is counted as damage, not as an expired session.
	val, when, ok := t.readEntry(m, key)
	if !ok {
		t.kill(m.slot, m.off)
		t.count(statErrors)
		t.countMiss()
		return nil, 0, resDamaged, nil
	}
	if t.k.kind == kindSession && when <= now {
		t.kill(m.slot, m.off)
		t.count(statExpired)
		t.countMiss()
		return nil, when, resExpired, nil
	}
	t.countHit()
	return val, when, resHit, nil
}

// add stores val under key, replacing any entry with that key. It always
// makes room: it drops deleted and expired records at the head of the log,
// then the oldest records, and in a full bucket the entry that expires
// (or was cached) first. The caller has checked that the entry fits.
func (t *table) add(key, val []byte, when, now int64) error {
	need := align8(uint64(recHdrSize + len(key) + len(val)))
	h := hashKey(t.seed, key)
	if err := t.beginWrite(); err != nil {
		return err
	}
	defer t.endWrite()
	m := t.lookup(key, h)
	if m.found() {
		t.kill(m.slot, m.off)
		t.count(statReplaced)
	}
	t.dropBad(m.bad)
	t.reclaimHead(now, 8)
	t.reserve(need, now)
	si := t.freeSlot(h, now)
	off := t.appendRecord(key, val, when, need)
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
	m := t.lookup(key, h)
	t.dropBad(m.bad)
	if !m.found() {
		return false, nil
	}
	r, _ := t.recordAt(m.off) // found by the lookup, under the lock: readable
	switch {
	case replaced:
		t.count(statReplaced)
	case t.expired(r.When, now):
		t.count(statExpired)
	default:
		t.count(statDeleted)
	}
	t.kill(m.slot, m.off)
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
// writer dying in between leaves nothing to resurrect. A record recordAt
// refuses (damage) is left alone, and the counts recomputed.
func (t *table) kill(si int, off uint64) {
	r, ok := t.recordAt(off)
	if ok {
		rec := (*record)(unsafe.Pointer(&t.data[off]))
		rec.Flags |= recDead
		rec.Sum = 0
		clear(t.data[off+recHdrSize : off+uint64(r.Size)])
	}
	t.slots[si] = slot{}
	if !ok || r.Kind != recEntry {
		t.damaged = true
		return
	}
	t.dropLive(uint64(r.Size))
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
	for lr := range t.records(t.h.Head, t.h.Tail) {
		if !lr.rec.live() {
			continue
		}
		k := lr.off + recHdrSize
		v := k + uint64(lr.rec.KeyLen)
		end := v + uint64(lr.rec.DataLen)
		if crc32.Checksum(t.data[lr.off+4:end], castagnoli) == lr.rec.Sum {
			out = append(out, entry{
				key:  bytes.Clone(t.data[k:v]),
				val:  bytes.Clone(t.data[v:end]),
				when: lr.rec.When,
				seq:  lr.rec.Seq,
			})
		}
	}
	return out, nil
}
