package modtls

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/trace"
)

// Option adjusts Open.
type Option func(*openOptions)

type openOptions struct {
	now          func() time.Time
	certs        map[*directives.Server][]tls.Certificate
	httpClient   *http.Client
	internalSize int
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

// WithHTTPClient sets the client used for OCSP requests (its Timeout is
// replaced by TLSStaplingTimeout when that is set).
func WithHTTPClient(c *http.Client) Option { return func(o *openOptions) { o.httpClient = c } }

// WithInternalCacheSize bounds the internal session cache (entries).
func WithInternalCacheSize(n int) Option { return func(o *openOptions) { o.internalSize = n } }

// TLS is mod_tls for one parsed configuration: the session and OCSP caches
// opened from the main server's directives, and a TLS setup per server.
// It is safe for concurrent use.
type TLS struct {
	now    func() time.Time
	env    Env
	trace  *trace.Channel
	tlsLog logrus.FieldLogger
	closer io.Closer // the TLSLog file we opened, if any

	mainCfg CacheSpec // TLSSessionCache of the main server, as configured

	sessCache   SessionCache // nil: no caching (TLSSessionCache off)
	sessName    string       // "internal", "shm", ...
	sessTimeout time.Duration
	tickets     *ticketKeys // non-nil: stateless tickets (TLSSessionTickets on)

	ocspCache OCSPCache // nil: no TLSStaplingCache
	ocspName  string
	http      *http.Client

	servers  []*serverTLS
	byServer map[*directives.Server]*serverTLS

	closeOnce sync.Once
}

// serverTLS is one server's TLS setup.
type serverTLS struct {
	t        *TLS
	srv      *directives.Server
	settings *Settings
	sid      uint32 // the session id context: sessions resume only here
	certs    []*stapledCert
	base     *tls.Config
}

// Open builds mod_tls for cfg: it opens the caches named by the main
// server's TLSSessionCache and TLSStaplingCache (falling back to the
// internal session cache, with the configured timeout, when a provider
// fails to open), loads every server's certificates and prepares their
// crypto/tls configurations. Close releases the caches.
func Open(cfg *directives.Config, env Env, opts ...Option) (*TLS, error) {
	var o openOptions
	for _, f := range opts {
		f(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if cfg == nil || cfg.Main == nil {
		return nil, errors.New("modtls: open: no main server in configuration")
	}
	if env.Config == nil {
		env.Config = cfg // providers read their own directives from it
	}
	main := SettingsOf(cfg.Main)
	t := &TLS{
		now:      o.now,
		env:      env,
		trace:    env.Trace.Channel("tls"),
		tlsLog:   env.TLSLog,
		mainCfg:  main.SessionCache,
		http:     o.httpClient,
		byServer: make(map[*directives.Server]*serverTLS),
	}
	if t.tlsLog == nil && main.Log != "" && main.Log != "none" {
		l, f, err := OpenTLSLog(main.Log)
		if err != nil {
			t.notice("notice: %v", err)
		} else {
			t.tlsLog, t.closer = l, f
		}
	}
	if t.http == nil {
		t.http = &http.Client{}
	}
	t.openSessionCache(main, o.internalSize)
	if main.SessionTickets {
		t.tickets = newTicketKeys(main.TicketKeyAge, main.TicketKeyCount, t.now)
	}
	t.openOCSPCache(main)

	servers := []*directives.Server{cfg.Main}
	servers = append(servers, cfg.VirtualHosts...)
	for i, s := range servers {
		st, err := t.newServer(s, uint32(i+1), o.certs)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.servers = append(t.servers, st)
		t.byServer[s] = st
	}
	if c, ok := o.certs[nil]; ok && len(c) > 0 {
		if _, set := o.certs[cfg.Main]; !set {
			if err := t.servers[0].setCertificates(c); err != nil {
				t.Close()
				return nil, err
			}
		}
	}
	return t, nil
}

// openSessionCache selects the session cache as mod_tls's postparse does,
// except that a provider that fails to open is deselected and the
// internal fallback keeps the configured timeout (ProFTPD defect M5).
func (t *TLS) openSessionCache(main *Settings, internalSize int) {
	spec := main.SessionCache
	switch {
	case !spec.Configured:
		t.sessName, t.sessTimeout = InternalCache, NoDirectiveSessionTimeout
	case spec.Off:
		t.debug(3, "TLSSessionCache off, disabling TLS session caching and setting NoSessionReuseRequired TLSOption")
		return
	case spec.Provider == InternalCache:
		t.sessName, t.sessTimeout = InternalCache, spec.Timeout
	default:
		t.sessTimeout = spec.Timeout
		t.debug(8, "opening '%s' TLSSessionCache", spec.Provider)
		p, err := LookupSessionCache(spec.Provider)
		var c SessionCache
		if err == nil {
			c, err = p.Open(spec.Info, spec.Timeout, t.env)
		}
		if err == nil {
			t.sessCache, t.sessName = c, spec.Provider
			return
		}
		t.debug(1, "error opening '%s' TLSSessionCache: %v", spec.Provider, err)
		t.sessName = InternalCache
	}
	t.sessCache = newInternalCache(internalSize, t.now)
}

func (t *TLS) openOCSPCache(main *Settings) {
	spec := main.StaplingCache
	if !spec.Configured || spec.Off {
		return
	}
	t.debug(8, "opening '%s' TLSStaplingCache", spec.Provider)
	p, err := LookupOCSPCache(spec.Provider)
	var c OCSPCache
	if err == nil {
		c, err = p.Open(spec.Info, t.env)
	}
	if err != nil {
		if !errors.Is(err, ErrNotImplemented) {
			t.debug(1, "error opening '%s' TLSStaplingCache: %v", spec.Provider, err)
		}
		return
	}
	t.ocspCache, t.ocspName = c, spec.Provider
}

// Close closes the caches (their shared storage stays) and the TLSLog.
func (t *TLS) Close() error {
	var errs []error
	t.closeOnce.Do(func() {
		if t.sessCache != nil {
			errs = append(errs, t.sessCache.Close())
		}
		if t.ocspCache != nil {
			errs = append(errs, t.ocspCache.Close())
		}
		if t.closer != nil {
			errs = append(errs, t.closer.Close())
		}
	})
	return errors.Join(errs...)
}

// SessionCache returns the open session cache and its type name, or
// (nil, "") when caching is off. The name is InternalCache for the
// in-process cache (no TLSSessionCache directive, "internal:", or the
// fallback after a provider failed to open); ProFTPD's controls answer
// "No TLSSessionCache configured" in those cases, since no provider is
// selected.
func (t *TLS) SessionCache() (SessionCache, string) {
	if t.sessCache == nil {
		return nil, ""
	}
	return t.sessCache, t.sessName
}

// SessionTimeout is the lifetime of cached sessions.
func (t *TLS) SessionTimeout() time.Duration { return t.sessTimeout }

// OCSPCache returns the open OCSP response cache and its type name, or
// (nil, "") when there is none.
func (t *TLS) OCSPCache() (OCSPCache, string) {
	if t.ocspCache == nil {
		return nil, ""
	}
	return t.ocspCache, t.ocspName
}

// TLSConfig returns the crypto/tls server configuration of server s (nil:
// the main server), with session resumption through the session cache
// and OCSP stapling as configured. For FTPS use NewControl, which adds the
// data-channel session-reuse check. The result may be used for any number
// of connections.
func (t *TLS) TLSConfig(s *directives.Server) *tls.Config {
	return t.server(s).config(nil, nil)
}

func (t *TLS) server(s *directives.Server) *serverTLS {
	if st, ok := t.byServer[s]; ok {
		return st
	}
	return t.servers[0]
}

func (t *TLS) newServer(s *directives.Server, sid uint32, certs map[*directives.Server][]tls.Certificate) (*serverTLS, error) {
	st := &serverTLS{t: t, srv: s, settings: SettingsOf(s), sid: sid}
	if c, ok := certs[s]; ok {
		if err := st.setCertificates(c); err != nil {
			return nil, err
		}
	} else if err := st.loadCertificates(); err != nil {
		return nil, err
	}
	base := &tls.Config{
		MinVersion:     st.settings.MinVersion,
		MaxVersion:     st.settings.MaxVersion,
		Time:           t.now,
		GetCertificate: st.getCertificate,
	}
	if st.settings.CACertificateFile != "" {
		pem, err := os.ReadFile(st.settings.CACertificateFile)
		if err != nil {
			return nil, fmt.Errorf("modtls: TLSCACertificateFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("modtls: TLSCACertificateFile '%s': no certificates found", st.settings.CACertificateFile)
		}
		base.ClientCAs = pool
	}
	switch st.settings.VerifyClient {
	case VerifyClientOn:
		base.ClientAuth = tls.RequireAndVerifyClientCert
	case VerifyClientOptional:
		base.ClientAuth = tls.VerifyClientCertIfGiven
	}
	st.base = base
	return st, nil
}

// config returns a configuration for this server whose sessions go
// through the session cache (or ticket keys). tagFor, when set, gives the
// control tag to store in each new session; rec, when set, records what
// the hooks learn about the connection the configuration serves.
func (st *serverTLS) config(tagFor func(cs tls.ConnectionState, rec *connRecord) []byte, rec *connRecord) *tls.Config {
	c := st.base.Clone()
	t := st.t
	if t.sessCache == nil && t.tickets == nil {
		c.SessionTicketsDisabled = true
		return c
	}
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		var tag []byte
		if tagFor != nil {
			tag = tagFor(cs, rec)
		}
		return t.wrap(st, cs, ss, tag, rec)
	}
	c.UnwrapSession = func(id []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		return t.unwrap(st, id, cs, rec), nil
	}
	return c
}

func (t *TLS) logTLS(format string, args ...any) {
	if t.tlsLog != nil {
		t.tlsLog.Infof(format, args...)
	}
}

// debug writes a ProFTPD DEBUG<level> line ("mod_tls/2.9.2: ...") to the
// server log, with the level in the "debug" field.
func (t *TLS) debug(level int, format string, args ...any) {
	if t.env.Log != nil {
		t.env.Log.WithField("debug", level).Debugf(ModuleVersion+": "+format, args...)
	}
}

func (t *TLS) notice(format string, args ...any) {
	if t.env.Log != nil {
		t.env.Log.Infof(ModuleVersion+": "+format, args...)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("modtls: crypto/rand failed: " + err.Error())
	}
	return b
}
