package modtls

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// verdictCases are fragments whose `proftpd -t` verdict (Debian 12's
// proftpd 1.3.8, recorded by hand and checked live by
// TestVerdictsMatchProFTPD) modtls must give when the parse asks for it
// (directives.Options.ProFTPD), and what `ftpdtls serve` says.
//
// proftpd is the first line ProFTPD prints, without " on line N of
// 'FILE'" ("" for ACCEPT). When it ends with ": ", ProFTPD prints
// OpenSSL's error queue on the next lines and ftpdtls gives the reason
// on the same line (P4 in docs/DIVERGENCES.md): reason is that text.
// serve is ftpdtls's own verdict when it differs from ProFTPD's.
var verdictCases = []struct {
	name, frag, proftpd, reason string
	serve                       *string
}{
	{name: "protocol_tlsv1.0", frag: "TLSProtocol TLSv1.0"},
	{name: "protocol_list_tlsv1.0", frag: "TLSProtocol TLSv1.0 TLSv1.2"},
	{name: "protocol_all_minus_tlsv1.0", frag: "TLSProtocol ALL -tlsv1.0"},
	{name: "protocol_all_no_sign", frag: "TLSProtocol ALL TLSv1.2", proftpd: "fatal: TLSProtocol: missing required +/- prefix: TLSv1.2"},
	{name: "protocol_all_bad_name", frag: "TLSProtocol ALL +TLSv9", proftpd: "fatal: TLSProtocol: unknown protocol: '+TLSv9'"},
	{name: "protocol_all_bad_minus", frag: "TLSProtocol ALL -foo", proftpd: "fatal: TLSProtocol: unknown protocol: '-foo'"},
	{name: "protocol_all_sslv23", frag: "TLSProtocol ALL +SSLv23", proftpd: "fatal: TLSProtocol: unknown protocol: '+SSLv23'"},
	{name: "protocol_bad_name", frag: "TLSProtocol foo", proftpd: "fatal: TLSProtocol: unknown protocol: 'foo'"},
	{name: "protocol_all_later", frag: "TLSProtocol TLSv1.2 all", proftpd: "fatal: TLSProtocol: unknown protocol: 'all'"},
	{name: "protocol_sslv3_alone", frag: "TLSProtocol SSLv3", serve: ptr("fatal: TLSProtocol: " + errNoProtocol.Error())},
	{name: "protocol_none", frag: "TLSProtocol ALL -SSLv3 -TLSv1 -TLSv1.1 -TLSv1.2 -TLSv1.3", serve: ptr("fatal: TLSProtocol: " + errNoProtocol.Error())},
	{name: "options_nocertrequest", frag: "TLSOptions NoCertRequest", proftpd: "fatal: TLSOptions: : unknown TLSOption 'NoCertRequest'"},
	{name: "options_weakdh_noautoecdh", frag: "TLSOptions AllowWeakDH NoAutoECDH"},
	{name: "pkcs12_missing", frag: "TLSPKCS12File /nonexistent", proftpd: "fatal: TLSPKCS12File: '/nonexistent' does not exist"},
	{name: "pkcs12_relative", frag: "TLSPKCS12File relative", proftpd: "fatal: TLSPKCS12File: 'relative' does not exist"},
	{name: "pkcs12_directory", frag: "TLSPKCS12File /etc", proftpd: "fatal: TLSPKCS12File: '/etc' does not exist"},
	{name: "passphrase_provider_relative", frag: "TLSPassPhraseProvider relative", proftpd: "fatal: TLSPassPhraseProvider: must be a full path: 'relative'"},
	{name: "passphrase_provider_missing", frag: "TLSPassPhraseProvider /nonexistent",
		proftpd: "fatal: TLSPassPhraseProvider: error checking '/nonexistent': No such file or directory"},
	{name: "passphrase_provider_directory", frag: "TLSPassPhraseProvider /tmp", proftpd: "fatal: TLSPassPhraseProvider: unable to use '/tmp: Not a regular file"},
	{name: "passphrase_provider_device", frag: "TLSPassPhraseProvider /dev/null", proftpd: "fatal: TLSPassPhraseProvider: unable to use '/dev/null: Not a regular file"},
	{name: "passphrase_provider_file", frag: "TLSPassPhraseProvider /etc/passwd extra"},
	{name: "ciphersuite_no_match", frag: "TLSCipherSuite NOTACIPHER",
		proftpd: "fatal: TLSCipherSuite: unable to use ciphersuite 'NOTACIPHER:!EXPORT': ", reason: "no cipher match"},
	{name: "ciphersuite_unknown_ignored", frag: "TLSCipherSuite HIGH:NOTACIPHER"},
	{name: "ciphersuite_invalid_command", frag: "TLSCipherSuite AES+",
		proftpd: "fatal: TLSCipherSuite: unable to use ciphersuite 'AES+:!EXPORT': ", reason: "invalid command"},
	{name: "ciphersuite_profile", frag: "TLSCipherSuite PROFILE=SYSTEM",
		proftpd: "fatal: TLSCipherSuite: unable to use ciphersuite 'PROFILE=SYSTEM': ", reason: "no cipher match"},
	{name: "ciphersuite_dhe_only", frag: "TLSCipherSuite DHE+AESGCM",
		serve: ptr("fatal: TLSCipherSuite: unable to use ciphersuite 'DHE+AESGCM:!EXPORT': none of the suites it selects is implemented by crypto/tls (DHE-DSS-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:DHE-DSS-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256)")},
	{name: "ciphersuite_tls13_no_match", frag: "TLSCipherSuite TLSv1.3 NOTACIPHER",
		proftpd: "fatal: TLSCipherSuite: unable to use ciphersuite 'NOTACIPHER': ", reason: "no cipher match"},
	{name: "ciphersuite_tls13_one", frag: "TLSCipherSuite TLSv1.3 TLS_AES_256_GCM_SHA384:BOGUS"},
	{name: "ciphersuite_tls12_specifier", frag: "TLSCipherSuite TLSv1.2 HIGH",
		proftpd: "fatal: TLSCipherSuite: unknown/unsupported protocol specifier: TLSv1.2"},
	{name: "crl_file_missing", frag: "TLSCARevocationFile /nonexistent",
		proftpd: "fatal: TLSCARevocationFile: unable to use '/nonexistent': ", reason: "No such file or directory"},
	{name: "crl_file_not_pem", frag: "TLSCARevocationFile /etc/passwd",
		proftpd: "fatal: TLSCARevocationFile: unable to use '/etc/passwd': ", reason: "no PEM certificate or CRL found"},
	{name: "crl_path_missing", frag: "TLSCARevocationPath /nonexistent", proftpd: "fatal: TLSCARevocationPath: parameter must be a directory path"},
	{name: "crl_path", frag: "TLSCARevocationPath /etc"},
	{name: "ca_path", frag: "TLSCACertificatePath /etc"},
	{name: "ca_path_missing", frag: "TLSCACertificatePath /nonexistent", proftpd: "fatal: TLSCACertificatePath: parameter must be a directory path"},
	{name: "curve_unknown", frag: "TLSECDHCurve foo",
		proftpd: "fatal: TLSECDHCurve: unable to use ECDH curves 'foo': ", reason: "passed invalid argument [group 'foo' cannot be set]"},
	{name: "curve_case", frag: "TLSECDHCurve PRIME256V1",
		proftpd: "fatal: TLSECDHCurve: unable to use ECDH curves 'PRIME256V1': ", reason: "passed invalid argument [group 'PRIME256V1' cannot be set]"},
	{name: "curve_list", frag: "TLSECDHCurve prime256v1:secp384r1"},
	{name: "curve_auto", frag: "TLSECDHCurve AUTO"},
	{name: "curve_x448", frag: "TLSECDHCurve X448",
		serve: ptr("fatal: TLSECDHCurve: unable to use ECDH curves 'X448': crypto/tls implements none of them (it has P-256, P-384, P-521 and X25519)")},
	{name: "memcache_loaded", frag: "LoadModule mod_tls.c\nLoadModule mod_tls_memcache.c\nTLSSessionCache memcache:",
		serve: ptr("fatal: TLSSessionCache: mod_tls_memcache.c is not available in ftpdtls")},
	{name: "memcache_ocsp_loaded", frag: "LoadModule mod_tls.c\nLoadModule mod_tls_memcache.c\nTLSStaplingCache memcache:",
		serve: ptr("fatal: TLSStaplingCache: mod_tls_memcache.c is not available in ftpdtls")},
	{name: "memcache_not_loaded", frag: "LoadModule mod_tls.c\nTLSSessionCache memcache:",
		proftpd: "fatal: TLSSessionCache: session cache type 'memcache' not available"},
	{name: "fscache_ocsp_loaded", frag: "LoadModule mod_tls.c\nLoadModule mod_tls_fscache.c\nTLSStaplingCache fs:/path=/var/lib/ftpd",
		serve: ptr("fatal: TLSStaplingCache: mod_tls_fscache.c is not available in ftpdtls")},
	{name: "fscache_session", frag: "LoadModule mod_tls.c\nLoadModule mod_tls_fscache.c\nTLSSessionCache fs:/path=/var/lib/ftpd",
		proftpd: "fatal: TLSSessionCache: session cache type 'fs' not available"},
}

func ptr(s string) *string { return &s }

// parseFragment parses a fragment inside proftpd-check.sh's wrapper.
func parseFragment(t *testing.T, frag string, proftpd bool) (*directives.Config, string, error) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "proftpd.conf")
	text := wrapFragment(frag, dir)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := directives.Parse(strings.NewReader(text), conf, directives.Options{ProFTPD: proftpd})
	return cfg, dir, err
}

// TestVerdicts gives ProFTPD's verdicts with Options.ProFTPD and
// ftpdtls's own without.
func TestVerdicts(t *testing.T) {
	fakeShm(t)
	for _, tc := range verdictCases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.proftpd + tc.reason
			_, _, err := parseFragment(t, tc.frag, true)
			if got := fatalMsg(err); got != want {
				t.Errorf("proftpd -t verdict:\n got %q\nwant %q", got, want)
			}
			if tc.serve != nil {
				want = *tc.serve
			}
			_, _, err = parseFragment(t, tc.frag, false)
			if got := fatalMsg(err); got != want {
				t.Errorf("serve verdict:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestVerdictsMatchProFTPD checks the recorded verdicts above against the
// real proftpd -t, run on the same wrapper as proftpd-check.sh's.
func TestVerdictsMatchProFTPD(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd")
	for _, tc := range verdictCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "proftpd.conf")
			if err := os.WriteFile(conf, []byte(wrapFragment(tc.frag, dir)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(proftpd, "-t", "-c", conf).CombinedOutput()
			if _, exit := err.(*exec.ExitError); err != nil && !exit {
				t.Fatalf("proftpd -t: %v\n%s", err, out)
			}
			var first string
			for _, l := range strings.Split(string(out), "\n") {
				if _, msg, ok := strings.Cut(l, "]: fatal: "); ok {
					first = "fatal: " + msg
					break
				}
			}
			if i := strings.LastIndex(first, " on line "); i >= 0 {
				first = first[:i]
			}
			switch {
			case tc.proftpd == "" && err != nil:
				t.Fatalf("proftpd -t rejects: %s", out)
			case tc.proftpd != "" && (err == nil || first != tc.proftpd):
				t.Fatalf("proftpd -t: %v %q, recorded %q\n%s", err, first, tc.proftpd, out)
			}
		})
	}
}
