package trace

import (
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Default is the pseudo-channel that stands for ProFTPD's core channels.
const Default = "DEFAULT"

// defaultChannels are the channels "DEFAULT" expands to: ProFTPD 1.3.8's
// core channels. Module channels (tls, tls.shmcache, ...) are not included.
var defaultChannels = [...]string{
	"auth", "binding", "command", "config", "ctrls", "data", "delay",
	"directory", "dns", "dso", "encode", "event", "facl", "fsio", "ident",
	"inet", "lock", "log", "module", "netacl", "netio", "pam", "pool",
	"regexp", "response", "scoreboard", "signal", "site", "timer", "var",
	"xfer",
}

// DefaultChannels returns the channels "DEFAULT" expands to.
func DefaultChannels() []string { return slices.Clone(defaultChannels[:]) }

// unset is the packed range of a channel that is not configured: min 1 >
// max 0, so no level passes.
const unset = 1 << 32

func pack(min, max int) uint64 { return uint64(uint32(min))<<32 | uint64(uint32(max)) }

func unpack(r uint64) (min, max int) { return int(int32(r >> 32)), int(int32(uint32(r))) }

// Tracer is one process's trace facility: the table of channel level ranges
// (Trace), the output (TraceLog) and the record options (TraceOptions). All
// methods are safe for concurrent use. A nil *Tracer traces nothing.
type Tracer struct {
	mu       sync.Mutex
	channels map[string]*Channel
	opts     Options
	pid      int
	conn     *Conn
	loc      *time.Location

	hasOut atomic.Bool
	log    *logrus.Logger
	now    func() time.Time // the clock; tests replace it
}

// Channel is a handle on one channel of a Tracer. It follows every later
// SetLevels of its channel, so it may be looked up once and kept. A nil
// *Channel traces nothing.
type Channel struct {
	t     *Tracer
	name  string
	level *atomic.Uint64 // packed min/max; see pack; shared by WithConn handles
	conn  *Conn          // set on a WithConn handle
}

// New returns a Tracer with no channel enabled, no output, DefaultOptions and
// the process's pid.
func New() *Tracer {
	t := &Tracer{
		channels: make(map[string]*Channel),
		opts:     DefaultOptions(),
		pid:      os.Getpid(),
		now:      time.Now,
		log:      logrus.New(),
	}
	// The logger passes everything: the channel ranges have filtered
	// before an Entry exists.
	t.log.SetLevel(logrus.TraceLevel)
	t.log.SetOutput(io.Discard)
	t.log.SetFormatter(t.formatterLocked())
	return t
}

// Channel returns the handle of the named channel, creating it (not
// configured) if needed. Calls with the same name return the same handle.
func (t *Tracer) Channel(name string) *Channel {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.channelLocked(name)
}

func (t *Tracer) channelLocked(name string) *Channel {
	c := t.channels[name]
	if c == nil {
		c = &Channel{t: t, name: name, level: new(atomic.Uint64)}
		c.level.Store(unset)
		t.channels[name] = c
	}
	return c
}

// SetLevels sets the level range of a channel, replacing any earlier range:
// messages of level min..max are written. "DEFAULT" sets each of
// DefaultChannels. A negative min removes the channel's range (as ProFTPD's
// reset does); otherwise min > max, or a max beyond a C int, is
// ErrInvalidLevel. A min of 0 with a max of 0 keeps the channel silent.
func (t *Tracer) SetLevels(channel string, min, max int) error {
	if t == nil {
		return nil
	}
	r := uint64(unset)
	if min >= 0 {
		if min > max || max > maxLevel {
			return ErrInvalidLevel
		}
		r = pack(min, max)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if channel == Default {
		for _, name := range defaultChannels {
			t.channelLocked(name).level.Store(r)
		}
		return nil
	}
	t.channelLocked(channel).level.Store(r)
	return nil
}

// Levels returns the configured range of a channel; ok is false when the
// channel has none.
func (t *Tracer) Levels(channel string) (min, max int, ok bool) {
	if t == nil {
		return 0, 0, false
	}
	t.mu.Lock()
	c := t.channels[channel]
	t.mu.Unlock()
	if c == nil {
		return 0, 0, false
	}
	min, max = unpack(c.level.Load())
	return min, max, min <= max
}

// SetOutput sets the TraceLog writer; nil turns writing off. The Tracer
// does not close the writer. Each record reaches w in one Write call, and
// calls do not overlap.
func (t *Tracer) SetOutput(w io.Writer) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if w == nil {
		t.hasOut.Store(false)
		t.log.SetOutput(io.Discard)
		return
	}
	t.log.SetOutput(w)
	t.hasOut.Store(true)
}

// SetOptions sets the TraceOptions.
func (t *Tracer) SetOptions(o Options) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opts = o
	t.log.SetFormatter(t.formatterLocked())
}

// Options returns the current TraceOptions.
func (t *Tracer) Options() Options {
	if t == nil {
		return Options{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opts
}

// SetConn records the client connection of this process, shown by
// +ConnIPs: client is the client's IP, server is "ip:port" of the local end.
// An empty address is written as "none".
func (t *Tracer) SetConn(client, server string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn = &Conn{Client: client, Server: server}
	t.log.SetFormatter(t.formatterLocked())
}

// ClearConn forgets the connection; records then have the daemon's form
// even with +ConnIPs.
func (t *Tracer) ClearConn() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn = nil
	t.log.SetFormatter(t.formatterLocked())
}

// SetPID sets the pid written in records (ProFTPD writes the session's pid);
// pid <= 0 restores os.Getpid().
func (t *Tracer) SetPID(pid int) {
	if t == nil {
		return
	}
	if pid <= 0 {
		pid = os.Getpid()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pid = pid
	t.log.SetFormatter(t.formatterLocked())
}

// Reset does what ProFTPD does to its trace state on restart: every channel
// range is removed, options return to DefaultOptions and writing stops
// (the caller closes its TraceLog file). Handles stay valid.
func (t *Tracer) Reset() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.channels {
		c.level.Store(unset)
	}
	t.opts = DefaultOptions()
	t.hasOut.Store(false)
	t.log.SetOutput(io.Discard)
	t.log.SetFormatter(t.formatterLocked())
}

func (t *Tracer) formatterLocked() *Formatter {
	return &Formatter{Options: t.opts, PID: t.pid, Conn: t.conn, Location: t.loc}
}

// Name returns the channel's name.
func (c *Channel) Name() string {
	if c == nil {
		return ""
	}
	return c.name
}

// Enabled reports whether a message of this level would be written now:
// a TraceLog is set, level >= 1 and min <= level <= max for the channel.
// Use it to skip building arguments, for example to avoid boxing ints:
//
//	if ch.Enabled(9) {
//		ch.Msg(9, "using shm ID %d", id)
//	}
func (c *Channel) Enabled(level int) bool {
	if c == nil || level <= 0 || !c.t.hasOut.Load() {
		return false
	}
	min, max := unpack(c.level.Load())
	return min <= level && level <= max
}

// Msg writes a record formatted with fmt.Sprintf rules if Enabled(level).
// Nothing is built when the level is filtered out.
func (c *Channel) Msg(level int, format string, args ...any) {
	if !c.Enabled(level) {
		return
	}
	c.t.write(c.name, level, c.conn, format, args)
}

// WithConn returns a handle on the same channel (the same levels, now and
// after later SetLevels) whose records belong to one client connection:
// with +ConnIPs they show "(client CLIENT, server SERVER) " as ProFTPD's
// records of a session process do. In ftpdtls many sessions share one
// process, so the connection travels with the handle rather than with
// the Tracer (SetConn): a server keeps one such handle per connection.
// client is the client's IP, server "ip:port" of the local end; "" is
// written as "none".
func (c *Channel) WithConn(client, server string) *Channel {
	if c == nil {
		return nil
	}
	return &Channel{t: c.t, name: c.name, level: c.level, conn: &Conn{Client: client, Server: server}}
}

func (t *Tracer) write(channel string, level int, conn *Conn, format string, args []any) {
	e := logrus.NewEntry(t.log)
	e.Data[FieldChannel] = channel
	e.Data[FieldLevel] = level
	if conn != nil {
		e.Data[FieldConn] = conn
	}
	e.Time = t.now()
	e.Logf(logrus.TraceLevel, format, args...)
}
