package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
)

// The server log is ProFTPD's SystemLog, line for line, with "ftpdtls"
// where ProFTPD writes "proftpd":
//
//	2026-12-07 12:15:36,132 vm ftpdtls[3434] 127.0.0.1 (127.0.0.1[127.0.0.1]): FTP session opened.
//	2026-12-07 12:15:25,309 vm ftpdtls[2841] 127.0.0.1: ftpdtls v1.2.0 (go1.26.8) standalone mode STARTUP
//
// The host is this machine's name up to its first dot; then the process
// id (which tells workers apart), the server's address (ProFTPD's
// ServerFQDN, which without reverse DNS is the address DefaultAddress
// names, or this host's address without it), and, for lines about a
// session, the client as "(name[ip])" (the engine's "client" field).
// Warnings and errors start with "warning: " and "error: "; other fields
// of an entry follow the message as key=value.
type systemLogFormatter struct {
	pid    int
	host   string
	server atomic.Pointer[string] // the server's address; "" before the configuration is read
}

func (f *systemLogFormatter) Format(e *logrus.Entry) ([]byte, error) {
	b := e.Buffer
	if b == nil {
		b = &bytes.Buffer{}
	}
	b.WriteString(e.Time.Format("2006-01-02 15:04:05,000"))
	if f.host != "" {
		b.WriteByte(' ')
		b.WriteString(f.host)
	}
	fmt.Fprintf(b, " ftpdtls[%d]", f.pid)
	if s := f.server.Load(); s != nil && *s != "" {
		b.WriteByte(' ')
		b.WriteString(*s)
	}
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

// shortHostname is ProFTPD's log host: the host name up to its first dot.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		h = h[:i]
	}
	return h
}

// newSystemLog returns the daemon's log writing to w (standard error
// until a SystemLog line says otherwise: see useSystemLog).
func newSystemLog(w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.Out = w
	l.Level = logrus.InfoLevel
	l.Formatter = &systemLogFormatter{pid: os.Getpid(), host: shortHostname()}
	return l
}

// systemLogFile is the SystemLog file this process writes, kept open
// across reloads that name the same file.
var systemLogFile struct {
	sync.Mutex
	path string
	f    *os.File
}

// useSystemLog makes log, the daemon's log, follow the configuration: its
// lines carry the main server's address, and go to the SystemLog file
// when one is configured (nowhere for "SystemLog NONE"), opened as ProFTPD
// opens it: O_APPEND, mode 0640 when created, never through a symbolic
// link nor in a world-writable directory. Call it while still root. A
// logger other than the daemon's (a test's) is left as it is.
func useSystemLog(log logrus.FieldLogger, dirs *directives.Config) error {
	l, ok := log.(*logrus.Logger)
	if !ok {
		return nil
	}
	if f, ok := l.Formatter.(*systemLogFormatter); ok {
		s := serverAddress(dirs.Main)
		f.server.Store(&s)
	}
	n := firstNode(dirs.Main, "SystemLog")
	if n == nil || len(n.Args) == 0 {
		return nil
	}
	path := n.Args[0]
	systemLogFile.Lock()
	defer systemLogFile.Unlock()
	if strings.EqualFold(path, "none") {
		l.SetOutput(io.Discard)
		return nil
	}
	if systemLogFile.f != nil && systemLogFile.path == path {
		l.SetOutput(systemLogFile.f)
		return nil
	}
	f, err := openLogFile(path, 0o640)
	if err != nil {
		return fmt.Errorf("unable to open SystemLog '%s': %w", path, err)
	}
	l.SetOutput(f)
	if systemLogFile.f != nil {
		systemLogFile.f.Close()
	}
	systemLogFile.path, systemLogFile.f = path, f
	return nil
}

// openLogFile opens a log for appending with ProFTPD's pr_log_openfile
// rules.
func openLogFile(path string, mode os.FileMode) (*os.File, error) {
	if err := checkLogFile(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, mode)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errors.New("is a symbolic link")
	}
	return f, err
}

// serverAddress is ProFTPD's ServerFQDN without reverse DNS: the IP
// address of DefaultAddress, or of this host when there is none.
func serverAddress(main *directives.Server) string {
	host := ""
	if len(main.Addrs) > 0 {
		host = main.Addrs[0]
	} else if h, err := os.Hostname(); err == nil {
		host = h
	}
	if host == "" || net.ParseIP(host) != nil {
		return host
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return host
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a
		}
	}
	return addrs[0]
}

// Version is this program's module version ("(devel)" for a build from
// a source tree), as the start-up line and `ftpdtls version` show it.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// logStartup writes ProFTPD's start-up line ("ProFTPD 1.3.8 (stable)
// (built ...) standalone mode STARTUP").
func logStartup(log logrus.FieldLogger) {
	log.Infof("ftpdtls %s (%s) standalone mode STARTUP", Version(), runtime.Version())
}

// logSignal writes ProFTPD's line for the signal that stops the daemon
// ("ProFTPD killed (signal 15)").
func logSignal(log logrus.FieldLogger, sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok {
		log.Infof("ftpdtls killed (signal %d)", int(s))
		return
	}
	log.Infof("ftpdtls killed (%v)", sig)
}

// logShutdown writes ProFTPD's last line ("ProFTPD 1.3.8 standalone mode
// SHUTDOWN").
func logShutdown(log logrus.FieldLogger) {
	log.Infof("ftpdtls %s standalone mode SHUTDOWN", Version())
}
