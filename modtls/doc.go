// Package modtls is ProFTPD's mod_tls for Go, reduced to what ftpdtls
// reimplements: the TLS session cache and OCSP response cache provider
// registry (the contract of mod_tls.h, in provider.go), the mod_tls
// directives, session resumption through the configured cache, the FTPS
// data-channel session-reuse check, and OCSP stapling.
//
// # Module and directives
//
// Importing modtls registers the module "mod_tls.c" (version
// "mod_tls/2.9.2") with the directives parser. The directives it acts on
// are parsed into a Settings per server; SettingsOf reads them:
//
//	cfg, err := directives.ParseFile("/etc/proftpd/proftpd.conf", directives.Options{})
//	st := modtls.SettingsOf(cfg.Main)   // TLSEngine, TLSSessionCache, TLSStapling, ...
//
// TLSSessionCache and TLSStaplingCache accept a provider only if it is
// registered (RegisterSessionCache, from the provider package's init) and
// its module was loaded in this configuration (LoadModule
// mod_tls_shmcache.c, or compiled in); otherwise ProFTPD's "session cache
// type 'X' not available". Providers implementing InfoChecker have their
// info string checked at parse time, and the problems become warnings.
//
// # Opening
//
// Open opens the caches of the main server and prepares each server's
// crypto/tls configuration:
//
//	t, err := modtls.Open(cfg, modtls.Env{Trace: tracer, Log: serverLog})
//	defer t.Close()
//	ctl := t.NewControl(vhost)            // per FTP control connection
//	ctrlConn := tls.Server(conn, ctl.TLSConfig())      // AUTH TLS
//	dataConn := tls.Server(dconn, ctl.DataTLSConfig()) // each data connection
//	if err := ctl.CheckData(dataConn); err != nil {
//		// reply modtls.ReplyDataRejected and close dataConn
//	}
//
// A provider that fails to open is logged ("error opening 'shm'
// TLSSessionCache: ...") and replaced by the internal cache, which keeps
// the configured timeout (ProFTPD falls back to OpenSSL's 300 s, its
// defect M5, and keeps the failed provider selected; modtls deselects it).
// TLSSessionCache off disables resumption and data-channel reuse checks.
//
// # Resumption: session ids become tickets
//
// A crypto/tls server resumes sessions only from tickets (TLS 1.2 session
// tickets, TLS 1.3 pre-shared keys), never from a TLS 1.2 session id. So
// modtls makes the ticket a session id: WrapSession stores the session
// (SessionState.Bytes) in the cache under 32 random bytes, expiring at
// the session's creation time plus the TLSSessionCache timeout, and sends
// those bytes as the ticket; UnwrapSession looks them up. A miss, an
// expired entry, a cache error or a session of another virtual host
// (each session carries the id of the server that issued it, like
// ProFTPD's session id context) all give a full handshake, never an
// aborted one. DescribeSession reads a stored session's version and
// creation time, for providers' verbose status.
//
// Entries are not deleted when resumed, so a client may open several data
// connections from one session; they expire with the session. The
// internal cache holds at most DefaultInternalCacheSize sessions (see
// WithInternalCacheSize) and drops the oldest when full.
//
// With TLSSessionTickets on, tickets carry the encrypted session instead
// (keys in memory, rotated per TLSSessionTicketKeys) and the cache is not
// consulted, as in mod_tls where ticket resumption bypasses the cache.
//
// Consequence for clients: a TLS 1.2 client that sends no session_ticket
// extension cannot resume at all. curl with OpenSSL does exactly that on
// TLS 1.2, so with session reuse required (the default) its TLS 1.2 FTPS
// data connections get "425 Unable to build data connection: Operation
// not permitted"; it resumes fine on TLS 1.3. lftp (GnuTLS) and Go
// clients with a ClientSessionCache and a ServerName resume on both.
// Clients that need TLS 1.2 without tickets need TLSOptions
// NoSessionReuseRequired. (TestFTPSCurl, TestFTPSLftp and
// TestFTPSJlaffayeClient check these claims against the real clients.)
//
// # Data-channel reuse
//
// Every session issued on a control connection carries 32 random bytes of
// its Control (ProFTPD's ticket appdata); a data connection that resumes
// it passes the bytes on to the session it is issued in turn, and a full
// handshake passes on nothing. CheckData accepts a data connection only if
// it resumed a session carrying this Control's bytes and, when both sides
// sent one, the same client certificate as the control connection.
// Refusals are logged to the TLSLog in mod_tls's words and returned as a
// *DataError matching ErrDataRejected and syscall.EPERM.
//
// # OCSP stapling
//
// With TLSStapling on, every full handshake staples the response cached
// for the certificate (keyed by the lowercase hex SHA-1 of its DER) until
// it is stale (past half its validity, after 3600 s without nextUpdate, or
// after 300 s for a non-successful response), then asks the responder
// (TLSStaplingResponder, or the certificate's AIA URL) by HTTP POST with a
// nonce, verifies the answer against the issuer, and caches it. When the
// responder fails, a stale response is served, else a fake tryLater
// response (unless TLSStaplingOptions NoFakeTryLater; must-staple
// certificates always get one). Resumed TLS 1.3 handshakes never staple.
// In TLS 1.2, crypto/tls picks the certificate before it knows whether the
// handshake resumes, so the staple may be looked up (but is not sent) on
// a resumed handshake.
//
// # Logging
//
// Trace lines go to channel "tls" with mod_tls's levels and texts; TLSLog
// lines go to Env.TLSLog or, if that is nil, to the TLSLog file, in
// ProFTPD's format (TLSLogFormatter). Server-log DEBUG lines go to
// Env.Log at logrus Debug level with the ProFTPD debug level in the field
// "debug".
package modtls
