package access

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// aclKind is the kind of one entry of an Allow or Deny line (ProFTPD's
// pr_netacl_t types that ftpdtls can evaluate without DNS).
type aclKind int

const (
	aclAll    aclKind = iota // "all"
	aclNone                  // "none"
	aclPrefix                // 10.0.0.0/8, 2001:db8::/32
	aclAddr                  // 10.1.2.3, ::1
	aclIPGlob                // 10.1.*, 10.1.2. (a trailing dot means "10.1.2.*")
)

// netACL is one entry of an Allow or Deny line.
type netACL struct {
	kind    aclKind
	negated bool
	prefix  netip.Prefix // aclPrefix
	addr    netip.Addr   // aclAddr
	pattern string       // aclIPGlob
}

// errHostname is returned for an entry that ProFTPD would match against
// the client's DNS name.
var errHostname = errors.New("host names need reverse DNS")

// parseNetACL classifies one entry as ProFTPD's pr_netacl_create does
// (with IPv6 support on, ProFTPD's default) and keeps the kinds that need
// no DNS: all, none, an address, an address/prefix, an IP glob. An entry
// ProFTPD would treat as a host name or a DNS glob returns errHostname; a
// malformed one another error.
func parseNetACL(s string) (*netACL, error) {
	switch {
	case strings.EqualFold(s, "all"):
		return &netACL{kind: aclAll}, nil
	case strings.EqualFold(s, "none"):
		return &netACL{kind: aclNone}, nil
	}
	a := &netACL{}
	body := s
	if strings.HasPrefix(body, "!") {
		a.negated = true
		body = body[1:]
	}
	if addr, bits, ok := strings.Cut(body, "/"); ok {
		// ProFTPD: only hex digits, dots and colons before the '/', then
		// a decimal mask length within the family's size.
		if addr == "" || strings.Trim(addr, "0123456789ABCDEFabcdef.:") != "" {
			return nil, errors.New("Invalid argument") //nolint:staticcheck // strerror(EINVAL)
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, errHostname // ProFTPD would resolve it
		}
		n, ok := atoiStrict(bits)
		if !ok || n < 0 || n > ip.BitLen() {
			return nil, errors.New("Invalid argument") //nolint:staticcheck // strerror(EINVAL)
		}
		if ip.Is4In6() && n >= 96 {
			ip, n = ip.Unmap(), n-96
		}
		p, err := ip.Prefix(n)
		if err != nil {
			return nil, err
		}
		a.kind, a.prefix = aclPrefix, p
		return a, nil
	}
	hexOnly := strings.Trim(body, "0123456789ABCDEFabcdef.:") == ""
	hasGlob := strings.ContainsAny(body, "{[*?")
	if !hexOnly {
		if !hasGlob || hasNonHexLetter(body) {
			return nil, errHostname
		}
		a.kind, a.pattern = aclIPGlob, body
		return a, nil
	}
	if strings.HasSuffix(body, ".") && strings.Contains(body, ".") {
		a.kind, a.pattern = aclIPGlob, body+"*"
		return a, nil
	}
	ip, err := netip.ParseAddr(body)
	if err != nil {
		// Hex letters and dots only, but not an address: ProFTPD looks
		// it up with getaddrinfo.
		return nil, errHostname
	}
	a.kind, a.addr = aclAddr, ip.Unmap()
	return a, nil
}

func hasNonHexLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c >= 'g' && c <= 'z' {
			return true
		}
	}
	return false
}

// atoiStrict parses a decimal number as strtol does, with nothing after
// it (ProFTPD accepts a sign and leading blanks).
func atoiStrict(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, true // strtol of "" is 0 with nothing left over
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
		if n > 1<<20 {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// match is pr_netacl_match: 1 for a match (or a negated entry that does
// not match), -1 for "none" or a negated entry that matches, 0 otherwise.
func (a *netACL) match(addr netip.Addr) int {
	addr = addr.Unmap()
	var hit bool
	switch a.kind {
	case aclAll:
		return 1
	case aclNone:
		return -1
	case aclPrefix:
		hit = addr.IsValid() && a.prefix.Contains(addr)
	case aclAddr:
		hit = addr.IsValid() && addr == a.addr
	case aclIPGlob:
		hit = addr.IsValid() && fnmatch(a.pattern, addr.String(), fnmNoEscape|fnmCaseFold)
	}
	switch {
	case hit && a.negated:
		return -1
	case hit:
		return 1
	case a.negated:
		return 1
	}
	return 0
}

// ipRule is one Allow or Deny line: its entries in order.
type ipRule []*netACL

// parseIPRule reads the arguments of an Allow or Deny line as ProFTPD's
// set_allowdeny does: an optional "from", then "all" or "none" alone, or
// comma-separated entries over any number of words.
func parseIPRule(directive string, args []string) (ipRule, error) {
	syntax := fmt.Errorf("syntax: %s [from] [all|none]|host|network[,...]", directive)
	i := 0
	for i < len(args) && strings.EqualFold(args[i], "from") {
		i++
	}
	if i < len(args) {
		w := args[i]
		if strings.EqualFold(w, "!all") || strings.EqualFold(w, "!none") {
			return nil, errors.New("the ! negation operator cannot be used with ALL/NONE")
		}
		if strings.EqualFold(w, "all") || strings.EqualFold(w, "none") {
			a, _ := parseNetACL(w)
			return ipRule{a}, nil
		}
	}
	var rule ipRule
	for _, w := range args[i:] {
		for _, ent := range strings.Split(w, ",") {
			if ent == "" {
				continue
			}
			if strings.EqualFold(ent, "all") || strings.EqualFold(ent, "none") {
				// ProFTPD empties the list, which is then a syntax error.
				return nil, syntax
			}
			a, err := parseNetACL(ent)
			if err != nil {
				if errors.Is(err, errHostname) {
					return nil, err
				}
				return nil, fmt.Errorf("bad ACL definition '%s': %v", ent, err)
			}
			rule = append(rule, a)
		}
	}
	if len(rule) == 0 {
		return nil, syntax
	}
	return rule, nil
}
