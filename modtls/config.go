package modtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/trace"
)

// Config is modtls in Go terms: what New needs to serve FTPS with TLS
// sessions that resume across processes and data connections that must
// resume their control connection's session. The proftpd.conf route
// (Open) builds a Config from mod_tls's directives and calls New too, so
// both routes run the same engine.
//
// The zero value of every field is a sensible default except the
// certificate: the main server needs Certificates, GetCertificate, or a
// Base that has one of them.
type Config struct {
	// ServerConfig is the main server's TLS setup.
	ServerConfig

	// VirtualHosts are further servers sharing the caches (ProFTPD's
	// <VirtualHost>); a session resumes only on the server that issued
	// it. TLS.NewControl and TLS.TLSConfig select them by their
	// directives.Server when the Config came from Open.
	VirtualHosts []ServerConfig

	// SessionCache keeps sessions so that any process using the same
	// cache can resume them (a modtlsshm or modtlsredis cache, or any
	// SessionCache). Nil means a MemoryCache of MemoryCacheSize entries,
	// which serves this process only. New does not close it: the cache
	// belongs to whoever opened it.
	SessionCache SessionCache
	// SessionCacheName names the cache in log lines and metrics ("shm",
	// "redis"); "" means "internal" for a MemoryCache, else "external".
	SessionCacheName string
	// SessionTimeout is how long a session can be resumed after its full
	// handshake; 0 means DefaultSessionCacheTimeout (1800 s).
	SessionTimeout time.Duration
	// MemoryCacheSize bounds the MemoryCache used when SessionCache is
	// nil; 0 means DefaultInternalCacheSize.
	MemoryCacheSize int
	// DisableResumption turns session resumption off (TLSSessionCache
	// off): every handshake is a full one and data connections are not
	// checked for reuse.
	DisableResumption bool
	// SessionTickets, when set, makes the tickets carry the encrypted
	// session (TLSSessionTickets on) instead of a key into SessionCache;
	// the keys live in this process, so sessions resume only here.
	SessionTickets *TicketKeys

	// OCSPCache keeps OCSP responses for stapling; nil means none (every
	// staple is fetched). OCSPCacheName names it like SessionCacheName.
	OCSPCache     OCSPCache
	OCSPCacheName string
	// HTTPClient makes the OCSP requests; nil means a default client.
	HTTPClient *http.Client

	// Log receives the server-log lines (ProFTPD's notices, at logrus
	// Warn level, and its DEBUG lines at Debug level with the ProFTPD
	// level in the field "debug"); TLSLog receives mod_tls's TLSLog
	// lines (see NewTLSLog); Trace is the trace facility (channel
	// "tls"). Nil discards.
	Log    logrus.FieldLogger
	TLSLog logrus.FieldLogger
	Trace  *trace.Tracer

	// Now is the clock of session expiry, OCSP ages and crypto/tls's own
	// checks; nil means time.Now. Tests move it.
	Now func() time.Time

	// Set by Open: the directives.Server of the main server and of each
	// virtual host, in order, and which of them have TLSEngine off.
	servers   []*directives.Server
	engineOff []bool
}

// ServerConfig is the TLS setup of one FTP server.
type ServerConfig struct {
	// Base, if set, is the crypto/tls configuration to start from: its
	// versions, cipher suites, curves, client authentication, ALPN and
	// the rest are kept. Its GetConfigForClient, GetCertificate and
	// VerifyConnection are called first, and modtls's session handling
	// is added to whatever configuration they choose (even one returned
	// by a nested GetConfigForClient, which crypto/tls itself would not
	// call). Nil means &tls.Config{MinVersion: tls.VersionTLS12}.
	Base *tls.Config

	// Certificates are served (the first one the client supports), and
	// stapled when Stapling is on. GetCertificate, if set, chooses the
	// certificate instead (autocert.Manager.GetCertificate,
	// certmagic.Config.GetCertificate); what it returns is served as it
	// is (those managers staple their own OCSP responses).
	Certificates   []tls.Certificate
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	// RevocationLists are checked for every verified client certificate
	// (TLSCARevocationFile, TLSCARevocationPath): a certificate listed
	// as revoked by its issuer's list, or an issuer whose own list has
	// expired, is refused. They only matter when Base asks for client
	// certificates.
	RevocationLists []*x509.RevocationList

	// Versions, if set, are the only protocol versions served, within
	// Base's MinVersion..MaxVersion: ProFTPD's TLSProtocol may leave a
	// hole ("TLSv1 TLSv1.2"), which a crypto/tls range cannot, so each
	// handshake that would land on a version left out is capped at the
	// next lower one the client supports.
	Versions []uint16

	// MaxChainLength, when positive, bounds the verified client
	// certificate chains (client certificate, intermediate CAs and the
	// trusted root): a client whose every verified chain is longer is
	// refused, as OpenSSL refuses a chain longer than its verify depth.
	// TLSVerifyDepth N sets it to N+3 (N+1 intermediates), which is what
	// ProFTPD 1.3.8 with OpenSSL 3 accepts (mod_tls gives OpenSSL the
	// depth N+1, and OpenSSL counts the trusted root beyond it; measured);
	// mod_tls's default depth, 9, is 12.
	MaxChainLength int

	// NextProtocol, when set, is the ALPN protocol selected when the
	// client offers it (TLSNextProtocol on: "ftp", mod_tls's default); a
	// client that offers ALPN without it gets no ALPN, as with OpenSSL,
	// where crypto/tls alone would fail the handshake. It replaces
	// Base.NextProtos.
	NextProtocol string

	// ClientIPAddressRequired (TLSOptions iPAddressRequired) refuses a
	// control connection whose verified client certificate has no
	// iPAddress subject alternative name equal to the client's address,
	// when client certificates are required (Base.ClientAuth is
	// tls.RequireAndVerifyClientCert).
	ClientIPAddressRequired bool

	// NoSessionReuseRequired turns off the check that each data
	// connection resumed its control connection's TLS session (ProFTPD's
	// TLSOptions NoSessionReuseRequired). The check is on by default.
	NoSessionReuseRequired bool

	// TLS12DataTicket is what a data connection that resumed a TLS 1.2
	// session sends as its new session ticket (crypto/tls always sends
	// one then); see TLS12DataTicket.
	TLS12DataTicket TLS12DataTicket

	// Stapling staples OCSP responses to Certificates.
	Stapling Stapling
}

// Stapling is OCSP stapling for a server's Certificates: ProFTPD's
// TLSStapling, TLSStaplingResponder, TLSStaplingTimeout and
// TLSStaplingOptions.
type Stapling struct {
	Enabled bool
	// Responder overrides the responder URL of the certificates (their
	// Authority Information Access).
	Responder string
	// Timeout bounds one request to the responder; 0 means
	// DefaultStaplingTimeout. The handshake's own context bounds it too.
	Timeout time.Duration
	// NoNonce sends no nonce; NoVerify does not verify the responder's
	// signature; NoFakeTryLater staples nothing, rather than a fake
	// tryLater response, when no real response is available (must-staple
	// certificates always get one).
	NoNonce, NoVerify, NoFakeTryLater bool
	// Issuers are searched for a certificate's issuer when its chain does
	// not hold it (TLSCACertificateFile).
	Issuers []*x509.Certificate
}

// TicketKeys are the in-memory ticket keys of TLSSessionTickets on: a new
// key every hour (or every Age-1 s when Age is shorter), each kept for
// Age, at most Count of them. Zero fields mean DefaultTicketKeyAge and
// DefaultTicketKeyCount.
type TicketKeys struct {
	Age   time.Duration
	Count int
}

// TLS12DataTicket chooses what a data connection that resumed a TLS 1.2
// session sends as its new session ticket. crypto/tls sends a
// NewSessionTicket message on every resumed TLS 1.2 handshake
// (handshake_server.go, doResumeHandshake) and offers no switch, so the
// choice is only about its content. No choice suits every client; TLS 1.3
// has neither problem (data connections send no ticket at all).
type TLS12DataTicket int

const (
	// RenewDataTicket sends a new ticket for the same session, as
	// crypto/tls does by default. Go and GnuTLS clients (jlaffaye/ftp,
	// lftp) use it or ignore it. OpenSSL clients that keep the control
	// connection's session to resume every data connection (Ruby
	// net/ftp, PHP ftp_ssl_connect) remove that session from their cache
	// when a new ticket arrives, which marks it not resumable: their
	// second data connection does a full handshake and is refused.
	RenewDataTicket TLS12DataTicket = iota
	// EmptyDataTicket sends an empty ticket, RFC 5077's way of saying
	// that no new ticket is issued: OpenSSL clients then keep the
	// control connection's session (Ruby and PHP work), lftp and Python
	// work too, but Go clients store the empty ticket in their
	// ClientSessionCache and their next data connection cannot resume.
	EmptyDataTicket
)

// ErrNoCertificate is New's error for a server with no way to obtain a
// certificate.
var ErrNoCertificate = errors.New("no server certificate configured")

// check reports what makes sc unusable.
func (sc *ServerConfig) check() error {
	if len(sc.Certificates) > 0 || sc.GetCertificate != nil {
		return nil
	}
	if b := sc.Base; b != nil && (len(b.Certificates) > 0 || b.GetCertificate != nil || b.GetConfigForClient != nil) {
		return nil
	}
	return ErrNoCertificate
}

func (c *Config) serverName(i int) string {
	if i < len(c.servers) && c.servers[i] != nil && c.servers[i].Name != "" {
		return fmt.Sprintf("server %d ('%s')", i, c.servers[i].Name)
	}
	if i == 0 {
		return "main server"
	}
	return fmt.Sprintf("virtual host %d", i)
}
