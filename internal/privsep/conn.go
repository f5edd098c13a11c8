package privsep

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Message is one message type of a channel: its fields, encoded in the
// order its documentation gives.
type Message interface {
	// Type is the record type that carries the message.
	Type() uint8
	encode(*encoder)
	decode(*decoder)
}

// Record is a received record: its type and id, its body still encoded,
// and the descriptor that came with it, if any.
type Record struct {
	Type uint8
	ID   uint32
	// File is the descriptor sent with the record; the receiver owns it.
	File *os.File
	// LostFile is true when the record announced a descriptor that did
	// not arrive: the kernel drops passed descriptors that the receiver
	// has no room for (EMFILE).
	LostFile bool
	body     []byte
}

// Decode reads the record's body into m, which must be of the record's
// type.
func (r *Record) Decode(m Message) error {
	if m.Type() != r.Type {
		return fmt.Errorf("%w: record type %d decoded as %T", ErrProtocol, r.Type, m)
	}
	d := decoder{b: r.body}
	m.decode(&d)
	return d.done()
}

// Close closes the record's descriptor, if any.
func (r *Record) Close() {
	if r.File != nil {
		r.File.Close()
		r.File = nil
	}
}

// Conn is one end of a channel: a connected AF_UNIX SOCK_SEQPACKET socket
// carrying records. Send and Recv may be called from different
// goroutines; each is serialised with itself.
type Conn struct {
	uc  *net.UnixConn
	wmu sync.Mutex
	rmu sync.Mutex
	buf []byte
	oob []byte
}

// Pair makes a connected pair of channel ends: one for this process and
// one, as a file, to hand to another process (exec.Cmd.ExtraFiles or a
// record's descriptor). Both are close-on-exec.
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("privsep: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "privsep")
	theirs := os.NewFile(uintptr(fds[1]), "privsep")
	c, err := FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return c, theirs, nil
}

// FileConn makes a Conn of a channel end received as a file (inherited or
// passed). It does not take f: the caller closes it.
func FileConn(f *os.File) (*Conn, error) {
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("privsep: channel: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok || uc.LocalAddr().Network() != "unixpacket" {
		nc.Close()
		return nil, fmt.Errorf("privsep: channel is a %s socket, not unixpacket", nc.LocalAddr().Network())
	}
	return &Conn{uc: uc}, nil
}

// Send sends m as one record with id, and f's descriptor if f is not nil
// (the caller keeps f and may close it once Send returns).
func (c *Conn) Send(id uint32, m Message, f *os.File) error {
	e := encoder{b: make([]byte, HeaderSize, 256)}
	m.encode(&e)
	if e.err != nil {
		return e.err
	}
	if len(e.b) > MaxRecord {
		return fmt.Errorf("privsep: %T record of %d bytes exceeds %d", m, len(e.b), MaxRecord)
	}
	h := header{Version: Version, Type: m.Type(), ID: id, Length: uint32(len(e.b) - HeaderSize)}
	if f != nil {
		h.NFDs = 1
	}
	h.put(e.b)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if f == nil {
		_, _, err := c.uc.WriteMsgUnix(e.b, nil, nil)
		return err
	}
	// Control keeps the descriptor open for the duration of the write
	// without putting the file into blocking mode as Fd would.
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("privsep: descriptor to send: %w", err)
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = c.uc.WriteMsgUnix(e.b, unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return fmt.Errorf("privsep: descriptor to send: %w", err)
	}
	return werr
}

// Recv receives the next record. It returns io.EOF when the peer has
// closed its end. A record that breaks the wire format is an error
// matching ErrProtocol; any descriptor that came with it is closed.
func (c *Conn) Recv() (*Record, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.buf == nil {
		c.buf = make([]byte, MaxRecord+1)
		c.oob = make([]byte, unix.CmsgSpace(4*4)) // room to notice extra descriptors
	}
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(c.buf, c.oob)
	files, ferr := parseRights(c.oob[:oobn])
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	if n == 0 {
		closeAll()
		return nil, io.EOF
	}
	if ferr != nil {
		closeAll()
		return nil, ferr
	}
	if flags&unix.MSG_TRUNC != 0 || n > MaxRecord {
		closeAll()
		return nil, fmt.Errorf("%w: record larger than %d bytes", ErrProtocol, MaxRecord)
	}
	h, err := parseHeader(c.buf[:n])
	if err != nil {
		closeAll()
		return nil, err
	}
	if len(files) > int(h.NFDs) {
		closeAll()
		return nil, fmt.Errorf("%w: %d descriptors with a record announcing %d", ErrProtocol, len(files), h.NFDs)
	}
	r := &Record{Type: h.Type, ID: h.ID, body: append([]byte(nil), c.buf[HeaderSize:n]...)}
	if len(files) == 1 {
		r.File = files[0]
	} else if h.NFDs == 1 {
		r.LostFile = true // MSG_CTRUNC: the kernel could not install it
	}
	return r, nil
}

// parseRights returns the descriptors of SCM_RIGHTS messages as files
// (the kernel set close-on-exec: Go receives with MSG_CMSG_CLOEXEC).
func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", ErrProtocol, err)
	}
	var files []*os.File
	var bad error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = fmt.Errorf("%w: control message of level %d type %d", ErrProtocol, m.Header.Level, m.Header.Type)
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "passed"))
		}
	}
	return files, bad
}

// SetReadDeadline bounds the wait of Recv.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// SetWriteDeadline bounds the wait of Send when the peer does not read.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// Close closes this end; the peer's Recv returns io.EOF.
func (c *Conn) Close() error { return c.uc.Close() }

// CloseWrite tells the peer that nothing more will be sent; receiving
// goes on.
func (c *Conn) CloseWrite() error { return c.uc.CloseWrite() }

// IsClosed reports errors that mean the channel is gone: the peer closed
// it (EOF, EPIPE, ECONNRESET) or this end was closed.
func IsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
