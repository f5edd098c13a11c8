package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

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
	open      func(cfg string) (cache, string, error)
}

// cache is what the controls need of either kind of cache.
type cache interface {
	Clear() (int, error)
	Remove() error
	Status(w io.Writer, verbose bool) error
	Close() error
}

var sessionControl = cacheKind{
	action: "sesscache", directive: "TLSSessionCache", what: "session", noun: "session", cacheName: "session cache",
	open: func(path string) (cache, string, error) {
		cfg, err := daemon.Parse(path, "")
		if err != nil {
			return nil, "", err
		}
		c, name, err := daemon.OpenSessionCache(cfg, controlEnv())
		if c == nil { // a nil interface, not a nil pointer in one
			return nil, name, err
		}
		return c, name, err
	},
}

var ocspControl = cacheKind{
	action: "ocspcache", directive: "TLSStaplingCache", what: "OCSP", noun: "response", cacheName: "OCSP cache",
	open: func(path string) (cache, string, error) {
		cfg, err := daemon.Parse(path, "")
		if err != nil {
			return nil, "", err
		}
		c, name, err := daemon.OpenOCSPCache(cfg, controlEnv())
		if c == nil { // a nil interface, not a nil pointer in one
			return nil, name, err
		}
		return c, name, err
	},
}

// controlEnv sends providers' notices to stderr, one message a line.
func controlEnv() modtls.Env {
	l := logrus.New()
	l.Out = os.Stderr
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
		fmt.Fprintf(stderr, "usage: ftpdtls %s [-c FILE] info [-v] | clear | remove\n\n", k.action)
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

	c, name, err := k.open(*conf)
	if err != nil && c == nil && name == "" {
		// The configuration itself did not load.
		fmt.Fprintf(stderr, "ftpdtls %s: %v\n", k.action, err)
		return 1
	}
	if c == nil {
		if err == nil {
			err = modtls.ErrNotImplemented // nothing configured
		}
		if action == "info" && errors.Is(err, modtls.ErrNotImplemented) {
			fmt.Fprintf(stdout, "No %s configured\n", k.directive)
			return 0
		}
		return controlError(stderr, prefix, k, action, err)
	}
	defer c.Close()

	switch action {
	case "info":
		if err := c.Status(stdout, verbose); err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
	case "clear":
		n, err := c.Clear()
		if err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
		noun := k.noun + "s"
		if n == 1 {
			noun = k.noun
		}
		fmt.Fprintf(stdout, "%scleared %d %s from '%s' %s\n", prefix, n, noun, name, k.cacheName)
	case "remove":
		if err := c.Remove(); err != nil {
			return controlError(stderr, prefix, k, action, err)
		}
		fmt.Fprintf(stdout, "%sremoved '%s' %s\n", prefix, name, k.cacheName)
	}
	return 0
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
