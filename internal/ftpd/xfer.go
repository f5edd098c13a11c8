package ftpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// ---- downloads ----

func (s *session) cmdRETR(arg string) {
	abs := s.abs(arg)
	if !s.allowed("RETR", abs) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	if s.restart > 0 && !s.dirSettings(abs).AllowRetrieveRestart {
		s.reply(451, arg+": Restart not permitted, try again")
		return
	}
	if !s.dataReady() {
		return
	}
	var f *os.File
	var fi userfs.FileInfo
	err := s.srv.withFD(func() (err error) {
		f, fi, err = s.fs.Open(abs)
		return err
	})
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	defer f.Close()
	if s.restart > fi.Size {
		s.reply(554, "REST: invalid "+arg+" argument")
		return
	}
	if s.restart > 0 {
		if _, err := f.Seek(s.restart, io.SeekStart); err != nil {
			s.reply(550, arg+": "+errText(err))
			return
		}
	}
	start := time.Now()
	ascii := s.ascii
	conn := s.openData(fmt.Sprintf("%s (%d bytes)", arg, fi.Size-s.restart), ascii, false, nil)
	if conn == nil {
		s.logTransfer(start, 0, abs, 'o', false)
		return
	}
	xs := s.startTransfer("RETR", abs, fi.Size, conn)
	defer func() { s.xfer = nil }()
	n, err, outcome := s.transfer(conn, func() (int64, error) {
		w := io.Writer(stallConn{Conn: conn, d: s.srv.stalledTimeout(), n: &xs.bytes})
		if ascii {
			return copyToASCII(w, f)
		}
		// onlyReader: *os.File's WriteTo would copy in 32 KiB pieces.
		return io.CopyBuffer(w, onlyReader{f}, make([]byte, fileChunk))
	})
	if err != nil || outcome != transferRan {
		conn.Close()
		s.logTransfer(start, n, abs, 'o', false)
		s.transferFailed(abs, n, err, outcome)
		return
	}
	if err := s.finishData(conn); err != nil {
		s.log.Debugf("RETR %s: closing the data connection: %v", abs, err)
	}
	s.log.Infof("RETR %s: %d bytes sent", abs, n)
	s.logTransfer(start, n, abs, 'o', true)
	s.reply(226, "Transfer complete")
}

// ---- uploads ----

func (s *session) cmdSTOR(arg string) { s.store(arg, "STOR") }
func (s *session) cmdAPPE(arg string) { s.store(arg, "APPE") }

// cmdSTOU stores under a new unique name in the current directory
// ("ftp" and six random characters, as ProFTPD's mkstemp template), told
// in the 150 reply ("150 FILE: name"); an argument is ignored, as by
// ProFTPD. Unlike ProFTPD 1.3.8, which refuses STOU under its default
// AllowOverwrite off (mkstemp has made the file it then will not
// overwrite), a unique name is never an overwrite here.
func (s *session) cmdSTOU(arg string) {
	if len(strings.Fields(arg)) > 1 {
		s.reply(500, "'STOU "+arg+"' not understood")
		return
	}
	if s.restart > 0 {
		s.reply(550, "STOU incompatible with REST")
		return
	}
	for range 16 {
		name := "ftp" + uniqueSuffix()
		if _, err := s.fs.Lstat(s.abs(name)); errors.Is(err, fs.ErrNotExist) {
			s.store(name, "STOU")
			return
		}
	}
	s.reply(450, "STOU: unable to generate unique filename")
}

// uniqueSuffix is six random letters and digits, as mkstemp(3) fills
// in "XXXXXX".
func uniqueSuffix() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b[:])
}

// store runs STOR and APPE. Every check comes before anything on disk is
// touched, and the target changes only when every byte has arrived and
// is on disk (see userfs.Upload): a refused, failed or aborted upload
// leaves an existing file as it was.
func (s *session) store(arg, verb string) {
	abs := s.abs(arg)
	if !s.allowed(verb, abs) {
		s.reply(550, arg+": "+errText(cond(verb == "STOU", syscall.EACCES, syscall.EPERM)))
		return
	}
	ds := s.dirSettings(abs)
	unique := verb == "STOU"
	appending := verb == "APPE"
	fi, statErr := s.fs.Stat(abs)
	exists := statErr == nil
	// ProFTPD's checks, in its order.
	switch {
	case exists && unique:
		s.reply(550, arg+": File exists")
		return
	case exists && !appending && !ds.AllowOverwrite:
		s.reply(550, arg+": Overwrite permission denied")
		return
	case exists && !fi.IsRegular():
		s.reply(550, arg+": Not a regular file")
		return
	case exists && (s.restart > 0 || appending) && !ds.AllowStoreRestart:
		s.reply(451, arg+": Append/Restart not permitted, try again")
		return
	case ds.HiddenStores && s.restart > 0:
		s.reply(501, "REST not compatible with server configuration")
		return
	case s.restart > 0 && (!exists || s.restart > fi.Size):
		s.reply(554, "REST: invalid "+arg+" argument")
		return
	case statErr != nil && !errors.Is(statErr, fs.ErrNotExist):
		s.reply(550, arg+": "+errText(statErr))
		return
	}
	if !s.dataReady() {
		return
	}
	opt := userfs.StoreOptions{
		Mode:          userfs.StoreReplace,
		Overwrite:     ds.AllowOverwrite && !unique,
		Perm:          fs.FileMode(0o666 &^ ds.Umask),
		DeleteAborted: ds.DeleteAbortedStores,
	}
	switch {
	case appending:
		opt.Mode = userfs.StoreAppend
	case s.restart > 0:
		opt.Mode, opt.Offset = userfs.StoreRestart, s.restart
	case ds.HiddenStores:
		// HiddenStores is ignored for APPE, as by ProFTPD.
		opt.Hidden, opt.DeleteAborted = true, ds.DeleteAbortedHidden
		opt.HiddenPrefix = strings.ReplaceAll(ds.HiddenPrefix, "%P", fmt.Sprint(os.Getpid()))
		opt.HiddenSuffix = strings.ReplaceAll(ds.HiddenSuffix, "%P", fmt.Sprint(os.Getpid()))
	}
	var up userfs.Upload
	err := s.srv.withFD(func() (err error) {
		up, err = s.fs.Create(abs, opt)
		return err
	})
	if err != nil {
		s.createFailed(arg, err)
		return
	}
	start := time.Now()
	ascii := s.ascii
	if unique {
		s.dataMsg = "FILE: " + arg
	}
	// A refused data connection undoes the upload before the reply.
	conn := s.openData(arg, ascii, true, func() { s.abortUpload(abs, up) })
	s.dataMsg = ""
	if conn == nil {
		s.logTransfer(start, 0, abs, 'i', false)
		return
	}
	xs := s.startTransfer("STOR", abs, 0, conn)
	defer func() { s.xfer = nil }()
	n, err, outcome := s.transfer(conn, func() (int64, error) {
		r := io.Reader(stallConn{Conn: conn, d: s.srv.stalledTimeout(), n: &xs.bytes})
		// A TLS record carries at most 16 KiB: the file is written in
		// larger pieces, and what was received is written out also when
		// the transfer fails (an aborted upload keeps every byte that
		// arrived, unless DeleteAbortedStores removes it).
		wb := newWriteBehind(up.File())
		defer wb.stop()
		w := bufio.NewWriterSize(wb, fileChunk)
		var n int64
		var err error
		if ascii {
			n, err = copyFromASCII(w, r)
		} else {
			n, err = w.ReadFrom(r)
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		return n, err
	})
	if err != nil || outcome != transferRan {
		conn.Close()
		s.abortUpload(abs, up)
		s.logTransfer(start, n, abs, 'i', false)
		s.transferFailed(abs, n, err, outcome)
		return
	}
	// Every byte arrived (EOF, or the TLS close_notify). How the client
	// closes from here on does not matter any more.
	if err := up.Commit(); err != nil {
		conn.Close()
		s.log.Warnf("%s %s: %d bytes received, not stored: %v", verb, abs, n, err)
		s.logTransfer(start, n, abs, 'i', false)
		code := 550
		if errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
			code = 552
		}
		s.reply(code, arg+": "+errText(err))
		return
	}
	if err := s.finishData(conn); err != nil {
		s.log.Debugf("%s %s: closing the data connection: %v", verb, abs, err)
	}
	s.log.Infof("%s %s: %d bytes received", verb, abs, n)
	s.logTransfer(start, n, abs, 'i', true)
	s.reply(226, "Transfer complete")
}

// createFailed answers a refused Create.
func (s *session) createFailed(arg string, err error) {
	switch {
	case errors.Is(err, userfs.ErrInvalidOffset):
		s.reply(554, "REST: invalid "+arg+" argument")
	case errors.Is(err, userfs.ErrBusy):
		s.reply(450, arg+": "+errText(err))
	default:
		s.reply(550, arg+": "+errText(err))
	}
}

func (s *session) abortUpload(abs string, up userfs.Upload) {
	if err := up.Abort(); err != nil {
		s.log.Warnf("aborted upload of %s: %v", abs, err)
	}
}

// fileChunk is the size of the reads and writes of a transfer's file:
// on Linux a 16 KiB write(2) to the page cache costs several times what a
// 256 KiB one costs per byte.
const fileChunk = 256 << 10

// writeBehind writes an upload's file and, every writeBehindEvery bytes,
// has the kernel start writing out what was written (sync_file_range,
// from a goroutine of its own: the call can wait for the device's queue,
// and the upload goes on reading meanwhile), so that the fsync before
// "226" finds little left to write. A 1 GiB upload waited 0.65 s in that
// fsync without it, 10-16 ms with it. Hiding os.File's ReadFrom, it also
// keeps the plain copy loop (the copy_file_range and splice paths do not
// apply to network sources).
type writeBehind struct {
	f       *os.File
	pending int64
	kick    chan struct{}
	done    chan struct{}
}

const writeBehindEvery = 8 << 20

func newWriteBehind(f *os.File) *writeBehind {
	w := &writeBehind{f: f, kick: make(chan struct{}, 1), done: make(chan struct{})}
	fd := int(f.Fd())
	go func() {
		defer close(w.done)
		for range w.kick {
			// Offset 0 and length 0: every dirty page of the file not
			// already being written. A failure only loses the head start.
			_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		}
	}()
	return w
}

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pending += int64(n)
	if w.pending >= writeBehindEvery {
		w.pending = 0
		select {
		case w.kick <- struct{}{}:
		default: // one is pending already
		}
	}
	return n, err
}

// stop ends the goroutine and waits for it, before the file is closed.
func (w *writeBehind) stop() {
	close(w.kick)
	<-w.done
}

// onlyReader hides os.File's WriteTo (a sendfile that does not apply to
// TLS connections, then a 32 KiB copy loop).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// ---- listings ----

// listOptions are the ls options LIST and NLST accept ("-la", "-a").
type listOptions struct {
	all, almostAll, dirOnly, numeric, reverse, byTime bool
}

// parseList splits a LIST/NLST argument into ls options and the path.
func parseList(arg string) (listOptions, string) {
	var o listOptions
	fields := strings.Fields(arg)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "-") && len(fields[0]) > 1 {
		for _, c := range fields[0][1:] {
			switch c {
			case 'a':
				o.all = true
			case 'A':
				o.almostAll = true
			case 'd':
				o.dirOnly = true
			case 'n':
				o.numeric = true
			case 'r':
				o.reverse = true
			case 't':
				o.byTime = true
			}
		}
		fields = fields[1:]
	}
	return o, strings.Join(fields, " ")
}

// listEntries returns what a LIST or NLST of p shows: the entries of a
// directory (dot files only with -a/-A, entries the policy refuses left
// out), or the one file.
func (s *session) listEntries(verb, p string, o listOptions) ([]userfs.FileInfo, error) {
	fi, err := s.fs.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() || o.dirOnly {
		if fi, err := s.fs.Lstat(p); err == nil {
			fi.Name = path.Base(p)
			return []userfs.FileInfo{fi}, nil
		}
		return []userfs.FileInfo{fi}, nil
	}
	entries, err := s.fs.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []userfs.FileInfo
	if o.all {
		if dot, err := s.fs.Stat(p); err == nil {
			dot.Name = "."
			out = append(out, dot)
		}
		if dotdot, err := s.fs.Stat(path.Dir(p)); err == nil {
			dotdot.Name = ".."
			out = append(out, dotdot)
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") && !o.all && !o.almostAll {
			continue
		}
		if !s.allowed(verb, path.Join(p, e.Name)) {
			continue
		}
		out = append(out, e)
	}
	if o.byTime {
		sortByTime(out)
	}
	if o.reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// glob expands a LIST or NLST argument whose last element is a pattern
// (with *, ? or [) and that names no file as it is, as ProFTPD's glob(3)
// does: the entries of its directory whose names match, dot files only
// for a pattern that starts with a dot (then "." and ".." too), sorted,
// those the policy refuses left out. ok is false when p is not a pattern.
func (s *session) glob(verb, p string, o listOptions) (matches []userfs.FileInfo, ok bool) {
	dir, pattern := path.Split(p)
	if s.srv.NoGlobbing || !strings.ContainsAny(pattern, "*?[") {
		return nil, false
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, false // not a valid pattern: a name
	}
	if _, err := s.fs.Lstat(s.abs(p)); err == nil {
		return nil, false // a file with that very name
	}
	absDir := s.abs(cmp(dir, "."))
	if !s.allowed(verb, absDir) {
		return nil, true
	}
	entries, err := s.fs.ReadDir(absDir)
	if err != nil {
		return nil, true
	}
	if strings.HasPrefix(pattern, ".") {
		for _, name := range []string{".", ".."} {
			if fi, err := s.fs.Stat(path.Join(absDir, name)); err == nil {
				fi.Name = name
				entries = append([]userfs.FileInfo{fi}, entries...)
			}
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(pattern, ".") {
			continue
		}
		if m, _ := path.Match(pattern, e.Name); !m {
			continue
		}
		if !s.allowed(verb, path.Join(absDir, e.Name)) {
			continue
		}
		matches = append(matches, e)
	}
	sort.SliceStable(matches, func(i, j int) bool { return matches[i].Name < matches[j].Name })
	if o.byTime {
		sortByTime(matches)
	}
	if o.reverse {
		slices.Reverse(matches)
	}
	return matches, true
}

func sortByTime(fis []userfs.FileInfo) {
	for i := 1; i < len(fis); i++ {
		for j := i; j > 0 && fis[j].ModTime.After(fis[j-1].ModTime); j-- {
			fis[j], fis[j-1] = fis[j-1], fis[j]
		}
	}
}

func (s *session) cmdLIST(arg string) {
	o, p := parseList(arg)
	abs := s.abs(cmp(p, "."))
	var lines []string
	// A refused directory lists as empty, as with ProFTPD.
	if matches, ok := s.glob("LIST", p, o); ok {
		// Each match as one entry (a directory too), as ProFTPD lists a
		// pattern; no match is an empty listing.
		now := time.Now()
		for _, m := range matches {
			lines = append(lines, listLine(m, now, o.numeric))
		}
	} else if s.allowed("LIST", abs) {
		entries, err := s.listEntries("LIST", abs, o)
		if err != nil {
			// ProFTPD opens the data connection before it looks at the
			// path: 150, an empty data connection, then 450.
			if conn := s.openData("file list", s.ascii, false, nil); conn != nil {
				if err := s.finishData(conn); err != nil {
					s.log.Debugf("LIST: closing the data connection: %v", err)
				}
				s.reply(450, cmp(p, ".")+": "+errText(err))
			}
			return
		}
		now := time.Now()
		for _, e := range entries {
			lines = append(lines, listLine(e, now, o.numeric))
		}
	}
	s.sendLines(lines, "file list")
}

func (s *session) cmdNLST(arg string) {
	o, p := parseList(arg)
	abs := s.abs(cmp(p, "."))
	if matches, ok := s.glob("NLST", p, o); ok {
		// The matches, named as the pattern names them ("sub/*.txt" lists
		// "sub/a.txt"), as ProFTPD's glob(3) does.
		if len(matches) == 0 {
			s.reply(450, "No files found")
			return
		}
		dir, _ := path.Split(p)
		lines := make([]string, len(matches))
		for i, m := range matches {
			lines[i] = dir + m.Name
		}
		s.sendLines(lines, "file list")
		return
	}
	if !s.allowed("NLST", abs) {
		s.reply(450, cmp(p, ".")+": No such file or directory")
		return
	}
	entries, err := s.listEntries("NLST", abs, o)
	if err != nil {
		s.reply(450, cmp(p, ".")+": "+errText(err))
		return
	}
	// Entries of a directory named in the argument carry it as a prefix
	// ("NLST sub" lists "sub/f.txt"), as ProFTPD lists them.
	prefix := ""
	if fi, err := s.fs.Stat(abs); err == nil && fi.IsDir() && p != "" && p != "." && !o.dirOnly {
		prefix = strings.TrimSuffix(p, "/") + "/"
	}
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		if prefix == "" && p != "" && len(entries) == 1 {
			lines = append(lines, p)
			continue
		}
		lines = append(lines, prefix+e.Name)
	}
	s.sendLines(lines, "file list")
}

func (s *session) cmdMLSD(arg string) {
	abs := s.abs(cmp(strings.TrimSpace(arg), "."))
	if !s.allowed("MLSD", abs) {
		s.reply(550, "Unable to handle command")
		return
	}
	fi, err := s.fs.Stat(abs)
	if err != nil {
		s.reply(550, cmp(arg, ".")+": "+errText(err))
		return
	}
	if !fi.IsDir() {
		s.reply(550, cmp(arg, ".")+": Not a directory")
		return
	}
	entries, err := s.fs.ReadDir(abs)
	if err != nil {
		s.reply(550, cmp(arg, ".")+": "+errText(err))
		return
	}
	lines := []string{s.factsLine(fi, ".", "cdir")}
	for _, e := range entries {
		if !s.allowed("MLSD", path.Join(abs, e.Name)) {
			continue
		}
		if e.Mode&fs.ModeSymlink != 0 {
			// A link as ProFTPD's mod_facts shows it: its own size, mode
			// and time, the permissions and unique fact of its target.
			t, err := s.fs.Stat(path.Join(abs, e.Name))
			if err != nil {
				continue
			}
			lines = append(lines, s.factsLineOf(e, t, e.Name, "OS.unix=symlink"))
			continue
		}
		lines = append(lines, s.factsLine(e, e.Name, ""))
	}
	if parent, err := s.fs.Stat(path.Dir(abs)); err == nil {
		lines = append(lines, s.factsLine(parent, "..", "pdir"))
	}
	s.sendLines(lines, "MLSD")
}

func (s *session) cmdMLST(arg string) {
	arg = strings.TrimSpace(arg)
	abs := s.abs(cmp(arg, "."))
	if !s.allowed("MLST", abs) {
		s.reply(550, "Unable to handle command")
		return
	}
	fi, err := s.fs.Stat(abs)
	if err != nil {
		s.reply(550, cmp(arg, ".")+": "+errText(err))
		return
	}
	line := " " + s.factsLine(fi, abs, "")
	s.replyLines(250, "Start of list for "+cmp(arg, "."), []string{line}, "End of list")
}

// sendLines sends a listing over a data connection. The lines are made
// before the data connection opens, so that a refusal gets its reply
// instead of a 150.
func (s *session) sendLines(lines []string, what string) {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l)
		buf.WriteString("\r\n")
	}
	conn := s.openData(what, s.ascii, false, nil)
	if conn == nil {
		return
	}
	xs := s.startTransfer("RETR", what, 0, conn)
	defer func() { s.xfer = nil }()
	n, err, outcome := s.transfer(conn, func() (int64, error) {
		w := bufio.NewWriter(stallConn{Conn: conn, d: s.srv.stalledTimeout(), n: &xs.bytes})
		n, err := w.Write(buf.Bytes())
		if err == nil {
			err = w.Flush()
		}
		return int64(n), err
	})
	if err != nil || outcome != transferRan {
		conn.Close()
		s.transferFailed(what, n, err, outcome)
		return
	}
	if err := s.finishData(conn); err != nil {
		s.log.Debugf("%s: closing the data connection: %v", what, err)
	}
	s.reply(226, "Transfer complete")
}

// ---- ASCII mode ----

// copyToASCII sends a file in TYPE A: every LF not preceded by CR
// becomes CRLF, as ProFTPD converts.
func copyToASCII(w io.Writer, r io.Reader) (int64, error) {
	in := make([]byte, 32*1024)
	out := make([]byte, 0, 64*1024)
	var n int64
	var prev byte
	for {
		m, rerr := r.Read(in)
		out = out[:0]
		for _, c := range in[:m] {
			if c == '\n' && prev != '\r' {
				out = append(out, '\r')
			}
			out = append(out, c)
			prev = c
		}
		if len(out) > 0 {
			k, err := w.Write(out)
			n += int64(k)
			if err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// copyFromASCII receives a file in TYPE A: CR before LF is dropped; the
// returned count is of bytes received.
func copyFromASCII(w io.Writer, r io.Reader) (int64, error) {
	in := make([]byte, 32*1024)
	out := make([]byte, 0, 32*1024+1)
	var n int64
	pendingCR := false
	for {
		m, rerr := r.Read(in)
		n += int64(m)
		out = out[:0]
		for _, c := range in[:m] {
			if pendingCR {
				pendingCR = false
				if c != '\n' {
					out = append(out, '\r')
				}
			}
			if c == '\r' {
				pendingCR = true
				continue
			}
			out = append(out, c)
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			if pendingCR {
				if _, err := w.Write([]byte{'\r'}); err != nil {
					return n, err
				}
			}
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// ---- TransferLog ----

// logTransfer writes one xferlog(5) line, as ProFTPD's TransferLog:
//
//	Mon Dec 07 13:41:35 2026 0 127.0.0.1 6 /srv/ftp/hello.txt b _ o r tester ftp 0 * c
//
// (local time, whole seconds, client address, bytes, real path with
// white space as "_", type, action flags, direction, access mode, user,
// protocol, authentication method, user id, completion).
func (s *session) logTransfer(start time.Time, n int64, abs string, direction byte, complete bool) {
	if s.srv.TransferLog == nil {
		return
	}
	name := []byte(s.realPath(abs))
	for i, c := range name {
		if c <= ' ' || c == 0x7f {
			name[i] = '_'
		}
	}
	line := fmt.Sprintf("%s %d %s %d %s %c _ %c r %s %s 0 * %c\n",
		time.Now().Format("Mon Jan 02 15:04:05 2006"), int64(time.Since(start)/time.Second),
		hostOf(s.conn.RemoteAddr()), n, name, cond(s.ascii, 'a', 'b'), direction,
		s.userName(), cond(s.tls != nil, "ftps", "ftp"), cond(complete, 'c', 'i'))
	s.srv.xferMu.Lock()
	defer s.srv.xferMu.Unlock()
	if _, err := io.WriteString(s.srv.TransferLog, line); err != nil {
		s.log.Warnf("TransferLog: %v", err)
	}
}
