package ftpd

import (
	"net"
	"net/netip"
	"path"

	"github.com/ftpdtls/ftpdtls/internal/access"
)

// Policy is the access control compiled from the configuration:
// *access.Policy implements it.
type Policy interface {
	// ConnectAllowed: <Limit LOGIN> for a client before any command; a
	// refused client is disconnected without a reply.
	ConnectAllowed(addr netip.Addr) bool
	// LoginAllowed: <Limit LOGIN> for a user; "530 Login incorrect.".
	LoginAllowed(who access.Who) bool
	// Allowed: may cmd act on the real path for who.
	Allowed(cmd, realPath string, who access.Who) bool
	// Dir: Umask, AllowOverwrite and the other upload rules for a path.
	Dir(realPath string, who access.Who) access.DirSettings
	// AllowForeignAddress: data connections may come from an address
	// other than the client's.
	AllowForeignAddress() bool
}

// DefaultDirSettings are ProFTPD's defaults.
var DefaultDirSettings = access.DirSettings{
	Umask:                0o022,
	DirUmask:             0o022,
	AllowRetrieveRestart: true,
	DeleteAbortedHidden:  true,
}

// FixedPolicy allows every command and applies the same settings
// everywhere: for embedding and tests.
type FixedPolicy struct {
	Settings       access.DirSettings
	ForeignAddress bool
}

func (FixedPolicy) ConnectAllowed(netip.Addr) bool              { return true }
func (FixedPolicy) LoginAllowed(access.Who) bool                { return true }
func (FixedPolicy) Allowed(string, string, access.Who) bool     { return true }
func (p FixedPolicy) Dir(string, access.Who) access.DirSettings { return p.Settings }
func (p FixedPolicy) AllowForeignAddress() bool                 { return p.ForeignAddress }

func (srv *Server) policy() Policy {
	if srv.Policy == nil {
		return FixedPolicy{Settings: DefaultDirSettings}
	}
	return srv.Policy
}

// addrOf is the IP address of a TCP address, unmapped.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// who describes the session's client for the policy.
func (s *session) who() access.Who {
	w := access.Who{User: s.userName(), Addr: addrOf(s.conn.RemoteAddr())}
	if s.acct != nil {
		w.Groups, w.Home = s.acct.Groups, s.acct.Home
	}
	return w
}

func (s *session) userName() string {
	if s.acct != nil {
		return s.acct.User
	}
	return ""
}

// realPath is the real path of a path in the session's view.
func (s *session) realPath(abs string) string {
	if s.acct == nil || s.acct.Root == "" {
		return abs
	}
	return path.Join(s.acct.Root, abs)
}

// allowed asks the policy whether cmd may act on abs (a path in the
// session's view).
func (s *session) allowed(cmd, abs string) bool {
	ok := s.srv.policy().Allowed(cmd, s.realPath(abs), s.who())
	if !ok {
		s.log.Debugf("%s %s denied by <Limit> configuration", cmd, abs)
	}
	return ok
}

func (s *session) dirSettings(abs string) access.DirSettings {
	return s.srv.policy().Dir(s.realPath(abs), s.who())
}

// The access package's compiled policy is the engine's Policy.
var _ Policy = (*access.Policy)(nil)
