package modtls

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/ftpdtls/ftpdtls/directives"
)

// fscacheVersion prefixes mod_tls_fscache's log lines.
const fscacheVersion = "mod_tls_fscache/0.0"

// fscacheInfo checks the info string of "TLSStaplingCache fs:..." as
// mod_tls_fscache opens it when mod_tls opens the OCSP cache at the end
// of the parse, so that a `proftpd -t` verdict prints its notices.
// ftpdtls does not implement the module (serve refuses the type, see
// UnavailableError); it only looks at the directory, creating nothing.
//
// The info string is "/path=DIR": DIR must be absolute, exist (lstat: a
// symbolic link is not followed unless DIR ends in '/'), be a directory
// and not be world-writable.
type fscacheInfo struct{}

func (fscacheInfo) CheckInfo(info string) []string {
	say := func(format string, args ...any) []string {
		return []string{fscacheVersion + ": " + fmt.Sprintf(format, args...)}
	}
	path, ok := strings.CutPrefix(info, "/path=")
	if !ok {
		return say("badly formatted info '%s', unable to open fscache", info)
	}
	if !strings.HasPrefix(path, "/") {
		return say("path '%s' not an absolute path", path)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return say("unable to check '%s': %s", path, directives.Strerror(err))
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return say("unable to use '%s': %s", path, directives.Strerror(syscall.ENOTDIR))
	}
	if st.Mode&0o002 != 0 {
		return say("unable to use world-writable '%s' (perms %04o)", path, st.Mode&0o7777)
	}
	return nil
}

// unimplementedInfoCheckers check the info strings of the cache types
// whose ProFTPD module ftpdtls does not implement, by kind ("session",
// "OCSP") and type, for the notices of a `proftpd -t` verdict.
var unimplementedInfoCheckers = map[string]map[string]InfoChecker{
	"OCSP": {"fs": fscacheInfo{}},
}
