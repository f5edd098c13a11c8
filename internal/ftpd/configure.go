package ftpd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Configure sets the fields of s that directives of the server d
// configure, with ProFTPD's semantics:
//
//	TimeoutLogin, TimeoutIdle, TimeoutNoTransfer, TimeoutStalled   ("0": none)
//	TLSTimeoutHandshake                                            ("0": none)
//	MaxLoginAttempts                                               ("none"/0: no limit)
//	TransferLog path|NONE                                          (opened here)
//	UseGlobbing on|off                                             (off: NoGlobbing)
//
// ProFTPD opens the TransferLog before it gives up root, so call
// Configure before dropping privileges; the returned Closer (nil if no
// file was opened) closes the log. Without a TransferLog line nothing is
// logged (ProFTPD would write /var/log/xferlog).
func Configure(s *Server, d *directives.Server) (io.Closer, error) {
	for _, t := range []struct {
		name  string
		field *time.Duration
	}{
		{"TimeoutLogin", &s.LoginTimeout},
		{"TimeoutIdle", &s.IdleTimeout},
		{"TimeoutNoTransfer", &s.NoTransferTimeout},
		{"TimeoutStalled", &s.StalledTimeout},
		{"TLSTimeoutHandshake", &s.HandshakeTimeout},
	} {
		n := first(d, t.name)
		if n == nil {
			continue
		}
		v, err := directives.ParseDuration(n.Args[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s %s: %w", n.File, n.Line, t.name, n.Args[0], err)
		}
		if v == 0 {
			v = -1 // ProFTPD's 0: no timeout
		}
		*t.field = v
	}
	if n := first(d, "MaxLoginAttempts"); n != nil {
		v, err := strconv.Atoi(n.Args[0])
		if strings.EqualFold(n.Args[0], "none") {
			v, err = 0, nil
		}
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s:%d: MaxLoginAttempts %s: badly formatted parameter", n.File, n.Line, n.Args[0])
		}
		if v == 0 {
			v = -1
		}
		s.MaxLoginAttempts = v
	}
	if n := first(d, "UseGlobbing"); n != nil {
		on, err := directives.ParseBool(n.Args[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: UseGlobbing %s: expected Boolean parameter", n.File, n.Line, n.Args[0])
		}
		s.NoGlobbing = !on
	}
	n := first(d, "TransferLog")
	if n == nil || strings.EqualFold(n.Args[0], "none") {
		return nil, nil
	}
	f, err := OpenTransferLog(n.Args[0])
	if err != nil {
		return nil, fmt.Errorf("%s:%d: TransferLog: %w", n.File, n.Line, err)
	}
	s.TransferLog = f
	return f, nil
}

// first is the first line of a directive that configures d (ProFTPD's
// find_config returns the first).
func first(d *directives.Server, name string) *directives.Node {
	for _, n := range d.Directives(name) {
		if len(n.Args) > 0 {
			return n
		}
	}
	return nil
}

// OpenTransferLog opens an xferlog file for appending, as ProFTPD's
// pr_log_openfile does: mode 0644 when created, and neither a symbolic
// link nor a file in a world-writable directory (someone else could
// point it anywhere).
func OpenTransferLog(path string) (*os.File, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%s: not an absolute path", path)
	}
	dir := path[:strings.LastIndex(path, "/")+1]
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("%s: directory %s is world-writable", path, dir)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: is a symbolic link", path)
	}
	return f, err
}
