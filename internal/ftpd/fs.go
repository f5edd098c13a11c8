package ftpd

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// abs turns a client path into an absolute, clean, slash-separated path
// under the session's virtual "/". Cleaning removes every "..", so the
// result never names anything above "/"; os.Root then refuses symbolic
// links that lead out of the user's directory.
func (s *session) abs(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(s.cwd, p)
	}
	return path.Clean("/" + p)
}

// rel is an absolute session path as an os.Root name.
func rel(abs string) string {
	if abs == "/" {
		return "."
	}
	return strings.TrimPrefix(abs, "/")
}

// listLine formats one entry like "ls -l", the format LIST clients parse.
// Owner and group are shown as "ftp": the names of the server's accounts
// are none of the client's business.
func listLine(fi userfs.FileInfo, now time.Time) string {
	t := fi.ModTime
	stamp := t.Format("Jan _2 15:04")
	// ls shows the year instead of the time for dates more than six
	// months away.
	if t.Before(now.AddDate(0, -6, 0)) || t.After(now.AddDate(0, 6, 0)) {
		stamp = t.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", modeString(fi.Mode), fi.Size, stamp, fi.Name)
}

// modeString is fs.FileMode as ls prints it: ten characters, the first
// the file type.
func modeString(m fs.FileMode) string {
	s := []byte(m.Perm().String()) // "-rwxr-xr-x"
	switch {
	case m.IsDir():
		s[0] = 'd'
	case m&fs.ModeSymlink != 0:
		s[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		s[0] = 'p'
	case m&fs.ModeSocket != 0:
		s[0] = 's'
	case m&fs.ModeCharDevice != 0:
		s[0] = 'c'
	case m&fs.ModeDevice != 0:
		s[0] = 'b'
	}
	return string(s)
}

// factsLine formats one RFC 3659 entry: "fact=value;...; name". cdir
// marks the listed directory itself (type=cdir).
func factsLine(fi userfs.FileInfo, name string, cdir bool) string {
	typ, perm := "file", "adfrw"
	switch {
	case cdir:
		typ, perm = "cdir", "flcdmpe"
	case fi.IsDir():
		typ, perm = "dir", "flcdmpe"
	case !fi.IsRegular():
		typ = "OS.unix=" + modeString(fi.Mode)[:1]
	}
	if fi.Mode.Perm()&0o200 == 0 { // read-only: no write facts
		perm = strings.NewReplacer("a", "", "w", "", "c", "", "m", "", "p", "").Replace(perm)
	}
	return fmt.Sprintf("type=%s;size=%d;modify=%s;perm=%s;unique=%s; %s",
		typ, fi.Size, fi.ModTime.UTC().Format("20060102150405"), perm, unique(fi), name)
}

// unique is the RFC 3659 unique fact: device and inode where known.
func unique(fi userfs.FileInfo) string {
	return fmt.Sprintf("%xU%x", fi.Dev, fi.Ino)
}
