package ftpd

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// abs turns a client path into an absolute, clean, slash-separated path
// under the session's virtual "/". Cleaning removes every "..", so the
// result never names anything above "/"; the session's userfs.FS then
// refuses symbolic links that lead out of the session root.
func (s *session) abs(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(s.cwd, p)
	}
	return path.Clean("/" + p)
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// listLine formats one entry as ProFTPD's mod_ls does for LIST:
//
//	-rw-r--r--   1 tester   testers        19 Dec  7 12:15 hello.txt
//
// with the owner's and group's names (their numbers when they have
// none), times in UTC (ProFTPD's TimesGMT default), and the year instead
// of the time for files modified more than 180 days ago. numeric is ls's
// -n.
func listLine(fi userfs.FileInfo, now time.Time, numeric bool) string {
	t := fi.ModTime.UTC()
	stamp := fmt.Sprintf("%02d:%02d", t.Hour(), t.Minute())
	if now.Sub(fi.ModTime) > 180*24*time.Hour {
		stamp = fmt.Sprintf("%5d", t.Year())
	}
	owner, group := fi.Owner, fi.Group
	if owner == "" || numeric {
		owner = strconv.FormatUint(uint64(fi.Uid), 10)
	}
	if group == "" || numeric {
		group = strconv.FormatUint(uint64(fi.Gid), 10)
	}
	line := fmt.Sprintf("%s %3d %-8s %-8s %8d %s %2d %s %s", modeString(fi.Mode), fi.Nlink,
		owner, group, fi.Size, months[t.Month()-1], t.Day(), stamp, fi.Name)
	if fi.Mode&fs.ModeSymlink != 0 && fi.Target != "" {
		line += " -> " + fi.Target
	}
	return line
}

// modeString is a mode as ls prints it: ten characters, the first the
// file type, with setuid, setgid and sticky bits.
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(i int, set bool, lower, upper byte) {
		if set {
			b[i] = cond(b[i] == 'x', lower, upper)
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}

// mlstFacts are the facts MLST and MLSD show, in ProFTPD's order.
var mlstFacts = []string{"modify", "perm", "size", "type", "unique",
	"UNIX.group", "UNIX.groupname", "UNIX.mode", "UNIX.owner", "UNIX.ownername"}

// factsLine formats one RFC 3659 entry as ProFTPD's mod_facts does:
// "fact=value;...; name". typ overrides the type ("cdir", "pdir").
func (s *session) factsLine(fi userfs.FileInfo, name, typ string) string {
	return s.factsLineOf(fi, fi, name, typ)
}

// factsLineOf is factsLine with the perm and unique facts of target (a
// symbolic link's target; fi itself otherwise). Only the facts OPTS MLST
// selected are shown, in ProFTPD's order.
func (s *session) factsLineOf(fi, target userfs.FileInfo, name, typ string) string {
	var b strings.Builder
	on := s.factMask()
	if on&factModify != 0 {
		t := fi.ModTime.UTC()
		fmt.Fprintf(&b, "modify=%04d%02d%02d%02d%02d%02d;", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second())
	}
	if on&factPerm != 0 {
		fmt.Fprintf(&b, "perm=%s;", s.permFact(target))
	}
	if on&factSize != 0 && !target.IsDir() {
		fmt.Fprintf(&b, "size=%d;", fi.Size)
	}
	if on&factType != 0 {
		if typ == "" {
			typ = cond(fi.IsDir(), "dir", "file")
		}
		fmt.Fprintf(&b, "type=%s;", typ)
	}
	if on&factUnique != 0 {
		fmt.Fprintf(&b, "unique=%XU%X;", target.Dev, target.Ino)
	}
	if on&factGroup != 0 {
		fmt.Fprintf(&b, "UNIX.group=%d;", fi.Gid)
	}
	if on&factGroupName != 0 && fi.Group != "" {
		fmt.Fprintf(&b, "UNIX.groupname=%s;", strings.ReplaceAll(fi.Group, " ", "_"))
	}
	if on&factMode != 0 {
		fmt.Fprintf(&b, "UNIX.mode=0%o;", unixMode(fi.Mode))
	}
	if on&factOwner != 0 {
		fmt.Fprintf(&b, "UNIX.owner=%d;", fi.Uid)
	}
	if on&factOwnerName != 0 && fi.Owner != "" {
		fmt.Fprintf(&b, "UNIX.ownername=%s;", strings.ReplaceAll(fi.Owner, " ", "_"))
	}
	b.WriteString(" ")
	b.WriteString(name)
	return b.String()
}

// The facts, as bits of session.facts (bit i is mlstFacts[i]).
const (
	factModify uint32 = 1 << iota
	factPerm
	factSize
	factType
	factUnique
	factGroup
	factGroupName
	factMode
	factOwner
	factOwnerName
	factAll = factOwnerName<<1 - 1
)

// factMask is the facts MLST and MLSD show: every one until OPTS MLST.
func (s *session) factMask() uint32 {
	if !s.factsSet {
		return factAll
	}
	return s.facts
}

// mlstFeature is FEAT's MLST line: every fact, the ones shown starred.
func (s *session) mlstFeature() string {
	var b strings.Builder
	b.WriteString("MLST ")
	on := s.factMask()
	for i, f := range mlstFacts {
		b.WriteString(f)
		if on&(1<<i) != 0 {
			b.WriteString("*")
		}
		b.WriteString(";")
	}
	return b.String()
}

// optsMLST is OPTS MLST as ProFTPD's mod_facts does it: the facts named
// (in any case) are shown from now on, the others not; the reply names
// those it took, in the client's order. Only names followed by ";" count
// (mod_facts reads up to each ";"), unknown ones are ignored, and more
// than one argument is refused.
func (s *session) optsMLST(value string) {
	if strings.ContainsAny(strings.TrimSpace(value), " \t") {
		s.reply(501, "'OPTS MLST' not understood")
		return
	}
	s.factsSet, s.facts = true, 0
	value = strings.TrimSpace(value)
	if value == "" {
		s.reply(200, "MLST OPTS")
		return
	}
	var took strings.Builder
	for {
		name, rest, ok := strings.Cut(value, ";")
		if !ok {
			break
		}
		for i, f := range mlstFacts {
			if strings.EqualFold(name, f) {
				s.facts |= 1 << i
				took.WriteString(f + ";")
			}
		}
		value = rest
	}
	s.reply(200, "MLST OPTS "+took.String())
}

// unixMode is the st_mode permission bits (07777) of a FileMode.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// permFact is RFC 3659's perm fact as ProFTPD computes it from access(2)
// for the session's user.
func (s *session) permFact(fi userfs.FileInfo) string {
	r, w, x := s.access(fi)
	var p string
	if !fi.IsDir() {
		p = cond(r, "adfr", "dfr")
		if w {
			p += "w"
		}
		return p
	}
	if r {
		p += "fl"
	}
	if w {
		p += "cdmp"
	}
	if x {
		p += "e"
	}
	return p
}

// access answers access(2) for the session's user from a file's mode and
// owner.
func (s *session) access(fi userfs.FileInfo) (r, w, x bool) {
	m := uint32(fi.Mode.Perm())
	if s.acct == nil {
		return m&0o004 != 0, m&0o002 != 0, m&0o001 != 0
	}
	if s.acct.Uid == 0 {
		return true, true, m&0o111 != 0
	}
	var bits uint32
	switch {
	case fi.Uid == s.acct.Uid:
		bits = m >> 6
	case fi.Gid == s.acct.Gid || (fi.Group != "" && contains(s.acct.Groups, fi.Group)):
		bits = m >> 3
	default:
		bits = m
	}
	return bits&4 != 0, bits&2 != 0, bits&1 != 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
