package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
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
}

// commands is the command table. It is filled in init because its
// handlers refer back to the table (FEAT, HELP).
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

		"PASV": {run: (*session).cmdPASV, login: true},
		"EPSV": {run: (*session).cmdEPSV, login: true},
		"PORT": {run: (*session).cmdActive, login: true},
		"EPRT": {run: (*session).cmdActive, login: true},

		"LIST": {run: (*session).cmdLIST, login: true},
		"NLST": {run: (*session).cmdNLST, login: true},
		"MLSD": {run: (*session).cmdMLSD, login: true},
		"MLST": {run: (*session).cmdMLST, login: true},
		"SIZE": {run: (*session).cmdSIZE, login: true, arg: true},
		"MDTM": {run: (*session).cmdMDTM, login: true, arg: true},
		"RETR": {run: (*session).cmdRETR, login: true, arg: true},
		"STOR": {run: (*session).cmdSTOR, login: true, arg: true},
		"APPE": {run: (*session).cmdAPPE, login: true, arg: true},
		"DELE": {run: (*session).cmdDELE, login: true, arg: true},
		"MKD":  {run: (*session).cmdMKD, login: true, arg: true},
		"XMKD": {run: (*session).cmdMKD, login: true, arg: true},
		"RMD":  {run: (*session).cmdRMD, login: true, arg: true},
		"XRMD": {run: (*session).cmdRMD, login: true, arg: true},
		"RNFR": {run: (*session).cmdRNFR, login: true, arg: true},
		"RNTO": {run: (*session).cmdRNTO, login: true, arg: true},
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
		// RNTO must follow RNFR directly, as REST must precede its
		// transfer; any other command forgets them.
		if verb != "RNTO" {
			s.renameOf = ""
		}
		c.run(s, arg)
		if verb != "REST" {
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
	if !s.reply(234, "AUTH "+mech+" successful") {
		return
	}
	if err := s.startTLS(ts); err != nil {
		s.log.Infof("%v", err)
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
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "C":
		if s.srv.RequireTLSData {
			s.reply(534, "Unwilling to accept security parameters")
			return
		}
		s.protect = false
		s.reply(200, "Protection set to Clear")
	case "P":
		s.protect = true
		s.reply(200, "Protection set to Private")
	case "S", "E":
		s.reply(536, "PROT "+arg+" unsupported")
	default:
		s.reply(504, "PROT "+arg+" unsupported")
	}
}

// cmdCCC refuses to clear the control channel: a clear control channel
// would let an attacker inject commands into an authenticated session.
func (s *session) cmdCCC(string) {
	s.reply(534, "Unwilling to accept security parameters")
}

// ---- session ----

// features lists FEAT's lines, each sent with a leading space.
var features = []string{
	"AUTH TLS", "PBSZ", "PROT",
	"EPSV", "MDTM", "MLST type*;size*;modify*;perm*;unique*;",
	"REST STREAM", "SIZE", "UTF8",
}

func (s *session) cmdFEAT(string) {
	lines := make([]string, 0, len(features))
	for _, f := range features {
		if strings.HasPrefix(f, "AUTH") || f == "PBSZ" || f == "PROT" {
			if s.srv.TLS == nil {
				continue
			}
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
		// The fact set is fixed; confirm the facts asked for that exist.
		var on []string
		for _, f := range strings.Split(value, ";") {
			switch strings.ToLower(f) {
			case "type", "size", "modify", "perm", "unique":
				on = append(on, strings.ToLower(f))
			}
		}
		s.reply(200, "OPTS MLST "+strings.Join(on, ";")+";")
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

func (s *session) cmdSYST(string) { s.reply(215, "UNIX Type: L8") }
func (s *session) cmdNOOP(string) { s.reply(200, "NOOP command successful") }

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
	if err != nil {
		s.log.Infof("USER %s: %v", user, err)
		// ProFTPD's DelayEngine slows guessing; a fixed pause does too.
		time.Sleep(200 * time.Millisecond)
		s.reply(530, "Login incorrect.")
		return
	}
	s.acct, s.fs, s.loggedIn, s.cwd = acct, acct.FS, true, cmp(acct.Cwd, "/")
	s.log.Infof("USER %s: Login successful.", user)
	s.reply(230, "User "+user+" logged in")
}

// ---- navigation and settings ----

func (s *session) cmdPWD(string) {
	s.reply(257, quote(s.cwd)+" is the current directory")
}

// quote encloses a path in double quotes, doubling the ones inside
// (RFC 959 appendix II).
func quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func (s *session) cmdCWD(arg string) {
	abs := s.abs(arg)
	fi, err := s.fs.Stat(abs)
	if err == nil && !fi.IsDir() {
		err = errors.New("Not a directory")
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.cwd = abs
	s.reply(250, "CWD command successful")
}

func (s *session) cmdCDUP(string) { s.cmdCWD("..") }

func (s *session) cmdTYPE(arg string) {
	// Files are sent as they are in both types, as most servers do for
	// TYPE A on Unix, where the local line ending already is LF and
	// clients convert.
	switch t := strings.ToUpper(strings.Fields(arg)[0]); t {
	case "A", "I", "L":
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
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		s.reply(501, "REST requires a value greater than or equal to 0")
		return
	}
	s.restart = n
	s.reply(350, fmt.Sprintf("Restarting at %d. Send STORE or RETRIEVE to initiate transfer", n))
}

// cmdABOR: transfers run to completion before the next command is read,
// so there is never a transfer to abort.
func (s *session) cmdABOR(string) {
	s.closePassive()
	s.reply(226, "Abort successful")
}

func (s *session) cmdActive(string) {
	s.reply(502, "Active mode not supported; use PASV or EPSV")
}

// ---- files ----

func (s *session) cmdSIZE(arg string) {
	fi, err := s.fs.Stat(s.abs(arg))
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
	fi, err := s.fs.Stat(s.abs(arg))
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.reply(213, fi.ModTime.UTC().Format("20060102150405"))
}

func (s *session) cmdDELE(arg string) {
	p := s.abs(arg)
	fi, err := s.fs.Lstat(p)
	if err == nil && fi.IsDir() {
		err = errors.New("Is a directory")
	}
	if err == nil {
		err = s.fs.Remove(p)
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.log.Infof("DELE %s", s.abs(arg))
	s.reply(250, "DELE command successful")
}

func (s *session) cmdMKD(arg string) {
	abs := s.abs(arg)
	if err := s.fs.Mkdir(abs, 0o755); err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.reply(257, quote(abs)+" - Directory successfully created")
}

func (s *session) cmdRMD(arg string) {
	p := s.abs(arg)
	fi, err := s.fs.Lstat(p)
	if err == nil && !fi.IsDir() {
		err = errors.New("Not a directory")
	}
	if err == nil {
		err = s.fs.Rmdir(p)
	}
	if err != nil {
		s.reply(550, arg+": "+errText(err))
		return
	}
	s.reply(250, "RMD command successful")
}

func (s *session) cmdRNFR(arg string) {
	abs := s.abs(arg)
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
	if err := s.fs.Rename(from, s.abs(arg)); err != nil {
		s.reply(550, "Rename "+arg+": "+errText(err))
		return
	}
	s.reply(250, "Rename successful")
}

// errText is the reply text for a file system error: the bare reason,
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
	switch {
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
	// Errors from os.Root for paths that leave the root read "path
	// escapes from parent"; keep them, capitalised like strerror.
	return strings.ToUpper(msg[:1]) + msg[1:]
}
