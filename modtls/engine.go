package modtls

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/trace"
)

// TLS is the modtls engine: the session and OCSP caches and a TLS setup
// per server. New builds it from a Config, Open from a parsed
// proftpd.conf. It is safe for concurrent use.
type TLS struct {
	now    func() time.Time
	log    logrus.FieldLogger
	trace  *trace.Channel
	tlsLog logrus.FieldLogger

	sessCache   SessionCache // nil: resumption off
	sessName    string       // "internal", "shm", ...
	sessTimeout time.Duration
	tickets     *ticketKeys // non-nil: stateless tickets (TLSSessionTickets on)

	ocspCache OCSPCache // nil: no OCSP response cache
	ocspName  string
	http      *http.Client
	ocsp      ocspFetcher

	servers  []*serverTLS
	byServer map[*directives.Server]*serverTLS

	// Set by Open: what it opened (closed by Close) and what fell back.
	closers      []io.Closer
	sessFallback error
	ocspFallback error

	counters counters

	closeOnce sync.Once
	closeErr  error
}

// New builds the engine cfg describes. It fails when a server has no
// certificate, so that a mistake shows at start rather than at the first
// handshake. Close releases what New made; the caches in cfg stay open
// (they are the caller's).
func New(cfg Config) (*TLS, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	t := &TLS{
		now:      now,
		log:      cfg.Log,
		trace:    cfg.Trace.Channel("tls"),
		tlsLog:   cfg.TLSLog,
		http:     cfg.HTTPClient,
		byServer: make(map[*directives.Server]*serverTLS),
	}
	if t.http == nil {
		t.http = &http.Client{}
	}
	if cfg.SessionTickets != nil && !cfg.DisableResumption {
		t.tickets = newTicketKeys(cfg.SessionTickets.Age, cfg.SessionTickets.Count, now)
	}
	switch {
	case cfg.DisableResumption:
	case cfg.SessionCache != nil:
		t.sessCache, t.sessName = cfg.SessionCache, cfg.SessionCacheName
		if t.sessName == "" {
			t.sessName = "external"
			if _, ok := cfg.SessionCache.(*MemoryCache); ok {
				t.sessName = InternalCache
			}
		}
	default:
		t.sessCache, t.sessName = NewMemoryCache(cfg.MemoryCacheSize, now), InternalCache
	}
	if !cfg.DisableResumption {
		t.sessTimeout = cfg.SessionTimeout
		if t.sessTimeout <= 0 {
			t.sessTimeout = DefaultSessionCacheTimeout
		}
	}
	if cfg.OCSPCache != nil {
		t.ocspCache, t.ocspName = cfg.OCSPCache, cfg.OCSPCacheName
		if t.ocspName == "" {
			t.ocspName = "external"
		}
	}

	all := append([]ServerConfig{cfg.ServerConfig}, cfg.VirtualHosts...)
	for i := range all {
		off := i < len(cfg.engineOff) && cfg.engineOff[i]
		if err := all[i].check(); err != nil && !off {
			return nil, fmt.Errorf("modtls: %s: %w", cfg.serverName(i), err)
		}
		st, err := newServerTLS(t, &all[i], uint32(i+1))
		if err != nil {
			return nil, fmt.Errorf("modtls: %s: %w", cfg.serverName(i), err)
		}
		t.servers = append(t.servers, st)
		if i < len(cfg.servers) && cfg.servers[i] != nil {
			t.byServer[cfg.servers[i]] = st
		}
	}
	return t, nil
}

// Close closes what the engine opened: with Open, the caches and the
// TLSLog file (the caches' shared storage stays, so sessions survive a
// restart). Caches given to New in a Config are left open.
func (t *TLS) Close() error {
	t.closeOnce.Do(func() {
		errs := []error{t.ocsp.close()}
		for i := len(t.closers) - 1; i >= 0; i-- {
			errs = append(errs, t.closers[i].Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// SessionCache returns the session cache and its type name, or (nil, "")
// when resumption is off or stateless tickets are used. The name is
// InternalCache for the in-process cache (no TLSSessionCache directive,
// "internal:", or the fallback after a provider failed to open; see
// SessionCacheFallback).
func (t *TLS) SessionCache() (SessionCache, string) {
	if t.sessCache == nil {
		return nil, ""
	}
	return t.sessCache, t.sessName
}

// SessionTimeout is the lifetime of cached sessions (0 when resumption is
// off).
func (t *TLS) SessionTimeout() time.Duration { return t.sessTimeout }

// OCSPCache returns the open OCSP response cache and its type name, or
// (nil, "") when there is none.
func (t *TLS) OCSPCache() (OCSPCache, string) {
	if t.ocspCache == nil {
		return nil, ""
	}
	return t.ocspCache, t.ocspName
}

// SessionCacheFallback reports why the configured TLSSessionCache could
// not be opened, when Open fell back to the in-process cache as ProFTPD
// does (sessions then resume only within this process); nil when the
// configured cache is in use. `ftpdtls check`, the cache controls and the
// logs show it.
func (t *TLS) SessionCacheFallback() error { return t.sessFallback }

// OCSPCacheFallback is SessionCacheFallback for TLSStaplingCache: non-nil
// when the configured cache could not be opened and stapling runs
// without a cache.
func (t *TLS) OCSPCacheFallback() error { return t.ocspFallback }

// FallbackNotices returns the notices Open logs for the caches that fell
// back (SessionCacheFallback, OCSPCacheFallback), module prefix included:
// "mod_tls/2.9.2: error opening 'shm' TLSSessionCache: unable to open
// file '/x': No such file or directory". A caller that opened with
// WithFallbackNotices(false) logs these lines itself, at notice level.
func (t *TLS) FallbackNotices() []string {
	var out []string
	for _, err := range []error{t.sessFallback, t.ocspFallback} {
		if err != nil {
			out = append(out, ModuleVersion+": "+err.Error())
		}
	}
	return out
}

// CacheOpenError is why a configured TLSSessionCache or TLSStaplingCache
// could not be opened: the reason Open fell back
// (TLS.SessionCacheFallback, TLS.OCSPCacheFallback), or why a
// CacheControl cannot act. Its text is the one ProFTPD logs, "error
// opening 'shm' TLSSessionCache: " and the provider's reason, a system
// error worded as C's strerror words it ("No such file or directory");
// it unwraps to the provider's error.
type CacheOpenError struct {
	Directive string // TLSSessionCache or TLSStaplingCache
	Provider  string // "shm", "redis", ...
	Err       error
}

func (e *CacheOpenError) Error() string {
	return fmt.Sprintf("error opening '%s' %s: %s", e.Provider, e.Directive, reasonText(e.Err))
}

func (e *CacheOpenError) Unwrap() error { return e.Err }

// reasonText is err's text in a notice: a system error that says nothing
// more than its errno reads as strerror's text ("Invalid argument", not
// Go's "invalid argument").
func reasonText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) && err.Error() == errno.Error() {
		return directives.Strerror(errno)
	}
	return err.Error()
}

// TLSConfig returns the crypto/tls server configuration of server s (nil:
// the main server), with session resumption through the session cache
// and OCSP stapling as configured. For FTPS use NewControl, which adds the
// data-channel session-reuse check. The result may serve any number of
// connections; each handshake gets its own configuration from its
// GetConfigForClient.
func (t *TLS) TLSConfig(s *directives.Server) *tls.Config {
	st := t.server(s)
	return st.topConfig(st.base, func(*tls.ClientHelloInfo) *connState { return &connState{role: rolePlain} })
}

// Wrap returns a copy of base that resumes sessions through the engine's
// session cache, as the main server's sessions do. base keeps everything
// else: its certificates, its GetCertificate, GetConfigForClient and
// VerifyConnection are called as before, and the configuration its
// GetConfigForClient chooses (followed through nested GetConfigForClient
// calls, which crypto/tls does not make) gets the session hooks. A chosen
// configuration that already has WrapSession or UnwrapSession (one
// returned by modtls, such as Control.DataTLSConfig, or one that manages
// its own sessions) is used as it is.
func (t *TLS) Wrap(base *tls.Config) *tls.Config {
	st := t.servers[0]
	return st.topConfig(base.Clone(), func(*tls.ClientHelloInfo) *connState { return &connState{role: rolePlain} })
}

// Resumable returns a copy of base whose sessions are kept in cache for
// timeout (0: DefaultSessionCacheTimeout), so that every process using
// the same cache can resume them: the one call that adds modtls's session
// caching to an existing configuration (see TLS.Wrap for how it composes
// with base's callbacks). base must have a certificate (Certificates,
// GetCertificate or GetConfigForClient).
func Resumable(base *tls.Config, cache SessionCache, timeout time.Duration) (*tls.Config, error) {
	t, err := New(Config{ServerConfig: ServerConfig{Base: base}, SessionCache: cache, SessionTimeout: timeout})
	if err != nil {
		return nil, err
	}
	return t.TLSConfig(nil), nil
}

func (t *TLS) server(s *directives.Server) *serverTLS {
	if st, ok := t.byServer[s]; ok {
		return st
	}
	return t.servers[0]
}

func (t *TLS) logTLS(format string, args ...any) {
	if t.tlsLog != nil {
		t.tlsLog.Infof(format, args...)
	}
}

// debug writes a ProFTPD DEBUG<level> line ("mod_tls/2.9.2: ...") to the
// server log, with the level in the "debug" field.
func (t *TLS) debug(level int, format string, args ...any) {
	if t.log != nil {
		t.log.WithField("debug", level).Debugf(ModuleVersion+": "+format, args...)
	}
}

// notice writes a ProFTPD NOTICE line ("mod_tls/2.9.2: ...") to the
// server log, at logrus Warn level as the cache modules do.
func notice(log logrus.FieldLogger, format string, args ...any) {
	if log != nil {
		log.Warnf(ModuleVersion+": "+format, args...)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("modtls: crypto/rand failed: " + err.Error())
	}
	return b
}
