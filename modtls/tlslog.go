package modtls

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/trace"
)

// TLSLogFormatter is a logrus.Formatter writing ProFTPD's TLSLog lines:
//
//	2026-11-25 08:12:11,471 mod_tls/2.9.2[17096]: TLSv1.3 connection accepted, ...
//
// (local time, milliseconds after a comma, the process id in brackets).
type TLSLogFormatter struct {
	PID      int            // 0: os.Getpid() at format time
	Location *time.Location // nil: time.Local
}

// Format implements logrus.Formatter; entry fields are not printed.
func (f *TLSLogFormatter) Format(e *logrus.Entry) ([]byte, error) {
	buf := e.Buffer
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	loc := f.Location
	if loc == nil {
		loc = time.Local
	}
	t := e.Time.In(loc)
	b := buf.AvailableBuffer()
	b = t.AppendFormat(b, "2006-01-02 15:04:05")
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, ',', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), ' ')
	b = append(b, ModuleVersion...)
	b = append(b, '[')
	pid := f.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: "...)
	b = append(b, strings.TrimRight(e.Message, "\n")...)
	b = append(b, '\n')
	buf.Write(b)
	return buf.Bytes(), nil
}

// NewTLSLog returns a logger writing TLSLog lines to w.
func NewTLSLog(w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	l.SetFormatter(&TLSLogFormatter{})
	l.SetLevel(logrus.DebugLevel)
	return l
}

// OpenTLSLog opens the TLSLog file at path with ProFTPD's safe log rules
// (trace.OpenLog) and returns a logger writing to it and the file to close.
func OpenTLSLog(path string) (*logrus.Logger, io.Closer, error) {
	f, err := trace.OpenLog(path)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to open TLSLog: %w", err)
	}
	return NewTLSLog(f), f, nil
}
