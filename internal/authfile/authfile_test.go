package authfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestSHA512CryptVectors(t *testing.T) {
	// Vectors from the SHA-crypt specification.
	for _, tc := range []struct{ setting, password, want string }{
		{"$6$saltstring", "Hello world!",
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
			"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
			"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
	} {
		got, err := SHA512Crypt(tc.password, tc.setting)
		if err != nil || got != tc.want {
			t.Errorf("SHA512Crypt(%q, %q) = %q, %v; want %q", tc.password, tc.setting, got, err, tc.want)
		}
	}
}

// TestSHA512CryptMatchesOpenSSL compares with `openssl passwd -6` for
// passwords around the digest size, where the algorithm's loops turn.
func TestSHA512CryptMatchesOpenSSL(t *testing.T) {
	openssl := testpeers.Need(t, "openssl")
	for _, n := range []int{1, 7, 63, 64, 65, 130} {
		pw := strings.Repeat("pässwörd", n)[:n]
		salt := RandomString(16)
		out, err := exec.Command(openssl, "passwd", "-6", "-salt", salt, pw).Output()
		if err != nil {
			t.Fatalf("openssl passwd: %v", err)
		}
		want := strings.TrimSpace(string(out))
		got, err := SHA512Crypt(pw, "$6$"+salt)
		if err != nil || got != want {
			t.Errorf("len %d: got %q, %v; openssl says %q", n, got, err, want)
		}
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	line, err := Line("alice", "pw1", "/srv/alice")
	if err != nil {
		t.Fatal(err)
	}
	content := line + "\n" +
		"# comment\n" +
		"bob:$1$md5hash$xyz:1:1::/srv/bob:/bin/sh\n" +
		"short:line\n"
	path := filepath.Join(dir, "ftpd.passwd")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Users() != 1 || len(warnings) != 2 {
		t.Fatalf("users %d, warnings %q; want 1 user and 2 warnings", f.Users(), warnings)
	}
	for _, tc := range []struct {
		user, pass, home string
		err              error
	}{
		{"alice", "pw1", "/srv/alice", nil},
		{"alice", "wrong", "", ErrLoginIncorrect},
		{"bob", "anything", "", ErrLoginIncorrect},
		{"nobody", "pw1", "", ErrLoginIncorrect},
	} {
		home, err := f.Authenticate(tc.user, tc.pass)
		if home != tc.home || !errors.Is(err, tc.err) {
			t.Errorf("Authenticate(%s, %s) = %q, %v; want %q, %v", tc.user, tc.pass, home, err, tc.home, tc.err)
		}
	}
	if _, _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}
