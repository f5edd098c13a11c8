package modtls

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// setStaplingResponder handles TLSStaplingResponder URL. ProFTPD accepts
// what OpenSSL's OCSP_parse_url does (see checkResponderURL), and a URL
// without a scheme means http://.
func setStaplingResponder(cmd *directives.Cmd) error {
	raw := cmd.Args[0]
	if err := checkResponderURL(raw); err != nil {
		// ProFTPD prints OpenSSL's error queue here, which is empty for
		// these errors; ftpdtls says what is wrong.
		return fmt.Errorf("error parsing URL '%s': %w", raw, err)
	}
	u := raw
	if u != "" && !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.StaplingResponder = u
	}
	return nil
}

// checkResponderURL applies the rules of OpenSSL 3.0's OCSP_parse_url
// (OSSL_HTTP_parse_url), which decide whether ProFTPD accepts a
// TLSStaplingResponder: "[scheme://][userinfo@]host[:port][/path][?query][#fragment]",
// where the scheme, if any, is "http" or "https" (case matters), the host
// may be empty or a bracketed IPv6 literal, and the port is a decimal
// number up to 65535 followed by the end or the path.
func checkResponderURL(raw string) error {
	rest := raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		switch scheme {
		case "http", "https":
		case "":
			return errors.New("missing scheme before '://'")
		default:
			return fmt.Errorf("unsupported scheme '%s', expected http or https", scheme)
		}
		rest = after
	}
	if _, after, ok := strings.Cut(rest, "@"); ok {
		rest = after
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return errors.New("missing ']' after the IPv6 address")
		}
		rest = rest[end+1:]
	} else if i := strings.IndexAny(rest, ":/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	if port, ok := strings.CutPrefix(rest, ":"); ok {
		// sscanf("%u") then the digits: blanks or a sign are read by
		// sscanf but then leave a port that is not followed by a path.
		n := 0
		for n < len(port) && port[n] >= '0' && port[n] <= '9' {
			n++
		}
		if n > 0 {
			v, err := strconv.ParseUint(port[:n], 10, 64)
			if err != nil {
				v = math.MaxUint64 // strtoul saturates
			}
			if uint32(v) > 65535 { // stored in an unsigned int
				return fmt.Errorf("port '%s' is not a number from 0 to 65535", port[:n])
			}
		}
		if n == 0 && port != "" {
			return fmt.Errorf("port '%s' is not a number", port)
		}
		rest = port[n:]
	}
	if rest != "" && rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
		return fmt.Errorf("unexpected '%s' after the host and port", rest)
	}
	return nil
}
