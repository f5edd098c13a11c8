package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtls/tlsprom"
)

// ErrNotRunning: no running `ftpdtls serve` has published its state for
// the configuration.
var ErrNotRunning = errors.New("no ftpdtls serve is running with this configuration")

// CacheState is how a running server uses one configured cache.
type CacheState struct {
	Directive string // "TLSSessionCache" or "TLSStaplingCache"
	Provider  string // "shm", "redis", "internal", ...
	// Shared is true when every process of the server uses the
	// configured cache; false when it fell back to a per-process cache.
	Shared bool
	// Reason says why the configured cache is not in use, when Shared is
	// false: the error that opening it returned.
	Reason string `json:",omitempty"`
}

// ServerState is what a running `ftpdtls serve` publishes about itself,
// so that the cache controls can say whether the cache they look at is
// the one the server uses.
type ServerState struct {
	PID     int
	Started time.Time
	Caches  []CacheState
	// StartTicks is the process's start time in clock ticks since boot
	// (/proc/PID/stat), which tells a live server from a process that
	// got its pid after it died without removing its state.
	StartTicks uint64
}

// The state file. A running server (the master, or the single process)
// writes it, atomically, at start and after each reload, and removes it
// at exit: next to its PidFile ("PIDFILE.state") when one is configured,
// else in the runtime directory ($FTPDTLS_RUNTIME_DIR; /run/ftpdtls as
// root, $XDG_RUNTIME_DIR/ftpdtls or $TMPDIR/ftpdtls-UID otherwise) under a
// name derived from the configured caches, so that the cache controls,
// reading the same configuration, find it. RunningState trusts a file
// only if root or the reader owns it and its process is alive and is the
// one that wrote it.

// stateFile returns where the server of cfg publishes its state.
func stateFile(cfg *directives.Config) (string, error) {
	if n := firstNode(cfg.Main, "PidFile"); n != nil && len(n.Args) > 0 {
		return n.Args[0] + ".state", nil
	}
	dir, err := runtimeDir(false)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "serve-"+cacheKey(cfg)+".state"), nil
}

// cacheKey names the configured caches: the same for the configuration a
// server runs and for the one the controls read, even when one is the
// embedded default and the other its effective text.
func cacheKey(cfg *directives.Config) string {
	st := modtls.SettingsOf(cfg.Main)
	h := sha256.New()
	for _, s := range []modtls.CacheSpec{st.SessionCache, st.StaplingCache} {
		fmt.Fprintf(h, "%v %v %s:%s\n", s.Configured, s.Off, s.Provider, s.Info)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// RuntimeDirEnv, when set, names the directory of state files without a
// PidFile (for the server and the cache controls alike).
const RuntimeDirEnv = "FTPDTLS_RUNTIME_DIR"

// runtimeDir is the directory of state files without a PidFile; create
// makes it (mode 0755 as root, 0700 otherwise).
func runtimeDir(create bool) (string, error) {
	var dir string
	mode := os.FileMode(0o700)
	switch {
	case os.Getenv(RuntimeDirEnv) != "":
		dir = os.Getenv(RuntimeDirEnv)
		if os.Geteuid() == 0 {
			mode = 0o755
		}
	case os.Geteuid() == 0:
		dir, mode = "/run/ftpdtls", 0o755
	case os.Getenv("XDG_RUNTIME_DIR") != "":
		dir = filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "ftpdtls")
	default:
		dir = filepath.Join(os.TempDir(), "ftpdtls-"+strconv.Itoa(os.Geteuid()))
	}
	if !create {
		return dir, nil
	}
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	// Somebody else's directory (in a shared /tmp) is not used.
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("%s is not a directory of uid %d that only it can write", dir, os.Geteuid())
	}
	return dir, nil
}

// lastLoaded is the configuration this process last validated and
// loaded, and how it uses its caches (recordCaches): what publish writes.
var lastLoaded atomic.Pointer[loadedState]

type loadedState struct {
	dirs   *directives.Config
	caches []CacheState
}

// recordCaches notes how the loaded configuration c uses its shared
// caches: in use, or the reason modtls fell back to a cache in each
// process (it logged that at notice level).
func recordCaches(c *Config) {
	var out []CacheState
	st := modtls.SettingsOf(c.Dirs.Main)
	for _, k := range []struct {
		directive string
		spec      modtls.CacheSpec
		fallback  func(*modtls.TLS) error
	}{
		{"TLSSessionCache", st.SessionCache, (*modtls.TLS).SessionCacheFallback},
		{"TLSStaplingCache", st.StaplingCache, (*modtls.TLS).OCSPCacheFallback},
	} {
		if !k.spec.Configured || k.spec.Off || k.spec.Provider == modtls.InternalCache || c.TLS == nil {
			continue
		}
		cs := CacheState{Directive: k.directive, Provider: k.spec.Provider, Shared: true}
		if err := k.fallback(c.TLS); err != nil {
			cs.Shared, cs.Reason = false, err.Error()
		}
		out = append(out, cs)
	}
	lastLoaded.Store(&loadedState{dirs: c.Dirs, caches: out})
}

// activePublisher is the running server's publisher, for republish.
var activePublisher atomic.Pointer[publisher]

// publisher writes the PidFile and the state file of a running server.
type publisher struct {
	mu        sync.Mutex
	log       logrus.FieldLogger
	started   time.Time
	pidFile   string
	stateFile string
}

// publish writes the PidFile and the state of the server running the
// configuration last loaded (recordCaches). Failures are logged, not
// fatal: ProFTPD logs an unwritable PidFile and goes on. republish
// rewrites them after a reload; remove deletes them at exit.
func publish(log logrus.FieldLogger) *publisher {
	p := &publisher{log: log, started: time.Now()}
	if l := lastLoaded.Load(); l != nil {
		p.update(l.dirs)
	}
	activePublisher.Store(p)
	return p
}

// republish publishes the configuration last loaded, now in force (after
// a reload).
func republish() {
	if p, l := activePublisher.Load(), lastLoaded.Load(); p != nil && l != nil {
		p.update(l.dirs)
	}
	if m := activeMetrics.Load(); m != nil {
		m.refresh()
	}
}

// update publishes the state of dirs, now in force.
func (p *publisher) update(dirs *directives.Config) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pidFile := ""
	if n := firstNode(dirs.Main, "PidFile"); n != nil && len(n.Args) > 0 {
		pidFile = n.Args[0]
	}
	if pidFile != p.pidFile && p.pidFile != "" {
		os.Remove(p.pidFile)
	}
	p.pidFile = pidFile
	if pidFile != "" {
		if err := writeAtomic(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			p.log.Warnf("unable to open PidFile '%s': %v", pidFile, err)
		}
	}
	path := ""
	if pidFile != "" {
		path = pidFile + ".state"
	} else if dir, err := runtimeDir(true); err == nil {
		path = filepath.Join(dir, "serve-"+cacheKey(dirs)+".state")
	} else {
		p.log.Warnf("not publishing the server's state for the cache controls: %v", err)
	}
	if path != p.stateFile && p.stateFile != "" {
		os.Remove(p.stateFile)
	}
	p.stateFile = path
	if path == "" {
		return
	}
	st := ServerState{PID: os.Getpid(), Started: p.started, StartTicks: startTicks(os.Getpid())}
	if l := lastLoaded.Load(); l != nil {
		st.Caches = l.caches
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeAtomic(path, append(b, '\n'), 0o644); err != nil {
		p.log.Warnf("not publishing the server's state for the cache controls: %v", err)
	}
}

// remove deletes the PidFile and the state file.
func (p *publisher) remove() {
	if p == nil {
		return
	}
	activePublisher.CompareAndSwap(p, nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range []string{p.pidFile, p.stateFile} {
		if f != "" {
			os.Remove(f)
		}
	}
	p.pidFile, p.stateFile = "", ""
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed over it.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// startTicks is field 22 of /proc/PID/stat (0 if unknown).
func startTicks(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

// RunningState returns the state published by the server that runs cfg,
// or an error matching ErrNotRunning.
func RunningState(cfg *directives.Config) (*ServerState, error) {
	path, err := stateFile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotRunning, err)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || (st.Uid != 0 && int(st.Uid) != os.Geteuid()) || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a state file root or uid %d wrote; not trusting it", path, os.Geteuid())
	}
	var s ServerState
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.PID <= 0 || startTicks(s.PID) == 0 || startTicks(s.PID) != s.StartTicks {
		return nil, fmt.Errorf("%w (%s is left from process %d, which has exited)", ErrNotRunning, path, s.PID)
	}
	return &s, nil
}

// The -metrics endpoint: Prometheus's /metrics on an address the
// operator names, served by the master (or the single process). The
// caches' figures (tlsprom's ftpdtls_tls_cache_*) are those of their
// shared storage, the same from every process: the master reads them
// through an engine of its own on the configuration in force. The
// engine's per-connection counters (ftpdtls_tls_sessions_*,
// ftpdtls_tls_data_connections_total, ...) live in the process that
// serves the connections: a single process exports them; a master,
// whose workers count them, does not export counters it would show as
// zero.

// metricsServer is the running -metrics endpoint.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
	log logrus.FieldLogger

	mu     sync.Mutex
	own    *modtls.TLS // the master's engine for the caches' figures
	ownFor *directives.Config
}

// activeMetrics is the master's endpoint, for republish to refresh.
var activeMetrics atomic.Pointer[metricsServer]

// startMetrics serves /metrics on addr ("" starts nothing). current
// returns the engine in force of a single process; nil means a master,
// which opens its own on the configuration last loaded. A failure to
// bind stops serve: the operator asked for the endpoint.
func startMetrics(addr string, current func() *modtls.TLS, log logrus.FieldLogger) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics %s: %w", addr, err)
	}
	m := &metricsServer{ln: ln, log: log}
	reg := prometheus.NewRegistry()
	if current != nil {
		reg.MustRegister(tlsprom.NewCollector(current))
	} else {
		m.refresh()
		reg.MustRegister(cacheOnly{tlsprom.NewCollector(m.engine)})
		activeMetrics.Store(m)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: metricsErrorLog{log}}))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(ln)
	log.Infof("serving metrics on http://%s/metrics", ln.Addr())
	return m, nil
}

// Addr is where the endpoint listens.
func (m *metricsServer) Addr() net.Addr { return m.ln.Addr() }

func (m *metricsServer) engine() *modtls.TLS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.own
}

// refresh opens the master's engine on the configuration last loaded,
// when it changed (a reload), and closes the previous one.
func (m *metricsServer) refresh() {
	l := lastLoaded.Load()
	if l == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ownFor == l.dirs {
		return
	}
	st := modtls.SettingsOf(l.dirs.Main)
	var eng *modtls.TLS
	if st.Engine {
		var err error
		// Its notices (a cache that cannot be opened) were logged when
		// the configuration was validated.
		if eng, err = modtls.Open(l.dirs, modtls.Env{}); err != nil {
			m.log.Warnf("metrics: cache figures unavailable: %v", err)
			eng = nil
		}
	}
	if m.own != nil {
		m.own.Close()
	}
	m.own, m.ownFor = eng, l.dirs
}

// stop closes the endpoint and the master's engine.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	activeMetrics.CompareAndSwap(m, nil)
	m.srv.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.own != nil {
		m.own.Close()
		m.own = nil
	}
}

// cacheOnly passes on a tlsprom collector's cache metrics only.
type cacheOnly struct{ c prometheus.Collector }

func (c cacheOnly) Describe(ch chan<- *prometheus.Desc) {
	all := make(chan *prometheus.Desc)
	go func() { c.c.Describe(all); close(all) }()
	for d := range all {
		if isCacheDesc(d) {
			ch <- d
		}
	}
}

func (c cacheOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { c.c.Collect(all); close(all) }()
	for m := range all {
		if isCacheDesc(m.Desc()) {
			ch <- m
		}
	}
}

func isCacheDesc(d *prometheus.Desc) bool {
	return strings.Contains(d.String(), `fqName: "ftpdtls_tls_cache_`)
}

type metricsErrorLog struct{ log logrus.FieldLogger }

func (l metricsErrorLog) Println(v ...any) { l.log.Warn(append([]any{"metrics: "}, v...)...) }

// currentTLS is the engine of the configuration in force in a single
// process (its -metrics).
func (s *server) currentTLS() *modtls.TLS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.TLS
}
