package modtls

import (
	"errors"
	"fmt"

	"github.com/ftpdtls/ftpdtls/directives"
)

// notAvailableError is "session cache type 'X' not available" and its OCSP
// twin; it matches ErrNotFound.
type notAvailableError struct{ msg string }

func (e *notAvailableError) Error() string { return e.msg }
func (e *notAvailableError) Unwrap() error { return ErrNotFound }

// cacheDirective describes TLSSessionCache or TLSStaplingCache.
type cacheDirective struct {
	kind    string // "session" or "OCSP", as the registry says
	what    string // "session cache" or "OCSP stapling cache", as mod_tls says
	timeout bool   // a second argument is a timeout (TLSSessionCache)
	// internal accepts "internal:" without a provider.
	internal bool
	field    func(*Settings) *CacheSpec
	lookup   func(name string) (module string, checker InfoChecker, err error)
}

var (
	sessionCacheDirective = cacheDirective{
		kind: "session", what: "session cache", timeout: true, internal: true,
		field: func(s *Settings) *CacheSpec { return &s.SessionCache },
		lookup: func(name string) (string, InfoChecker, error) {
			p, err := LookupSessionCache(name)
			if err != nil {
				return "", nil, err
			}
			c, _ := p.(InfoChecker)
			return p.Module(), c, nil
		},
	}
	staplingCacheDirective = cacheDirective{
		kind: "OCSP", what: "OCSP stapling cache",
		field: func(s *Settings) *CacheSpec { return &s.StaplingCache },
		lookup: func(name string) (string, InfoChecker, error) {
			p, err := LookupOCSPCache(name)
			if err != nil {
				return "", nil, err
			}
			c, _ := p.(InfoChecker)
			return p.Module(), c, nil
		},
	}
)

// handler handles "TLSSessionCache off|<type>:<info> [timeout]" and
// "TLSStaplingCache off|<type>:<info>" as mod_tls does. A type of a
// ProFTPD cache module that is loaded but that no linked package provides
// (mod_tls_memcache) is accepted when the parse gives `proftpd -t`'s
// verdict and refused, naming the module, otherwise.
func (d cacheDirective) handler(cmd *directives.Cmd) error {
	if d.timeout {
		if err := cmd.CheckArgs(1, 2); err != nil {
			return err
		}
	} else if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	spec, err := ParseCacheSpec(cmd.Args[0], 0)
	if err != nil {
		return err
	}
	var checker InfoChecker
	if !spec.Off && !(d.internal && spec.Provider == InternalCache) {
		module, c, err := d.lookup(spec.Provider)
		checker = c
		if err != nil || !moduleLoaded(cmd, module) {
			m := unavailableModule(d.kind, spec.Provider)
			if d.kind == "session" && spec.Provider == "fs" {
				m = "" // mod_tls_fscache keeps OCSP responses only
			}
			switch {
			case m == "" || !moduleLoaded(cmd, m):
				return &notAvailableError{fmt.Sprintf("%s type '%s' not available", d.what, spec.Provider)}
			case !cmd.ProFTPD():
				return &UnavailableError{Module: m, Provider: spec.Provider, Directive: cmd.Name}
			}
			checker = unimplementedInfoCheckers[d.kind][spec.Provider]
		}
	}
	if d.timeout && len(cmd.Args) == 2 {
		n, rest, _ := directives.Strtol(cmd.Args[1])
		if rest != "" {
			return fmt.Errorf("'%s' is not a valid timeout value", cmd.Args[1])
		}
		if n < 1 {
			return errors.New("timeout be greater than 1") // sic, mod_tls's words
		}
		spec.Timeout = secondsDuration(n)
	}
	if !d.timeout {
		spec.Timeout = 0
	}
	st := settingsFor(cmd)
	if !st.first(cmd.Name) {
		return nil // the first line wins, as in ProFTPD
	}
	*d.field(st) = spec
	if checker != nil && !cmd.Replay {
		for _, w := range checker.CheckInfo(spec.Info) {
			cmd.Warnf("%s", w)
		}
	}
	return nil
}

// boolArg is ProFTPD's boolean test: ok is false for a non-boolean word.
func boolArg(s string) (v, ok bool) {
	v, err := directives.ParseBool(s)
	return v, err == nil
}

func moduleLoaded(cmd *directives.Cmd, module string) bool {
	return module == "" || (cmd.Config != nil && cmd.Config.ModuleLoaded(module))
}
