package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Debian's vsftpd and pure-ftpd packages conflict with proftpd-core:
// installing either removes the installed ProFTPD. Their binaries are
// taken without installing them: `apt-get download` fetches the .deb
// files and `dpkg -x` unpacks them into a cache directory, from which
// they run with LD_LIBRARY_PATH pointing at the unpacked libraries
// (vsftpd needs libwrap.so.0, which proftpd does not pull in).

// peerPackages are the packages unpacked into the cache.
var peerPackages = []string{"vsftpd", "pure-ftpd", "libwrap0"}

// Peers are the unpacked peer programs.
type Peers struct {
	Root     string // the cache's unpacked tree
	Vsftpd   string // Root/usr/sbin/vsftpd
	PureFTPd string // Root/usr/sbin/pure-ftpd
	PurePw   string // Root/usr/bin/pure-pw
	// LibPath is the LD_LIBRARY_PATH the programs run with.
	LibPath string
}

// DefaultPeerCache is where FetchPeers keeps the unpacked packages:
// $XDG_CACHE_HOME/ftpdtls-bench/peers, or ~/.cache/ftpdtls-bench/peers.
func DefaultPeerCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "ftpdtls-bench", "peers")
}

// FindPeers returns the peers unpacked in cache, or an error saying what
// is missing.
func FindPeers(cache string) (*Peers, error) {
	root := filepath.Join(cache, "root")
	p := &Peers{
		Root:     root,
		Vsftpd:   filepath.Join(root, "usr/sbin/vsftpd"),
		PureFTPd: filepath.Join(root, "usr/sbin/pure-ftpd"),
		PurePw:   filepath.Join(root, "usr/bin/pure-pw"),
	}
	for _, f := range []string{p.Vsftpd, p.PureFTPd, p.PurePw} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s is not unpacked in %s", filepath.Base(f), cache)
		}
	}
	var libs []string
	for _, pattern := range []string{"usr/lib/*-linux-gnu", "lib/*-linux-gnu", "usr/lib", "lib"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, d := range m {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				libs = append(libs, d)
			}
		}
	}
	p.LibPath = strings.Join(libs, ":")
	return p, nil
}

// FetchPeers returns the peers in cache, fetching and unpacking them
// first when they are not there (apt-get download, dpkg -x: nothing is
// installed). log receives one line per package.
func FetchPeers(cache string, log func(format string, args ...any)) (*Peers, error) {
	if p, err := FindPeers(cache); err == nil {
		return p, nil
	}
	for _, tool := range []string{"apt-get", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("fetching vsftpd and pure-ftpd needs %s (Debian or Ubuntu): %w", tool, err)
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	dl, err := os.MkdirTemp(cache, "download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dl)
	// apt drops to the _apt user to download, which cannot write into a
	// directory private to root: let it.
	os.Chmod(dl, 0o777)
	cmd := exec.Command("apt-get", append([]string{"download", "-q"}, peerPackages...)...)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s: %v\n%s(run apt-get update first if the package lists are missing)",
			strings.Join(peerPackages, " "), err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) < len(peerPackages) {
		return nil, fmt.Errorf("apt-get download gave %d packages, want %d", len(debs), len(peerPackages))
	}
	root := filepath.Join(cache, "root")
	tmpRoot := root + ".new"
	os.RemoveAll(tmpRoot)
	for _, deb := range debs {
		if out, err := exec.Command("dpkg", "-x", deb, tmpRoot).CombinedOutput(); err != nil {
			os.RemoveAll(tmpRoot)
			return nil, fmt.Errorf("dpkg -x %s: %v\n%s", filepath.Base(deb), err, out)
		}
		if log != nil {
			log("unpacked %s into %s (not installed)", filepath.Base(deb), cache)
		}
	}
	os.RemoveAll(root)
	if err := os.Rename(tmpRoot, root); err != nil {
		return nil, err
	}
	p, err := FindPeers(cache)
	if err != nil {
		return nil, errors.Join(errors.New("the unpacked packages lack a program"), err)
	}
	return p, nil
}

// env is the environment the peers run with.
func (p *Peers) env() []string {
	return append(os.Environ(), "LD_LIBRARY_PATH="+p.LibPath)
}
