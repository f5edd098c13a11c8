package modtls

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// postParseCases are fragments whose `proftpd -t` answer comes from what
// mod_tls does once the file is read (it opens the TLSStaplingCache, and
// reads every TLSPKCS12File's password), with everything proftpd -t
// printed (Debian 12's proftpd 1.3.8, recorded by hand and checked live
// by TestPostParseMatchesProFTPD). @TMP@ is the fragment's directory,
// @DATA@ testdata (PKCS#12 files, encrypted keys and a DSA certificate
// made with openssl, see the READMEs there); writeKeys makes the other
// certificates and keys.
var postParseCases = []struct {
	name, frag string
	setup      func(t *testing.T, dir string)
	accept     bool
	lines      []string // notices and unprefixed error lines, in order
}{
	{name: "fs_missing", frag: fsFrag("/path=@TMP@/ocsp"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: unable to check '@TMP@/ocsp': No such file or directory"}},
	{name: "fs_dir", frag: fsFrag("/path=@TMP@"), accept: true},
	{name: "fs_dir_slash", frag: fsFrag("/path=@TMP@/"), accept: true},
	{name: "fs_file", frag: fsFrag("/path=@TMP@/proftpd.conf"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: unable to use '@TMP@/proftpd.conf': Not a directory"}},
	{name: "fs_under_file", frag: fsFrag("/path=@TMP@/proftpd.conf/x"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: unable to check '@TMP@/proftpd.conf/x': Not a directory"}},
	{name: "fs_symlink", frag: fsFrag("/path=@TMP@/link"), accept: true, setup: mkLink,
		lines: []string{"mod_tls_fscache/0.0: unable to use '@TMP@/link': Not a directory"}},
	{name: "fs_symlink_slash", frag: fsFrag("/path=@TMP@/link/"), accept: true, setup: mkLink},
	{name: "fs_world_writable", frag: fsFrag("/path=@TMP@/ww"), accept: true, setup: mkDir("ww", 0o757),
		lines: []string{"mod_tls_fscache/0.0: unable to use world-writable '@TMP@/ww' (perms 0757)"}},
	{name: "fs_sticky", frag: fsFrag("/path=@TMP@/ww"), accept: true, setup: mkDir("ww", 0o1777),
		lines: []string{"mod_tls_fscache/0.0: unable to use world-writable '@TMP@/ww' (perms 1777)"}},
	{name: "fs_group_writable", frag: fsFrag("/path=@TMP@/gw"), accept: true, setup: mkDir("gw", 0o775)},
	{name: "fs_empty", frag: fsFrag(""), accept: true,
		lines: []string{"mod_tls_fscache/0.0: badly formatted info '', unable to open fscache"}},
	{name: "fs_shm_style", frag: fsFrag("/file=@TMP@/ocsp"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: badly formatted info '/file=@TMP@/ocsp', unable to open fscache"}},
	{name: "fs_case", frag: fsFrag("/PATH=@TMP@"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: badly formatted info '/PATH=@TMP@', unable to open fscache"}},
	{name: "fs_relative", frag: fsFrag("/path=relative"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: path 'relative' not an absolute path"}},
	{name: "fs_no_path", frag: fsFrag("/path="), accept: true,
		lines: []string{"mod_tls_fscache/0.0: path '' not an absolute path"}},
	{name: "fs_tilde", frag: fsFrag("/path=~/ocsp"), accept: true,
		lines: []string{"mod_tls_fscache/0.0: path '~/ocsp' not an absolute path"}},

	{name: "pkcs12_nopass", frag: "TLSPKCS12File @DATA@/pkcs12/nopass.p12", accept: true},
	{name: "pkcs12_sha512_mac", frag: "TLSPKCS12File @DATA@/pkcs12/sha512mac.p12", accept: true},
	{name: "pkcs12_sha1_3des", frag: "TLSPKCS12File @DATA@/pkcs12/sha1-3des.p12", accept: true},
	{name: "pkcs12_unencrypted", frag: "TLSPKCS12File @DATA@/pkcs12/nocerts-encryption.p12", accept: true},
	{name: "pkcs12_password", frag: "TLSPKCS12File @DATA@/pkcs12/password.p12", lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},
	{name: "pkcs12_legacy", frag: "TLSPKCS12File @DATA@/pkcs12/legacy.p12", lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/legacy.p12")},
	{name: "pkcs12_nomac", frag: "TLSPKCS12File @DATA@/pkcs12/nomac.p12", lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/nomac.p12")},
	{name: "pkcs12_pem", frag: "TLSPKCS12File @TMP@/proftpd.conf", lines: pkcs12Refused("Not provided", "@TMP@/proftpd.conf")},
	{name: "pkcs12_empty", frag: "TLSPKCS12File @TMP@/empty", setup: mkFile("empty", ""),
		lines: pkcs12Refused("(unknown)", "@TMP@/empty")},
	{name: "pkcs12_in_vhost", frag: "<VirtualHost 127.0.0.1>\nTLSPKCS12File @DATA@/pkcs12/password.p12\n</VirtualHost>",
		lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},
	{name: "pkcs12_main_before_vhost", frag: "<VirtualHost 127.0.0.1>\nTLSPKCS12File @DATA@/pkcs12/legacy.p12\n</VirtualHost>\nTLSPKCS12File @DATA@/pkcs12/password.p12",
		lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},
	{name: "pkcs12_first_wins", frag: "TLSPKCS12File @DATA@/pkcs12/password.p12\nTLSPKCS12File @DATA@/pkcs12/nopass.p12",
		lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},
	{name: "pkcs12_first_usable", frag: "TLSPKCS12File @DATA@/pkcs12/nopass.p12\nTLSPKCS12File @DATA@/pkcs12/password.p12", accept: true},
	{name: "pkcs12_engine_off", frag: "TLSEngine off\nTLSPKCS12File @DATA@/pkcs12/password.p12",
		lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},
	// A fatal line anywhere in the file comes first: mod_tls reads the
	// password once the whole file is parsed.
	{name: "pkcs12_then_fatal", frag: "TLSPKCS12File @DATA@/pkcs12/password.p12\nTLSProtocol foo",
		lines: []string{"fatal: TLSProtocol: unknown protocol: 'foo' on line 20 of '@TMP@/proftpd.conf'"}},
	// mod_tls's listener runs before mod_log opens the SystemLog.
	{name: "pkcs12_before_systemlog", frag: "TLSPKCS12File @DATA@/pkcs12/password.p12\nSystemLog @TMP@/nodir/system.log",
		lines: pkcs12Refused("Not provided", "@DATA@/pkcs12/password.p12")},

	{name: "rsa_cert_only", frag: "TLSRSACertificateFile @TMP@/rsa.pem", setup: writeKeys,
		lines: keyRefused("RSA", "@TMP@/rsa.pem")},
	{name: "rsa_cert_and_key", frag: "TLSRSACertificateFile @TMP@/rsa.pem\nTLSRSACertificateKeyFile @TMP@/rsa.key", setup: writeKeys, accept: true},
	{name: "rsa_key_in_cert_file", frag: "TLSRSACertificateFile @TMP@/rsa-both.pem", setup: writeKeys, accept: true},
	{name: "rsa_key_only", frag: "TLSRSACertificateKeyFile @TMP@/rsa.key", setup: writeKeys, accept: true},
	{name: "rsa_key_pkcs8_encrypted", frag: "TLSRSACertificateFile @TMP@/rsa-both.pem\nTLSRSACertificateKeyFile @DATA@/keys/rsa-encrypted-pkcs8.key",
		setup: writeKeys, lines: keyRefused("RSA", "@DATA@/keys/rsa-encrypted-pkcs8.key")},
	{name: "rsa_key_traditional_encrypted", frag: "TLSRSACertificateKeyFile @DATA@/keys/rsa-encrypted-traditional.key",
		lines: keyRefused("RSA", "@DATA@/keys/rsa-encrypted-traditional.key")},
	{name: "ec_cert_only", frag: "TLSECCertificateFile @TMP@/ec.pem", setup: writeKeys, lines: keyRefused("EC", "@TMP@/ec.pem")},
	{name: "ec_cert_and_key", frag: "TLSECCertificateFile @TMP@/ec.pem\nTLSECCertificateKeyFile @TMP@/ec.key", setup: writeKeys, accept: true},
	{name: "ec_in_rsa_directive", frag: "TLSRSACertificateFile @TMP@/ec.pem\nTLSRSACertificateKeyFile @TMP@/ec.key", setup: writeKeys, accept: true,
		lines: []string{"mod_tls/2.9.2: certificate '@TMP@/ec.pem': expected RSA certificate, found EC"}},
	{name: "rsa_in_ec_directive", frag: "TLSECCertificateFile @TMP@/rsa-both.pem", setup: writeKeys, accept: true,
		lines: []string{"mod_tls/2.9.2: certificate '@TMP@/rsa-both.pem': expected EC certificate, found RSA"}},
	{name: "expired", frag: "TLSRSACertificateFile @TMP@/expired.pem", setup: writeKeys, accept: true,
		lines: []string{"mod_tls/2.9.2: certificate '@TMP@/expired.pem': expired on Jan  2 03:04:05 2021 GMT"}},
	{name: "dsa_cert_only", frag: "TLSDSACertificateFile @DATA@/keys/dsa.pem", lines: keyRefused("DSA", "@DATA@/keys/dsa.pem")},
	{name: "dsa_cert_and_key", frag: "TLSDSACertificateFile @DATA@/keys/dsa.pem\nTLSDSACertificateKeyFile @DATA@/keys/dsa.key", accept: true},
	{name: "rsa_in_dsa_directive", frag: "TLSDSACertificateFile @TMP@/rsa-both.pem", setup: writeKeys, accept: true,
		lines: []string{"mod_tls/2.9.2: certificate '@TMP@/rsa-both.pem': expected DSA certificate, found RSA"}},
	{name: "rsa_before_pkcs12", frag: "TLSPKCS12File @DATA@/pkcs12/password.p12\nTLSRSACertificateFile @TMP@/rsa.pem", setup: writeKeys,
		lines: keyRefused("RSA", "@TMP@/rsa.pem")},
	{name: "rsa_before_ec", frag: "TLSECCertificateFile @TMP@/ec.pem\nTLSRSACertificateFile @TMP@/rsa.pem", setup: writeKeys,
		lines: keyRefused("RSA", "@TMP@/rsa.pem")},
	{name: "vhost_key", frag: "TLSRSACertificateFile @TMP@/rsa-both.pem\n<VirtualHost 127.0.0.1>\nTLSECCertificateFile @TMP@/ec.pem\n</VirtualHost>",
		setup: writeKeys, lines: keyRefused("EC", "@TMP@/ec.pem")},
	{name: "global_key", frag: "<Global>\nTLSRSACertificateFile @TMP@/rsa.pem\n</Global>", setup: writeKeys,
		lines: keyRefused("RSA", "@TMP@/rsa.pem")},
	{name: "pkcs12_fs_notice_first", frag: "LoadModule mod_tls.c\nLoadModule mod_tls_fscache.c\nTLSStaplingCache fs:/path=@TMP@/ocsp\nTLSPKCS12File @DATA@/pkcs12/legacy.p12",
		lines: append([]string{"mod_tls_fscache/0.0: unable to check '@TMP@/ocsp': No such file or directory"},
			pkcs12Refused("Not provided", "@DATA@/pkcs12/legacy.p12")...)},
}

func fsFrag(info string) string {
	return "LoadModule mod_tls.c\nLoadModule mod_tls_fscache.c\nTLSStaplingCache fs:" + info
}

func pkcs12Refused(reason, path string) []string {
	return []string{
		"mod_tls/2.9.2: error reading PKCS12 password: " + reason,
		"mod_tls/2.9.2: unable to use PKCS12 certificate in '" + path + "', exiting",
	}
}

func keyRefused(kind, path string) []string {
	return []string{
		"mod_tls/2.9.2: error reading " + kind + " passphrase: Not provided",
		"mod_tls/2.9.2: unable to use " + kind + " certificate key in '" + path + "', exiting",
	}
}

// writeKeys writes an RSA certificate and its key (rsa.pem, rsa.key, and
// both in rsa-both.pem), an EC pair (ec.pem, ec.key) and an RSA
// certificate that expired on 2021-01-02 03:04:05 UTC (expired.pem).
func writeKeys(t *testing.T, dir string) {
	rsa, ec := testpki.SelfSigned(testpki.RSA), testpki.SelfSigned(testpki.ECDSA)
	expired := testpki.SelfSigned(testpki.RSA, testpki.Validity(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)))
	for name, data := range map[string][]byte{
		"rsa.pem": rsa.CertPEM(), "rsa.key": rsa.KeyPEM(), "rsa-both.pem": append(rsa.CertPEM(), rsa.KeyPEM()...),
		"ec.pem": ec.CertPEM(), "ec.key": ec.KeyPEM(),
		"expired.pem": append(expired.CertPEM(), expired.KeyPEM()...),
	} {
		mkFile(name, string(data))(t, dir)
	}
}

func mkLink(t *testing.T, dir string) {
	if err := os.Symlink(dir, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
}

func mkDir(name string, mode os.FileMode) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode&0o777|modeSticky(mode)); err != nil {
			t.Fatal(err)
		}
	}
}

func modeSticky(m os.FileMode) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func mkFile(name, text string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// postParseConfig writes the case's wrapped configuration in a fresh
// directory and returns it, the configuration file and a function that
// writes the directory and the data directory back as @TMP@ and @DATA@.
func postParseConfig(t *testing.T, frag string, setup func(*testing.T, string)) (dir, conf string, norm func(string) string) {
	t.Helper()
	data, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // proftpd -t reads it after dropping to nobody
		t.Fatal(err)
	}
	if setup != nil {
		setup(t, dir)
	}
	conf = filepath.Join(dir, "proftpd.conf")
	text := wrapFragment(strings.ReplaceAll(frag, "@DATA@", data), dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, conf, func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, data, "@DATA@"), dir, "@TMP@")
	}
}

// ftpdtlsLines parses conf for `proftpd -t`'s verdict and returns it with
// every line ftpdtls check prints (warnings, then the error's lines).
func ftpdtlsLines(t *testing.T, conf string, norm func(string) string) (bool, []string) {
	t.Helper()
	cfg, err := directives.ParseFile(conf, directives.Options{ProFTPD: true})
	var lines []string
	var ws []directives.Warning
	if cfg != nil {
		ws = cfg.Warnings
	}
	var e *directives.Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("parse: %v", err)
	}
	if e != nil {
		ws = e.Warnings
	}
	for _, w := range ws {
		lines = append(lines, norm(w.String()))
	}
	if e != nil {
		for _, l := range e.Lines() {
			lines = append(lines, norm(l))
		}
	}
	return err == nil, lines
}

// TestPostParseVerdicts: with directives.Options.ProFTPD, the verdict
// and every line are proftpd -t's.
func TestPostParseVerdicts(t *testing.T) {
	fakeShm(t)
	for _, tc := range postParseCases {
		t.Run(tc.name, func(t *testing.T) {
			_, conf, norm := postParseConfig(t, tc.frag, tc.setup)
			accept, lines := ftpdtlsLines(t, conf, norm)
			if accept != tc.accept || !slices.Equal(lines, tc.lines) {
				t.Errorf("got accept=%v %q\nwant accept=%v %q", accept, lines, tc.accept, tc.lines)
			}
		})
	}
}

// TestPostParseServeRefuses: without Options.ProFTPD, TLSPKCS12File is
// refused where it is written, and the fs OCSP cache of
// mod_tls_fscache, which ftpdtls does not implement, too.
func TestPostParseServeRefuses(t *testing.T) {
	fakeShm(t)
	for _, tc := range []struct{ frag, want string }{
		{"TLSPKCS12File @DATA@/pkcs12/nopass.p12", "fatal: TLSPKCS12File: '@DATA@/pkcs12/nopass.p12': PKCS#12 files are not supported by ftpdtls serve"},
		{"TLSPKCS12File @TMP@", "fatal: TLSPKCS12File: '@TMP@' does not exist on line 19 of '@TMP@/proftpd.conf'"},
		{fsFrag("/path=@TMP@"), "fatal: TLSStaplingCache: mod_tls_fscache.c is not available in ftpdtls on line 19 of '@TMP@/proftpd.conf'"},
	} {
		_, conf, norm := postParseConfig(t, tc.frag, nil)
		_, err := directives.ParseFile(conf, directives.Options{})
		if err == nil || !strings.HasPrefix(norm(err.Error()), tc.want) {
			t.Errorf("%s: got %v, want %q...", tc.frag, err, tc.want)
		}
	}
}

func TestPKCS12Unusable(t *testing.T) {
	for name, want := range map[string]string{
		"nopass.p12": "", "sha512mac.p12": "", "sha1-3des.p12": "", "nocerts-encryption.p12": "",
		"password.p12": "Not provided", "legacy.p12": "Not provided", "nomac.p12": "Not provided",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "pkcs12", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := pkcs12Unusable(data, false); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
		// Any change to the MAC'd bytes makes the file need a password.
		if want == "" {
			for _, i := range []int{len(data) / 2, len(data) - 1} {
				bad := bytes.Clone(data)
				bad[i] ^= 1
				if got := pkcs12Unusable(bad, false); got != "Not provided" {
					t.Errorf("%s with byte %d flipped: %q", name, i, got)
				}
			}
		}
	}
	for _, data := range []string{"", "0", "\x30", "\x30\x00", "-----BEGIN CERTIFICATE-----\n"} {
		want := "Not provided"
		if data == "" {
			want = "(unknown)"
		}
		if got := pkcs12Unusable([]byte(data), false); got != want {
			t.Errorf("%q: %q, want %q", data, got, want)
		}
	}
}

// proftpdLinePrefix is the log prefix on proftpd's stderr lines.
var proftpdLinePrefix = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ [^ ]+ proftpd\[[0-9]+\]( [^:]*)?: `)

// TestPostParseMatchesProFTPD checks postParseCases against the real
// proftpd -t: its verdict (exit status 0 and "Syntax check complete.")
// and every line it printed.
func TestPostParseMatchesProFTPD(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if os.Geteuid() != 0 {
		if testpeers.Required() {
			t.Fatal("proftpd -t needs root (it switches to User nobody)")
		}
		t.Skip("skipping: proftpd -t needs root")
	}
	for _, tc := range postParseCases {
		t.Run(tc.name, func(t *testing.T) {
			dir, conf, norm := postParseConfig(t, tc.frag, tc.setup)
			args := []string{proftpd, "-t", "-c", conf}
			if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
				// proftpd _exit()s after "Syntax check complete.".
				args = append([]string{stdbuf, "-oL"}, args...)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if _, exit := err.(*exec.ExitError); err != nil && !exit {
				t.Fatal(err)
			}
			accept := err == nil && bytes.Contains(stdout.Bytes(), []byte("Syntax check complete."))
			var lines []string
			for sc := bufio.NewScanner(&stderr); sc.Scan(); {
				lines = append(lines, norm(proftpdLinePrefix.ReplaceAllString(sc.Text(), "")))
			}
			if accept != tc.accept || !slices.Equal(lines, tc.lines) {
				t.Errorf("proftpd -t: accept=%v %q\nrecorded:  accept=%v %q", accept, lines, tc.accept, tc.lines)
			}
		})
	}
}

// TestPostParsePassPhraseProvider: with a TLSPassPhraseProvider, ProFTPD
// runs that program for passphrases and passwords; ftpdtls runs nothing,
// so an encrypted key or a PKCS#12 file that only needs its password is
// taken as provided for, and what no password opens is still refused.
func TestPostParsePassPhraseProvider(t *testing.T) {
	fakeShm(t)
	const provider = "TLSPassPhraseProvider /etc/passwd\n" // a regular file, never run
	for _, tc := range []struct {
		frag   string
		accept bool
	}{
		{"TLSRSACertificateKeyFile @DATA@/keys/rsa-encrypted-pkcs8.key", true},
		{"TLSRSACertificateKeyFile @DATA@/keys/rsa-encrypted-traditional.key", true},
		{"TLSPKCS12File @DATA@/pkcs12/password.p12", true},
		{"TLSRSACertificateFile @TMP@/rsa.pem", false},    // no key at all
		{"TLSPKCS12File @DATA@/pkcs12/legacy.p12", false}, // RC2: no password helps
		{"TLSPKCS12File @DATA@/pkcs12/nomac.p12", false},
	} {
		_, conf, norm := postParseConfig(t, provider+tc.frag, writeKeys)
		if accept, lines := ftpdtlsLines(t, conf, norm); accept != tc.accept {
			t.Errorf("%s: accept=%v %q, want %v", tc.frag, accept, lines, tc.accept)
		}
	}
}
