package directives

import (
	"strconv"
	"strings"
)

// isInetAton reports whether s is an IPv4 address in one of the numeric
// forms that inet_aton(3), and so glibc's getaddrinfo, accepts: one to
// four parts separated by dots, each decimal, octal (leading 0) or
// hexadecimal (leading 0x), where the last part fills the remaining bytes
// ("12" is 0.0.0.12, "127.1" is 127.0.0.1). ProFTPD resolves addresses
// through getaddrinfo, so it accepts these; Go's resolver does not.
func isInetAton(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		base := 10
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			p, base = p[2:], 16
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil || strings.ContainsAny(p, "+-") {
			return false
		}
		// Every part but the last is one byte; the last fills the rest.
		limit := uint64(0xff)
		if i == len(parts)-1 {
			limit = 1<<(8*(5-len(parts))) - 1
		}
		if v > limit {
			return false
		}
	}
	return true
}
