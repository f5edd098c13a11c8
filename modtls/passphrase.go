package modtls

import (
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// checkPassphrases is mod_tls's postparse step for a `proftpd -t`
// verdict (directives.Options.ProFTPD): for each server in order, mod_tls
// reads the private keys (TLSRSACertificateKeyFile, or the key in the
// TLSRSACertificateFile when there is no key file; then DSA, then EC)
// and the TLSPKCS12File, asking on the terminal for any passphrase or
// password they need. `proftpd -t` has no terminal, so a key that is
// encrypted or missing, or a PKCS#12 file that needs a password or does
// not open, ends the check as ProFTPD ends it: the "error reading RSA
// passphrase" (or "PKCS12 password") notice, then "unable to use RSA
// certificate key in 'X', exiting" (or "PKCS12 certificate in") and no
// fatal line.
//
// With a TLSPassPhraseProvider, ProFTPD runs that program for the
// passphrases; ftpdtls runs nothing and takes an encrypted key (or a
// PKCS#12 file whose only problem is its password) as provided for.
// `ftpdtls serve` loads its own certificates and refuses TLSPKCS12File
// where it is written, so there is nothing to do for it here.
func checkPassphrases(cfg *directives.Config, proftpd bool) error {
	if !proftpd {
		return nil
	}
	provider := len(cfg.Main.Directives("TLSPassPhraseProvider")) > 0
	for _, s := range cfg.Servers() {
		st := SettingsOf(s)
		for _, k := range []struct {
			kind, keyFile, certFile, keyDirective, certDirective string
		}{
			{"RSA", st.RSACertificateKeyFile, st.RSACertificateFile, "TLSRSACertificateKeyFile", "TLSRSACertificateFile"},
			{"DSA", st.dsaCertificateKeyFile, st.dsaCertificateFile, "TLSDSACertificateKeyFile", "TLSDSACertificateFile"},
			{"EC", st.ECCertificateKeyFile, st.ECCertificateFile, "TLSECCertificateKeyFile", "TLSECCertificateFile"},
		} {
			path, directive := k.keyFile, k.keyDirective
			if path == "" {
				path, directive = k.certFile, k.certDirective
			}
			if path == "" {
				continue
			}
			data, err := os.ReadFile(path)
			if err == nil && keyOpensWithoutPassphrase(data, provider) {
				continue
			}
			return unusable(cfg, s, directive, path,
				fmt.Sprintf("error reading %s passphrase: Not provided", k.kind),
				fmt.Sprintf("unable to use %s certificate key in '%s', exiting", k.kind, path))
		}
		if path := st.PKCS12File; path != "" {
			data, err := os.ReadFile(path)
			reason := "Not provided" // also when it cannot be read: OpenSSL queues an error
			if err == nil {
				reason = pkcs12Unusable(data, provider)
			}
			if reason != "" {
				return unusable(cfg, s, "TLSPKCS12File", path,
					"error reading PKCS12 password: "+reason,
					fmt.Sprintf("unable to use PKCS12 certificate in '%s', exiting", path))
			}
		}
	}
	return nil
}

// unusable ends a `proftpd -t` verdict as mod_tls does when it cannot
// read a key: notice, then the error line, neither marked fatal.
func unusable(cfg *directives.Config, s *directives.Server, directive, path, notice, last string) error {
	w := directives.Warning{Directive: directive, Msg: ModuleVersion + ": " + notice}
	e := &directives.Error{Directive: directive, Plain: true, Msg: ModuleVersion + ": " + last}
	for _, n := range s.Directives(directive) {
		if len(n.Args) > 0 && n.Args[0] == path {
			w.File, w.Line = n.File, n.Line
			e.File, e.Line = n.File, n.Line
			break
		}
	}
	if e.Line == 0 {
		e.NoLine = true
	}
	cfg.Warnings = append(cfg.Warnings, w)
	return e
}

// keyOpensWithoutPassphrase reports whether OpenSSL's PEM_read_PrivateKey
// reads a key from data without a passphrase: the first PEM block of a
// private key type must be neither PKCS#8-encrypted nor
// "Proc-Type: 4,ENCRYPTED" (unless provided, a TLSPassPhraseProvider
// being configured), and must hold DER.
func keyOpensWithoutPassphrase(data []byte, provided bool) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if b.Type != "PRIVATE KEY" && b.Type != "ENCRYPTED PRIVATE KEY" && !strings.HasSuffix(b.Type, " PRIVATE KEY") {
			continue
		}
		encrypted := b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
		if encrypted {
			return provided
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(b.Bytes, &seq)
		return err == nil && len(rest) == 0 && seq.Tag == asn1.TagSequence
	}
}
