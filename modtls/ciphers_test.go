package modtls

import (
	"crypto/tls"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// cipherStrings are evaluated by both modtls and openssl(1) in
// TestCipherStringsMatchOpenSSL.
var cipherStrings = []string{
	"HIGH", "ALL", "DEFAULT", "DEFAULT:!ADH:!EXPORT:!DES", "HIGH:!aNULL:!MD5", "HIGH:!aNULL:!MD5:!RC4",
	"ECDHE+AESGCM", "ECDHE+AESGCM:ECDHE+CHACHA20", "ECDHE+AESGCM+RSA", "aRSA+AES256+SHA384", "kRSA", "RSA",
	"AES128", "AES256", "AES", "AESGCM", "AESCCM", "AESCCM8", "CAMELLIA", "ARIA", "CHACHA20", "PSK", "SRP",
	"aNULL", "eNULL", "NULL", "ADH", "AECDH", "EDH", "DHE", "EECDH", "ECDHE", "kECDHE", "ECDSA", "aECDSA", "DSS",
	"SHA1", "SHA256", "SHA384", "MD5", "TLSv1.2", "TLSv1", "TLSv1.0", "SSLv3", "TLSv1.2+AES256", "FIPS",
	"HIGH+FIPS", "COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL", "ALL:COMPLEMENTOFALL", "ALL:-HIGH", "ALL:-HIGH:HIGH",
	"ALL:!HIGH:HIGH", "HIGH:-AES:+ECDHE", "HIGH:@STRENGTH", "HIGH:@SECLEVEL=2", "HIGH:@SECLEVEL=9",
	"@FOO", "AES+", "[a]", "NOTACIPHER", "HIGH:NOTACIPHER", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256+AES", "ECDHE-RSA-AES128-GCM-SHA256+CHACHA20", "TLS_AES_256_GCM_SHA384",
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "SUITEB128", "SUITEB128ONLY", "SUITEB128C2", "SUITEB192",
	"DEFAULTX", "DEFAULT:+ECDSA", "ecdhe", "HIGH;!aNULL", "HIGH,!aNULL", "HIGH !aNULL", "!aNULL:HIGH",
	"-ALL:HIGH", "+ALL", "::HIGH::", "HIGH:!kRSA:!kDHE:!PSK:!SRP:!aNULL:!CAMELLIA:!ARIA:!CCM:!SHA1",
	"PROFILE=SYSTEM", "3DES", "RC4", "HIGH:!EXPORT",
}

// openSSLCiphers asks openssl(1) what a cipher string selects.
func openSSLCiphers(t *testing.T, rule string) ([]string, error) {
	out, err := exec.Command("openssl", "ciphers", "--", rule).CombinedOutput()
	if err != nil {
		s := string(out)
		switch {
		case strings.Contains(s, "no cipher match"):
			return nil, errNoCipherMatch
		case strings.Contains(s, "invalid command"):
			return nil, errInvalidCommand
		}
		t.Fatalf("openssl ciphers %q: %v\n%s", rule, err, out)
	}
	var names []string
	for _, n := range strings.Split(strings.TrimSpace(string(out)), ":") {
		if !slices.Contains(tls13OpenSSLSuites, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// TestCipherStringsMatchOpenSSL checks the evaluator against the real
// OpenSSL on every string above: the same suites, or the same error.
func TestCipherStringsMatchOpenSSL(t *testing.T) {
	testpeers.Need(t, "openssl")
	for _, rule := range cipherStrings {
		want, wantErr := openSSLCiphers(t, rule)
		sel, _, err := evalCipherString(rule)
		var got []string
		for _, i := range sel {
			got = append(got, opensslCiphers[i].name)
		}
		slices.Sort(got)
		if !errors.Is(err, wantErr) && !(err == nil && wantErr == nil) {
			t.Errorf("%q: error %v, openssl says %v", rule, err, wantErr)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q:\n  modtls  %v\n  openssl %v", rule, got, want)
		}
	}
}

func TestParseCipherStringMapsToGo(t *testing.T) {
	cs, err := ParseCipherString("ECDHE+AESGCM:DHE+AESGCM:!EXPORT")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	}
	slices.Sort(want)
	got := slices.Clone(cs.IDs)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("IDs %v, want %v", got, want)
	}
	if len(cs.Unserved) != 4 || !slices.Contains(cs.Unserved, "DHE-RSA-AES256-GCM-SHA384") {
		t.Errorf("Unserved %v, want the four DHE AES-GCM suites", cs.Unserved)
	}
	if name, bits := CipherName(tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384); name != "ECDHE-RSA-AES256-GCM-SHA384" || bits != 256 {
		t.Errorf("CipherName: %s %d", name, bits)
	}
	if name, bits := CipherName(tls.TLS_AES_128_GCM_SHA256); name != "TLS_AES_128_GCM_SHA256" || bits != 128 {
		t.Errorf("CipherName TLS 1.3: %s %d", name, bits)
	}
}

func TestTLS13SuiteLists(t *testing.T) {
	for _, tc := range []struct {
		list    string
		names   []string
		err     error
		servErr bool
	}{
		{"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256", goTLS13Suites, nil, false},
		{"TLS_AES_256_GCM_SHA384:BOGUS", []string{"TLS_AES_256_GCM_SHA384"}, nil, true},
		{"NOTACIPHER", nil, errNoCipherMatch, false},
		{"", nil, nil, false},
	} {
		names, err := evalTLS13Suites(tc.list)
		if !errors.Is(err, tc.err) || len(names) != len(tc.names) {
			t.Errorf("%q: %v %v", tc.list, names, err)
			continue
		}
		if len(names) > 0 {
			if _, err := checkTLS13Suites(names); (err != nil) != tc.servErr {
				t.Errorf("%q: crypto/tls check %v", tc.list, err)
			}
		}
	}
}
