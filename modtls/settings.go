package modtls

import (
	"crypto/tls"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Defaults that ProFTPD's mod_tls uses when a directive is absent.
const (
	// DefaultSessionCacheTimeout is the TLSSessionCache timeout when the
	// directive names a cache but no timeout.
	DefaultSessionCacheTimeout = 1800 * time.Second
	// NoDirectiveSessionTimeout is the lifetime of sessions when there is
	// no TLSSessionCache directive at all: 10% longer than the four-hour
	// control-channel renegotiation interval, as in mod_tls.
	NoDirectiveSessionTimeout = 15840 * time.Second
	// DefaultStaplingTimeout is the TLSStaplingTimeout default.
	DefaultStaplingTimeout = 10 * time.Second
	// DefaultTicketKeyAge and DefaultTicketKeyCount are the
	// TLSSessionTicketKeys defaults.
	DefaultTicketKeyAge   = 43200 * time.Second
	DefaultTicketKeyCount = 25
	// DefaultVerifyDepth is the TLSVerifyDepth default.
	DefaultVerifyDepth = 9
	// NextProtocolFTP is the ALPN protocol mod_tls selects (TLSNextProtocol
	// on, its default) when the client offers it.
	NextProtocolFTP = "ftp"
)

// InternalCache is the TLSSessionCache type that needs no provider: the
// in-process cache of internalcache.go.
const InternalCache = "internal"

// Settings are one server's mod_tls directives, parsed. The parser stores
// them in the directives.Server (main server or <VirtualHost>) they were
// written in; SettingsOf reads them back. Main-server-only directives
// (TLSSessionCache, TLSStaplingCache, TLSSessionTicketKeys,
// TLSControlsACLs) are only ever set on the main server.
type Settings struct {
	Engine bool   // TLSEngine
	Log    string // TLSLog path; "" when not set, "none" when disabled

	// Protocols is the TLSProtocol set; MinVersion and MaxVersion are the
	// range of its versions crypto/tls can serve (0, 0 when none: SSLv3
	// alone). A set with holes ("TLSv1 TLSv1.2") is served exactly: see
	// ServerConfig.Versions.
	Protocols              Protocols
	MinVersion, MaxVersion uint16

	Options  Options  // TLSOptions, ORed over every TLSOptions line
	Required Required // TLSRequired

	SessionCache CacheSpec // TLSSessionCache (main server)

	SessionTickets bool          // TLSSessionTickets
	TicketKeyAge   time.Duration // TLSSessionTicketKeys age
	TicketKeyCount int           // TLSSessionTicketKeys count

	RSACertificateFile, RSACertificateKeyFile string
	ECCertificateFile, ECCertificateKeyFile   string
	CertificateChainFile                      string
	CACertificateFile                         string
	CACertificatePath                         string
	CARevocationFile, CARevocationPath        string // TLSCARevocationFile, TLSCARevocationPath
	// PKCS12File is TLSPKCS12File: checked as `proftpd -t` checks it
	// (checkPassphrases), never served (serve refuses the directive).
	PKCS12File string
	// The TLSDSACertificateFile and TLSDSACertificateKeyFile paths, which
	// only a `proftpd -t` verdict reads (checkPassphrases).
	dsaCertificateFile, dsaCertificateKeyFile string

	// CipherSuite is TLSCipherSuite as mod_tls hands it to OpenSSL
	// (":!EXPORT" appended), "" when not set; Ciphers is its evaluation
	// for crypto/tls (nil when not set: crypto/tls's defaults).
	CipherSuite string
	Ciphers     *CipherSuites
	// TLS13Ciphers are the suites of "TLSCipherSuite TLSv1.3 LIST"
	// (IANA names OpenSSL knows), nil when not set; empty when the list
	// was empty, which leaves TLS 1.3 with no suite.
	TLS13Ciphers []string
	// Curves are TLSECDHCurve's groups, in order (nil: crypto/tls's).
	Curves []tls.CurveID

	VerifyClient VerifyClient // TLSVerifyClient
	VerifyDepth  int          // TLSVerifyDepth (default 9)

	NextProtocol bool // TLSNextProtocol (default on: ALPN "ftp")

	Stapling          bool            // TLSStapling
	StaplingCache     CacheSpec       // TLSStaplingCache (main server); Timeout unused
	StaplingResponder string          // TLSStaplingResponder URL, overrides the AIA URL
	StaplingTimeout   time.Duration   // TLSStaplingTimeout
	StaplingOptions   StaplingOptions // TLSStaplingOptions, ORed

	ControlsACLs []ControlsACL // TLSControlsACLs (main server)

	// seen records which single-valued directives were already read, so
	// that the first of duplicate lines wins, as ProFTPD's lookup of the
	// first config record makes it.
	seen map[string]bool
}

// CacheSpec is a parsed TLSSessionCache or TLSStaplingCache line.
type CacheSpec struct {
	// Configured is true when the directive was given at all.
	Configured bool
	// Off is true for "off" (or any false boolean): caching disabled.
	Off bool
	// Provider is the text before the first ':' ("internal", "shm",
	// "redis"); Info is the text after it, given to the provider's Open.
	Provider, Info string
	// Timeout is the session lifetime (TLSSessionCache only).
	Timeout time.Duration
}

// Options are the TLSOptions flags.
type Options uint32

const (
	OptAllowClientRenegotiations Options = 1 << iota
	OptAllowDotLogin
	OptAllowPerUser
	OptAllowWeakSecurity
	OptCommonNameRequired
	OptDNSNameRequired
	OptEnableDiags
	OptExportCertData
	OptIgnoreSNI
	OptIPAddressRequired
	OptNoEmptyFragments
	// OptNoSessionReuseRequired turns off the check that FTPS data
	// connections resume the control connection's TLS session.
	OptNoSessionReuseRequired
	OptStdEnvVars
	OptUseImplicitSSL
	OptAllowWeakDH
	OptNoAutoECDH
)

// tlsOptionNames maps ProFTPD's TLSOptions words (case-sensitive, as
// mod_tls compares them) to flags.
var tlsOptionNames = map[string]Options{
	"AllowClientRenegotiation":  OptAllowClientRenegotiations,
	"AllowClientRenegotiations": OptAllowClientRenegotiations,
	"AllowDotLogin":             OptAllowDotLogin,
	"AllowPerUser":              OptAllowPerUser,
	"AllowWeakDH":               OptAllowWeakDH,
	"AllowWeakSecurity":         OptAllowWeakSecurity,
	"CommonNameRequired":        OptCommonNameRequired,
	"dNSNameRequired":           OptDNSNameRequired,
	"EnableDiags":               OptEnableDiags,
	"ExportCertData":            OptExportCertData,
	"IgnoreSNI":                 OptIgnoreSNI,
	"NoAutoECDH":                OptNoAutoECDH,
	"iPAddressRequired":         OptIPAddressRequired,
	"NoEmptyFragments":          OptNoEmptyFragments,
	"NoSessionReuseRequired":    OptNoSessionReuseRequired,
	"StdEnvVars":                OptStdEnvVars,
	"UseImplicitSSL":            OptUseImplicitSSL,
}

// Required is TLSRequired: where the client must use TLS.
type Required struct {
	Ctrl bool // control connection before any command but AUTH/FEAT/...
	Auth bool // before USER/PASS only
	Data bool // data connections (PROT P)
	// DataForbidden is "!data": data connections must be clear.
	DataForbidden bool
}

// VerifyClient is TLSVerifyClient.
type VerifyClient int

const (
	VerifyClientOff      VerifyClient = iota
	VerifyClientOn                    // a valid client certificate is required
	VerifyClientOptional              // verified when the client sends one
)

// StaplingOptions are the TLSStaplingOptions flags.
type StaplingOptions uint8

const (
	// StaplingNoNonce sends no nonce and does not check one.
	StaplingNoNonce StaplingOptions = 1 << iota
	// StaplingNoVerify does not verify the responder's signature.
	StaplingNoVerify
	// StaplingNoFakeTryLater staples nothing, instead of a fake tryLater
	// response, when no real response is available (must-staple
	// certificates get the fake response regardless).
	StaplingNoFakeTryLater
)

// ControlsACL is one TLSControlsACLs line.
type ControlsACL struct {
	Actions []string // "info", "clear", "sesscache", "ocspcache", or "all"
	Allow   bool
	Users   []string // set for "user"
	Groups  []string // set for "group"
}

// settings is where the handlers store *Settings in a
// directives.Server.
var settings = directives.NewSettings(DefaultSettings)

// DefaultSettings returns the settings of a server with no mod_tls
// directives.
func DefaultSettings() *Settings {
	return &Settings{
		Protocols:       ProtoTLSv12 | ProtoTLSv13,
		MinVersion:      tls.VersionTLS12,
		MaxVersion:      tls.VersionTLS13,
		TicketKeyAge:    DefaultTicketKeyAge,
		TicketKeyCount:  DefaultTicketKeyCount,
		StaplingTimeout: DefaultStaplingTimeout,
		VerifyDepth:     DefaultVerifyDepth,
		NextProtocol:    true,
	}
}

// SettingsOf returns the mod_tls settings of s, or the defaults when s
// has none (or is nil). The result is shared: treat it as read-only.
func SettingsOf(s *directives.Server) *Settings { return settings.Of(s) }

// settingsFor returns the settings being built for the command's server,
// creating them on first use.
func settingsFor(cmd *directives.Cmd) *Settings { return settings.For(cmd) }

// first reports whether this is the first line of the named directive for
// these settings, and marks it seen.
func (s *Settings) first(name string) bool {
	if s.seen[name] {
		return false
	}
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	s.seen[name] = true
	return true
}

// ReuseRequired reports whether FTPS data connections must resume the
// control connection's TLS session: unless NoSessionReuseRequired is set
// or session caching is off.
func (s *Settings) ReuseRequired(mainCache CacheSpec) bool {
	return s.Options&OptNoSessionReuseRequired == 0 && !mainCache.Off
}
