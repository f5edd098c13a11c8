package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
)

// maxConfigSize bounds a configuration file (ProFTPD's are a few KiB).
const maxConfigSize = 16 << 20

// source is the text of a configuration as the master read and
// validated it. Workers parse this text, never the file again: a worker
// started after the file was changed (a replacement for one that died)
// runs the configuration the master validated last, not what the file
// says now. Included files are read again by the worker, which refuses
// to start if the result differs from what the master validated (see
// digest).
type source struct {
	Path string // as configured; "" for the embedded default
	Name string // the name messages use
	Text []byte
	Home string // %{env:FTPDTLS_HOME} of the embedded default, or ""
	// Warnings found reading the file (world-writable), printed with the
	// parser's.
	warnings []directives.Warning
}

// readSource reads the configuration at path, or the embedded default.
func readSource(path, home string) (*source, error) {
	if path == "" {
		return &source{Name: "ftpdtls-default.conf", Text: []byte(defaultConf), Home: home}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open configuration file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open configuration file: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open configuration file %s: %w", path, &directives.Errno{Errno: syscall.EISDIR})
	}
	text, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration file: %w", err)
	}
	if len(text) > maxConfigSize {
		return nil, fmt.Errorf("configuration file %s is larger than %d bytes", path, maxConfigSize)
	}
	s := &source{Path: path, Name: path, Text: text, Home: home}
	if fi.Mode().Perm()&0o002 != 0 {
		s.warnings = append(s.warnings, directives.Warning{Msg: fmt.Sprintf("warning: config file '%s' is world-writable", path), File: path})
	}
	return s, nil
}

// parse parses the text as ParseFile would parse the file.
func (s *source) parse() (*directives.Config, error) {
	cfg, err := directives.Parse(bytes.NewReader(s.Text), s.Name, ParseOptions(s.Home))
	if err != nil {
		var e *directives.Error
		if errors.As(err, &e) {
			e.Warnings = append(append([]directives.Warning(nil), s.warnings...), e.Warnings...)
		}
		return nil, err
	}
	cfg.Warnings = append(append([]directives.Warning(nil), s.warnings...), cfg.Warnings...)
	return cfg, nil
}

// digest identifies a parsed configuration: every directive and section
// with its arguments, file and line. A worker parses the text the master
// validated, but files it includes are read again; it refuses to run a
// configuration whose digest is not the one the master validated (an
// included file changed since), rather than run one nobody checked.
func digest(cfg *directives.Config) string {
	h := sha256.New()
	var walk func(n *directives.Node)
	walk = func(n *directives.Node) {
		fmt.Fprintf(h, "%q %q %q %d %v %d\n", n.Name, n.Args, n.File, n.Line, n.Skipped, len(n.Children))
		for _, c := range n.Children {
			walk(c)
		}
	}
	if cfg.Root != nil {
		walk(cfg.Root)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// workerSpec is everything a worker gets from the master at exec, in a
// sealed memory file (its descriptor 4): the configuration to run, who to
// become, and the names of owners for listings.
type workerSpec struct {
	Generation int
	Worker     int
	Source     *source
	// Digest is the digest of the configuration the master validated.
	Digest string
	// Privileged: drop to Cred after loading (the master runs as root).
	Privileged bool
	Cred       privsep.Credential
	// Users and Groups name the AuthUserFile's and AuthGroupFile's ids in
	// listings (the worker does not read those files: they hold the
	// password hashes).
	Users, Groups map[uint32]string
	// Homes are the AuthUserFile's home directories by user name, for
	// <Directory ~name>.
	Homes map[string]string
	// GraceMillis bounds a shutdown the worker starts itself (SIGTERM).
	GraceMillis int64
}

// MarshalJSON keeps the source's text as text.
func (s *source) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Path, Name, Home string
		Text             []byte
	}{s.Path, s.Name, s.Home, s.Text})
}

func (s *source) UnmarshalJSON(b []byte) error {
	var v struct {
		Path, Name, Home string
		Text             []byte
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = source{Path: v.Path, Name: v.Name, Home: v.Home, Text: v.Text}
	return nil
}

// sealedFile returns a memory file holding data that nobody can change
// any more (F_SEAL_WRITE and friends), positioned at its start.
func sealedFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (w *workerSpec) file() (*os.File, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return sealedFile("ftpdtls-worker", b)
}

// readWorkerSpec reads the spec the master passed as f.
func readWorkerSpec(f *os.File) (*workerSpec, error) {
	b, err := io.ReadAll(io.LimitReader(f, 8*maxConfigSize))
	if err != nil {
		return nil, fmt.Errorf("reading the worker's configuration: %w", err)
	}
	var w workerSpec
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("reading the worker's configuration: %w", err)
	}
	if w.Source == nil {
		return nil, errors.New("reading the worker's configuration: no configuration")
	}
	return &w, nil
}
