package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// The cache controls are ProFTPD's `ftpdctl tls sesscache ...` and
// `ftpdctl tls ocspcache ...`, run without a daemon: they parse the
// configuration and open the cache's provider directly, since the caches
// live in shared storage (SysV shm, Redis) that any process can reach.
//
// Their output lines are mod_tls's control responses word for word, but
// without ftpdctl's "ftpdctl: " prefix, which belongs to ftpdctl, not to
// the responses. Unlike ftpdctl, the exit status tells success (0) from
// an error (1) and a usage error (2), the same way for info, clear and
// remove (see cacheUsage). Unlike ProFTPD, `remove` is allowed (its ACL
// action is missing there), `info` after `remove` works (ProFTPD's daemon
// crashes) and the OCSP remove response says "tls ocspcache" (ProFTPD
// says "tls sesscache").
//
// `info` and `clear` never create a cache: for a shm cache whose segment
// does not exist (not created yet, or removed), info prints the status
// title and "No shared memory segment exists for '<file>' ...", and clear
// clears 0. `remove` removes only what the provider can prove is the
// configured cache; when nothing exists it says so, and removes nothing.
// No message of the controls advises removing a cache: whether a cache
// is in use is for the operator to judge, and `info` says what the
// running server does with it.

func init() {
	register(&command{
		name:    "sesscache",
		summary: "TLS session cache controls: sesscache [-c FILE] info [-v] | clear | remove",
		run:     func(args []string) int { return runCacheControl(sessionControl, args, os.Stdout, os.Stderr) },
	})
	register(&command{
		name:    "ocspcache",
		summary: "OCSP response cache controls: ocspcache [-c FILE] info | clear | remove",
		run:     func(args []string) int { return runCacheControl(ocspControl, args, os.Stdout, os.Stderr) },
	})
}

// DefaultConfigFile is the configuration the controls read without -c.
const DefaultConfigFile = "/etc/proftpd/proftpd.conf"

// cacheKind holds what differs between the two controls.
type cacheKind struct {
	action    string // "sesscache" or "ocspcache"
	directive string // "TLSSessionCache" or "TLSStaplingCache"
	what      string // "session" or "OCSP", as in "error clearing %s cache"
	noun      string // what clear counts: "session" or "response"
	cacheName string // "session cache" or "OCSP cache"
	handle    func(*directives.Config, modtls.Env) (*modtls.CacheControl, error)
}

var sessionControl = cacheKind{
	action: "sesscache", directive: "TLSSessionCache", what: "session", noun: "session", cacheName: "session cache",
	handle: daemon.SessionCacheControl,
}

var ocspControl = cacheKind{
	action: "ocspcache", directive: "TLSStaplingCache", what: "OCSP", noun: "response", cacheName: "OCSP cache",
	handle: daemon.OCSPCacheControl,
}

// runningState is daemon.RunningState; tests replace it.
var runningState = daemon.RunningState

// controlEnv sends providers' notices to w (stderr), one message a line.
func controlEnv(w io.Writer) modtls.Env {
	l := logrus.New()
	l.Out = w
	l.Level = logrus.WarnLevel
	l.Formatter = messageOnly{}
	return modtls.Env{Log: l}
}

type messageOnly struct{}

func (messageOnly) Format(e *logrus.Entry) ([]byte, error) { return []byte(e.Message + "\n"), nil }

const cacheUsage = `usage: ftpdtls %[1]s [-c FILE] info [-v] | clear | remove
(-c FILE may also follow the action)

Acts on the %[2]s of FILE's %[3]s directive, as ProFTPD's
"ftpdctl tls %[1]s ..." does, without a running daemon:

  info [-v]  the cache's status (-v: with its entries); never creates it.
             When a running ftpdtls serve of FILE does not use the cache
             (it could not open it), info says so, with the reason.
  clear      removes every entry.
  remove     destroys the cache's storage, if the provider can prove it is
             this configuration's cache; a missing cache is reported and
             nothing is removed.

Exit status, the same for every action: 0 when the action was done, or
there was nothing to act on in a configured cache (no segment yet: info
describes it, clear clears 0, remove removes nothing); 1 when FILE
configures no such cache ("No %[3]s configured",
"error ... cache: Function not implemented"), does not parse, or the
cache cannot be used; 2 for a usage error.

`

func runCacheControl(k cacheKind, args []string, stdout, stderr io.Writer) int {
	prefix := "tls " + k.action + ": "
	fs := flag.NewFlagSet(k.action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("c", DefaultConfigFile, "the proftpd.conf whose "+k.directive+" to act on")
	fs.Usage = func() {
		fmt.Fprintf(stderr, cacheUsage, k.action, k.cacheName, k.directive)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(stderr, prefix+"missing required parameters")
		fs.Usage()
		return 2
	}
	action, params := rest[0], rest[1:]
	// -c may also follow the action (`ftpdtls sesscache info -v -c FILE`,
	// the command `ftpdtls serve` prints); the parameters are the rest.
	params, ok := takeConfigOption(params, conf)
	if !ok {
		fmt.Fprintf(stderr, "%soption -c needs a file name\n", prefix)
		return 2
	}
	verbose := false
	switch action {
	case "info":
		// Like mod_tls's getopt("v"): options come first; the first
		// unknown one is refused, quoted as given (ProFTPD quotes the
		// wrong word).
		for _, p := range params {
			if !strings.HasPrefix(p, "-") || p == "-" {
				break
			}
			if p != "-v" {
				fmt.Fprintf(stderr, "%sunsupported parameter: '%s'\n", prefix, p)
				return 2
			}
			verbose = true
		}
	case "clear", "remove":
	default:
		fmt.Fprintf(stderr, "%sunknown %s action: '%s'\n", prefix, k.action, action)
		fs.Usage()
		return 2
	}

	cfg, err := daemon.Parse(*conf, "")
	if err != nil {
		fmt.Fprintf(stderr, "ftpdtls %s: %v\n", k.action, err)
		return 1
	}
	h, err := k.handle(cfg, controlEnv(stderr))
	if err == nil && h == nil {
		// Nothing configured: mod_tls's responses, and status 1 for
		// every action.
		if action == "info" {
			fmt.Fprintf(stderr, "No %s configured\n", k.directive)
			return 1
		}
		err = modtls.ErrNotImplemented
	}
	if err != nil {
		return controlError(stderr, prefix, k, action, err)
	}

	switch action {
	case "info":
		// Never creates the cache: a missing one is described.
		err := h.Status(stdout, verbose)
		noteRunningState(stdout, stderr, cfg, k)
		if err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
	case "clear":
		n, err := h.Clear()
		if err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
		noun := k.noun + "s"
		if n == 1 {
			noun = k.noun
		}
		fmt.Fprintf(stdout, "%scleared %d %s from '%s' %s\n", prefix, n, noun, h.Provider, k.cacheName)
	case "remove":
		// Works when the cache cannot be opened (after a size change);
		// storage that is not provably the cache's is refused.
		err := h.Remove()
		if errors.Is(err, modtls.ErrNoStorage) {
			// Nothing to remove: the provider says what it looked for.
			fmt.Fprintf(stdout, "%s%v\n", prefix, err)
			return 0
		}
		if err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
		fmt.Fprintf(stdout, "%sremoved '%s' %s\n", prefix, h.Provider, k.cacheName)
	}
	return 0
}

// noteRunningState adds to info what a running ftpdtls serve of the
// configuration does with the cache, when it does not use it: the reason
// it fell back to a cache of its own. Without a running server it adds
// nothing.
func noteRunningState(stdout, stderr io.Writer, cfg *directives.Config, k cacheKind) {
	st, err := runningState(cfg)
	if errors.Is(err, daemon.ErrNotRunning) {
		return
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpdtls %s: cannot tell whether a running server uses this cache: %v\n", k.action, err)
		return
	}
	for _, c := range st.Caches {
		if c.Directive != k.directive || c.Shared {
			continue
		}
		fmt.Fprintf(stdout, "\nThe running ftpdtls serve (PID %d) does not use this %s: %s\n", st.PID, k.cacheName, c.Reason)
		fmt.Fprintf(stdout, "Each of its processes keeps a cache of its own, so sessions are not shared between them.\n")
	}
}

// takeConfigOption removes "-c FILE" and "-c=FILE" from params, setting
// *conf; ok is false for a -c without a file.
func takeConfigOption(params []string, conf *string) (rest []string, ok bool) {
	for i := 0; i < len(params); i++ {
		switch p := params[i]; {
		case p == "-c" || p == "--c":
			if i+1 == len(params) {
				return nil, false
			}
			*conf = params[i+1]
			i++
		case strings.HasPrefix(p, "-c=") || strings.HasPrefix(p, "--c="):
			*conf = p[strings.IndexByte(p, '=')+1:]
		default:
			rest = append(rest, p)
		}
	}
	return rest, true
}

// controlError prints mod_tls's error response for action and returns
// the exit status 1.
func controlError(w io.Writer, prefix string, k cacheKind, action string, err error) int {
	verb := map[string]string{"info": "obtaining", "clear": "clearing", "remove": "removing"}[action]
	if action == "info" {
		fmt.Fprintf(w, "%serror obtaining %s cache status: %v\n", prefix, k.what, err)
	} else {
		fmt.Fprintf(w, "%serror %s %s cache: %v\n", prefix, verb, k.what, err)
	}
	return 1
}
