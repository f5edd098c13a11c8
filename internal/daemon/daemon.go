// Package daemon turns a proftpd.conf into a running FTPS server: the
// engine of `ftpdtls serve`.
//
// # Processes
//
// Started as root, serve runs as ProFTPD does, in processes that each
// hold only the privileges they need (see internal/privsep for the
// channels between them):
//
//   - The master stays root and never reads what clients send. It
//     validates the whole configuration (users, certificates and keys,
//     caches, logs: each opened once) before it starts anything, binds
//     the listener, accepts connections and hands each to a worker, checks
//     passwords, counts MaxInstances and the Max* login limits across all
//     workers, and starts the brokers. The shm cache segments are created
//     by the master, owned by root with mode 0600.
//   - Workers (-workers N, at least one) are this program executed again.
//     Each loads the configuration the master validated (its text, not
//     the file again), opens certificates, keys, logs and cache segments
//     as root, then drops for good to User/Group (nobody/nogroup by
//     default; root is refused) and speaks FTP and TLS with the clients.
//   - A broker per uid, started at its user's first login with the uid,
//     gid and groups of the AuthUserFile entry (and AuthGroupFile), does
//     every file operation of that user's sessions, each confined to its
//     session root, and passes the opened files back to the worker. No
//     broker runs as root (an entry with uid 0 logs in only under
//     RootLogin on, as in ProFTPD).
//
// Not started as root, serve cannot change identity: every session acts
// as the invoking user, and users whose AuthUserFile uid differs are
// refused at login (ProFTPD cannot switch to them either). Without
// -workers it serves in one process; with -workers N it runs a master
// and workers as above, without brokers.
//
// # Signals
//
//   - SIGINT or SIGTERM: stop accepting; running transfers are aborted
//     (426, a partial upload handled as the store rules say) and sessions
//     closed (421); whatever still runs after the grace period
//     (Options.Grace, 10 s by default) is cut or killed. The cache
//     segments stay, so TLS sessions survive a restart.
//   - SIGHUP: read and validate the configuration again. If it is good, a
//     new generation of workers runs it and the old workers finish their
//     sessions; if not, nothing changes and the error is logged. Workers
//     that die are replaced from the last good configuration. A changed
//     Port or DefaultAddress needs a restart.
//
// # Supervision
//
// A worker that fails while the first generation starts stops the master
// with that worker's error. Workers that die later are replaced after a
// growing delay; after Options.RestartBudget restarts within
// Options.RestartWindow the master gives up and exits with an error. The
// listener accepts only while some worker can take the connection.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/privsep"
)

// ShutdownGrace is the default of Options.Grace: how long sessions may go
// on after SIGTERM before they are cut.
var ShutdownGrace = 10 * time.Second

// Options configure Run.
type Options struct {
	// ConfigPath is the proftpd.conf to serve; "" runs the embedded
	// default (DefaultConf) in a new temporary directory.
	ConfigPath string
	// Workers > 0 runs a master and that many worker processes. As root
	// there is always a master and at least one worker.
	Workers int
	// Stdout receives the banner of the default configuration; Stderr
	// the system log. Nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Listener, if set, is served instead of binding the configured
	// address (tests pass a 127.0.0.1:0 listener).
	Listener net.Listener
	// Signals, if set, replaces the process's SIGINT, SIGTERM and SIGHUP.
	Signals <-chan os.Signal
	// Ready, if set, is called with the listener's address once serving.
	Ready func(net.Addr)

	// Grace bounds a shutdown: transfers are aborted at once, sessions
	// closed, and what still runs after Grace is cut (0: ShutdownGrace).
	Grace time.Duration
	// RestartBudget is how many workers may be restarted within
	// RestartWindow before the master gives up (0: 5 within 60 s).
	// Restart delays start at RestartDelay (0: 500 ms) and double.
	RestartBudget int
	RestartWindow time.Duration
	RestartDelay  time.Duration
	// StartTimeout bounds the start of a generation of workers (0: 60 s).
	StartTimeout time.Duration
	// BrokerIdle is how long a broker without sessions lives on (0: 30 s).
	BrokerIdle time.Duration
	// Metrics, if set, is the address (host:port) where Prometheus's
	// /metrics is served (see startMetrics).
	Metrics string
}

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Grace <= 0 {
		o.Grace = ShutdownGrace
	}
	if o.RestartBudget <= 0 {
		o.RestartBudget = 5
	}
	if o.RestartWindow <= 0 {
		o.RestartWindow = time.Minute
	}
	if o.RestartDelay <= 0 {
		o.RestartDelay = 500 * time.Millisecond
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = time.Minute
	}
	if o.BrokerIdle <= 0 {
		o.BrokerIdle = 30 * time.Second
	}
}

// IsChild reports whether this process is a worker or a broker started
// by a master; Run then plays that part whatever the options say.
func IsChild() bool { return IsWorker() || privsep.IsBroker() }

// Run serves until ctx is done or a SIGINT or SIGTERM arrives. In a
// worker or broker process (IsChild) it plays that part.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	if privsep.IsBroker() {
		if status := privsep.BrokerMain(o.Stderr); status != 0 {
			return fmt.Errorf("broker exited with status %d", status)
		}
		return nil
	}
	log := newSystemLog(o.Stderr)
	if IsWorker() {
		return runWorker(log)
	}
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}

	var home *Home
	if o.ConfigPath == "" {
		h, err := NewHome()
		if err != nil {
			return fmt.Errorf("default configuration: %w", err)
		}
		home = h
		defer home.cleanup(log)
	}
	if o.Workers > 0 || os.Geteuid() == 0 {
		return runMaster(ctx, o, home, log, sigs)
	}
	cfg, err := Load(o.ConfigPath, home.dir(), log)
	if err != nil {
		return err
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			cfg.Close()
			return fmt.Errorf("listen: %w", err)
		}
	}
	if home != nil {
		fmt.Fprint(o.Stdout, home.Banner(ln.Addr().String()))
	}
	return serve(ctx, o, cfg, ln, home.dir(), log, sigs)
}

// server is a single process's serving state: the listener and the
// configuration in force, plus those retired by reloads whose sessions
// have not ended yet.
type server struct {
	ln      net.Listener
	log     *logrus.Logger
	path    string
	home    string
	grace   time.Duration
	counter *counter // the limits, across reloads

	mu      sync.Mutex
	cur     *Config
	retired map[*Config]struct{} // replaced, with sessions still running
	active  map[*Config]int      // sessions by configuration
}

func serve(ctx context.Context, o Options, cfg *Config, ln net.Listener, home string, log *logrus.Logger, sigs <-chan os.Signal) error {
	s := &server{ln: ln, log: log, path: o.ConfigPath, home: home, grace: o.Grace, cur: cfg, retired: map[*Config]struct{}{},
		active: map[*Config]int{}, counter: newCounter(cfg.Limits)}
	cfg.FTP.Admission = localAdmission{s.counter}
	id := cfg.Identity
	log.Infof("notice: not started as root: every session acts as uid %d gid %d; AuthUserFile users with another uid are refused at login",
		id.Self.Uid, id.Self.Gid)
	accepted := make(chan error, 1)
	go func() { accepted <- s.acceptLoop() }()
	log.Infof("ftpdtls %s: listening on %s", describe(o.ConfigPath), ln.Addr())
	logStartup(log)
	defer publish(log).remove()
	ms, err := startMetrics(o.Metrics, s.currentTLS, log)
	if err != nil {
		s.shutdown()
		return err
	}
	defer ms.stop()
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.reload()
				continue
			}
			logSignal(log, sig)
			break loop
		case err := <-accepted:
			runErr = err
			break loop
		}
	}
	s.shutdown()
	return runErr
}

func describe(path string) string {
	if path == "" {
		return "embedded default configuration"
	}
	return path
}

// acceptLoop hands each connection to the configuration in force.
func (s *server) acceptLoop() error {
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warnf("accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		s.mu.Lock()
		cfg := s.cur
		s.active[cfg]++
		s.mu.Unlock()
		go func() {
			cfg.FTP.ServeConn(cfg.Proxy.Wrap(conn))
			s.mu.Lock()
			s.active[cfg]--
			_, retired := s.retired[cfg]
			last := retired && s.active[cfg] == 0
			if last {
				delete(s.retired, cfg)
				delete(s.active, cfg)
			}
			s.mu.Unlock()
			if last {
				cfg.Close()
			}
		}()
	}
}

// reload loads the configuration again and, if it loads, makes it the
// one new sessions get; sessions of the old one go on under it, and its
// caches are closed when the last has ended.
func (s *server) reload() {
	s.log.Info("received SIGHUP -- master server reparsing configuration file")
	cfg, err := Load(s.path, s.home, s.log)
	if err != nil {
		s.log.Errorf("error reloading configuration, keeping the current one: %v", err)
		return
	}
	cfg.FTP.Admission = localAdmission{s.counter}
	s.counter.setLimits(cfg.Limits)
	s.mu.Lock()
	old := s.cur
	if cfg.Addr != old.Addr {
		s.log.Warnf("listening address changed from %s to %s: restart ftpdtls for it to take effect", old.Addr, cfg.Addr)
	}
	s.cur = cfg
	idle := s.active[old] == 0
	if idle {
		delete(s.active, old)
	} else {
		s.retired[old] = struct{}{}
	}
	s.mu.Unlock()
	if idle {
		old.Close()
	}
	republish()
	s.log.Info("configuration reloaded")
}

// shutdown closes the listener, aborts transfers and closes sessions,
// cutting what still runs after the grace period, and closes the
// configurations.
func (s *server) shutdown() {
	s.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	s.mu.Lock()
	all := []*Config{s.cur}
	for c := range s.retired {
		all = append(all, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(func() {
			if err := c.FTP.Shutdown(ctx); err != nil {
				s.log.Infof("cut sessions still running after %v", s.grace)
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Close()
	for c := range s.retired {
		c.Close()
	}
	logShutdown(s.log)
}

// dir is the home directory of the default configuration, "" for none.
func (h *Home) dir() string {
	if h == nil {
		return ""
	}
	return h.Dir
}

// cleanup removes the default configuration's caches and directory: with
// a fresh directory and password each run, nothing could use them again.
func (h *Home) cleanup(log logrus.FieldLogger) {
	if dirs, err := Parse("", h.Dir); err == nil {
		if err := RemoveCaches(dirs); err != nil {
			log.Warnf("removing the default configuration's caches: %v", err)
		}
	}
	os.RemoveAll(h.Dir)
}
