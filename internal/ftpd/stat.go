package ftpd

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cmdSTAT answers STAT as ProFTPD's mod_ls does: without an argument,
// the session's status (211); with a path, its listing as "ls -la"
// shows it, on the control connection (212 for a directory, 213 for
// anything else).
func (s *session) cmdSTAT(arg string) {
	if strings.TrimSpace(arg) == "" {
		if !s.allowed("STAT", s.cwd) {
			s.reply(500, "STAT: "+strerror(syscall.EPERM))
			return
		}
		s.replyLines(211, "Status of '"+s.serverName()+"'", s.statusLines(s.xfer), "End of status")
		return
	}
	// Options ("-la") are skipped, as mod_ls skips them for STAT.
	p := strings.TrimLeft(arg, " ")
	if strings.HasPrefix(p, "-") {
		_, p, _ = strings.Cut(p, " ")
	}
	p = cmp(strings.TrimLeft(p, " "), ".")
	abs := s.abs(p)
	fi, err := s.fs.Lstat(abs)
	if err != nil {
		s.reply(450, p+": "+errText(err))
		return
	}
	code := cond(fi.IsDir(), 212, 213)
	var lines []string
	// A path <Limit STAT> refuses lists as empty, as with ProFTPD.
	if s.allowed("STAT", abs) {
		now := time.Now()
		if fi.IsDir() {
			entries, err := s.listEntries("STAT", abs, listOptions{all: true})
			if err != nil {
				s.reply(450, p+": "+errText(err))
				return
			}
			sort.SliceStable(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
			for _, e := range entries {
				lines = append(lines, " "+listLine(e, now, false))
			}
		} else {
			fi.Name = p
			lines = append(lines, " "+listLine(fi, now, false))
		}
	}
	s.replyLines(code, "Status of "+p+":", lines, "End of status")
}

// statusLines are the lines of STAT's session status; xfer describes a
// transfer in progress (nil: none).
func (s *session) statusLines(xfer *transferStatus) []string {
	host := hostOf(s.conn.RemoteAddr())
	lines := []string{
		fmt.Sprintf(" Connected from %s (%s)", host, host),
		" Logged in as " + s.userName(),
		" TYPE: " + cond(s.ascii, "ASCII", "BINARY") + ", STRUcture: File, Mode: Stream",
	}
	if s.totalBytes > 0 {
		lines = append(lines, fmt.Sprintf(" Total bytes transferred for session: %d", s.totalBytes))
	}
	if xfer == nil {
		return append(lines, " No data connection")
	}
	lines = append(lines, fmt.Sprintf(" Passive data transfer from %s port %d", hostOf(xfer.remote), portOf(xfer.remote)))
	if xfer.size > 0 {
		return append(lines, fmt.Sprintf(" %s %s (%d/%d)", xfer.verb, xfer.path, xfer.size, xfer.bytes.Load()))
	}
	return append(lines, fmt.Sprintf(" %s %s (%d)", xfer.verb, xfer.path, xfer.bytes.Load()))
}

func (s *session) serverName() string {
	if s.srv.ServerName == "" {
		return "ftpdtls"
	}
	return s.srv.ServerName
}

// transferStatus is a transfer in progress, as STAT describes it.
type transferStatus struct {
	verb   string // RETR (downloads, listings) or STOR (uploads), as ProFTPD says
	path   string
	size   int64 // of the file sent, 0 if unknown
	remote net.Addr
	bytes  atomic.Int64 // transferred so far
}

// startTransfer records the transfer STAT describes, on conn.
func (s *session) startTransfer(verb, path string, size int64, conn net.Conn) *transferStatus {
	s.xfer = &transferStatus{verb: verb, path: path, size: size, remote: conn.RemoteAddr()}
	return s.xfer
}

func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}
