package privsep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the protocol version every record carries. The processes of
// one daemon are one binary (children are started from /proc/self/exe),
// so a mismatch means a corrupt or foreign peer, never an old one.
const Version = 2

// Limits of the wire format. Every field has its own maximum besides.
const (
	// HeaderSize is the size of a record header.
	HeaderSize = 12
	// MaxRecord bounds a whole record, header included.
	MaxRecord = 64 << 10
	// MaxPath bounds a path (PATH_MAX).
	MaxPath = 4096
	// MaxName bounds a user or group name.
	MaxName = 256
	// MaxPassword bounds a password.
	MaxPassword = 1024
	// MaxAddr bounds a network address as "host:port".
	MaxAddr = 128
	// MaxText bounds an error message or a reply text.
	MaxText = 4096
	// MaxGroups bounds a list of group names.
	MaxGroups = 64
)

// A record is one SOCK_SEQPACKET datagram, so record boundaries are the
// kernel's and a descriptor sent with SCM_RIGHTS always arrives with the
// record it belongs to:
//
//	struct {
//	    uint8  version;   // Version
//	    uint8  type;      // the message type; each channel has its own set
//	    uint8  nfds;      // descriptors sent with the record (SCM_RIGHTS): 0 or 1
//	    uint8  reserved;  // 0
//	    uint32 id;        // request id; a reply carries the id of its request
//	    uint32 length;    // bytes in body: HeaderSize + length is the record's size
//	    opaque body[length];
//	} Record;             // at most MaxRecord bytes
//
// Integers are big-endian. In bodies, fields follow one another in the
// order the message's type documents, with no padding:
//
//	uint8, uint32, uint64, int64   fixed size
//	bool                           uint8, 0 or 1 (anything else is an error)
//	string<max>                    uint16 length (at most max), then the bytes
//	list<N, item>                  uint16 count (at most N), then the items
//
// A reader refuses a record whose version, reserved byte, length, nfds or
// any field is out of bounds, and a body with bytes left over; the
// connection is then closed, since the peer does not speak the protocol.
type header struct {
	Version  uint8
	Type     uint8
	NFDs     uint8
	Reserved uint8
	ID       uint32
	Length   uint32
}

func (h header) put(b []byte) {
	b[0], b[1], b[2], b[3] = h.Version, h.Type, h.NFDs, h.Reserved
	binary.BigEndian.PutUint32(b[4:], h.ID)
	binary.BigEndian.PutUint32(b[8:], h.Length)
}

func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: record of %d bytes is shorter than a header", ErrProtocol, len(b))
	}
	h := header{Version: b[0], Type: b[1], NFDs: b[2], Reserved: b[3],
		ID: binary.BigEndian.Uint32(b[4:]), Length: binary.BigEndian.Uint32(b[8:])}
	switch {
	case h.Version != Version:
		return h, fmt.Errorf("%w: version %d, want %d", ErrProtocol, h.Version, Version)
	case h.Reserved != 0:
		return h, fmt.Errorf("%w: reserved byte %d", ErrProtocol, h.Reserved)
	case h.NFDs > 1:
		return h, fmt.Errorf("%w: %d descriptors announced", ErrProtocol, h.NFDs)
	case int64(h.Length) != int64(len(b)-HeaderSize):
		return h, fmt.Errorf("%w: length %d in a record of %d bytes", ErrProtocol, h.Length, len(b))
	}
	return h, nil
}

// ErrProtocol: the peer sent something the protocol does not allow.
var ErrProtocol = errors.New("privsep: protocol violation")

// encoder appends fields to a body. A string longer than its maximum is
// a bug on the sending side: encode records it and the send fails.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) str(s string, max int) {
	if len(s) > max || len(s) > math.MaxUint16 {
		if e.err == nil {
			e.err = fmt.Errorf("privsep: %d-byte field exceeds its maximum of %d", len(s), max)
		}
		s = ""
	}
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strs(l []string, n, max int) {
	if len(l) > n {
		if e.err == nil {
			e.err = fmt.Errorf("privsep: list of %d exceeds its maximum of %d", len(l), n)
		}
		l = nil
	}
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(l)))
	for _, s := range l {
		e.str(s, max)
	}
}

// decoder reads fields from a body; the first error sticks and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("body ends %d bytes early", n-len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i64() int64 { return int64(d.u64()) }

func (d *decoder) bool() bool {
	switch v := d.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("boolean %d", v)
		return false
	}
}

func (d *decoder) str(max int) string {
	n := int(d.u16())
	if n > max {
		d.fail("%d-byte field exceeds its maximum of %d", n, max)
		return ""
	}
	return string(d.take(n))
}

func (d *decoder) strs(n, max int) []string {
	c := int(d.u16())
	if c > n {
		d.fail("list of %d exceeds its maximum of %d", c, n)
		return nil
	}
	var l []string
	for range c {
		l = append(l, d.str(max))
	}
	return l
}

// done reports the first error, or bytes left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	return d.err
}
