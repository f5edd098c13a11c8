package ftpd

import (
	"io/fs"
	"strconv"
	"strings"
	"syscall"
)

// ---- HELP ----

// helpEntry is one command of HELP's list: its syntax as ProFTPD's
// modules give it, and whether ftpdtls implements it.
type helpEntry struct {
	cmd, syntax string
	impl        func(s *session) bool
}

func always(*session) bool    { return true }
func never(*session) bool     { return false }
func withTLS(s *session) bool { return s.srv.TLS != nil }

// helpList is ProFTPD 1.3.8's HELP list, in its order (the order its
// modules register their commands), with ftpdtls's own marks: a command
// ftpdtls does not implement (active mode, HOST, CLNT, RANG) is marked
// unimplemented, as ProFTPD marks those it has no module for; AUTH, PBSZ
// and PROT are implemented when TLS is on (mod_tls).
var helpList = []helpEntry{
	{"CWD", "<sp> pathname", always}, {"XCWD", "<sp> pathname", always},
	{"CDUP", "(up one directory)", always}, {"XCUP", "(up one directory)", always},
	{"SMNT", "is not implemented", never}, {"QUIT", "(close control connection)", always},
	{"PORT", "<sp> h1,h2,h3,h4,p1,p2", never}, {"PASV", "(returns address/port)", always},
	{"EPRT", "<sp> |proto|addr|port|", never}, {"EPSV", "(returns port |||port|)", always},
	{"ALLO", "<sp> size", always}, {"RNFR", "<sp> pathname", always},
	{"RNTO", "<sp> pathname", always}, {"DELE", "<sp> pathname", always},
	{"MDTM", "<sp> pathname", always}, {"RMD", "<sp> pathname", always},
	{"XRMD", "<sp> pathname", always}, {"MKD", "<sp> pathname", always},
	{"XMKD", "<sp> pathname", always}, {"PWD", "(returns current working directory)", always},
	{"XPWD", "(returns current working directory)", always}, {"SIZE", "<sp> pathname", always},
	{"SYST", "(returns system type)", always}, {"HELP", "[<sp> command]", always},
	{"NOOP", "(no operation)", always}, {"FEAT", "(returns feature list)", always},
	{"OPTS", "<sp> command [<sp> options]", always}, {"HOST", "<cp> hostname", never},
	{"CLNT", "<cp> client-info", never}, {"AUTH", "<sp> base64-data", withTLS},
	{"CCC", "(clears protection level)", never}, {"CONF", "<sp> base64-data", never},
	{"ENC", "<sp> base64-data", never}, {"MIC", "<sp> base64-data", never},
	{"PBSZ", "<sp> protection buffer size", withTLS}, {"PROT", "<sp> protection code", withTLS},
	{"TYPE", "<sp> type-code (A, I, L 7, L 8)", always}, {"STRU", "is not implemented (always F)", always},
	{"MODE", "is not implemented (always S)", always}, {"RETR", "<sp> pathname", always},
	{"STOR", "<sp> pathname", always}, {"STOU", "(store unique filename)", always},
	{"APPE", "<sp> pathname", always}, {"REST", "<sp> byte-count", always},
	{"ABOR", "(abort current operation)", always}, {"RANG", "<sp> start-point <sp> end-point", never},
	{"USER", "<sp> username", always}, {"PASS", "<sp> password", always},
	{"ACCT", "is not implemented", never}, {"REIN", "is not implemented", never},
	{"LIST", "[<sp> pathname]", always}, {"NLST", "[<sp> (pathname)]", always},
	{"STAT", "[<sp> pathname]", always}, {"SITE", "<sp> string", always},
	{"MLSD", "[<sp> pathname]", always}, {"MLST", "[<sp> pathname]", always},
}

// serverAdmin is ProFTPD's default ServerAdmin, "root@" and the server's
// address (ServerAdmin itself is not a directive ftpdtls serve takes).
func (s *session) serverAdmin() string {
	return "root@" + hostOf(s.real.LocalAddr())
}

// cmdHELP answers as ProFTPD's mod_core: the list of commands, eight to
// a line, or one command's syntax; "HELP SITE" is SITE HELP's list.
func (s *session) cmdHELP(arg string) {
	if !s.allowed("HELP", s.cwd) {
		s.reply(501, "HELP: "+strerror(syscall.EACCES))
		return
	}
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		var lines []string
		for i := 0; i < len(helpList); i += 8 {
			var b strings.Builder
			b.WriteString(" ")
			for _, h := range helpList[i:min(i+8, len(helpList))] {
				name := h.cmd
				if !h.impl(s) {
					name += "*"
				}
				b.WriteString(padRight(name, 8))
			}
			lines = append(lines, b.String())
		}
		lines = append(lines, " Direct comments to "+s.serverAdmin())
		last := lines[len(lines)-1][1:]
		s.replyLines(214, "The following commands are recognized (* =>'s unimplemented):", lines[:len(lines)-1], last)
		return
	}
	target := strings.ToUpper(fields[0])
	if target == "SITE" {
		s.siteHelp(fields, strings.TrimSpace(arg), false)
		return
	}
	for _, h := range helpList {
		if h.cmd == target {
			s.reply(214, "Syntax: "+h.cmd+" "+h.syntax)
			return
		}
	}
	s.reply(502, "Unknown command '"+target+"'")
}

// padRight pads a name to n columns, as printf's %-8s does.
func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// ---- SITE ----

// siteCommands are mod_site's commands, in its order.
var siteCommands = []struct{ cmd, syntax string }{
	{"HELP", "[<sp> site-command]"},
	{"CHGRP", "<sp> group <sp> pathname"},
	{"CHMOD", "<sp> mode <sp> pathname"},
}

// cmdSITE runs SITE HELP, SITE CHMOD and SITE CHGRP as ProFTPD's
// mod_site does.
func (s *session) cmdSITE(arg string) {
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		// ProFTPD answers a bare SITE before login with 530 and then
		// 500: one reply is what a client can follow.
		if !s.loggedIn {
			s.reply(530, "Please login with USER and PASS")
			return
		}
		s.reply(500, "'SITE' requires parameters")
		return
	}
	sub := strings.ToUpper(fields[0])
	rest := strings.TrimSpace(arg)
	switch sub {
	case "HELP":
		s.siteHelp(fields, rest, true)
		return
	case "CHMOD", "CHGRP":
	default:
		s.reply(500, "'SITE "+sub+"' not understood")
		return
	}
	if !s.loggedIn {
		s.reply(530, "Please login with USER and PASS")
		return
	}
	if len(fields) < 3 {
		full := strings.Join(append([]string{sub}, fields[1:]...), " ")
		s.replyLines(500, "'SITE "+full+"' not understood", nil, "SITE not understood")
		return
	}
	// The path is every word after the mode (or group), joined with
	// single spaces, as mod_site builds it.
	name := strings.Join(fields[2:], " ")
	abs := s.abs(name)
	fi, err := s.fs.Stat(abs)
	if err != nil {
		s.reply(550, name+": "+errText(err))
		return
	}
	if sub == "CHMOD" {
		s.siteChmod(fields[1], abs, rest, fi.Mode)
		return
	}
	s.siteChgrp(fields[1], name, abs)
}

// siteHelp is SITE HELP [cmd] (site: the SITE command's own framing
// lines) and HELP SITE [...]. fields are the words of the argument, the
// first being HELP or SITE; raw is the argument as sent.
func (s *session) siteHelp(fields []string, raw string, site bool) {
	if !s.allowed("SITE_HELP", s.cwd) {
		s.reply(501, "HELP: "+strerror(syscall.EACCES))
		return
	}
	const head = "The following SITE commands are recognized (* =>'s unimplemented)"
	tail := "Direct comments to " + s.serverAdmin()
	if len(fields) == 1 {
		var names []string
		for _, c := range siteCommands {
			names = append(names, c.cmd)
		}
		if site {
			lines := make([]string, len(names))
			for i, n := range names {
				lines[i] = " " + n
			}
			s.replyLines(214, head, lines, tail)
			return
		}
		// HELP SITE: the list without SITE's framing lines.
		s.replyLines(214, names[0], []string{" " + strings.Join(names[1:len(names)-1], "\r\n ")}, names[len(names)-1])
		return
	}
	target := strings.ToUpper(fields[1])
	if site {
		for _, c := range siteCommands {
			if c.cmd == target {
				s.replyLines(214, head, []string{" Syntax: SITE " + c.cmd + " " + c.syntax}, tail)
				return
			}
		}
	}
	// mod_site names the command's whole argument: "SITE HELP FOO" for
	// SITE HELP FOO, "SITE SITE CHMOD" for HELP SITE CHMOD.
	s.reply(502, "Unknown command 'SITE "+raw+"'")
}

// siteChmod is SITE CHMOD: an octal mode (with or without its leading
// 0), or a symbolic one as mod_site understands it; <Limit SITE_CHMOD>
// (group WRITE) applies, and the change is made with the user's rights
// (a mode the user may not set is refused by the kernel: 550 ...
// Operation not permitted). raw is SITE's argument as sent, which
// ProFTPD's error replies quote.
func (s *session) siteChmod(modeArg, abs, raw string, cur fs.FileMode) {
	mode, ok := parseChmod(modeArg, unixMode(cur), uint32(s.dirSettings(abs).Umask))
	if !ok {
		s.reply(550, "'"+modeArg+"': invalid mode")
		return
	}
	if !s.allowed("SITE_CHMOD", abs) {
		s.reply(550, raw+": "+strerror(syscall.EACCES))
		return
	}
	if err := s.fs.Chmod(abs, mode&0o7777); err != nil {
		s.reply(550, raw+": "+errText(err))
		return
	}
	s.log.Infof("SITE CHMOD %04o %s", mode&0o7777, abs)
	s.reply(200, "SITE CHMOD command successful")
}

// siteChgrp is SITE CHGRP: a group id, or a group name (AuthGroupFile,
// then the system's); <Limit SITE_CHGRP> (group WRITE) applies, and the
// change is made with the user's rights.
func (s *session) siteChgrp(group, name, abs string) {
	gid, err := strconv.ParseUint(group, 10, 32)
	if err != nil {
		id, ok := uint32(0), false
		if s.srv.GroupID != nil {
			id, ok = s.srv.GroupID(group)
		}
		if !ok {
			s.reply(550, name+": "+strerror(syscall.EINVAL))
			return
		}
		gid = uint64(id)
	}
	if !s.allowed("SITE_CHGRP", abs) {
		s.reply(550, name+": "+strerror(syscall.EACCES))
		return
	}
	if err := s.fs.Chgrp(abs, uint32(gid)); err != nil {
		s.reply(550, name+": "+errText(err))
		return
	}
	s.log.Infof("SITE CHGRP %d %s", gid, abs)
	s.reply(200, "SITE CHGRP command successful")
}

// parseChmod reads SITE CHMOD's mode as ProFTPD's mod_site does: a "0"
// is put in front of a mode that does not start with one and the result
// is read as C's strtol(..., 0) reads it (so "644", "0644" and "0x1a4"
// are numbers); anything left over makes it a symbolic mode, of which
// mod_site understands one clause ("u+x", "go-w", "a=r"), starting from
// the file's current mode cur (or from nothing for "="); no "who" means
// all but the umask's bits.
func parseChmod(arg string, cur, umask uint32) (uint32, bool) {
	num := arg
	if !strings.HasPrefix(arg, "0") {
		num = "0" + arg
	}
	if v, rest := strtol0(num); rest == "" {
		return uint32(v), true
	}
	var mode uint32
	i := strings.IndexAny(arg, "+-=")
	if i < 0 {
		return 0, false
	}
	who, how := arg[:i], arg[i:]
	if how[0] != '=' {
		mode = cur
	}
	j := strings.IndexAny(how, "rwxXstugo")
	if j < 0 {
		return 0, false
	}
	what := how[j:]
	how = how[:j]
	var op uint32
	for k := 0; ; {
		var mask uint32
		switch {
		case who == "":
			mask = umask
		case who[0] == 'u':
			mask = 0o077
		case who[0] == 'g':
			mask = 0o707
		case who[0] == 'o':
			mask = 0o770
		case who[0] == 'a':
			mask = 0
		default:
			return 0, false
		}
		if k == len(what) {
			// The end of the permissions: apply them for this "who" and
			// go on with the next one.
			switch how[0] {
			case '+', '=':
				mode |= op &^ mask
			case '-':
				mode &^= op &^ mask
			}
			op = 0
			if len(who) >= 2 {
				who, k = who[1:], 0
				continue
			}
			return mode, true
		}
		switch what[k] {
		case 'r':
			op |= 0o444
		case 'w':
			op |= 0o222
		case 'x':
			op |= 0o111
		case 's':
			op |= 0o4000
		case 't':
			op |= 0o1000
		case 'o':
			o := cur & 0o007
			op |= o | o<<3 | o<<6
		case 'g':
			g := cur & 0o070
			op |= g>>3 | g | g<<3
		case 'u':
			u := cur & 0o700
			op |= u>>6 | u>>3 | u
		default:
			return 0, false
		}
		k++
	}
}

// strtol0 reads a number as C's strtol(s, &end, 0) does (a leading "0x"
// is hexadecimal, another leading "0" octal) and returns it with what
// follows it. Values too large saturate, as strtol's do.
func strtol0(s string) (uint64, string) {
	base, digits := 10, s
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isDigit(s[2], 16):
		base, digits = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	var v uint64
	n := 0
	for n < len(digits) && isDigit(digits[n], base) {
		d := uint64(strings.IndexByte("0123456789abcdef", lower(digits[n])))
		if v > (1<<63-1-d)/uint64(base) {
			v = 1<<63 - 1
		} else {
			v = v*uint64(base) + d
		}
		n++
	}
	return v, digits[n:]
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte, base int) bool {
	i := strings.IndexByte("0123456789abcdef", lower(c))
	return i >= 0 && i < base
}
