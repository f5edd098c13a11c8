package modtlsshm

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// A segment is laid out in four regions, all offsets from the start of
// the segment and all integers in the host's byte order (little-endian on
// amd64 and arm64; a big-endian reader sees a wrong magic and refuses the
// segment):
//
//	header   [0, 512)                         the header type below
//	stripes  [StripeOff, +Stripes*128)         counters written by lookups
//	index    [IndexOff, +Buckets*128)          buckets of 8 slots of 16 bytes
//	data     [DataOff, DataOff+DataSize)       a circular log of records
//
// The geometry is chosen when the segment is created and recorded in the
// header; a reader recomputes nothing from its own constants: it checks
// the recorded geometry for bounds and invariants (checkGeometry) and
// uses it as recorded.

const (
	headerSize = 512
	slotSize   = 16
	bucketWays = 8 // slots per bucket
	bucketSize = bucketWays * slotSize
	recHdrSize = 32
	stripeSize = 128
	// layoutVer is the layout version this package reads and writes; see
	// the header type for when it changes.
	layoutVer = 2
	// magicValue is "FTLSSHM1" read as a little-endian uint64.
	magicValue = 0x314d4853534c5446
	// maxStripes bounds the stripe count a reader accepts.
	maxStripes = 1024
)

// Segment kinds (header.Kind).
const (
	kindSession = 1
	kindOCSP    = 2
)

// Counter indices in header.Stats. Hits and misses are not there: they
// are counted in the stripes (see stripe).
const (
	statStored       = iota // entries written
	statDeleted             // entries deleted while still valid
	statExpired             // entries dropped or deleted after their expiry
	statErrors              // damaged entries found (checksum or bounds)
	statExceeded            // entries too large for the segment
	statExceededMax         // largest such entry, in bytes
	statEvicted             // valid entries dropped to make room
	statReplaced            // entries replaced by an add under the same key
	statRecovered           // locks taken over from a dead holder
	statLockTimeouts        // lock waits that gave up
	numStats
)

// header is the first 512 bytes of a segment.
//
//	off size field
//	  0    8 Magic      "FTLSSHM1"; stored last at creation, so a zero magic
//	                    means "being initialised" and anything else foreign
//	  8    4 Version    layout version, 2
//	 12    4 Kind       1 session cache, 2 OCSP response cache
//	 16    8 SegSize    segment size in bytes (multiple of 4096)
//	 24    8 Dev        st_dev of the cache file the key was made from
//	 32    8 Ino        st_ino of that file; ftok keeps only 16 bits of the
//	                    inode and 8 of the device, so a reader compares
//	                    these to tell its own segment from a colliding one
//	 40    8 Created    creation time, Unix seconds
//	 48    8 Seed       random seed of the key hash
//	 56    4 Buckets    number of index buckets
//	 60    4 Ways       slots per bucket, 8
//	 64    8 IndexOff   offset of the index
//	 72    8 DataOff    offset of the data log
//	 80    8 DataSize   bytes in the data log (multiple of 8)
//	 88    4 MaxKey     longest key stored in the segment (32 session, 128 OCSP)
//	 92    4 MaxData    longest value stored (10240 session, 4096 OCSP); the
//	                    log always has room for one record of these sizes
//	 96    4 Typical    record size the capacity estimate assumes
//	100    4 Stripes    number of counter stripes
//	104    8 StripeOff  offset of the stripes
//	112   12 reserved   zero
//	124    4 GeomSum    CRC-32C of bytes 8..124: a damaged geometry is refused
//	128    8 Lock       0 when free, else the holder's token: pid<<32 |
//	                    low 32 bits of the holder's start time (clock ticks
//	                    since boot), so that a reused pid is not mistaken
//	                    for the holder
//	136   56 padding    (the lock word has its own cache line)
//	192    8 Seq        write sequence: odd while a writer changes the
//	                    index or log; readers retry when it moved
//	200   56 padding
//	256    8 Head       logical byte position of the oldest record
//	264    8 Tail       logical position of the next record; physical
//	                    offset = position mod DataSize; 0 <= Tail-Head <= DataSize
//	272    8 NextSeq    sequence number of the next record
//	280    8 Live       records reachable from the index
//	288    8 LiveBytes  bytes of those records
//	296   24 reserved
//	320  128 Stats      16 uint64 counters (statStored ...), updated atomically
//	448   64 reserved
//
// Everything from Lock on changes at run time; everything before it is
// written once, before Magic.
//
// # Changing the format
//
// Bytes 0 to 40 (Magic, Version, Kind, SegSize, Dev, Ino) never move and
// never change meaning, in any version, and neither does GeomSum, the
// CRC-32C at 124 of the write-once bytes 8 to 124 (from layout 2 on;
// layout 1 kept it at 100, over bytes 8 to 100): every version can tell an
// ftpdtls segment of another version from a foreign or a damaged one, say
// so, and remove it (removeSegment reads only those fields).
//
// Without a version bump, a new release may change:
//   - the geometry it gives new segments: bucket count, stripe count,
//     the offsets and sizes of the regions, MaxKey and MaxData, Typical
//     (readers check the recorded values against bounds and invariants,
//     checkGeometry, and use them as recorded; they never compare them
//     with their own tuning, so retuning breaks no deployed segment);
//   - the capacity estimate and every other policy that reads the
//     segment without changing what a record, slot or counter means
//     (eviction order, reclaim limits, lock timeouts);
//   - reserved bytes and unused counter slots, for a figure that is
//     advisory, where zero means "not kept", and that stays right when a
//     process of an older release, which does not know it, writes the
//     segment at the same time (for example a new statistic).
//
// Anything an older reader would misread, or an older writer would
// break, needs a new layoutVer: moving or resizing a field of the header,
// the slot, the record or the stripe; a new meaning for a field or flag;
// the hash, bucket or tag functions; the checksum or what it covers; the
// lock word or the Seq protocol; a field that writers must maintain. A
// segment of another version is refused (ErrLayoutVersion) with the
// command that removes it; nothing is migrated (sessions are a cache:
// clients do a full handshake once).
type header struct {
	Magic     atomic.Uint64
	Version   uint32
	Kind      uint32
	SegSize   uint64
	Dev       uint64
	Ino       uint64
	Created   int64
	Seed      uint64
	Buckets   uint32
	Ways      uint32
	IndexOff  uint64
	DataOff   uint64
	DataSize  uint64
	MaxKey    uint32
	MaxData   uint32
	Typical   uint32
	Stripes   uint32
	StripeOff uint64
	_         [12]byte
	GeomSum   uint32

	Lock atomic.Uint64
	_    [56]byte
	Seq  atomic.Uint64
	_    [56]byte

	Head      uint64
	Tail      uint64
	NextSeq   uint64
	Live      uint64
	LiveBytes uint64
	_         [24]byte

	Stats [16]atomic.Uint64
	_     [64]byte
}

// stripe holds the counters a lookup updates. Every lookup counts a hit
// or a miss; with one shared counter, two processes doing lookups would
// take the counter's cache line from each other on every lookup (2
// processes did 0.79x the lookups of one). A process counts in the stripe
// of its pid (pid mod Stripes, so the consecutive pids of a server's
// workers get different stripes); the status adds all stripes up. A
// stripe is 128 bytes, two cache lines, because x86 processors fetch
// adjacent lines in pairs.
//
//	off size field
//	  0    8 Hits    lookups that returned an entry
//	  8    8 Misses  lookups that did not
//	 16  112 reserved
type stripe struct {
	Hits   atomic.Uint64
	Misses atomic.Uint64
	_      [112]byte
}

// slot is one index entry. A bucket is 8 consecutive slots; a key's
// bucket is chosen by the low 32 bits of its hash and the slot's Tag holds
// the high 32 bits (with the low bit set, so that 0 means empty).
//
//	off size field
//	  0    4 Tag   0 = empty
//	  4    4 Off   offset of the record in the data log, divided by 8
//	  8    8 When  the record's When (session expiry / OCSP cached time),
//	               so that a full bucket can pick a victim without reading
//	               the log
type slot struct {
	Tag  uint32
	Off  uint32
	When int64
}

// record is the 32-byte header of a record in the data log, followed by
// KeyLen key bytes, DataLen value bytes and zero padding to Size.
//
//	off size field
//	  0    4 Sum      CRC-32C of bytes 4 .. 32+KeyLen+DataLen of the record
//	  4    4 Size     whole record in bytes, a multiple of 8, >= 32
//	  8    1 Kind     1 entry, 2 padding (skip Size bytes)
//	  9    1 KeyLen
//	 10    2 Flags    1 = dead (deleted; its key and value are zeroed)
//	 12    4 DataLen
//	 16    8 When     session: expiry time; OCSP: when it was cached (Unix s)
//	 24    8 Seq      the header's NextSeq when it was written
//
// A record that fails these checks is damaged: it counts as an error and
// reads as a miss. Fewer than 32 bytes before the end of the log are
// skipped implicitly (the next record starts at offset 0).
type record struct {
	Sum     uint32
	Size    uint32
	Kind    uint8
	KeyLen  uint8
	Flags   uint16
	DataLen uint32
	When    int64
	Seq     uint64
}

const (
	recEntry   = 1
	recPad     = 2
	recDead    = 1
	headerGeom = 124 // bytes 8..124 are covered by GeomSum
)

// live reports whether r is an entry that has not been deleted.
func (r record) live() bool { return r.Kind == recEntry && r.Flags&recDead == 0 }

// Compile-time layout checks: the documented sizes are the real ones.
var (
	_ [headerSize - unsafe.Sizeof(header{})]byte
	_ [unsafe.Sizeof(header{}) - headerSize]byte
	_ [slotSize - unsafe.Sizeof(slot{})]byte
	_ [recHdrSize - unsafe.Sizeof(record{})]byte
	_ [stripeSize - unsafe.Sizeof(stripe{})]byte
	_ [unsafe.Sizeof(stripe{}) - stripeSize]byte
	_ [headerGeom - unsafe.Offsetof(header{}.GeomSum)]byte
	_ [unsafe.Offsetof(header{}.GeomSum) - headerGeom]byte
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kindSpec is what differs between the session and the OCSP cache.
type kindSpec struct {
	kind        uint32
	proj        byte   // SysV project id for ftok
	maxKey      int    // longest key
	maxData     int    // longest value that always fits
	typicalKey  int    // for the capacity estimate
	typicalData int    // for the capacity estimate
	minRequest  int64  // smallest size= accepted (ProFTPD's numbers)
	what        string // "session" / "OCSP response", in messages
	ctlName     string // "sesscache" / "ocspcache"
	unit        string // "sessions" / "responses"
}

// The project ids differ from ProFTPD's 247 (session) and 249 (OCSP), so
// ProFTPD and ftpdtls pointed at the same file never share a segment.
var (
	sessionKind = &kindSpec{
		kind: kindSession, proj: 'F', maxKey: 32, maxData: 10240,
		// A crypto/tls TLS 1.3 SessionState without client certificates is
		// about 57 bytes; session ids made by modtls are 32 bytes.
		typicalKey: 32, typicalData: 57,
		// ProFTPD's minimum: its 56-byte header plus one 10,288-byte slot.
		minRequest: 10344,
		what:       "session", ctlName: "sesscache", unit: "sessions",
	}
	ocspKind = &kindSpec{
		kind: kindOCSP, proj: 'O', maxKey: 128, maxData: 4096,
		// A SHA-1 hex fingerprint, and a typical signed basic response.
		typicalKey: 40, typicalData: 1500,
		// ProFTPD's minimum: its 48-byte header plus one 4,176-byte slot.
		minRequest: 4224,
		what:       "OCSP response", ctlName: "ocspcache", unit: "responses",
	}
)

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

func (k *kindSpec) typicalRecord() uint64 {
	return align8(uint64(recHdrSize + k.typicalKey + k.typicalData))
}

// geometry is the split of a segment into its regions, as recorded in
// its header.
type geometry struct {
	segSize   uint64
	stripes   uint32
	stripeOff uint64
	indexOff  uint64
	buckets   uint32
	dataOff   uint64
	dataSize  uint64
	maxKey    uint32
	maxData   uint32
	typical   uint64
}

// capacity estimates how many typical entries the segment holds: the
// smaller of the index slots and the data log divided by the typical
// record size. It is the "Max session cache size" of the status.
func (g geometry) capacity() uint64 {
	return min(uint64(g.buckets)*bucketWays, g.dataSize/g.typical)
}

// maxRecord is the size of the largest record the segment stores.
func (g geometry) maxRecord() uint64 {
	return align8(uint64(recHdrSize) + uint64(g.maxKey) + uint64(g.maxData))
}

// maxSegment bounds the segment so that a record offset divided by 8 fits
// a slot's 32-bit Off.
const maxSegment = 32 << 30

// stripesFor is the number of counter stripes a new segment of segSize
// bytes gets: 64 from 1 MiB up (more processes than that rarely look up
// at once), fewer in small segments, down to one, whose 128 bytes the
// smallest segments can spare.
func stripesFor(segSize uint64) uint32 {
	n := uint32(1)
	for n < 64 && uint64(n)*2*(16<<10) <= segSize {
		n *= 2
	}
	return n
}

// computeGeometry is the geometry this program gives a new segment of
// segSize bytes (a multiple of 4096): the header, the counter stripes,
// one index slot per 0.8 typical entries (each entry costs its record
// plus 1.25 slots of 16 bytes), and at least one record of the maximum
// size in the log. ok is false if even that does not fit. Readers never
// call it: they check what the header records (checkGeometry).
func computeGeometry(segSize uint64, k *kindSpec) (g geometry, ok bool) {
	return layoutGeometry(segSize, stripesFor(segSize), k.typicalRecord(), uint32(k.maxKey), uint32(k.maxData))
}

// layoutGeometry lays out a segment of segSize bytes with the given
// stripe count, typical record size and largest key and value.
func layoutGeometry(segSize uint64, stripes uint32, typ uint64, maxKey, maxData uint32) (g geometry, ok bool) {
	g = geometry{segSize: segSize, stripes: stripes, stripeOff: headerSize, maxKey: maxKey, maxData: maxData, typical: typ}
	maxRec := g.maxRecord()
	// The index starts on a 128-byte boundary, so that a bucket is two
	// whole cache lines.
	g.indexOff = (g.stripeOff + uint64(stripes)*stripeSize + bucketSize - 1) &^ (bucketSize - 1)
	if segSize < g.indexOff+bucketSize+maxRec {
		return g, false
	}
	avail := segSize - g.indexOff
	n := avail * 4 / (typ*4 + 5*slotSize) // typical entries that fit
	buckets := max(1, (n*5/4+bucketWays-1)/bucketWays)
	if avail < buckets*bucketSize+maxRec {
		buckets = (avail - maxRec) / bucketSize
	}
	if buckets > 1<<31 {
		buckets = 1 << 31
	}
	g.buckets = uint32(buckets)
	g.dataOff = g.indexOff + buckets*bucketSize
	g.dataSize = (segSize - g.dataOff) &^ 7
	return g, true
}

// geometryOf reads the geometry a header records.
func geometryOf(h *header) geometry {
	return geometry{
		segSize:   h.SegSize,
		stripes:   h.Stripes,
		stripeOff: h.StripeOff,
		indexOff:  h.IndexOff,
		buckets:   h.Buckets,
		dataOff:   h.DataOff,
		dataSize:  h.DataSize,
		maxKey:    h.MaxKey,
		maxData:   h.MaxData,
		typical:   uint64(h.Typical),
	}
}

// geomSum is the checksum of the write-once geometry fields.
func geomSum(h *header) uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(h)), headerSize)
	return crc32.Checksum(b[8:headerGeom], castagnoli)
}

// Hash constants (splitmix64 / golden ratio).
const (
	hm1 = 0x9e3779b97f4a7c15
	hm2 = 0xbf58476d1ce4e5b9
	hm3 = 0x94d049bb133111eb
)

// hashKey hashes every byte of key with the segment's seed (ProFTPD's
// hash looked at the first byte only, B1). It reads 8 bytes per step and
// ends with the splitmix64 finaliser, so that every input bit reaches
// both the bucket (low half) and the tag (high half).
func hashKey(seed uint64, key []byte) uint64 {
	h := seed ^ uint64(len(key))*hm1
	for len(key) >= 8 {
		k := binary.LittleEndian.Uint64(key) * hm2
		k ^= k >> 31
		h = bits.RotateLeft64(h^k, 27)*hm1 + hm3
		key = key[8:]
	}
	if len(key) > 0 {
		var t uint64
		for i, c := range key {
			t |= uint64(c) << (8 * i)
		}
		t *= hm2
		t ^= t >> 31
		h = bits.RotateLeft64(h^t, 27)*hm1 + hm3
	}
	h ^= h >> 30
	h *= hm2
	h ^= h >> 27
	h *= hm3
	h ^= h >> 31
	return h
}
