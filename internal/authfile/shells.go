package authfile

import (
	"bytes"
	"io"
	"os"
	"strings"
)

// The files ProFTPD 1.3.8's mod_auth reads at each login after the
// password is accepted (PR_VALID_SHELL_PATH and PR_FTPUSERS_PATH).
const (
	ShellsPath   = "/etc/shells"
	FtpUsersPath = "/etc/ftpusers"
)

// ValidShell reports whether shell is listed in the file at path, as
// ProFTPD 1.3.8's pr_auth_is_valid_shell (RequireValidShell on) decides:
// a file that cannot be opened accepts every shell; otherwise a line
// must equal shell once its trailing CR and LF are removed. ProFTPD does
// not call getusershell(3): comments and blanks are not skipped, and
// "/bin/sh # default" or " /bin/sh" lists no shell.
func ValidShell(path, shell string) bool {
	data, ok := readAll(path)
	if !ok {
		return true
	}
	for _, line := range fgetsLines(data, 256-1) {
		if line == shell {
			return true
		}
	}
	return false
}

// InFtpUsers reports whether the file at path (/etc/ftpusers) bans user,
// as ProFTPD 1.3.8's pr_auth_banned_by_ftpusers (UseFtpUsers on)
// decides: a file that cannot be opened bans nobody; otherwise a line,
// once its trailing CR and LF are removed and its leading white space
// skipped, that is neither empty nor starts with '#' bans the user it
// equals (trailing blanks stay: "alice " does not ban alice).
func InFtpUsers(path, user string) bool {
	data, ok := readAll(path)
	if !ok {
		return false
	}
	for _, line := range fgetsLines(data, 512-1) {
		line = strings.TrimLeft(line, " \t\n\v\f\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if line == user {
			return true
		}
	}
	return false
}

// readAll reads path; ok is false when it cannot be opened (fopen
// failed). A read error ends the data where it happened, as fgets's
// NULL ends ProFTPD's loop.
func readAll(path string) (data []byte, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	data, _ = io.ReadAll(f)
	return data, true
}

// fgetsLines splits data as ProFTPD's loop of fgets(buf, size, fh) reads
// it, each piece taken as the C string it is (up to a NUL) with its
// trailing CR and LF removed (ProFTPD's CHOP): a piece ends after a
// newline or at size-1 bytes, so longer lines come in several pieces.
func fgetsLines(data []byte, size int) []string {
	var lines []string
	for len(data) > 0 {
		n := len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			n = i + 1
		}
		n = min(n, size-1)
		piece := data[:n]
		data = data[n:]
		if i := bytes.IndexByte(piece, 0); i >= 0 {
			piece = piece[:i]
		}
		lines = append(lines, strings.TrimRight(string(piece), "\r\n"))
	}
	return lines
}
