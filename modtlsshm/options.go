package modtlsshm

import (
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// The smallest segment sizes Options.Size may ask for: room for one entry
// of the largest size (ProFTPD's minimums).
const (
	MinSessionSize = 10344
	MinOCSPSize    = 4224
)

// Options say which shm cache to open and where it reports: what the info
// string of "TLSSessionCache shm:/file=PATH&size=BYTES" says, typed. The
// zero value of every field but File is a sensible default.
type Options struct {
	// File names the cache: an absolute path, created (mode 0600) when
	// missing, never through a symbolic link. Every process that opens
	// the same file shares the cache, across restarts. The session and
	// the OCSP cache of one file are separate segments.
	File string
	// Size is the segment size in bytes, rounded up to a multiple of
	// 4096; 0 means DefaultSize, and anything below MinSessionSize
	// (MinOCSPSize for the OCSP cache) is an error. Every process must ask
	// for the size the segment was made with: a segment of another size
	// is refused (ErrSizeMismatch), and nothing is migrated.
	Size int64

	// Log receives the module's notices (at Warn level, prefixed
	// "mod_tls_shmcache/0.2: ") and debug lines; nil discards them.
	Log logrus.FieldLogger
	// TLSLog receives the lines ProFTPD writes to mod_tls's TLSLog
	// ("shmcache: ..."); nil discards them.
	TLSLog logrus.FieldLogger
	// Trace traces on channel "tls.shmcache"; nil traces nothing.
	Trace *trace.Tracer

	// provider is set by the "shm" providers (the proftpd.conf route):
	// it remembers the file of the caches it opened (ProFTPD refuses
	// another file while one is open) and has traced the open.
	provider *provider
}

func (o Options) env() modtls.Env { return modtls.Env{Log: o.Log, TLSLog: o.TLSLog, Trace: o.Trace} }

// OpenSessionCache opens (creating it when missing) the shm session
// cache opts names; timeout is the session lifetime the verbose status
// shows (0: each session's own; entries expire when Add says, e.g. after
// the timeout given to modtls.Resumable). It is strict: any problem is an error (an
// *OpenError; see its causes), never a fallback. The cache implements
// modtls.SessionCache and modtls.StatsReporter; Close it when done (the
// sessions stay for the next process), or Remove it to destroy it.
//
// The "shm" TLSSessionCache type builds Options from its info string and
// calls this function: the two routes open caches the same way.
func OpenSessionCache(opts Options, timeout time.Duration) (*SessionCache, error) {
	c, err := openCache(sessionKind, opts, timeout, false)
	if err != nil {
		return nil, err
	}
	return &SessionCache{c: c}, nil
}

// OpenOCSPCache is OpenSessionCache for the cache of OCSP responses
// (modtls.OCSPCache, modtls.StatsReporter), the "shm" TLSStaplingCache.
func OpenOCSPCache(opts Options) (*OCSPCache, error) {
	c, err := openCache(ocspKind, opts, 0, false)
	if err != nil {
		return nil, err
	}
	return &OCSPCache{c: c}, nil
}

// cacheInfo checks opts as a cache of kind k needs them.
func (o Options) cacheInfo(k *kindSpec) (cacheInfo, error) {
	ci := cacheInfo{path: o.File, size: o.Size}
	if !strings.HasPrefix(o.File, "/") {
		return ci, &infoError{fmt.Sprintf("file '%s' not an absolute path", o.File)}
	}
	switch {
	case o.Size == 0:
		ci.size = DefaultSize
	case o.Size < 0:
		return ci, &infoError{fmt.Sprintf("requested size (%d bytes) is negative", o.Size)}
	case o.Size < k.minRequest:
		return ci, &infoError{fmt.Sprintf("requested size (%d bytes) smaller than minimum size (%d bytes)", o.Size, k.minRequest)}
	}
	return ci, nil
}

// options is the proftpd.conf route's half of an open: the Options the
// info string ("/file=PATH[&size=BYTES]") says, read as ProFTPD reads it
// (a size it would ignore is ignored, with its trace line).
func (p *provider) options(info string, env modtls.Env) (Options, error) {
	opts := Options{Log: env.Log, TLSLog: env.TLSLog, Trace: env.Trace, provider: p}
	ch := env.Trace.Channel(TraceChannel)
	// ProFTPD traces the module's cache structure, the provider here.
	ch.Msg(9, "opening shmcache %s %p", p.k.cacheWord(), p)
	ci, err := parseInfo(info, p.k)
	for _, n := range ci.notes {
		ch.Msg(1, "%s", n)
	}
	if err != nil {
		if env.Log != nil {
			env.Log.Warnf("%s: %s", ModuleVersion, err)
		}
		return opts, &OpenError{Path: ci.path, Err: err}
	}
	opts.File, opts.Size = ci.path, ci.size
	return opts, nil
}
