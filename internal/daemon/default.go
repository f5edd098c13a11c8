package daemon

import (
	_ "embed"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
)

//go:embed default.conf
var defaultConfText string

// defaultConf is the embedded default configuration as this process runs
// it: not started as root, its User and Group lines are commented out
// (an unprivileged process cannot switch to them; sessions act as the
// invoking user).
var defaultConf = renderDefault(defaultConfText, os.Geteuid() == 0)

func renderDefault(text string, root bool) string {
	if root {
		return text
	}
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "User ") || strings.HasPrefix(l, "Group ") {
			lines[i] = "# " + l
		}
	}
	return strings.Join(lines, "")
}

func defaultConfReader() io.Reader { return strings.NewReader(defaultConf) }

// DefaultConf returns the text of the embedded default configuration.
func DefaultConf() string { return defaultConf }

// DefaultUser is the single user of the embedded default configuration.
const DefaultUser = "ftpdtls"

// Home is the temporary directory of the embedded default configuration.
type Home struct {
	Dir      string // %{env:FTPDTLS_HOME}
	User     string
	Password string // empty when the directory was made by another process
}

// EffectiveConf is the embedded default configuration as it runs in
// home: %{env:FTPDTLS_HOME} replaced by the directory, so that the text
// stands on its own (`ftpdtls sesscache -c FILE` reads it as it is), and
// LoadModule lines added so that it reads the same under Debian's module
// set (`ftpdtls check -c FILE`); for ftpdtls, which links those modules,
// they are no-ops.
func EffectiveConf(home string) string {
	body := defaultConf
	// The embedded text's opening comment is about %{env:...}; replace it.
	if i := strings.Index(body, "\n\n"); i >= 0 && strings.HasPrefix(body, "#") {
		body = body[i+2:]
	}
	head := "# The configuration `ftpdtls serve` is running: its built-in one, in the\n" +
		"# temporary directory " + home + ",\n" +
		"# which is removed, with the cache segments, when the server stops.\n" +
		"LoadModule mod_tls.c\n" +
		"LoadModule mod_tls_shmcache.c\n\n"
	return head + strings.ReplaceAll(body, "%{env:"+HomeEnv+"}", home)
}

// ConfigFile is where NewHome writes EffectiveConf: the -c file for the
// cache controls while the default configuration runs.
func (h *Home) ConfigFile() string { return filepath.Join(h.Dir, "proftpd.conf") }

// NewHome makes the default configuration's directory: a throwaway
// certificate, a user file with one user and a random password, the
// served directory "ftp" (with a README so a first listing shows
// something) and proftpd.conf, the effective configuration.
func NewHome() (*Home, error) {
	dir, err := os.MkdirTemp("", "ftpdtls-serve-")
	if err != nil {
		return nil, err
	}
	h := &Home{Dir: dir, User: DefaultUser, Password: authfile.RandomString(16)}
	if err := h.populate(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return h, nil
}

func (h *Home) populate() error {
	ftp := filepath.Join(h.Dir, "ftp")
	if err := os.Mkdir(ftp, 0o755); err != nil {
		return err
	}
	readme := "This directory is served by `ftpdtls serve` and removed when it stops.\n"
	if err := os.WriteFile(filepath.Join(ftp, "README"), []byte(readme), 0o644); err != nil {
		return err
	}
	if err := writeThrowawayCert(filepath.Join(h.Dir, "cert.pem"), filepath.Join(h.Dir, "key.pem")); err != nil {
		return fmt.Errorf("throwaway certificate: %w", err)
	}
	// The user is the invoking one when not root (the only identity
	// sessions can have then), else nobody, who gets the served
	// directory; the home is made traversable for the user's broker.
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if os.Geteuid() == 0 {
		uid, gid = 65534, 65534
		if err := os.Chown(ftp, int(uid), int(gid)); err != nil {
			return err
		}
		if err := os.Chown(filepath.Join(ftp, "README"), int(uid), int(gid)); err != nil {
			return err
		}
		if err := os.Chmod(h.Dir, 0o711); err != nil {
			return err
		}
	}
	line, err := authfile.LineFor(h.User, h.Password, uid, gid, ftp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "ftpd.passwd"), []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(h.ConfigFile(), []byte(EffectiveConf(h.Dir)), 0o600)
}

// Banner is what serve prints when it runs the default configuration:
// the credentials and client command lines that work as they are.
func (h *Home) Banner(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "21"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ftpdtls: serving %s on %s (explicit FTPS required)\n", filepath.Join(h.Dir, "ftp"), addr)
	fmt.Fprintf(&b, "  user:     %s\n  password: %s\n", h.User, h.Password)
	fmt.Fprintf(&b, "  TLS log:  %s\n", filepath.Join(h.Dir, "tls.log"))
	fmt.Fprintf(&b, "Try:\n")
	fmt.Fprintf(&b, "  curl --ssl-reqd -k --user %s:%s ftp://%s:%s/\n", h.User, h.Password, host, port)
	fmt.Fprintf(&b, "  lftp -u %s,%s -p %s -e 'set ssl:verify-certificate no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; ls; quit' %s\n",
		h.User, h.Password, port, host)
	fmt.Fprintf(&b, "Session cache:\n")
	fmt.Fprintf(&b, "  %s sesscache info -v -c %s\n", commandName(), h.ConfigFile())
	return b.String()
}

// commandName is how to run this program again, as printed in the
// banner: "go run ./cmd/ftpdtls" under `go run` (whose executable is a
// temporary build, gone when it stops; the command works from the
// repository root), "ftpdtls" when that is what the shell finds, the
// executable's path when it is an ftpdtls not on the PATH, and
// "ftpdtls" for a program that embeds the daemon.
func commandName() string {
	exe, err := os.Executable()
	if err != nil {
		return "ftpdtls"
	}
	return commandNameFor(exe, func() (string, error) { return exec.LookPath("ftpdtls") })
}

func commandNameFor(exe string, lookPath func() (string, error)) string {
	if filepath.Base(filepath.Dir(exe)) == "exe" && strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/ftpdtls"
	}
	if filepath.Base(exe) != "ftpdtls" {
		return "ftpdtls"
	}
	if p, err := lookPath(); err == nil {
		if a, err := filepath.EvalSymlinks(p); err == nil {
			if b, err := filepath.EvalSymlinks(exe); err == nil && a == b {
				return "ftpdtls"
			}
		}
	}
	return exe
}
