package directives

import (
	"net"
	"strings"
	"syscall"
)

// checkNetACL checks one entry of an Allow or Deny list as
// pr_netacl_create does: IP/mask, IP, IP glob, DNS name or glob. An entry
// that names an address resolves it (a failure is ENOENT, an IPv6 address
// while UseIPv6 is off EAFNOSUPPORT). For IP/mask entries ProFTPD cuts the
// string at the '/' before most checks and reports the shortened entry;
// the returned error's Entry says what to quote.
func (p *parser) checkNetACL(ent string) error {
	useIPv6 := p.cfg.Main.UseIPv6
	if strings.EqualFold(ent, "all") || strings.EqualFold(ent, "none") {
		return nil
	}
	if addr, mask, ok := strings.Cut(ent, "/"); ok {
		cut := func(errno syscall.Errno) error { return &aclError{entry: addr, errno: errno} }
		a := strings.TrimPrefix(addr, "!")
		if !onlyBytes(a, "0123456789ABCDEFabcdef.:") {
			return cut(syscall.EINVAL)
		}
		if err := p.resolveACLAddr(a, useIPv6); err != nil {
			return cut(err.(syscall.Errno))
		}
		n, rest, _ := Strtol(mask)
		if rest != "" {
			return cut(syscall.EINVAL)
		}
		// The mask length is unsigned there: a negative one is too long.
		if !strings.Contains(a, ":") && (n < 0 || n > 32) {
			return &Errno{syscall.EINVAL}
		}
		if strings.Contains(a, ":") && useIPv6 && (n < 0 || n > 128) {
			return &Errno{syscall.EINVAL}
		}
		return nil
	}
	if useIPv6 && !onlyBytes(ent, "0123456789ABCDEFabcdef.:!") {
		return nil // a DNS name or glob
	}
	a := strings.TrimPrefix(ent, "!")
	if !strings.Contains(ent, ".") {
		glob := strings.ContainsAny(a, "{[*?")
		if !strings.Contains(a, ":") {
			return nil // a DNS name or glob
		}
		if !useIPv6 {
			kind := "match"
			if glob {
				kind = "glob"
			}
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{Msg: "warning: possibly using IPv6 " + kind + " '" + a +
				"' when IPv6 support is disabled, which will not work as expected", File: p.src.name})
		}
		if err := p.resolveACLAddr(a, useIPv6); err != nil {
			return &Errno{err.(syscall.Errno)}
		}
		return nil
	}
	if strings.HasSuffix(a, ".") {
		return nil // an IP glob
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			if useIPv6 && strings.IndexByte("ABCDEFabcdef", c) >= 0 {
				continue
			}
			return nil // a DNS name or glob
		}
	}
	if err := p.resolveACLAddr(a, useIPv6); err != nil {
		return &Errno{err.(syscall.Errno)}
	}
	return nil
}

// aclError is a bad IP/mask entry: ProFTPD quotes the entry cut at its '/'.
type aclError struct {
	entry string
	errno syscall.Errno
}

func (e *aclError) Error() string { return Strerror(e.errno) }
func (e *aclError) Unwrap() error { return e.errno }

// resolveACLAddr is pr_netaddr_get_addr for an ACL: an IPv4 literal, an
// IPv6 literal (only with UseIPv6 on), or a name that resolves.
func (p *parser) resolveACLAddr(a string, useIPv6 bool) error {
	if ip := net.ParseIP(a); ip != nil {
		if strings.Contains(a, ":") && !useIPv6 {
			return syscall.EAFNOSUPPORT
		}
		return nil
	}
	if strings.Contains(a, ":") && !useIPv6 {
		return syscall.ENOENT
	}
	if isInetAton(a) {
		return nil // getaddrinfo reads "1" or "10.1" as inet_aton does
	}
	lookup := p.opts.LookupHost
	if lookup == nil {
		lookup = func(h string) error { _, err := net.LookupHost(h); return err }
	}
	if lookup(a) != nil {
		return syscall.ENOENT
	}
	return nil
}

// onlyBytes reports whether every byte of s is in set (strspn == strlen).
func onlyBytes(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
