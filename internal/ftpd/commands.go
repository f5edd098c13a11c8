package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// command is one row of the command table.
type command struct {
	run func(s *session, arg string)
	// login: refused with 530 before a successful PASS.
	login bool
	// arg: refused with 501 when the argument is empty.
	arg bool
	// beforeTLS: allowed on the clear control connection even when TLS is
	// required there (RequireTLSControl).
	beforeTLS bool
	// transfer: refused with 450 while a transfer runs (ProFTPD's list).
	transfer bool
}

// commands is the command table. It is filled in init because its
// handlers refer back to the table (FEAT).
var commands map[string]command

func init() {
	commands = map[string]command{
		"AUTH": {run: (*session).cmdAUTH, arg: true, beforeTLS: true},
		"PBSZ": {run: (*session).cmdPBSZ, arg: true},
		"PROT": {run: (*session).cmdPROT, arg: true},
		"CCC":  {run: (*session).cmdCCC},
		"FEAT": {run: (*session).cmdFEAT, beforeTLS: true},
		"OPTS": {run: (*session).cmdOPTS, arg: true, beforeTLS: true},
		"SYST": {run: (*session).cmdSYST, beforeTLS: true},
		"NOOP": {run: (*session).cmdNOOP, beforeTLS: true},
		"HELP": {run: (*session).cmdHELP},
		"SITE": {run: (*session).cmdSITE},
		"STAT": {run: (*session).cmdSTAT, login: true},
		"QUIT": {run: (*session).cmdQUIT, beforeTLS: true},
		"USER": {run: (*session).cmdUSER, arg: true},
		"PASS": {run: (*session).cmdPASS},

		"PWD":  {run: (*session).cmdPWD, login: true},
		"XPWD": {run: (*session).cmdPWD, login: true},
		"CWD":  {run: (*session).cmdCWD, login: true, arg: true},
		"XCWD": {run: (*session).cmdCWD, login: true, arg: true},
		"CDUP": {run: (*session).cmdCDUP, login: true},
		"XCUP": {run: (*session).cmdCDUP, login: true},
		"TYPE": {run: (*session).cmdTYPE, login: true, arg: true},
		"MODE": {run: (*session).cmdMODE, login: true, arg: true},
		"STRU": {run: (*session).cmdSTRU, login: true, arg: true},
		"ALLO": {run: (*session).cmdALLO, login: true},
		"REST": {run: (*session).cmdREST, login: true, arg: true},
		"ABOR": {run: (*session).cmdABOR, login: true},

		"PASV": {run: (*session).cmdPASV, login: true, transfer: true},
		"EPSV": {run: (*session).cmdEPSV, login: true, transfer: true},
		"PORT": {run: (*session).cmdActive, login: true, transfer: true},
		"EPRT": {run: (*session).cmdActive, login: true, transfer: true},

		"LIST": {run: (*session).cmdLIST, login: true, transfer: true},
		"NLST": {run: (*session).cmdNLST, login: true, transfer: true},
		"MLSD": {run: (*session).cmdMLSD, login: true, transfer: true},
		"MLST": {run: (*session).cmdMLST, login: true},
		"SIZE": {run: (*session).cmdSIZE, login: true, arg: true},
		"MDTM": {run: (*session).cmdMDTM, login: true, arg: true},
		"MFMT": {run: (*session).cmdMFMT, login: true, arg: true},
		"RETR": {run: (*session).cmdRETR, login: true, arg: true, transfer: true},
		"STOR": {run: (*session).cmdSTOR, login: true, arg: true, transfer: true},
		"STOU": {run: (*session).cmdSTOU, login: true, transfer: true},
		"APPE": {run: (*session).cmdAPPE, login: true, arg: true, transfer: true},
		"DELE": {run: (*session).cmdDELE, login: true, arg: true},
		"MKD":  {run: (*session).cmdMKD, login: true, arg: true},
		"XMKD": {run: (*session).cmdMKD, login: true, arg: true},
		"RMD":  {run: (*session).cmdRMD, login: true, arg: true},
		"XRMD": {run: (*session).cmdRMD, login: true, arg: true},
		"RNFR": {run: (*session).cmdRNFR, login: true, arg: true, transfer: true},
		"RNTO": {run: (*session).cmdRNTO, login: true, arg: true, transfer: true},
	}
}

// dispatch checks a command against the table and the session state and
// runs it.
func (s *session) dispatch(verb, arg string) {
	c, ok := commands[verb]
	switch {
	case !ok:
		s.reply(500, verb+" not understood")
	case s.tls == nil && s.srv.RequireTLSControl && !c.beforeTLS,
		s.tls == nil && s.srv.RequireTLSAuth && (verb == "USER" || verb == "PASS"):
		s.reply(550, "SSL/TLS required on the control channel")
	case c.login && !s.loggedIn:
		s.reply(530, "Please login with USER and PASS")
	case c.arg && strings.TrimSpace(arg) == "":
		s.reply(501, "Invalid number of parameters")
	default:
		// RNTO must follow RNFR directly; any other command forgets the
		// RNFR. A REST offset holds until the next transfer, as with
		// ProFTPD (clients send PASV or TYPE between REST and RETR).
		if verb != "RNTO" {
			s.renameOf = ""
		}
		s.verb = verb
		c.run(s, arg)
		if c.transfer && verb != "PASV" && verb != "EPSV" && verb != "PORT" && verb != "EPRT" && verb != "RNFR" && verb != "RNTO" {
			s.restart = 0
		}
	}
}

// ---- RFC 4217 ----

func (s *session) cmdAUTH(arg string) {
	mech := strings.ToUpper(strings.TrimSpace(arg))
	switch {
	case s.srv.TLS == nil:
		s.reply(502, "AUTH not supported")
		return
	case s.tls != nil:
		s.reply(503, "TLS already negotiated")
		return
	case mech != "TLS" && mech != "TLS-C" && mech != "SSL" && mech != "TLS-P":
		s.reply(504, "AUTH "+arg+" unsupported")
		return
	}
	ts, err := s.srv.TLS.NewSession(s.conn)
	if err != nil {
		s.log.Warnf("AUTH %s: %v", mech, err)
		s.reply(431, "Unable to accept security mechanism")
		return
	}
	if ev, ok := ts.(TLSEvents); ok {
		ev.AuthRequested(mech)
	}
	if !s.reply(234, "AUTH "+mech+" successful") {
		return
	}
	if err := s.startTLS(ts); err != nil {
		if !s.evicted.Load() {
			s.log.Infof("%v", err)
		}
		s.done = true
		return
	}
	// AUTH SSL (RFC 2228 draft usage, sent by curl) implies a protected
	// data channel, as ProFTPD's "SSL/TLS-P requested" does.
	if mech == "SSL" || mech == "TLS-P" {
		s.protect = true
	}
}

func (s *session) cmdPBSZ(arg string) {
	if s.tls == nil {
		s.reply(503, "PBSZ not allowed on insecure control connection")
		return
	}
	// RFC 4217: the buffer size is always 0 for TLS.
	s.reply(200, "PBSZ 0 successful")
}

func (s *session) cmdPROT(arg string) {
	if s.tls == nil {
		s.reply(503, "PROT not allowed on insecure control connection")
		return
	}
	level := strings.ToUpper(strings.TrimSpace(arg))
	switch level {
	case "C":
		if s.srv.RequireTLSData {
			s.reply(534, "Unwilling to accept security parameters")
			return
		}
	case "P":
	case "S", "E":
		s.reply(536, "PROT "+arg+" unsupported")
		return
	default:
		s.reply(504, "PROT "+arg+" unsupported")
		return
	}
	s.protect = level == "P"
	if ev, ok := s.tls.(TLSEvents); ok {
		ev.ProtectionSet(level)
	}
	s.reply(200, "Protection set to "+cond(s.protect, "Private", "Clear"))
}

// cmdCCC refuses to clear the control channel: a clear control channel
// would let an attacker inject commands into an authenticated session.
func (s *session) cmdCCC(string) {
	s.reply(534, "Unwilling to accept security parameters")
}

// ---- session ----

// features lists FEAT's lines, each sent with a leading space, in
// ProFTPD's order.
var features = []string{
	"AUTH TLS", "EPSV", "MDTM", "MFMT",
	"MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;",
	"PBSZ", "PROT", "REST STREAM", "SIZE", "UTF8",
}

func (s *session) cmdFEAT(string) {
	if !s.allowed("FEAT", s.cwd) {
		s.reply(550, "FEAT: "+strerror(syscall.EPERM))
		return
	}
	lines := make([]string, 0, len(features))
	for _, f := range features {
		if strings.HasPrefix(f, "AUTH") || f == "PBSZ" || f == "PROT" {
			if s.srv.TLS == nil {
				continue
			}
		}
		if strings.HasPrefix(f, "MLST ") {
			f = s.mlstFeature()
		}
		lines = append(lines, " "+f)
	}
	s.replyLines(211, "Features:", lines, "End")
}

func (s *session) cmdOPTS(arg string) {
	name, value, _ := strings.Cut(strings.TrimSpace(arg), " ")
	switch strings.ToUpper(name) {
	case "UTF8":
		// Names are bytes on the wire and on disk; UTF-8 is always on.
		s.reply(200, "UTF8 set to "+strings.ToLower(cmp(value, "on")))
	case "MLST":
		s.optsMLST(value)
	default:
		s.reply(501, "OPTS "+name+" not understood")
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cond[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

func (s *session) cmdSYST(string) { s.reply(215, "UNIX Type: L8") }
func (s *session) cmdNOOP(string) {
	if !s.allowed("NOOP", s.cwd) {
		s.reply(550, strerror(syscall.EPERM))
		return
	}
	s.reply(200, "NOOP command successful")
}

func (s *session) cmdQUIT(string) {
	s.reply(221, "Goodbye.")
	s.done = true
}

func (s *session) cmdUSER(arg string) {
	if s.loggedIn {
		s.reply(503, "You are already logged in")
		return
	}
	s.user = arg
	s.reply(331, "Password required for "+arg)
}

func (s *session) cmdPASS(arg string) {
	switch {
	case s.loggedIn:
		s.reply(503, "You are already logged in")
		return
	case s.user == "":
		s.reply(503, "Login with USER first")
		return
	}
	user := s.user
	s.user = ""
	acct, err := s.srv.Auth.Login(context.Background(), LoginRequest{
		User: user, Password: arg, Remote: s.conn.RemoteAddr(), Local: s.real.LocalAddr(),
	})
	if err == nil {
		who := access.Who{User: acct.User, Groups: acct.Groups, Addr: addrOf(s.conn.RemoteAddr()), Home: acct.Home}
		if !s.srv.policy().LoginAllowed(who) {
			acct.FS.Close()
			acct, err = nil, errors.New("denied by <Limit LOGIN>")
		}
	}
	if errors.Is(err, ErrSessionRoot) {
		s.reply(530, "Login incorrect.")
		s.done = true
		return
	}
	if err != nil {
		s.failures++
		s.log.Infof("USER %s (Login failed): %v", user, err)
		// ProFTPD's DelayEngine slows guessing; a fixed pause does too.
		time.Sleep(200 * time.Millisecond)
		s.reply(530, "Login incorrect.")
		if max := s.srv.maxLoginAttempts(); max > 0 && s.failures >= max {
			s.log.Warnf("Maximum login attempts (%d) exceeded, connection refused", max)
			s.done = true
		}
		return
	}
	if a := s.srv.Admission; a != nil {
		release, err := a.Login(acct.User, s.conn.RemoteAddr())
		if err != nil {
			acct.FS.Close()
			s.refuse(err)
			s.done = true
			return
		}
		s.releases = append(s.releases, release)
	}
	s.acct, s.fs, s.loggedIn, s.cwd = acct, acct.FS, true, cmp(acct.Cwd, "/")
	s.srv.loggedIn(s)
	s.lastTransfer = time.Now() // TimeoutNoTransfer counts from the login
	if !s.typeSet {
		s.ascii = true
	}
	s.log.Infof("USER %s: Login successful.", user)
	s.reply(230, "User "+user+" logged in")
}

// ---- navigation and settings ----

func (s *session) cmdPWD(string) {
	if !s.allowed(s.verb, s.cwd) {
		s.reply(550, s.verb+": "+strerror(syscall.EACCES))
		return
	}
	s.reply(257, quote(s.cwd)+" is the current directory")
}

// quote encloses a path in double quotes, doubling the ones inside
// (RFC 959 appendix II).
func quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

// CWD and CDUP, and their X forms, which ProFTPD names in its replies
// ("250 XCWD command successful") and checks <Limit> under.
func (s *session) cmdCWD(arg string) { s.changeDir(arg, s.verb) }
func (s *session) cmdCDUP(string)    { s.changeDir("..", s.verb) }

func (s *session) changeDir(arg, verb string) {
	abs := s.abs(arg)
	if !s.allowed(verb, abs) {
		// ProFTPD does not tell a refused directory from a missing one.
		s.reply(550, arg+": No such file or directory")
		return
	}
	fi, err := s.fs.Stat(abs)
	if err == nil && !fi.IsDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.cwd = abs
	s.reply(250, verb+" command successful")
}

func (s *session) cmdTYPE(arg string) {
	switch t := strings.ToUpper(strings.Fields(arg)[0]); t {
	case "A", "I", "L":
		s.ascii, s.typeSet = t == "A", true
		if t == "L" {
			t = "I"
		}
		s.reply(200, "Type set to "+t)
	default:
		s.reply(504, "TYPE "+arg+" not implemented")
	}
}

func (s *session) cmdMODE(arg string) {
	if strings.EqualFold(arg, "S") {
		s.reply(200, "Mode set to S")
		return
	}
	s.reply(504, "Unsupported transfer mode")
}

func (s *session) cmdSTRU(arg string) {
	if strings.EqualFold(arg, "F") {
		s.reply(200, "Structure set to F")
		return
	}
	s.reply(504, "Unsupported structure type")
}

func (s *session) cmdALLO(string) { s.reply(202, "No storage allocation necessary") }

func (s *session) cmdREST(arg string) {
	arg = strings.TrimSpace(arg)
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(arg, "+") {
		s.reply(501, "REST requires a value greater than or equal to 0")
		return
	}
	if s.ascii && n != 0 {
		s.reply(501, "REST: Resuming transfers not allowed in ASCII mode")
		return
	}
	s.restart = n
	s.reply(350, fmt.Sprintf("Restarting at %d. Send STORE or RETRIEVE to initiate transfer", n))
}

// cmdABOR outside a transfer (ABOR during one is handled by the transfer).
func (s *session) cmdABOR(string) {
	s.closePassive()
	s.reply(226, "Abort successful")
}

func (s *session) cmdActive(string) {
	s.reply(502, "Active mode not supported; use PASV or EPSV")
}

// ---- files ----

func (s *session) cmdSIZE(arg string) {
	abs := s.abs(arg)
	if !s.allowed("SIZE", abs) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	if s.ascii {
		s.reply(550, "SIZE not allowed in ASCII mode")
		return
	}
	fi, err := s.fs.Stat(abs)
	switch {
	case err != nil:
		s.reply(550, arg+": "+errText(err))
	case !fi.IsRegular():
		s.reply(550, arg+": not a regular file")
	default:
		s.reply(213, strconv.FormatInt(fi.Size, 10))
	}
}

func (s *session) cmdMDTM(arg string) {
	abs := s.abs(arg)
	if !s.allowed("MDTM", abs) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	fi, err := s.fs.Stat(abs)
	switch {
	case err != nil:
		s.reply(550, arg+": "+errText(err))
	case !fi.IsRegular():
		s.reply(550, arg+": not a plain file")
	default:
		s.reply(213, fi.ModTime.UTC().Format("20060102150405"))
	}
}

// cmdMFMT sets a file's modification time: "MFMT YYYYMMDDHHMMSS path"
// (draft-somers-ftp-mfxx), replying as ProFTPD's mod_facts does.
func (s *session) cmdMFMT(arg string) {
	stamp, name, ok := strings.Cut(arg, " ")
	if !ok || name == "" {
		s.reply(501, "Invalid number of parameters")
		return
	}
	abs := s.abs(name)
	if !s.allowed("MFMT", abs) {
		s.reply(550, "Unable to handle command")
		return
	}
	if len(stamp) < 14 {
		s.reply(501, stamp+": "+errText(syscall.EINVAL))
		return
	}
	// Fractions of a second are accepted and ignored, as by ProFTPD.
	digits, _, _ := strings.Cut(stamp, ".")
	t, err := time.ParseInLocation("20060102150405", digits, time.UTC)
	if err != nil {
		s.reply(501, name+": "+errText(syscall.EINVAL))
		return
	}
	if err := s.fs.Chtimes(abs, t); err != nil {
		s.reply(cond(errors.Is(err, fs.ErrNotExist), 550, 501), name+": "+errText(err))
		return
	}
	s.log.Infof("MFMT %s %s", digits, abs)
	s.reply(213, "Modify="+digits+"; "+name)
}

func (s *session) cmdDELE(arg string) {
	p := s.abs(arg)
	if !s.allowed("DELE", p) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	fi, err := s.fs.Lstat(p)
	if err == nil && fi.IsDir() {
		err = syscall.EISDIR
	}
	if err == nil {
		err = s.fs.Remove(p)
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.log.Infof("DELE %s", p)
	s.reply(250, "DELE command successful")
}

func (s *session) cmdMKD(arg string) {
	abs := s.abs(arg)
	if !s.allowed(s.verb, abs) {
		s.reply(550, arg+": "+errText(syscall.EACCES))
		return
	}
	perm := fs.FileMode(0o777 &^ s.dirSettings(abs).DirUmask)
	if err := s.fs.Mkdir(abs, perm); err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.reply(257, quote(abs)+" - Directory successfully created")
}

func (s *session) cmdRMD(arg string) {
	p := s.abs(arg)
	if !s.allowed(s.verb, p) {
		s.reply(550, arg+": "+errText(syscall.EACCES))
		return
	}
	fi, err := s.fs.Lstat(p)
	if err == nil && !fi.IsDir() {
		err = syscall.ENOTDIR
	}
	if err == nil {
		err = s.fs.Rmdir(p)
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.reply(250, s.verb+" command successful")
}

func (s *session) cmdRNFR(arg string) {
	abs := s.abs(arg)
	if !s.allowed("RNFR", abs) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	if _, err := s.fs.Lstat(abs); err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.renameOf = abs
	s.reply(350, "File or directory exists, ready for destination name")
}

func (s *session) cmdRNTO(arg string) {
	from := s.renameOf
	s.renameOf = ""
	if from == "" {
		s.reply(503, "Bad sequence of commands")
		return
	}
	to := s.abs(arg)
	if !s.allowed("RNTO", to) {
		s.reply(550, arg+": "+errText(syscall.EPERM))
		return
	}
	// Renaming over an existing file replaces it: that needs
	// AllowOverwrite, as with ProFTPD.
	if _, err := s.fs.Lstat(to); err == nil && !s.dirSettings(to).AllowOverwrite {
		s.reply(550, arg+": Rename permission denied")
		return
	}
	if err := s.fs.Rename(from, to); err != nil {
		s.reply(550, "Rename "+arg+": "+errText(err))
		return
	}
	s.log.Infof("RNTO %s to %s", from, to)
	s.reply(250, "Rename successful")
}

// errText is the reply text for a file system error: strerror's words,
// without the operation and path that os puts in front of it.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, userfs.ErrNotRegular):
		return "Not a regular file"
	case errors.Is(err, userfs.ErrOverwrite):
		return "Overwrite permission denied"
	case errors.As(err, &errno):
		return strerror(errno)
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	case errors.Is(err, fs.ErrExist):
		return "File exists"
	}
	msg := err.Error()
	if msg == "" {
		return "Operation failed"
	}
	// os.Root refuses paths that leave the root with "path escapes from
	// parent": to the client that is a name that does not exist, as
	// outside a chroot.
	if strings.Contains(msg, "escapes") {
		return "No such file or directory"
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// strerror is glibc's text for errno: Go's syscall messages are the same
// words in lower case.
func strerror(e syscall.Errno) string {
	msg := e.Error()
	if msg == "" {
		return "Operation failed"
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}
