package daemon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/sirupsen/logrus"
)

// systemLogFormatter writes the daemon's log lines in the shape of
// ProFTPD's SystemLog, with the process id (which tells workers apart)
// and, for session lines, the client as "(name[ip])":
//
//	2026-11-25 08:12:11,471 ftpdtls[4242] (203.0.113.7[203.0.113.7]): FTP session opened.
//	2026-11-25 08:12:11,471 ftpdtls[4241]: worker 1 (pid 4242) started
//
// Other fields follow the message as key=value.
type systemLogFormatter struct{ pid int }

func (f systemLogFormatter) Format(e *logrus.Entry) ([]byte, error) {
	b := e.Buffer
	if b == nil {
		b = &bytes.Buffer{}
	}
	b.WriteString(e.Time.Format("2006-01-02 15:04:05,000"))
	fmt.Fprintf(b, " ftpdtls[%d]", f.pid)
	if c, ok := e.Data["client"]; ok {
		fmt.Fprintf(b, " (%v)", c)
	}
	b.WriteString(": ")
	if e.Level <= logrus.WarnLevel {
		b.WriteString(e.Level.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "client" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, " %s=%v", k, e.Data[k])
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// newSystemLog returns the daemon's log writing to w.
func newSystemLog(w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.Out = w
	l.Level = logrus.InfoLevel
	l.Formatter = systemLogFormatter{pid: os.Getpid()}
	return l
}
