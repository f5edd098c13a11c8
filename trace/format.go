package trace

import (
	"bytes"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// Keys of the logrus Entry fields a Formatter reads.
const (
	FieldChannel = "channel" // string: the trace channel
	FieldLevel   = "level"   // int: the message's trace level
	// FieldConn (*Conn), when set, is the connection of the record,
	// shown by +ConnIPs instead of the Formatter's (Channel.WithConn).
	FieldConn = "conn"
)

// MaxRecord is the largest TraceLog record in bytes, newline included.
// ProFTPD formats a record into an 8 KiB buffer.
const MaxRecord = 8192

// Formatter is a logrus.Formatter that writes ProFTPD TraceLog records:
//
//	2026-11-25 08:11:25,316 [16662] <tls.shmcache:9>: message
//	2026-11-25 08:15:02 [18307] <tls.shmcache:9>: message             (-TimestampMillis)
//	[14201] <tls.shmcache:9>: message                                 (-Timestamp)
//	[14201] (client 1.2.3.4, server 5.6.7.8:21) <command:7>: message  (+ConnIPs, Conn set)
//
// Trailing newlines of the message are dropped. A record longer than
// MaxRecord is cut so that its last four characters before the newline are
// "....". ProFTPD then omits the newline (its defect T1); Formatter always
// ends a record with one, so the cut record is exactly MaxRecord bytes.
//
// A Formatter is not changed after it is handed to a logger; Tracer builds a
// new one when options, pid or connection change.
type Formatter struct {
	Options  Options
	PID      int
	Conn     *Conn          // nil: no client connection (the daemon)
	Location *time.Location // nil: time.Local
}

// Conn is the connection shown by +ConnIPs. Server is "ip:port"; an unknown
// address is "none".
type Conn struct {
	Client, Server string
}

// Format implements logrus.Formatter.
func (f *Formatter) Format(e *logrus.Entry) ([]byte, error) {
	buf := e.Buffer
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	channel, _ := e.Data[FieldChannel].(string)
	level, _ := e.Data[FieldLevel].(int)
	g := f
	if c, ok := e.Data[FieldConn].(*Conn); ok && c != nil {
		withConn := *f
		withConn.Conn = c
		g = &withConn
	}
	buf.Write(g.AppendRecord(buf.AvailableBuffer(), e.Time, channel, level, e.Message))
	return buf.Bytes(), nil
}

// AppendRecord appends one record, newline included, to b.
func (f *Formatter) AppendRecord(b []byte, t time.Time, channel string, level int, msg string) []byte {
	start := len(b)
	if f.Options.Timestamp {
		loc := f.Location
		if loc == nil {
			loc = time.Local
		}
		t = t.In(loc)
		b = t.AppendFormat(b, "2006-01-02 15:04:05")
		if f.Options.TimestampMillis {
			ms := t.Nanosecond() / int(time.Millisecond)
			b = append(b, ',', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		}
		b = append(b, ' ')
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(f.PID), 10)
	b = append(b, "] "...)
	if f.Options.ConnIPs && f.Conn != nil {
		b = append(b, "(client "...)
		b = append(b, orNone(f.Conn.Client)...)
		b = append(b, ", server "...)
		b = append(b, orNone(f.Conn.Server)...)
		b = append(b, ") "...)
	}
	b = append(b, '<')
	b = append(b, channel...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(level), 10)
	b = append(b, ">: "...)
	for len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	b = append(b, msg...)
	// ProFTPD keeps at most MaxRecord-1 characters before the NUL and marks
	// a record that filled them with "....".
	if len(b)-start >= MaxRecord-1 {
		b = append(b[:start+MaxRecord-5], "...."...)
	}
	return append(b, '\n')
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
