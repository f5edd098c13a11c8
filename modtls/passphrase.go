package modtls

import (
	"fmt"
	"os"

	"github.com/ftpdtls/ftpdtls/directives"
)

// checkPassphrases is mod_tls's postparse step for a `proftpd -t`
// verdict (directives.Options.ProFTPD): for each server in order, the
// TLSPKCS12File is opened as mod_tls opens it, and one that needs a
// password (or does not open) ends the check as ProFTPD ends it, with no
// terminal to ask on: the "error reading PKCS12 password" notice, then
// "unable to use PKCS12 certificate in 'X', exiting" and no fatal line.
// `ftpdtls serve` refuses TLSPKCS12File where it is written, so there is
// nothing to do for it here.
func checkPassphrases(cfg *directives.Config, proftpd bool) error {
	if !proftpd {
		return nil
	}
	for _, s := range cfg.Servers() {
		path := SettingsOf(s).PKCS12File
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		reason := "Not provided" // also when it cannot be read: OpenSSL queues an error
		if err == nil {
			reason = pkcs12Unusable(data)
		}
		if reason == "" {
			continue
		}
		w := directives.Warning{Directive: "TLSPKCS12File", Msg: ModuleVersion + ": error reading PKCS12 password: " + reason}
		e := &directives.Error{Directive: "TLSPKCS12File", Plain: true,
			Msg: fmt.Sprintf("%s: unable to use PKCS12 certificate in '%s', exiting", ModuleVersion, path)}
		if n := s.Directives("TLSPKCS12File"); len(n) > 0 {
			w.File, w.Line = n[0].File, n[0].Line
			e.File, e.Line = n[0].File, n[0].Line
		} else {
			e.NoLine = true
		}
		cfg.Warnings = append(cfg.Warnings, w)
		return e
	}
	return nil
}
