// Package proxyprotocol is ProFTPD's mod_proxy_protocol for ftpdtls: the
// HAProxy PROXY protocol (v1 text, v2 binary) on the control listener,
// through github.com/pires/go-proxyproto, configured with the module's
// directives:
//
//	ProxyProtocolEngine on
//	ProxyProtocolTimeout 3sec
//	ProxyProtocolVersion haproxyV1V2
//	ProxyProtocolTrustedSources 10.0.0.0/8 192.0.2.7
//
// ProxyProtocolEngine, ProxyProtocolTimeout (default 3 seconds) and
// ProxyProtocolVersion (haproxyV1, the default, or haproxyV2) are
// mod_proxy_protocol's, parsed as its 0.6 does (a ProFTPD Boolean, a
// ProFTPD duration, a case-insensitive version name), with its messages;
// haproxyV1V2 is an ftpdtls addition that accepts either.
// ProxyProtocolOptions is accepted; its one option,
// UseProxiedServerAddress, has no effect, since ftpdtls serves one server.
//
// ProxyProtocolTrustedSources is ftpdtls's own, and required when the
// engine is on: ProFTPD trusts every peer once the engine is on (its
// documentation asks for <Class>/<IfClass> to narrow it), which would let
// anyone who reaches the port claim any address. Connections from a
// trusted source must start with a PROXY header, whose source address
// then becomes the client's address: the one the daemon logs. Connections
// from any other source are served as direct clients, without looking for
// a header: one they send is never honoured (see Wrapper.Wrap).
//
// Data connections never carry a PROXY header: configure the balancer to
// send headers on the control port only, as mod_proxy_protocol's FAQ says.
// Importing the package registers the module, as LoadModule does; the
// daemon then wraps each accepted control connection:
//
//	w, err := proxyprotocol.NewWrapper(proxyprotocol.SettingsOf(cfg.Main))
//	...
//	conn = w.Wrap(conn) // a nil Wrapper (engine off) returns conn
package proxyprotocol

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/ftpdtls/ftpdtls/directives"
)

// ModuleName is the module name for LoadModule and <IfModule>.
const ModuleName = "mod_proxy_protocol.c"

// DefaultTimeout is ProxyProtocolTimeout's default.
const DefaultTimeout = 3 * time.Second

// Versions accepted by ProxyProtocolVersion.
type Version int

const (
	V1   Version = 1 // haproxyV1, the default
	V2   Version = 2 // haproxyV2
	V1V2 Version = 3 // haproxyV1V2: either
)

// Settings are one server's mod_proxy_protocol directives.
type Settings struct {
	Engine  bool
	Timeout time.Duration
	Version Version
	// Trusted are the sources allowed to send PROXY headers, as written
	// (addresses or CIDR ranges).
	Trusted []string
	// UseProxiedServerAddress is ProxyProtocolOptions' option; ftpdtls
	// records it but has no virtual hosts to select with it.
	UseProxiedServerAddress bool
}

// settings is where the handlers store *Settings in a directives.Server.
var settings = directives.NewSettings(func() *Settings { return &Settings{Timeout: DefaultTimeout, Version: V1} })

// SettingsOf returns the settings of s; the defaults when it has none.
func SettingsOf(s *directives.Server) Settings { return *settings.Of(s) }

func settingsFor(cmd *directives.Cmd) *Settings { return settings.For(cmd) }

func init() {
	where := directives.Root | directives.VirtualHost | directives.Global
	directives.Register(&directives.Module{
		Name:    ModuleName,
		Version: "mod_proxy_protocol/0.6",
		// mod_proxy_protocol checks its arguments with CHECK_ARGS (extra
		// ones ignored), except ProxyProtocolOptions, which wants at
		// least one ("wrong number of parameters").
		Directives: []directives.Directive{
			{Name: "ProxyProtocolEngine", Contexts: where, Args: directives.ArgsAtLeast(1), Handler: setEngine},
			{Name: "ProxyProtocolOptions", Contexts: where, Args: directives.ArgsBetween(1, -1), Handler: setOptions},
			{Name: "ProxyProtocolTimeout", Contexts: where, Args: directives.ArgsAtLeast(1), Handler: setTimeout},
			{Name: "ProxyProtocolVersion", Contexts: where, Args: directives.ArgsAtLeast(1), Handler: setVersion},
			{Name: "ProxyProtocolTrustedSources", Contexts: where, Args: directives.ArgsAtLeast(1), Handler: setTrusted},
		},
	})
}

func setEngine(cmd *directives.Cmd) error {
	on, err := directives.ParseBool(cmd.Args[0])
	if err != nil {
		return err
	}
	settingsFor(cmd).Engine = on
	return nil
}

func setOptions(cmd *directives.Cmd) error {
	st := settingsFor(cmd)
	for _, o := range cmd.Args {
		if o != "UseProxiedServerAddress" { // case-sensitive, as in mod_proxy_protocol
			// The leading ": " is mod_proxy_protocol's, which prints
			// "ProxyProtocolOptions: : unknown ...".
			return fmt.Errorf(": unknown ProxyProtocolOption '%s'", o)
		}
		st.UseProxiedServerAddress = true
	}
	return nil
}

func setTimeout(cmd *directives.Cmd) error {
	d, err := directives.ParseDuration(cmd.Args[0])
	if err != nil {
		return fmt.Errorf("error parsing timeout value '%s': %w", cmd.Args[0], err)
	}
	settingsFor(cmd).Timeout = d
	return nil
}

func setVersion(cmd *directives.Cmd) error {
	var v Version
	switch strings.ToLower(cmd.Args[0]) {
	case "haproxyv1":
		v = V1
	case "haproxyv2":
		v = V2
	case "haproxyv1v2":
		v = V1V2
	default:
		return fmt.Errorf("unknown protocol/version: %s", cmd.Args[0])
	}
	settingsFor(cmd).Version = v
	return nil
}

func setTrusted(cmd *directives.Cmd) error {
	for _, a := range cmd.Args {
		if _, err := trustPolicy([]string{a}); err != nil {
			return fmt.Errorf("'%s' is not an IP address or CIDR range", a)
		}
	}
	st := settingsFor(cmd)
	st.Trusted = append(st.Trusted, cmd.Args...)
	return nil
}

// trustPolicy is the policy of trusted sources: a PROXY header is
// required from them, and other peers are left alone (SKIP, which Wrap
// takes to mean "do not even look").
func trustPolicy(trusted []string) (proxyproto.ConnPolicyFunc, error) {
	return proxyproto.PolicyFromRanges(trusted, proxyproto.REQUIRE, proxyproto.SKIP)
}

// ErrNoTrustedSources: the engine is on but no source is trusted.
var ErrNoTrustedSources = errors.New("ProxyProtocolEngine on requires ProxyProtocolTrustedSources (ftpdtls trusts no PROXY sender by default)")

// Wrapper applies a server's settings to accepted control connections.
type Wrapper struct {
	st     Settings
	policy proxyproto.ConnPolicyFunc
}

// NewWrapper checks st and prepares its trusted ranges. A nil Wrapper
// (engine off) leaves connections as they are.
func NewWrapper(st Settings) (*Wrapper, error) {
	if !st.Engine {
		return nil, nil
	}
	if len(st.Trusted) == 0 {
		return nil, ErrNoTrustedSources
	}
	policy, err := trustPolicy(st.Trusted)
	if err != nil {
		return nil, err
	}
	return &Wrapper{st: st, policy: policy}, nil
}

// Trusts reports whether the peer at addr may send PROXY headers. Only
// TCP peers can be trusted.
func (w *Wrapper) Trusts(addr net.Addr) bool {
	if _, ok := addr.(*net.TCPAddr); !ok {
		return false
	}
	p, err := w.policy(proxyproto.ConnPolicyOptions{Upstream: addr})
	return err == nil && p == proxyproto.REQUIRE
}

// Wrap returns conn as the FTP engine should see it. A connection from a
// trusted source must open with a PROXY header of an accepted version,
// read within the timeout; its RemoteAddr is then the header's source.
// Any other connection is returned unchanged and nothing is read from
// it: FTP servers speak first, so looking for an optional header would
// delay every direct client by the whole timeout. A header such a client
// sends reaches the command parser and is refused there (the v2
// signature even contains "QUIT").
func (w *Wrapper) Wrap(conn net.Conn) net.Conn {
	if w == nil || !w.Trusts(conn.RemoteAddr()) {
		return conn
	}
	return proxyproto.NewConn(conn,
		proxyproto.WithPolicy(proxyproto.REQUIRE),
		proxyproto.ValidateHeader(versionCheck(w.st.Version)),
		proxyproto.SetReadHeaderTimeout(w.st.Timeout),
	)
}

// versionCheck refuses headers of a version the configuration does not
// accept.
func versionCheck(v Version) proxyproto.Validator {
	return func(h *proxyproto.Header) error {
		if v == V1V2 || int(h.Version) == int(v) {
			return nil
		}
		return fmt.Errorf("PROXY protocol version %d header, but ProxyProtocolVersion allows only version %d", h.Version, v)
	}
}
