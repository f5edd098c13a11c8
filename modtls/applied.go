package modtls

import "sort"

// What modtls applies of mod_tls's configuration, for whoever must refuse
// the rest (`ftpdtls serve` and `ftpdtls check`, through
// daemon.CheckServe): a directive or value that ProFTPD accepts and
// modtls parses but does not act on is named here with the reason.

// tlsOptionsNotApplied are the TLSOptions values modtls does not apply,
// with why. Every other value is applied with mod_tls's meaning
// (NoSessionReuseRequired, iPAddressRequired) or asks for what crypto/tls
// always does (NoEmptyFragments: it never sends empty fragments;
// AllowWeakDH: it has no finite-field DH; NoAutoECDH: OpenSSL 1.1 and
// later, as ProFTPD 1.3.8 uses, ignore it too; IgnoreSNI: SNI never
// selects a server, since one server is served).
var tlsOptionsNotApplied = map[string]string{
	"AllowClientRenegotiation":  "crypto/tls servers never renegotiate",
	"AllowClientRenegotiations": "crypto/tls servers never renegotiate",
	"AllowDotLogin":             "logins by client certificate (~/.tlslogin) are not implemented",
	"AllowPerUser":              "TLSRequired is not applied per user (.ftpaccess, <Anonymous>)",
	"AllowWeakSecurity":         "crypto/tls has no security level to lower",
	"CommonNameRequired":        "it matches the certificate against the client's DNS name, and ftpdtls does no reverse DNS lookups (mod_tls ignores it with UseReverseDNS off)",
	"dNSNameRequired":           "it matches the certificate against the client's DNS name, and ftpdtls does no reverse DNS lookups (mod_tls ignores it with UseReverseDNS off)",
	"EnableDiags":               "OpenSSL's diagnostics have no crypto/tls counterpart",
	"ExportCertData":            "no ftpdtls module reads the TLS environment variables",
	"StdEnvVars":                "no ftpdtls module reads the TLS environment variables",
	"UseImplicitSSL":            "implicit FTPS is not served",
}

// UnappliedTLSOption returns why modtls does not apply the TLSOptions
// value name, or "" when it applies it (an unknown name is the parser's
// to refuse, and gives "").
func UnappliedTLSOption(name string) string { return tlsOptionsNotApplied[name] }

// AppliedTLSOptions lists the TLSOptions values modtls applies (or whose
// request crypto/tls always meets), sorted.
func AppliedTLSOptions() []string {
	var out []string
	for name := range tlsOptionNames {
		if tlsOptionsNotApplied[name] == "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// directivesNotApplied are the mod_tls directives modtls parses (ProFTPD
// accepts them) and does not act on, with why.
var directivesNotApplied = map[string]string{
	"TLSCryptoDevice":           "crypto/tls has no OpenSSL engines",
	"TLSDHParamFile":            "crypto/tls has no finite-field DHE suites",
	"TLSDSACertificateFile":     "crypto/tls cannot serve DSA certificates",
	"TLSDSACertificateKeyFile":  "crypto/tls cannot serve DSA certificates",
	"TLSMasqueradeAddress":      "the FTP engine does not read it: PASV replies carry MasqueradeAddress, FTPS sessions included",
	"TLSPassPhraseProvider":     "encrypted private keys are not read",
	"TLSPKCS12File":             "PKCS#12 files are not read",
	"TLSPreSharedKey":           "crypto/tls has no TLS-PSK cipher suites",
	"TLSRandomSeed":             "crypto/tls takes its randomness from the kernel",
	"TLSServerCipherPreference": "crypto/tls chooses the cipher suite by its own order, neither the client's nor TLSCipherSuite's",
	"TLSServerInfoFile":         "crypto/tls sends no serverinfo extensions",
	"TLSUserName":               "logins by client certificate are not implemented",
	"TLSVerifyServer":           "ftpdtls makes no TLS connections as a client (no SSCN)",
}

// UnappliedDirective returns why modtls does not apply the mod_tls
// directive name, or "" when it applies it (or does not know it).
func UnappliedDirective(name string) string { return directivesNotApplied[name] }
