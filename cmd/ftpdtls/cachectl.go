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
// an error (1) and a usage error (2). Unlike ProFTPD, `remove` is allowed
// (its ACL action is missing there, bug M2), `info` after `remove` works
// (ProFTPD's daemon crashes) and the OCSP remove response says "tls
// ocspcache" (ProFTPD says "tls sesscache", bug M3).
//
// `info` and `clear` never create a cache: for a shm cache whose segment
// does not exist (not created yet, or removed), info prints the status
// title and "No shared memory segment exists for '<file>' ...", and clear
// clears 0. `remove` works when the cache cannot be opened (a segment of
// another size after a size change, a damaged header): it removes by
// info string, refusing only a segment that is not the file's cache.

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
	handle    func(*directives.Config, modtls.Env) (*daemon.CacheHandle, error)
}

var sessionControl = cacheKind{
	action: "sesscache", directive: "TLSSessionCache", what: "session", noun: "session", cacheName: "session cache",
	handle: daemon.SessionCacheHandle,
}

var ocspControl = cacheKind{
	action: "ocspcache", directive: "TLSStaplingCache", what: "OCSP", noun: "response", cacheName: "OCSP cache",
	handle: daemon.OCSPCacheHandle,
}

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

func runCacheControl(k cacheKind, args []string, stdout, stderr io.Writer) int {
	prefix := "tls " + k.action + ": "
	fs := flag.NewFlagSet(k.action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("c", DefaultConfigFile, "the proftpd.conf whose "+k.directive+" to act on")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ftpdtls %s [-c FILE] info [-v] | clear | remove\n(-c FILE may also follow the action)\n\n", k.action)
		fmt.Fprintf(stderr, "Acts on the %s of FILE's %s directive, as ProFTPD's\n`ftpdctl tls %s ...` does, without a running daemon.\n\n", k.cacheName, k.directive, k.action)
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
		// wrong word, M4).
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
		return 2
	}

	cfg, err := daemon.Parse(*conf, "")
	if err != nil {
		fmt.Fprintf(stderr, "ftpdtls %s: %v\n", k.action, err)
		return 1
	}
	h, err := k.handle(cfg, controlEnv(stderr))
	if err == nil && h == nil {
		err = modtls.ErrNotImplemented // nothing configured
		if action == "info" {
			fmt.Fprintf(stdout, "No %s configured\n", k.directive)
			return 0
		}
	}
	if err != nil {
		return controlError(stderr, prefix, k, action, err)
	}

	switch action {
	case "info":
		// Never creates the cache: a missing one is described.
		if err := h.Status(stdout, verbose); err != nil {
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
		// a segment that is not the cache's is refused with a hint.
		if err := h.Remove(); err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
		fmt.Fprintf(stdout, "%sremoved '%s' %s\n", prefix, h.Provider, k.cacheName)
	}
	return 0
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
