package modtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Option adjusts Open.
type Option func(*openOptions)

type openOptions struct {
	quietFallback bool
	now           func() time.Time
	certs         map[*directives.Server][]tls.Certificate
	httpClient    *http.Client
	internalSize  int
	tls12Ticket   TLS12DataTicket
}

// WithFallbackNotices(false) makes Open leave the notice of a cache that
// fell back (see Open) to the caller: Open logs it at debug level only,
// and FallbackNotices returns the lines the caller logs where it wants
// them. A server of several processes that each call Open with one
// configuration uses it to log the notice once, not once per process.
// The default, true, logs it at notice level as ProFTPD does.
func WithFallbackNotices(log bool) Option {
	return func(o *openOptions) { o.quietFallback = !log }
}

// WithClock makes the engine read time from now (sessions' expiry, OCSP
// ages, crypto/tls's own checks); tests use it to move time.
func WithClock(now func() time.Time) Option { return func(o *openOptions) { o.now = now } }

// WithCertificates gives server s (nil: the main server) certificates
// from the embedding program; they replace the TLS*CertificateFile
// directives of that server.
func WithCertificates(s *directives.Server, certs ...tls.Certificate) Option {
	return func(o *openOptions) {
		if o.certs == nil {
			o.certs = make(map[*directives.Server][]tls.Certificate)
		}
		o.certs[s] = append(o.certs[s], certs...)
	}
}

// WithHTTPClient sets the client used for OCSP requests.
func WithHTTPClient(c *http.Client) Option { return func(o *openOptions) { o.httpClient = c } }

// WithInternalCacheSize bounds the internal session cache (entries).
func WithInternalCacheSize(n int) Option { return func(o *openOptions) { o.internalSize = n } }

// WithTLS12DataTicket sets every server's ServerConfig.TLS12DataTicket
// (no directive of ProFTPD's says it).
func WithTLS12DataTicket(p TLS12DataTicket) Option { return func(o *openOptions) { o.tls12Ticket = p } }

// Open builds mod_tls for a parsed proftpd.conf: it turns the mod_tls
// directives into a Config (opening the caches that TLSSessionCache and
// TLSStaplingCache name, loading every server's certificates, CA and
// revocation files) and calls New with it.
//
// As in ProFTPD, a TLSSessionCache provider that fails to open does not
// stop the server: Open logs ProFTPD's notice ("mod_tls/2.9.2: error
// opening 'shm' TLSSessionCache: ...", the reason worded as ProFTPD's
// strerror words system errors; WithFallbackNotices(false) leaves the
// logging to the caller) and uses the in-process cache with
// the configured timeout (ProFTPD's fallback gets OpenSSL's 300 s; see
// M5 in docs/DIVERGENCES.md); SessionCacheFallback reports it. A
// TLSStaplingCache that fails to open is logged and left out
// (OCSPCacheFallback). Close closes what Open opened.
func Open(cfg *directives.Config, env Env, opts ...Option) (*TLS, error) {
	var o openOptions
	for _, f := range opts {
		f(&o)
	}
	if cfg == nil || cfg.Main == nil {
		return nil, errors.New("modtls: open: no main server in configuration")
	}
	if env.Config == nil {
		env.Config = cfg
	}
	if env.Server == nil {
		env.Server = cfg.Main
	}
	main := SettingsOf(cfg.Main)
	c := Config{
		Log:             env.Log,
		TLSLog:          env.TLSLog,
		Trace:           env.Trace,
		Now:             o.now,
		HTTPClient:      o.httpClient,
		MemoryCacheSize: o.internalSize,
	}
	var closers []io.Closer
	fail := func(err error) (*TLS, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
		return nil, err
	}
	if c.TLSLog == nil && main.Log != "" && main.Log != "none" {
		l, f, err := OpenTLSLog(main.Log)
		if err != nil {
			notice(env.Log, "notice: %v", err)
		} else {
			c.TLSLog, env.TLSLog = l, l
			closers = append(closers, f)
		}
	}
	debug := func(level int, format string, args ...any) {
		if env.Log != nil {
			env.Log.WithField("debug", level).Debugf(ModuleVersion+": "+format, args...)
		}
	}

	var sessFallback, ocspFallback error
	fallback := func(directive, provider string, err error) error {
		f := &CacheOpenError{Directive: directive, Provider: provider, Err: err}
		if o.quietFallback {
			debug(1, "%v (logged by the caller)", f)
		} else {
			notice(env.Log, "%v", f)
		}
		return f
	}
	spec := main.SessionCache
	switch {
	case !spec.Configured:
		c.SessionTimeout = NoDirectiveSessionTimeout
	case spec.Off:
		debug(3, "TLSSessionCache off, disabling TLS session caching and setting NoSessionReuseRequired TLSOption")
		c.DisableResumption = true
	case spec.Provider == InternalCache:
		c.SessionTimeout = spec.Timeout
	default:
		c.SessionTimeout = spec.Timeout
		debug(8, "opening '%s' TLSSessionCache", spec.Provider)
		sc, err := OpenSessionCache(spec, env)
		if err != nil {
			sessFallback = fallback("TLSSessionCache", spec.Provider, err)
			break
		}
		c.SessionCache, c.SessionCacheName = sc, spec.Provider
		closers = append(closers, sc)
	}
	if main.SessionTickets && !c.DisableResumption {
		c.SessionTickets = &TicketKeys{Age: main.TicketKeyAge, Count: main.TicketKeyCount}
	}
	if ospec := main.StaplingCache; ospec.Configured && !ospec.Off {
		debug(8, "opening '%s' TLSStaplingCache", ospec.Provider)
		oc, err := OpenOCSPCache(ospec, env)
		switch {
		case err == nil:
			c.OCSPCache, c.OCSPCacheName = oc, ospec.Provider
			closers = append(closers, oc)
		case !errors.Is(err, ErrNotImplemented):
			ocspFallback = fallback("TLSStaplingCache", ospec.Provider, err)
		}
	}

	for i, s := range cfg.Servers() {
		st := SettingsOf(s)
		certs, given := o.certs[s]
		if !given && i == 0 {
			certs, given = o.certs[nil]
		}
		sc, err := serverConfig(st, certs, given)
		if err != nil {
			return fail(fmt.Errorf("modtls: %w", err))
		}
		sc.TLS12DataTicket = o.tls12Ticket
		if i == 0 {
			c.ServerConfig = sc
		} else {
			c.VirtualHosts = append(c.VirtualHosts, sc)
		}
		c.servers = append(c.servers, s)
		c.engineOff = append(c.engineOff, !st.Engine)
	}
	t, err := New(c)
	if err != nil {
		return fail(err)
	}
	t.closers = append(t.closers, closers...)
	t.sessFallback, t.ocspFallback = sessFallback, ocspFallback
	return t, nil
}

// serverConfig turns one server's mod_tls settings into a ServerConfig;
// certs, when given, replace its certificate files.
func serverConfig(st *Settings, certs []tls.Certificate, given bool) (ServerConfig, error) {
	base := &tls.Config{MinVersion: st.MinVersion, MaxVersion: st.MaxVersion}
	if st.MaxVersion == 0 {
		return ServerConfig{}, errNoProtocol
	}
	if st.Ciphers != nil {
		if len(st.Ciphers.IDs) == 0 {
			return ServerConfig{}, fmt.Errorf("TLSCipherSuite '%s': none of the suites it selects is implemented by crypto/tls", st.CipherSuite)
		}
		base.CipherSuites = st.Ciphers.IDs
	}
	if len(st.TLS13Ciphers) > 0 && st.MaxVersion >= tls.VersionTLS13 {
		if _, err := checkTLS13Suites(st.TLS13Ciphers); err != nil {
			return ServerConfig{}, fmt.Errorf("TLSCipherSuite TLSv1.3 '%s': %w", strings.Join(st.TLS13Ciphers, ":"), err)
		}
	}
	if st.TLS13Ciphers != nil && len(st.TLS13Ciphers) == 0 && base.MaxVersion > tls.VersionTLS12 {
		base.MaxVersion = tls.VersionTLS12 // "TLSCipherSuite TLSv1.3 ''": no TLS 1.3 suite
	}
	if len(st.Curves) > 0 {
		base.CurvePreferences = st.Curves
	}
	var versions []uint16
	if vs := st.Protocols.versions(); len(vs) > 0 && len(vs) != int(vs[len(vs)-1]-vs[0])+1 {
		versions = vs // a set with a hole
	}
	sc := ServerConfig{
		Base:                    base,
		Versions:                versions,
		NoSessionReuseRequired:  st.Options&OptNoSessionReuseRequired != 0,
		ClientIPAddressRequired: st.Options&OptIPAddressRequired != 0,
		MaxChainLength:          st.VerifyDepth + 3,
		Stapling: Stapling{
			Enabled:        st.Stapling,
			Responder:      st.StaplingResponder,
			Timeout:        st.StaplingTimeout,
			NoNonce:        st.StaplingOptions&StaplingNoNonce != 0,
			NoVerify:       st.StaplingOptions&StaplingNoVerify != 0,
			NoFakeTryLater: st.StaplingOptions&StaplingNoFakeTryLater != 0,
		},
	}
	var cas []*x509.Certificate
	if f := st.CACertificateFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return sc, fmt.Errorf("TLSCACertificateFile: %w", err)
		}
		found := parsePEMCertificates(b)
		if len(found) == 0 {
			return sc, fmt.Errorf("TLSCACertificateFile '%s': no certificates found", f)
		}
		cas = append(cas, found...)
	}
	if d := st.CACertificatePath; d != "" {
		found, err := readDirPEM(d, parsePEMCertificates)
		if err != nil {
			return sc, fmt.Errorf("TLSCACertificatePath: %w", err)
		}
		cas = append(cas, found...)
	}
	if len(cas) > 0 {
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		base.ClientCAs = pool
		sc.Stapling.Issuers = cas
	}
	switch st.VerifyClient {
	case VerifyClientOn:
		base.ClientAuth = tls.RequireAndVerifyClientCert
	case VerifyClientOptional:
		base.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if f := st.CARevocationFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return sc, fmt.Errorf("TLSCARevocationFile: %w", err)
		}
		sc.RevocationLists = append(sc.RevocationLists, parsePEMCRLs(b)...)
	}
	if d := st.CARevocationPath; d != "" {
		found, err := readDirPEM(d, parsePEMCRLs)
		if err != nil {
			return sc, fmt.Errorf("TLSCARevocationPath: %w", err)
		}
		sc.RevocationLists = append(sc.RevocationLists, found...)
	}
	if !given {
		var err error
		if certs, err = loadCertificateFiles(st); err != nil {
			return sc, err
		}
	}
	sc.Certificates = certs
	if st.NextProtocol {
		sc.NextProtocol = NextProtocolFTP
	}
	return sc, nil
}

func parsePEMCertificates(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, der := range pemCertificates(b) {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func parsePEMCRLs(b []byte) []*x509.RevocationList {
	var out []*x509.RevocationList
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return out
		}
		if block.Type == "X509 CRL" {
			if l, err := x509.ParseRevocationList(block.Bytes); err == nil {
				out = append(out, l)
			}
		}
	}
}

// readDirPEM reads every regular file of a directory (OpenSSL's hashed
// directories: HASH.0, HASH.r0, ...) in name order and parses it.
func readDirPEM[T any](dir string, parse func([]byte) []T) ([]T, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []T
	for _, e := range entries {
		if !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		out = append(out, parse(b)...)
	}
	return out, nil
}

// Check reports what Open would refuse in cfg, without opening a cache:
// for each server with TLSEngine on, a certificate that is missing, does
// not load or does not match its key, CA and revocation files that do not
// load, and a TLSCipherSuite TLSv1.3 list crypto/tls cannot apply; and
// cache types of ProFTPD modules that ftpdtls does not provide
// (UnavailableCaches). `ftpdtls check` reports them so that it agrees
// with `ftpdtls serve`.
func Check(cfg *directives.Config) []error {
	if cfg == nil || cfg.Main == nil {
		return []error{errors.New("modtls: no main server in configuration")}
	}
	errs := UnavailableCaches(cfg)
	for i, s := range cfg.Servers() {
		st := SettingsOf(s)
		if !st.Engine {
			continue
		}
		sc, err := serverConfig(st, nil, false)
		if err == nil {
			err = sc.check()
		}
		if err != nil {
			c := Config{servers: cfg.Servers()}
			errs = append(errs, fmt.Errorf("modtls: %s: %w", c.serverName(i), err))
		}
	}
	return errs
}
