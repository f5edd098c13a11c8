package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/internal/proxyprotocol"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// HomeEnv is the %{env:...} name the embedded default configuration
// uses for its temporary directory.
const HomeEnv = "FTPDTLS_HOME"

// ParseOptions are the parser options of ftpdtls serve: Debian's
// compiled-in modules plus every module linked into this program, so that
// configurations need no LoadModule lines for them (and keep working with
// them: LoadModule of a compiled-in module is harmless). home, if not
// empty, is what %{env:FTPDTLS_HOME} expands to.
func ParseOptions(home string) directives.Options {
	compiled := slices.Concat(directives.DebianCompiledIn, directives.Registered())
	slices.Sort(compiled)
	compiled = slices.Compact(compiled)
	return directives.Options{
		CompiledIn: compiled,
		LookupEnv: func(name string) (string, bool) {
			if name == HomeEnv && home != "" {
				return home, true
			}
			return os.LookupEnv(name)
		},
	}
}

// Parse reads the configuration at path, or the embedded default when
// path is empty.
func Parse(path, home string) (*directives.Config, error) {
	if path == "" {
		return directives.Parse(defaultConfReader(), "ftpdtls-default.conf", ParseOptions(home))
	}
	return directives.ParseFile(path, ParseOptions(home))
}

// Config is one loaded configuration: everything a reload replaces.
type Config struct {
	Path string // "" for the embedded default
	Dirs *directives.Config
	// Addr is where the control listener binds: DefaultAddress (all
	// addresses when unset) and Port.
	Addr  string
	TLS   *modtls.TLS // nil when TLSEngine is off
	FTP   *ftpd.Server
	Proxy *proxyprotocol.Wrapper // nil when ProxyProtocolEngine is off

	// Source is the text that was parsed.
	Source *source
	// Identity says who serves: User/Group, and whether sessions get
	// their users' uids (started as root).
	Identity identity
	// Limits are MaxInstances and the Max* limits of logins.
	Limits limitSettings
	// Policy is the access control (<Limit>, <Directory>, DefaultRoot).
	Policy *access.Policy
	// Digest identifies the parsed configuration (see digest).
	Digest string

	users *userDB // nil in a worker: logins go to the master

	closers   []io.Closer
	closeOnce sync.Once
	closeErr  error
}

// loadMode says which process loads a configuration.
type loadMode int

const (
	// inProcess: a server without workers; it checks passwords itself.
	inProcess loadMode = iota
	// asMaster: the master validates everything a worker will open, and
	// keeps the user file; it serves nothing.
	asMaster
	// asWorker: the user file is not read; logins go to the master.
	asWorker
)

// Load parses the configuration and opens what it names: the user file,
// the TLS caches (modtls.Open), the trace log. log is the system log.
// The configuration serves in this process (no workers).
func Load(path, home string, log logrus.FieldLogger) (*Config, error) {
	src, err := readSource(path, home)
	if err != nil {
		return nil, err
	}
	return load(src, inProcess, os.Geteuid(), log)
}

// load parses src and opens what it names, as mode says; euid decides
// whether the daemon can give sessions their users' identities.
func load(src *source, mode loadMode, euid int, log logrus.FieldLogger) (*Config, error) {
	return loadChecked(src, mode, euid, "", log)
}

// loadChecked is load that refuses a configuration whose digest is not
// want (unless want is empty).
func loadChecked(src *source, mode loadMode, euid int, want string, log logrus.FieldLogger) (*Config, error) {
	dirs, err := src.parse()
	if err != nil {
		return nil, err
	}
	if want != "" && digest(dirs) != want {
		return nil, fmt.Errorf("a file that %s includes changed since the master validated it; not running a configuration nobody checked (send SIGHUP to validate it)", src.Name)
	}
	// What serve does not apply is refused (CheckServe, as `ftpdtls
	// check` reports it); warnings are logged once, not by every worker.
	if err := checkForServe(dirs, mode != asWorker, log); err != nil {
		return nil, err
	}
	applyEnv(dirs)
	main := dirs.Main
	c := &Config{Path: src.Path, Dirs: dirs, Source: src, Digest: digest(dirs), Addr: net.JoinHostPort(listenHost(main), strconv.Itoa(main.Port))}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()

	if c.Identity, err = resolveIdentity(main, euid); err != nil {
		return nil, err
	}
	if c.Limits, err = limitsOf(dirs); err != nil {
		return nil, err
	}
	policy, errs := access.Compile(dirs, main)
	if len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, errors.Join(all...)
	}
	c.Policy = policy
	var auth ftpd.Authenticator
	if mode != asWorker {
		if c.users, err = loadUserDB(dirs, policy, c.Identity, log); err != nil {
			return nil, err
		}
		auth = &localAuth{db: c.users, names: c.users.names()}
	}
	if c.Proxy, err = proxyprotocol.NewWrapper(proxyprotocol.SettingsOf(main)); err != nil {
		return nil, err
	}
	tracer, err := openTrace(dirs, c)
	if err != nil {
		return nil, err
	}

	srv := &ftpd.Server{
		Auth:         auth,
		Policy:       policy,
		ServerName:   main.Name,
		PassivePorts: ftpd.PortRange{Min: main.PassivePorts.Min, Max: main.PassivePorts.Max},
		Log:          log,
	}
	if mode == inProcess {
		srv.Admission = localAdmission{newCounter(c.Limits)}
	}
	// Timeouts, MaxLoginAttempts, TransferLog (opened while still root).
	if xferlog, err := ftpd.Configure(srv, main); err != nil {
		return nil, err
	} else if xferlog != nil {
		c.closers = append(c.closers, xferlog)
	}
	if m := main.MasqueradeAddress; m != "" {
		ip, err := resolveIPv4(m)
		if err != nil {
			return nil, fmt.Errorf("MasqueradeAddress %s: %w", m, err)
		}
		srv.MasqueradeAddress = ip
	}
	st := modtls.SettingsOf(main)
	if st.Engine {
		t, err := modtls.Open(dirs, modtls.Env{Trace: tracer, Log: log})
		if err != nil {
			return nil, err
		}
		c.TLS = t
		c.closers = append(c.closers, t)
		srv.TLS = controls{t: t, srv: main}
		srv.RequireTLSControl = st.Required.Ctrl
		srv.RequireTLSAuth = st.Required.Auth
		srv.RequireTLSData = st.Required.Data
	}
	c.FTP = srv
	if c.users != nil {
		c.users.directory().apply(c)
	}
	if mode != asWorker {
		recordCaches(c) // for the state the running server publishes
	}
	ok = true
	return c, nil
}

// Close releases what Load opened. The caches' shared storage stays, so
// sessions survive a restart.
// Close is safe to call more than once and from several goroutines (a
// reload's retirement and the shutdown may both close a configuration).
func (c *Config) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for i := len(c.closers) - 1; i >= 0; i-- {
			errs = append(errs, c.closers[i].Close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// controls adapts modtls to the FTP engine: one modtls.Control per
// control connection.
type controls struct {
	t   *modtls.TLS
	srv *directives.Server
}

func (c controls) NewSession(net.Conn) (ftpd.TLSSession, error) {
	return c.t.NewControl(c.srv), nil
}

func resolveIPv4(host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			return nil, errors.New("not an IPv4 address (PASV replies carry IPv4 only)")
		}
		return ip.To4(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.To4(), nil
		}
	}
	return nil, errors.New("no IPv4 address")
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// openTrace builds the tracer of the server-config Trace, TraceLog and
// TraceOptions lines. Without a TraceLog nothing is traced, as in
// ProFTPD. Session-level Trace settings ("Trace session ...") are not
// applied: ftpdtls sessions are goroutines of one process, which share
// one tracer.
func openTrace(dirs *directives.Config, c *Config) (*trace.Tracer, error) {
	tc := dirs.Trace
	if tc.Log == "" {
		return nil, nil
	}
	f, err := trace.OpenLog(tc.Log)
	if err != nil {
		return nil, fmt.Errorf("error using TraceLog '%s': %w", tc.Log, err)
	}
	c.closers = append(c.closers, f)
	t := trace.New()
	t.SetOptions(tc.Options)
	for _, l := range tc.Levels {
		if err := t.SetLevels(l.Channel, l.Min, l.Max); err != nil {
			return nil, fmt.Errorf("Trace %s:%d-%d: %w", l.Channel, l.Min, l.Max, err)
		}
	}
	t.SetOutput(f)
	return t, nil
}
