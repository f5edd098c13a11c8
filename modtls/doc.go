// Package modtls gives Go FTPS servers what ProFTPD's mod_tls gives
// ProFTPD: TLS sessions kept in a cache that every server process shares,
// so that clients resume them anywhere, and FTPS data connections that
// must resume their control connection's session (the check that stops
// a third party from stealing a transfer). It also reads mod_tls's
// proftpd.conf directives, for `ftpdtls serve`.
//
// # Shortest use
//
// Sessions that resume across processes, for any crypto/tls server
// (modtlsshm keeps them in shared memory):
//
//	cache, err := modtlsshm.OpenSessionCache(modtlsshm.Options{File: "/var/run/ftpd/sessions"}, 30*time.Minute)
//	cfg, err := modtls.Resumable(myTLSConfig, cache, 30*time.Minute)
//	ln, err := tls.Listen("tcp", ":990", cfg)
//
// FTPS, with the data-channel check, in an FTP engine of one's own:
//
//	eng, err := modtls.New(modtls.Config{
//		ServerConfig: modtls.ServerConfig{Certificates: certs}, // or GetCertificate: autocertManager.GetCertificate
//		SessionCache: cache,
//	})
//	ctl := eng.NewControl(nil)                              // per control connection
//	ctrl := tls.Server(conn, ctl.TLSConfig())               // AUTH TLS
//	data := tls.Server(dconn, ctl.DataTLSConfigFor(upload)) // each data connection
//	if err := ctl.CheckData(data); err != nil {
//		// a refusal (errors.Is modtls.ErrDataRejected) has had its
//		// close_notify: close dconn, reply modtls.ReplyDataRejected (425)
//	}
//
// An FTP library that runs the data handshake itself, without handing
// over the *tls.Conn, uses Control.DataTLSConfig: the check then fails
// the handshake.
//
// An FTP library that takes one *tls.Config for everything uses
// TLS.NewShared instead (see Shared for what that shape can check). To add
// the caching to a configuration that has its own GetConfigForClient,
// GetCertificate or VerifyConnection, use TLS.Wrap: it composes with them,
// and follows a GetConfigForClient that returns another configuration
// with a GetConfigForClient (Control.DataTLSConfig, say), which crypto/tls
// itself never calls. A modtls configuration used that way without Wrap
// fails its handshakes loudly instead of silently never resuming.
//
// The proftpd.conf route builds the same Config from mod_tls's
// directives and calls New:
//
//	cfg, err := directives.ParseFile("/etc/proftpd/proftpd.conf", directives.Options{})
//	eng, err := modtls.Open(cfg, modtls.Env{Trace: tracer, Log: serverLog})
//
// Unlike New, which fails when a cache cannot be opened (it is given open
// caches), Open keeps ProFTPD's behaviour: a TLSSessionCache that cannot
// be opened is logged at notice level ("mod_tls/2.9.2: error opening
// 'shm' TLSSessionCache: ...", the reason worded as ProFTPD's strerror)
// and replaced by the in-process cache, which TLS.SessionCacheFallback
// reports. A server made of several processes opens with
// WithFallbackNotices(false) in all but one and logs
// TLS.FallbackNotices once.
//
// # Resumption: session ids become tickets
//
// A crypto/tls server resumes sessions only from tickets (TLS 1.2 session
// tickets, TLS 1.3 pre-shared keys), never from a TLS 1.2 session id. So
// modtls makes the ticket a session id: WrapSession stores the session
// (SessionState.Bytes) in the cache under 32 random bytes, expiring at
// the session's creation time plus the session timeout, and sends those
// bytes as the ticket; UnwrapSession looks them up. A miss, an expired
// entry, a cache error or a session of another server all give a full
// handshake, never an aborted one. Entries are not deleted when resumed,
// so a client may open several data connections from one session.
//
// A TLS 1.2 client that sends no session_ticket extension cannot resume
// at all: curl with OpenSSL does exactly that on TLS 1.2 (it resumes on
// TLS 1.3). See docs/EMBEDDING.md for every client measured.
//
// # Data connections
//
// Every session issued on a control connection carries 32 random bytes of
// its Control (mod_tls's ticket appdata). The data configuration checks,
// inside the handshake (VerifyConnection), that the connection resumed a
// session carrying this Control's bytes and, when both sides sent one,
// the same client certificate as the control connection; a refusal is
// logged to the TLSLog in mod_tls's words and is a *DataError
// (ErrDataRejected, syscall.EPERM). With Control.DataTLSConfigFor the
// handshake completes and CheckData gives the verdict and sends the
// close_notify, as mod_tls ends a refused connection; with DataTLSConfig
// the handshake fails with it.
//
// TLS 1.3 session tickets follow ProFTPD: a data connection made with
// DataTLSConfigFor(false) (a download or a listing) that passes the check
// sends one, an upload sends none, so that OpenSSL clients that use each
// ticket once find one for their next transfer and a client that only
// writes and closes leaves nothing unread. DataTLSConfig, which does not
// know the direction, sends none. On TLS 1.2 crypto/tls always sends one
// on resumption (see TLS12DataTicket).
//
// # OCSP stapling
//
// With stapling on, a full handshake staples the response cached for the
// certificate until it is stale (past half its validity, after 3600 s
// without nextUpdate, or after 300 s for a non-successful response);
// a stale response is stapled while a refresh runs in the background, and
// with none the handshake waits for the responder (one request per
// certificate at a time) until its context ends, then staples a fake
// tryLater response (unless NoFakeTryLater; must-staple certificates
// always get one).
//
// # Logs and metrics
//
// Trace lines go to channel "tls" with mod_tls's levels and texts; TLSLog
// lines (TLSLogFormatter) in ProFTPD's format, including the ones the FTP
// engine asks for through Control.AuthRequested, ControlHandshakeDone and
// ProtectionSet. TLS.CacheStats and TLS.EngineStats give the counters,
// PublishStats publishes them through expvar, and package tlsprom is a
// Prometheus collector.
package modtls
