package modtls

import (
	"errors"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/trace"
)

// This file is the whole contract between mod_tls and its cache modules,
// the Go counterpart of ProFTPD's mod_tls.h: a provider is registered under
// a name ("shm", "redis") from its package's init (RegisterSessionCache,
// RegisterOCSPCache) and opened with the text after "name:" in
// TLSSessionCache or TLSStaplingCache (OpenSessionCache, OpenOCSPCache).
// MemoryCache is the reference SessionCache; the package Example shows a
// complete provider.
//
// Errors: a provider wraps ErrNoStorage when the storage it would open
// does not exist (OpenExisting, StatusInfo, RemoveInfo), returns
// ErrCacheMiss from Get for a missing or expired entry, and any other
// error for a failure (which modtls logs and treats as a miss: a cache
// fault never fails a handshake).

// Sentinel errors, for errors.Is.
var (
	// ErrAlreadyRegistered: a provider of that name is registered (EEXIST).
	ErrAlreadyRegistered = errors.New("provider already registered")
	// ErrNotFound: no provider of that name is registered (ENOENT).
	ErrNotFound = errors.New("provider not found")
	// ErrNotImplemented: no cache is configured for the operation (ENOSYS).
	// Its text is ProFTPD's strerror, which its log lines quote.
	ErrNotImplemented = errors.New("Function not implemented")
	// ErrCacheMiss: the cache holds no live entry for the key.
	ErrCacheMiss = errors.New("cache miss")
	// ErrNoStorage: the cache's storage (a segment, a Redis key space)
	// does not exist yet. Providers wrap it in the errors of
	// OpenExisting, StatusInfo and RemoveInfo, so that the controls can
	// say "nothing to clear" instead of creating the storage.
	ErrNoStorage = errors.New("no cache storage exists")
)

// Env is what a provider is opened with: where it reports (nil fields
// discard) and which server's configuration it serves.
type Env struct {
	// Trace is the process's trace facility; providers trace on their
	// own channel ("tls.shmcache", "tls.redis").
	Trace *trace.Tracer
	// Log is the server log: ProFTPD's NOTICE and DEBUG lines, such as
	// "mod_tls_shmcache/0.2: badly formatted info ...".
	Log logrus.FieldLogger
	// TLSLog is mod_tls's TLSLog; provider lines there start "shmcache: ".
	TLSLog logrus.FieldLogger
	// Server is the server whose configuration the cache is opened for
	// (the main server, ProFTPD's main_server), or nil. A provider whose
	// module has directives of its own (mod_redis's RedisServer,
	// RedisTimeouts, ...) reads its typed settings from it with its
	// directives.Settings accessor; nil means that module's defaults.
	Server *directives.Server

	// Config is the parsed configuration the cache is opened for, or nil.
	//
	// Deprecated: read Server (Config.Main); Open sets both.
	Config *directives.Config
}

// SessionCache is an open TLS session cache shared by the server's
// processes. Keys are session ids of at most 32 bytes; values are the
// bytes of a crypto/tls SessionState, which the cache treats as opaque.
// Implementations are safe for concurrent use.
type SessionCache interface {
	// Add stores state under id until expires, replacing any entry with
	// the same id.
	Add(id []byte, expires time.Time, state []byte) error
	// Get returns the state stored under id and its expiry time, or
	// ErrCacheMiss if there is none or it has expired.
	Get(id []byte) (state []byte, expires time.Time, err error)
	// Delete removes the entry under id; deleting a missing id is not an error.
	Delete(id []byte) error
	// Clear removes every entry and returns how many there were.
	Clear() (int, error)
	// Remove destroys the cache's storage (segment, keys) and closes it.
	Remove() error
	// Status writes the cache's status, one control-response line per line
	// of text; verbose also lists the cached sessions.
	Status(w io.Writer, verbose bool) error
	// Close releases the process's handle; the shared storage stays.
	Close() error
}

// SessionCacheProvider opens session caches of one type.
type SessionCacheProvider interface {
	// Module is the module a configuration must load (LoadModule, or
	// compiled in) before it may name this provider, e.g.
	// "mod_tls_shmcache.c"; "" means always available.
	Module() string
	// Open opens the cache described by info (the text after "name:")
	// with the TLSSessionCache timeout.
	Open(info string, timeout time.Duration, env Env) (SessionCache, error)
}

// OCSPCache is an open cache of DER OCSP responses, keyed by the lowercase
// hex SHA-1 fingerprint of the certificate they are for. modtls decides
// when a response is stale from its own fields and the time it was
// cached, so a cache need not expire entries (it may, to bound its
// size). Implementations are safe for concurrent use.
type OCSPCache interface {
	// Add stores der for fingerprint, replacing any entry; cached is when
	// the response was obtained (ProFTPD's "age").
	Add(fingerprint string, der []byte, cached time.Time) error
	// Get returns the response stored for fingerprint and when it was
	// cached, or ErrCacheMiss.
	Get(fingerprint string) (der []byte, cached time.Time, err error)
	// Delete removes the entry for fingerprint; deleting a missing one is
	// not an error.
	Delete(fingerprint string) error
	// Clear removes every entry and returns how many there were.
	Clear() (int, error)
	// Remove destroys the cache's storage and closes it.
	Remove() error
	// Status writes the cache's status, one control-response line per line
	// of text (verbose may list the responses).
	Status(w io.Writer, verbose bool) error
	// Close releases the process's handle; the shared storage stays.
	Close() error
}

// OCSPCacheProvider opens OCSP response caches of one type.
type OCSPCacheProvider interface {
	// Module is as SessionCacheProvider's.
	Module() string
	// Open opens the cache described by info (the text after "name:").
	Open(info string, env Env) (OCSPCache, error)
}

// InfoChecker is implemented by providers that can tell, without opening
// anything, what would go wrong when an info string is opened: the
// problems that `proftpd -t` lets through.
//
// CheckInfo returns one line per problem, worded as ProFTPD's server log
// prints it, module prefix included, for example
//
//	mod_tls_shmcache/0.2: badly formatted info 'file=/x', unable to open shmcache
//
// because `ftpdtls check` prints the lines as they are (as warnings on the
// directive's line) and the conformance tests look for them among the
// notices `proftpd -t` printed. A problem ProFTPD does not report is
// worded freely, with the same prefix. Nil means nothing to report.
type InfoChecker interface {
	CheckInfo(info string) []string
}

// Stats are a cache's counters and fill, in the same terms for every
// provider. Counters count since the storage was created (shm) or since
// the counters were last reset (Redis); a figure a provider cannot know is
// zero.
type Stats struct {
	Hits     uint64 // lookups that found a live entry
	Misses   uint64 // lookups that found none
	Stored   uint64 // entries added
	Deleted  uint64 // entries removed by Delete
	Expired  uint64 // entries dropped because they expired
	Evicted  uint64 // live entries dropped to make room for others
	Errors   uint64 // damaged entries found and failed operations
	TooLarge uint64 // entries refused because they do not fit
	Entries  uint64 // live entries now
	Capacity uint64 // entries the storage is expected to hold; 0: unbounded or unknown
}

// StatsReporter is implemented by every open session and OCSP cache of
// the providers ftpdtls ships (MemoryCache, modtlsshm, modtlsredis); a
// provider of one's own should implement it too, for TLS.CacheStats,
// PublishStats and the Prometheus collector (package tlsprom). Stats must
// be cheap enough to be scraped every few seconds.
type StatsReporter interface {
	Stats() (Stats, error)
}

// Optional provider methods. The cache controls (`ftpdtls sesscache`,
// `ftpdtls ocspcache`) use them, when a provider has them, to look at,
// clear and remove a configured cache without creating it.
type (
	// SessionCacheExistingOpener opens a session cache only if its storage
	// exists; otherwise it returns an error matching ErrNoStorage.
	SessionCacheExistingOpener interface {
		OpenExisting(info string, timeout time.Duration, env Env) (SessionCache, error)
	}
	// OCSPCacheExistingOpener is SessionCacheExistingOpener for OCSP caches.
	OCSPCacheExistingOpener interface {
		OpenExisting(info string, env Env) (OCSPCache, error)
	}
	// SessionCacheStatusInfo writes the status of the session cache info
	// names, or describes its absence, without creating anything.
	SessionCacheStatusInfo interface {
		StatusInfo(info string, timeout time.Duration, env Env, w io.Writer, verbose bool) error
	}
	// OCSPCacheStatusInfo is SessionCacheStatusInfo for OCSP caches.
	OCSPCacheStatusInfo interface {
		StatusInfo(info string, env Env, w io.Writer, verbose bool) error
	}
	// InfoRemover destroys the storage of the cache info names even when
	// it cannot be opened (wrong size, damaged header), provided it can
	// prove the storage is that cache's; it returns an error matching
	// ErrNoStorage when there is none.
	InfoRemover interface {
		RemoveInfo(info string) error
	}
)
