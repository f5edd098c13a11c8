package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/proxyprotocol"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// ErrNotSupported is wrapped by every error CheckServe returns for a
// directive ProFTPD accepts and `ftpdtls serve` does not apply. It is the
// access package's sentinel, so errors.Is finds both.
var ErrNotSupported = access.ErrNotSupported

// Who applies a directive in `ftpdtls serve`.
const (
	byDaemon = "daemon"        // internal/daemon: listener, processes, users, limits, logs
	byEngine = "ftpd engine"   // internal/ftpd: the FTP protocol, timeouts, transfers
	byAccess = "access policy" // internal/access: <Limit>, <Directory>, DefaultRoot, ...
	byModTLS = "modtls"        // mod_tls: certificates, protocols, caches, TLSLog
	byRedis  = "modtlsredis"   // mod_redis settings of the "redis:" caches
	byProxy  = "proxyprotocol" // mod_proxy_protocol
	byTrace  = "trace"         // Trace, TraceLog, TraceOptions
	byParser = "parser"        // directives: what the configuration parser itself does
)

// A servedDirective is a directive `ftpdtls serve` applies with ProFTPD's
// semantics, for some or all of its values.
type servedDirective struct {
	name string
	by   string
	// how is what serve does with it, for operators (docs/SERVE.md).
	how string
	// refuse, when set, returns why this occurrence asks for something
	// serve does not do ("" when it does what the line asks).
	refuse func(n *directives.Node, cfg *directives.Config) string
}

// servedDirectives is the one table of what `ftpdtls serve` applies.
// Every other directive is refused, wherever it appears, with its file
// and line and "not supported by ftpdtls serve". The access policy's
// directives are listed for the record; access.Check decides on their
// values and contexts. A directive added here needs a test that proves
// its effect (TestServedDirectivesHaveEffect in checkserve_ops_test.go).
var servedDirectives = []servedDirective{
	// The listener and the processes.
	{name: "Port", by: byDaemon, how: "the control port", refuse: portZero},
	{name: "DefaultAddress", by: byDaemon, how: "the one address the control listener binds (all addresses without it)", refuse: oneAddress},
	{name: "SocketBindTight", by: byDaemon, how: "on with DefaultAddress (the listener binds it alone), off without it (every address)", refuse: socketBindTight},
	{name: "DefaultServer", by: byDaemon, how: "on; off with DefaultAddress (the listener then gets the main server's connections only)", refuse: defaultServer},
	{name: "ServerType", by: byDaemon, how: "standalone only", refuse: onlyWord("standalone", "ftpdtls serve runs standalone only; inetd mode is not available")},
	{name: "UseIPv6", by: byDaemon, how: "off: without DefaultAddress the listener binds 0.0.0.0 (IPv4 only)"},
	{name: "User", by: byDaemon, how: "started as root, workers serve as this account (nobody by default; root is refused)"},
	{name: "Group", by: byDaemon, how: "started as root, workers serve with this group (nogroup by default; root is refused)"},
	{name: "MaxInstances", by: byDaemon, how: "connections beyond it are closed, counted across workers"},
	{name: "PidFile", by: byDaemon, how: "the master writes its pid there and removes the file at exit"},
	{name: "SystemLog", by: byDaemon, how: "the server log, in ProFTPD's format (NONE: no log file)"},
	{name: "SetEnv", by: byDaemon, how: "sets the variable for %{env:} references that follow and in the server's environment"},
	{name: "UnsetEnv", by: byDaemon, how: "removes the variable, as SetEnv sets it"},
	{name: "WtmpLog", by: byDaemon, how: "off/NONE only: ftpdtls never writes wtmp", refuse: onlyOff("ftpdtls serve does not write wtmp records; write WtmpLog off")},
	{name: "IdentLookups", by: byDaemon, how: "off only: no RFC 1413 lookups (and LoadModule mod_ident.c is refused)", refuse: onlyOff("ftpdtls serve does not make RFC 1413 lookups; write IdentLookups off")},
	{name: "DelayEngine", by: byDaemon, how: "off only: failed logins are not delayed", refuse: onlyOff("ftpdtls serve does not delay logins; write DelayEngine off")},
	{name: "UseReverseDNS", by: byDaemon, how: "off only: ftpdtls never resolves client addresses", refuse: onlyOff("ftpdtls serve does not resolve client addresses; write UseReverseDNS off")},

	// Users and logins.
	{name: "AuthUserFile", by: byDaemon, how: "the users: passwd format, $6$ (SHA-512 crypt) hashes, uid/gid/home used"},
	{name: "AuthGroupFile", by: byDaemon, how: "the users' supplementary groups and group names"},
	{name: "AuthOrder", by: byDaemon, how: "mod_auth_file.c only: ftpdtls authenticates against AuthUserFile", refuse: authOrder},
	{name: "RootLogin", by: byDaemon, how: "off (default): an AuthUserFile entry with uid 0 cannot log in"},
	{name: "RequireValidShell", by: byDaemon, how: "on (default): at each login the user's AuthUserFile shell must be a whole line of /etc/shells, as ProFTPD reads it (any shell when the file is missing); off: shells are not checked"},
	{name: "UseFtpUsers", by: byDaemon, how: "on (default): at each login a user named by a line of /etc/ftpusers is refused; off: the file is not read"},
	{name: "UseLastlog", by: byDaemon, how: "off only: lastlog is never written", refuse: onlyOff("ftpdtls serve does not write lastlog")},
	{name: "RootRevoke", by: byDaemon, how: "on only: sessions never hold root privileges", refuse: onlyOn("ftpdtls serve sessions never keep root privileges")},
	{name: "MaxClients", by: byDaemon, how: "logged-in sessions, counted across workers; ProFTPD's reply and message"},
	{name: "MaxClientsPerHost", by: byDaemon, how: "logged-in sessions per client address"},
	{name: "MaxClientsPerUser", by: byDaemon, how: "logged-in sessions per user"},
	{name: "MaxConnectionsPerHost", by: byDaemon, how: "connections per client address"},
	{name: "MaxHostsPerUser", by: byDaemon, how: "client addresses per user"},

	// The FTP engine.
	{name: "ServerName", by: byEngine, how: "the name in the 220 greeting"},
	{name: "ServerIdent", by: byEngine, how: "on only (the default greeting, \"ftpdtls Server (NAME) [ADDR]\")", refuse: serverIdent},
	{name: "DeferWelcome", by: byEngine, how: "off only: the greeting is sent at once", refuse: onlyOff("ftpdtls serve sends its greeting at once")},
	{name: "PassivePorts", by: byEngine, how: "the range of passive data ports"},
	{name: "MasqueradeAddress", by: byEngine, how: "the IPv4 address in PASV replies"},
	{name: "TimeoutLogin", by: byEngine, how: "ProFTPD's default 300 s"},
	{name: "TimeoutIdle", by: byEngine, how: "ProFTPD's default 600 s"},
	{name: "TimeoutNoTransfer", by: byEngine, how: "ProFTPD's default 300 s"},
	{name: "TimeoutStalled", by: byEngine, how: "ProFTPD's default 3600 s"},
	{name: "MaxLoginAttempts", by: byEngine, how: "ProFTPD's default 3; the connection is closed after the last"},
	{name: "TransferLog", by: byEngine, how: "xferlog lines, opened as root (NONE: no log)"},
	{name: "TimesGMT", by: byEngine, how: "on only: listings show UTC times", refuse: onlyOn("ftpdtls serve lists times in UTC")},
	{name: "ShowSymlinks", by: byEngine, how: "on only: listings show links and their targets", refuse: onlyOn("ftpdtls serve always shows symbolic links in listings")},
	{name: "DefaultTransferMode", by: byEngine, how: "ascii only (ProFTPD's default)", refuse: onlyWord("ascii", "ftpdtls serve starts sessions in ASCII mode, as ProFTPD's default")},
	{name: "UseGlobbing", by: byEngine, how: "on (default): a pattern (*, ?, [...]) in the last element of a LIST or NLST argument is expanded, as ProFTPD's glob(3); off: arguments are names"},
	{name: "TCPNoDelay", by: byEngine, how: "on only (Go sets TCP_NODELAY on every connection)", refuse: onlyOn("Go sets TCP_NODELAY on every connection")},
	{name: "TLSTimeoutHandshake", by: byEngine, how: "bounds the control and data TLS handshakes"},

	// Access control (access.Check decides on values and contexts).
	{name: "<Limit>", by: byAccess, how: "LOGIN, READ, WRITE, DIRS, ALL and single commands"},
	{name: "<Directory>", by: byAccess, how: "paths, globs, ~ and %u; the closest parent wins"},
	{name: "AllowUser", by: byAccess, how: "in <Limit>"},
	{name: "DenyUser", by: byAccess, how: "in <Limit>"},
	{name: "AllowGroup", by: byAccess, how: "in <Limit>"},
	{name: "DenyGroup", by: byAccess, how: "in <Limit>"},
	{name: "Allow", by: byAccess, how: "in <Limit>: addresses, networks, globs (no host names)"},
	{name: "Deny", by: byAccess, how: "in <Limit>: addresses, networks, globs (no host names)"},
	{name: "AllowAll", by: byAccess, how: "in <Limit>"},
	{name: "DenyAll", by: byAccess, how: "in <Limit>"},
	{name: "Order", by: byAccess, how: "in <Limit>"},
	{name: "DefaultRoot", by: byAccess, how: "sessions confined to the directory"},
	{name: "Umask", by: byAccess, how: "files and directories created"},
	{name: "AllowOverwrite", by: byAccess, how: "off by default, as in ProFTPD"},
	{name: "AllowStoreRestart", by: byAccess, how: "REST with STOR/APPE"},
	{name: "AllowRetrieveRestart", by: byAccess, how: "REST with RETR"},
	{name: "HiddenStores", by: byAccess, how: "uploads written under a temporary name"},
	{name: "DeleteAbortedStores", by: byAccess, how: "partial uploads removed"},
	{name: "AllowForeignAddress", by: byAccess, how: "off by default: PORT/EPRT to other addresses refused"},
	{name: "AllowOverride", by: byAccess, how: "off only: .ftpaccess files are never read"},

	// mod_tls.
	{name: "TLSEngine", by: byModTLS, how: "FTPS on the control and data connections"},
	{name: "TLSRequired", by: byModTLS, how: "on, off, ctrl, data, auth and their combinations"},
	{name: "TLSProtocol", by: byModTLS, how: "the versions crypto/tls serves (a set it cannot serve is refused)"},
	{name: "TLSCipherSuite", by: byModTLS, how: "OpenSSL cipher strings mapped to Go's suites"},
	{name: "TLSECDHCurve", by: byModTLS, how: "the key exchange groups"},
	{name: "TLSLog", by: byModTLS, how: "mod_tls's log lines"},
	{name: "TLSRSACertificateFile", by: byModTLS, how: "the RSA certificate"},
	{name: "TLSRSACertificateKeyFile", by: byModTLS, how: "the RSA key"},
	{name: "TLSECCertificateFile", by: byModTLS, how: "the ECDSA certificate"},
	{name: "TLSECCertificateKeyFile", by: byModTLS, how: "the ECDSA key"},
	{name: "TLSCertificateChainFile", by: byModTLS, how: "intermediate certificates sent with the certificate"},
	{name: "TLSCACertificateFile", by: byModTLS, how: "CAs for client certificates"},
	{name: "TLSCACertificatePath", by: byModTLS, how: "CAs for client certificates (hashed directory)"},
	{name: "TLSCARevocationFile", by: byModTLS, how: "CRLs checked for client certificates"},
	{name: "TLSCARevocationPath", by: byModTLS, how: "CRLs checked for client certificates (directory)"},
	{name: "TLSVerifyClient", by: byModTLS, how: "on, off, optional"},
	{name: "TLSVerifyDepth", by: byModTLS, how: "the longest client certificate chain accepted, as ProFTPD with OpenSSL counts it (N+1 intermediate CAs)"},
	{name: "TLSVerifyOrder", by: byModTLS, how: "crl only (client certificates are checked against CRLs)", refuse: verifyOrder},
	{name: "TLSOptions", by: byModTLS, how: "NoSessionReuseRequired, iPAddressRequired; NoEmptyFragments, IgnoreSNI, AllowWeakDH and NoAutoECDH ask for what crypto/tls does anyway", refuse: tlsOptions},
	{name: "TLSRenegotiate", by: byModTLS, how: "none only: crypto/tls servers never renegotiate", refuse: onlyWord("none", "crypto/tls servers never renegotiate; write TLSRenegotiate none")},
	{name: "TLSNextProtocol", by: byModTLS, how: "on (the default): ALPN \"ftp\" is selected when the client offers it; off: none"},
	{name: "TLSSessionCache", by: byModTLS, how: "shm:, redis:, internal:, off; a cache that cannot be opened is logged at notice level"},
	{name: "TLSSessionTickets", by: byModTLS, how: "stateless tickets instead of the cache"},
	{name: "TLSSessionTicketKeys", by: byModTLS, how: "ticket key age and count"},
	{name: "TLSStapling", by: byModTLS, how: "OCSP stapling"},
	{name: "TLSStaplingCache", by: byModTLS, how: "shm:, redis:"},
	{name: "TLSStaplingOptions", by: byModTLS, how: "NoNonce, NoVerify, NoFakeTryLater"},
	{name: "TLSStaplingResponder", by: byModTLS, how: "the OCSP responder URL"},
	{name: "TLSStaplingTimeout", by: byModTLS, how: "how long a responder may take"},

	// mod_redis, for the "redis:" caches.
	{name: "RedisEngine", by: byRedis, how: "off disables the redis: caches"},
	{name: "RedisServer", by: byRedis, how: "the Redis server (several: a cluster)"},
	{name: "RedisSentinel", by: byRedis, how: "Sentinels and the master name"},
	{name: "RedisTimeouts", by: byRedis, how: "connect and I/O timeouts"},
	{name: "RedisOptions", by: byRedis, how: "NoReconnect"},
	{name: "RedisLog", by: byRedis, how: "NONE only: ftpdtls writes no mod_redis log", refuse: onlyWord("none", "ftpdtls serve writes no mod_redis log")},

	// mod_proxy_protocol.
	{name: "ProxyProtocolEngine", by: byProxy, how: "PROXY headers on the control connection"},
	{name: "ProxyProtocolTrustedSources", by: byProxy, how: "who may send them (required with the engine on)"},
	{name: "ProxyProtocolTimeout", by: byProxy, how: "how long to wait for the header"},
	{name: "ProxyProtocolVersion", by: byProxy, how: "haproxyV1, haproxyV2, haproxyV1V2"},
	{name: "ProxyProtocolOptions", by: byProxy, how: "UseProxiedServerAddress (one server: the same server either way)"},

	// Trace.
	{name: "TraceLog", by: byTrace, how: "the trace file"},
	{name: "Trace", by: byTrace, how: "server-config channel levels (tls, tls.shmcache, redis, ...)", refuse: daemonTrace},
	{name: "TraceOptions", by: byTrace, how: "+/-ConnIPs, Timestamp, TimestampMillis", refuse: daemonTrace},

	// The parser.
	{name: "LoadModule", by: byParser, how: "modules ftpdtls links (a no-op: they are always there)", refuse: loadModule},
	{name: "ModulePath", by: byParser, how: "named in LoadModule messages"},
	{name: "Define", by: byParser, how: "for <IfDefine>"},
	{name: "IncludeOptions", by: byParser, how: "for Include"},
}

// structural sections and lines the walk goes through: their bodies are
// checked line by line.
var structural = map[string]bool{"include": true, "<ifmodule>": true, "<ifdefine>": true, "<global>": true}

// refusedWhy explains common refusals.
var refusedWhy = map[string]string{
	"<VirtualHost>":            "ftpdtls serves the main server only",
	"ScoreboardFile":           "ftpdtls keeps no scoreboard",
	"DisplayLogin":             "message files are not sent",
	"DisplayConnect":           "message files are not sent",
	"DisplayChdir":             "message files are not sent",
	"DisplayQuit":              "message files are not sent",
	"DisplayFileTransfer":      "message files are not sent",
	"ControlsEngine":           "the cache controls are the ftpdtls sesscache and ocspcache commands",
	"TLSControlsACLs":          "the cache controls are the ftpdtls sesscache and ocspcache commands, limited by the cache's file permissions",
	"UseSendfile":              "ftpdtls does not choose how files are sent",
	"TLSPKCS12File":            "PKCS#12 files are not read",
	"TLSDSACertificateFile":    "crypto/tls cannot serve DSA certificates",
	"TLSDSACertificateKeyFile": "crypto/tls cannot serve DSA certificates",
	"TLSDHParamFile":           "crypto/tls has no finite-field DHE suites",
	"ExtendedLog":              "only SystemLog, TransferLog, TLSLog and TraceLog are written",
	"LogFormat":                "only SystemLog, TransferLog, TLSLog and TraceLog are written",
}

var servedIndex = func() map[string]*servedDirective {
	m := make(map[string]*servedDirective, len(servedDirectives))
	for i := range servedDirectives {
		m[strings.ToLower(servedDirectives[i].name)] = &servedDirectives[i]
	}
	return m
}()

// served returns the table entry of a directive name, or nil.
func served(name string) *servedDirective { return servedIndex[strings.ToLower(name)] }

// CheckServe reports what `ftpdtls serve` would refuse in cfg, or warn
// about, beyond the parser's verdict: directives it does not apply
// (refused with their file and line and "not supported by ftpdtls
// serve"), values it cannot serve, and problems it would otherwise only
// meet at start (an unreadable AuthUserFile, a certificate that does not
// match its key, a cache that cannot be opened). A configuration with
// errors does not start; warnings are printed and do not stop it.
// `ftpdtls check` prints both, so that check and serve always agree.
func CheckServe(cfg *directives.Config) (errs []*directives.Error, warnings []directives.Warning) {
	if cfg == nil || cfg.Main == nil || cfg.Root == nil {
		return []*directives.Error{{Msg: "no main server in configuration", NoLine: true}}, nil
	}
	c := &checker{cfg: cfg, pos: map[place]int{}}
	c.number(cfg.Root.Children)
	c.walk(cfg.Root.Children)
	c.errs = append(c.errs, access.Check(cfg)...)
	c.settings()
	c.sort()
	return c.errs, c.warnings
}

type checker struct {
	cfg      *directives.Config
	errs     []*directives.Error
	warnings []directives.Warning
	pos      map[place]int // where each line comes in the parse
}

type place struct {
	file string
	line int
}

// number records the order in which the parser read the lines (an
// included file's lines come where its Include is), for sort.
func (c *checker) number(nodes []*directives.Node) {
	for _, n := range nodes {
		p := place{n.File, n.Line}
		if _, ok := c.pos[p]; !ok {
			c.pos[p] = len(c.pos)
		}
		c.number(n.Children)
	}
}

// refuse records a directive serve does not apply.
func (c *checker) refuse(n *directives.Node, why string) {
	msg := ErrNotSupported.Error()
	if why != "" {
		msg += " (" + why + ")"
	}
	c.errs = append(c.errs, &directives.Error{Directive: n.Name, Msg: msg, File: n.File, Line: n.Line, Err: ErrNotSupported})
}

// fail records an error that is not the refusal of a directive: a file
// or an account serve cannot use ("fatal: MESSAGE"). serve meets each of
// them itself while it loads the configuration and stops with the same
// message ("ftpdtls serve: MESSAGE").
func (c *checker) fail(err error) {
	c.errs = append(c.errs, &directives.Error{Msg: err.Error(), Err: &settingError{err}, NoLine: true})
}

// settingError marks CheckServe's errors about files and accounts.
type settingError struct{ err error }

func (e *settingError) Error() string { return e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

func (c *checker) warn(n *directives.Node, msg string) {
	w := directives.Warning{Msg: msg}
	if n != nil {
		w.Directive, w.File, w.Line = n.Name, n.File, n.Line
	}
	c.warnings = append(c.warnings, w)
}

// walk checks every directive of nodes: the bodies of Include, taken
// <IfModule>/<IfDefine> and <Global> are walked; the access policy's
// directives and sections are left to access.Check.
func (c *checker) walk(nodes []*directives.Node) {
	for _, n := range nodes {
		name := strings.ToLower(n.Name)
		switch {
		case strings.HasPrefix(name, "</"):
			continue
		case structural[name]:
			if !n.Skipped {
				c.walk(n.Children)
			}
			continue
		case access.Handles(n.Name):
			continue
		}
		d := served(n.Name)
		if d == nil {
			why := refusedWhy[n.Name]
			if why == "" {
				why = modtls.UnappliedDirective(n.Name)
			}
			c.refuse(n, why)
			continue
		}
		if d.by == byAccess {
			continue // access.Handles knows it; kept in the table for the record
		}
		if d.refuse != nil {
			if why := d.refuse(n, c.cfg); why != "" {
				c.refuse(n, why)
			}
		}
	}
}

// settings checks what serve opens at start, without opening anything
// that would change the system: the users, the identity, the key pairs,
// the caches, the logs.
func (c *checker) settings() {
	main := c.cfg.Main
	if _, err := resolveIdentity(main, os.Geteuid()); err != nil {
		c.fail(err)
	}
	if _, err := limitsOf(c.cfg); err != nil {
		var de *directives.Error
		if errors.As(err, &de) {
			c.errs = append(c.errs, de)
		} else {
			c.fail(err)
		}
	}
	c.users()
	if _, err := proxyprotocol.NewWrapper(proxyprotocol.SettingsOf(main)); err != nil {
		c.fail(err)
	}
	for _, name := range []string{"TransferLog", "SystemLog"} {
		if n := firstNode(main, name); n != nil && len(n.Args) > 0 && !strings.EqualFold(n.Args[0], "none") {
			if err := checkLogFile(n.Args[0]); err != nil {
				c.fail(fmt.Errorf("%s: unable to open %s: %w", name, n.Args[0], err))
			}
		}
	}
	if n := firstNode(main, "PidFile"); n != nil && len(n.Args) > 0 {
		if err := checkPidDir(n.Args[0]); err != nil {
			c.fail(err)
		}
	}
	st := modtls.SettingsOf(main)
	for _, err := range modtls.UnavailableCaches(c.cfg) {
		var ue *modtls.UnavailableError
		directive := "TLSSessionCache"
		if errors.As(err, &ue) {
			directive = ue.Directive
		}
		n := firstNode(main, directive)
		if n != nil {
			c.refuse(n, err.Error())
		} else {
			c.fail(err)
		}
	}
	if !st.Engine {
		return
	}
	for _, p := range []struct{ cert, key string }{
		{"TLSRSACertificateFile", "TLSRSACertificateKeyFile"},
		{"TLSECCertificateFile", "TLSECCertificateKeyFile"},
	} {
		cn, kn := firstNode(main, p.cert), firstNode(main, p.key)
		if cn == nil || kn == nil || len(cn.Args) == 0 || len(kn.Args) == 0 {
			continue
		}
		if _, err := tls.LoadX509KeyPair(cn.Args[0], kn.Args[0]); err != nil {
			c.fail(fmt.Errorf("%s: '%s' does not go with %s '%s': %v", p.key, kn.Args[0], p.cert, cn.Args[0], err))
		}
	}
	c.cacheWarnings(st)
}

// users checks the AuthUserFile as the daemon loads it.
func (c *checker) users() {
	main := c.cfg.Main
	n := firstNode(main, "AuthUserFile")
	if n == nil || len(n.Args) == 0 {
		c.fail(errors.New("no users: ftpdtls serve needs an AuthUserFile (passwd format, $6$ SHA-512 crypt hashes)"))
		return
	}
	f, warnings, err := authfile.Load(n.Args[0])
	if err != nil {
		c.fail(err)
		return
	}
	for _, w := range warnings {
		c.warn(n, w)
	}
	if f.Users() == 0 {
		c.fail(fmt.Errorf("AuthUserFile %s: no usable users", f.Path))
	}
	if g := firstNode(main, "AuthGroupFile"); g != nil && len(g.Args) > 0 {
		if _, warnings, err := authfile.LoadGroups(g.Args[0]); err != nil {
			c.fail(err)
		} else {
			for _, w := range warnings {
				c.warn(g, w)
			}
		}
	}
}

// cacheWarnings says, for each configured shared cache that serve could
// not open, what it means: serve starts, logs the failure at notice level
// and keeps a cache in each process, so sessions are not shared.
func (c *checker) cacheWarnings(st *modtls.Settings) {
	for _, cs := range []struct {
		directive string
		spec      modtls.CacheSpec
		checker   any
	}{
		{"TLSSessionCache", st.SessionCache, lookupSession(st.SessionCache.Provider)},
		{"TLSStaplingCache", st.StaplingCache, lookupOCSP(st.StaplingCache.Provider)},
	} {
		if !cs.spec.Configured || cs.spec.Off || cs.spec.Provider == modtls.InternalCache {
			continue
		}
		n := firstNode(c.cfg.Main, cs.directive)
		var problems []string
		if ic, ok := cs.checker.(modtls.InfoChecker); ok {
			problems = ic.CheckInfo(cs.spec.Info)
		}
		if cs.spec.Provider == "shm" {
			if p := shmDirProblem(cs.spec.Info); p != "" {
				problems = append(problems, p)
			}
		}
		if len(problems) == 0 {
			continue
		}
		what := "sessions are not shared between its processes (no resumption across workers)"
		if cs.directive == "TLSStaplingCache" {
			what = "each process fetches and keeps its own OCSP responses"
		}
		c.warn(n, fmt.Sprintf("%s: ftpdtls serve will fail to open the '%s' cache (%s) and fall back to a cache in each process: %s",
			cs.directive, cs.spec.Provider, strings.Join(problems, "; "), what))
	}
}

func lookupSession(provider string) any {
	p, err := modtls.LookupSessionCache(provider)
	if err != nil {
		return nil
	}
	return p
}

func lookupOCSP(provider string) any {
	p, err := modtls.LookupOCSPCache(provider)
	if err != nil {
		return nil
	}
	return p
}

// shmDirProblem reports an shm cache file that this user could not
// create: its directory is not writable (the provider's own check covers
// a missing directory and a bad info string).
func shmDirProblem(info string) string {
	path, ok := strings.CutPrefix(info, "/file=")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(path, '&'); i >= 0 {
		path = path[:i]
	}
	if !filepath.IsAbs(path) {
		return ""
	}
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "" // reported by the provider
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Sprintf("cannot create '%s': directory '%s' is not writable by uid %d", path, dir, os.Geteuid())
	}
	return ""
}

// checkLogFile makes ProFTPD's checks of a log file (SystemLog,
// TransferLog) without creating it: an absolute path whose directory
// exists and is not world-writable, and which is not a symbolic link.
func checkLogFile(path string) error {
	if !strings.HasPrefix(path, "/") {
		return errors.New("not an absolute path")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("directory %s is world-writable", dir)
	}
	if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		return errors.New("is a symbolic link")
	}
	return nil
}

// checkPidDir checks that the PidFile's directory exists.
func checkPidDir(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%s: not an absolute path", path)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("unable to open PidFile '%s': %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("unable to open PidFile '%s': %s is not a directory", path, filepath.Dir(path))
	}
	return nil
}

// sort orders the errors as the parser read their lines (an included
// file's where its Include is); errors that name no line come last.
func (c *checker) sort() {
	rank := func(e *directives.Error) int {
		if r, ok := c.pos[place{e.File, e.Line}]; ok && !e.NoLine {
			return r
		}
		return len(c.pos)
	}
	sort.SliceStable(c.errs, func(i, j int) bool { return rank(c.errs[i]) < rank(c.errs[j]) })
	// access.Check and the walk never report the same line; a setting
	// checked twice (limits) is reported once.
	c.errs = slices.CompactFunc(c.errs, func(a, b *directives.Error) bool { return a.Error() == b.Error() })
}

// firstNode is the first line of the first of names that configures the
// main server (find_config's answer), or nil.
func firstNode(s *directives.Server, names ...string) *directives.Node {
	for _, name := range names {
		for _, n := range s.Directives(name) {
			return n
		}
	}
	return nil
}

// Value checks of the table.

func isOff(s string) bool {
	if strings.EqualFold(s, "none") {
		return true
	}
	v, err := directives.ParseBool(s)
	return err == nil && !v
}

func isOn(s string) bool {
	v, err := directives.ParseBool(s)
	return err == nil && v
}

func onlyOff(why string) func(*directives.Node, *directives.Config) string {
	return func(n *directives.Node, _ *directives.Config) string {
		if len(n.Args) > 0 && isOff(n.Args[0]) {
			return ""
		}
		return why
	}
}

func onlyOn(why string) func(*directives.Node, *directives.Config) string {
	return func(n *directives.Node, _ *directives.Config) string {
		if len(n.Args) > 0 && isOn(n.Args[0]) {
			return ""
		}
		return why
	}
}

func onlyWord(word, why string) func(*directives.Node, *directives.Config) string {
	return func(n *directives.Node, _ *directives.Config) string {
		if len(n.Args) > 0 && strings.EqualFold(n.Args[0], word) {
			return ""
		}
		return why
	}
}

func portZero(n *directives.Node, _ *directives.Config) string {
	if len(n.Args) > 0 && n.Args[0] == "0" {
		return "Port 0 disables the main server, the only server ftpdtls serve runs"
	}
	return ""
}

func oneAddress(n *directives.Node, _ *directives.Config) string {
	if len(n.Args) > 1 {
		return "ftpdtls serve listens on one address"
	}
	return ""
}

func hasDefaultAddress(cfg *directives.Config) bool {
	return len(cfg.Main.Directives("DefaultAddress")) > 0
}

func socketBindTight(n *directives.Node, cfg *directives.Config) string {
	on := len(n.Args) > 0 && isOn(n.Args[0])
	switch {
	case on && !hasDefaultAddress(cfg):
		return "without DefaultAddress ftpdtls serve binds every address; set DefaultAddress to bind one"
	case !on && hasDefaultAddress(cfg):
		return "ftpdtls serve binds DefaultAddress only; write SocketBindTight on"
	}
	return ""
}

func defaultServer(n *directives.Node, cfg *directives.Config) string {
	if len(n.Args) > 0 && isOff(n.Args[0]) && !hasDefaultAddress(cfg) {
		return "ftpdtls serve answers every connection to the addresses it listens on; set DefaultAddress to listen on one"
	}
	return ""
}

func serverIdent(n *directives.Node, _ *directives.Config) string {
	if len(n.Args) == 1 && isOn(n.Args[0]) {
		return ""
	}
	return "ftpdtls serve greets with \"220 ftpdtls Server (ServerName) [address]\"; only ServerIdent on is supported"
}

func authOrder(n *directives.Node, _ *directives.Config) string {
	for _, a := range n.Args {
		if strings.TrimSuffix(a, "*") != "mod_auth_file.c" {
			return "ftpdtls serve authenticates against AuthUserFile only; write AuthOrder mod_auth_file.c"
		}
	}
	return ""
}

func verifyOrder(n *directives.Node, _ *directives.Config) string {
	for _, a := range n.Args {
		if !strings.EqualFold(a, "crl") {
			return "client certificates are checked against CRLs only, not OCSP"
		}
	}
	return ""
}

// tlsOptions refuses the TLSOptions values modtls does not apply (its
// list, with the reasons: modtls.UnappliedTLSOption).
func tlsOptions(n *directives.Node, _ *directives.Config) string {
	var bad []string
	for _, a := range n.Args {
		if why := modtls.UnappliedTLSOption(a); why != "" {
			bad = append(bad, a+": "+why)
		}
	}
	if len(bad) > 0 {
		return "TLSOptions " + strings.Join(bad, "; ") + " (supported: " + strings.Join(modtls.AppliedTLSOptions(), ", ") + ")"
	}
	return ""
}

// daemonTrace refuses session-level tracing ("Trace session ...", and
// Trace or TraceOptions in <Global>): ftpdtls applies the server-config
// settings to every process.
func daemonTrace(n *directives.Node, _ *directives.Config) string {
	if n.Context != directives.Root {
		return "session-level trace settings are not applied; write Trace and TraceOptions at the top level"
	}
	if n.Name == "Trace" && len(n.Args) > 0 && strings.EqualFold(n.Args[0], "session") {
		return "session-level trace settings are not applied; write Trace without \"session\""
	}
	return ""
}

func loadModule(n *directives.Node, _ *directives.Config) string {
	if len(n.Args) == 0 {
		return ""
	}
	m := n.Args[0]
	if directives.Implemented(m) || slices.Contains(directives.DebianCompiledIn, m) {
		return ""
	}
	return m + " is not available in ftpdtls"
}

// checkForServe is serve's side of CheckServe: the refusals, all of them,
// stop the start, with check's words (the files and accounts serve cannot
// use, it meets while it loads). Otherwise the log follows the
// configuration (useSystemLog: the SystemLog file, the server's address)
// and, when logWarnings is set (the process that validates, not every
// worker), the parser's and CheckServe's warnings are logged there.
func checkForServe(dirs *directives.Config, logWarnings bool, log logrus.FieldLogger) error {
	errs, warnings := CheckServe(dirs)
	var all []error
	for _, e := range errs {
		var se *settingError
		if !errors.As(e, &se) { // those, serve meets while it loads
			all = append(all, e)
		}
	}
	if len(all) > 0 {
		return errors.Join(all...)
	}
	if err := useSystemLog(log, dirs); err != nil {
		return err
	}
	if logWarnings {
		for _, w := range slices.Concat(dirs.Warnings, warnings) {
			log.Warn(warningText(w))
		}
	}
	return nil
}

// warningText is a warning with its place, as `ftpdtls check` prints it.
func warningText(w directives.Warning) string {
	if w.File == "" || w.Line == 0 || strings.Contains(w.Msg, " of '"+w.File+"'") {
		return w.Msg
	}
	return fmt.Sprintf("%s on line %d of '%s'", w.Msg, w.Line, w.File)
}

// applyEnv applies the SetEnv and UnsetEnv lines of the main server (and
// <Global>) to this process's environment, which workers and brokers
// inherit, as ProFTPD sets them in its processes.
func applyEnv(dirs *directives.Config) {
	var walk func(nodes []*directives.Node)
	walk = func(nodes []*directives.Node) {
		for _, n := range nodes {
			switch {
			case structural[strings.ToLower(n.Name)]:
				if !n.Skipped {
					walk(n.Children)
				}
			case n.Name == "SetEnv" && len(n.Args) >= 2:
				os.Setenv(n.Args[0], n.Args[1])
			case n.Name == "UnsetEnv" && len(n.Args) >= 1:
				os.Unsetenv(n.Args[0])
			}
		}
	}
	walk(dirs.Root.Children)
}

// listenHost is the address the control listener binds: DefaultAddress,
// else every address (IPv4 only under UseIPv6 off).
func listenHost(main *directives.Server) string {
	if len(main.Addrs) > 0 {
		return main.Addrs[0]
	}
	if !main.UseIPv6 {
		return "0.0.0.0"
	}
	return ""
}
