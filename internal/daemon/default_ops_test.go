package daemon

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestBannerCommandWorksAsPrinted: the cache command of the default
// configuration's banner is one that runs: `go run ./cmd/ftpdtls` under
// go run (whose executable is a temporary build), "ftpdtls" when the
// shell finds this very program by that name, its path when it is an
// ftpdtls the shell does not find, and "ftpdtls" in a program that
// embeds the daemon.
func TestBannerCommandWorksAsPrinted(t *testing.T) {
	self := "/proc/self/exe"
	for _, tc := range []struct {
		exe, onPath, want string
	}{
		{"/tmp/go-build1234/b001/exe/ftpdtls", "", "go run ./cmd/ftpdtls"},
		{self, self, self}, // not named ftpdtls: a program that embeds it
		{"/opt/x/ftpdtls", "", "/opt/x/ftpdtls"},
		{"/opt/x/ftpdtls", "/usr/bin/other-ftpdtls", "/opt/x/ftpdtls"},
	} {
		got := commandNameFor(tc.exe, func() (string, error) {
			if tc.onPath == "" {
				return "", errors.New("not found")
			}
			return tc.onPath, nil
		})
		want := tc.want
		if tc.exe == self {
			want = "ftpdtls"
		}
		if got != want {
			t.Errorf("executable %s (PATH finds %q): %q, want %q", tc.exe, tc.onPath, got, want)
		}
	}
	// The same file on the PATH (through a link): "ftpdtls".
	dir := t.TempDir()
	bin := dir + "/ftpdtls"
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, dir+"/link"); err != nil {
		t.Fatal(err)
	}
	if got := commandNameFor(bin, func() (string, error) { return dir + "/link", nil }); got != "ftpdtls" {
		t.Errorf("ftpdtls found on the PATH through a link: %q", got)
	}
	if got := commandNameFor(bin, func() (string, error) { return bin, nil }); got != "ftpdtls" {
		t.Errorf("ftpdtls found on the PATH: %q", got)
	}
	h := testHome(t)
	if b := h.Banner("127.0.0.1:2121"); !strings.Contains(b, " sesscache info -v -c "+h.ConfigFile()+"\n") {
		t.Errorf("banner:\n%s", b)
	}
}
