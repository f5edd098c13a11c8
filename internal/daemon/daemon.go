// Package daemon turns a proftpd.conf into a running FTPS server: the
// engine of `ftpdtls serve`.
//
// Load parses a configuration (or the embedded default) and opens what it
// names: the AuthUserFile, mod_tls with its session and OCSP caches, the
// PROXY protocol settings. Run binds the control listener and serves until
// it is told to stop:
//
//   - SIGINT or SIGTERM: close the listener, let sessions finish for a
//     grace period, then cut them, and close the caches. The shared
//     segments stay, so TLS sessions survive a restart.
//   - SIGHUP: read the configuration again. New sessions use the new
//     configuration and running ones finish under the old. If the new one
//     does not load, the old stays in force and the error is logged. A
//     changed Port or DefaultAddress needs a restart.
//
// With Workers > 0, Run is a master that re-executes the program N times.
// The workers inherit the listening socket (file descriptor 3) and accept
// from it in turn, so consecutive connections of one client may land on
// different workers; their TLS sessions still resume there, through the
// shared cache. The master restarts a worker that dies and forwards
// SIGHUP and SIGTERM to them.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Environment variables by which a master tells a worker what it is.
const (
	workerEnv     = "FTPDTLS_WORKER"      // the worker's number, 1..N
	workerHomeEnv = "FTPDTLS_WORKER_HOME" // the default configuration's directory
	listenerFD    = 3                     // the inherited listener (ExtraFiles[0])
)

// ShutdownGrace is how long sessions may go on after SIGTERM before they
// are cut.
var ShutdownGrace = 10 * time.Second

// Options configure Run.
type Options struct {
	// ConfigPath is the proftpd.conf to serve; "" runs the embedded
	// default (DefaultConf) in a new temporary directory.
	ConfigPath string
	// Workers > 0 runs a master and that many worker processes.
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
}

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

// IsWorker reports whether this process was started as a worker by a
// master.
func IsWorker() bool { return os.Getenv(workerEnv) != "" }

// Run serves until ctx is done or a SIGINT or SIGTERM arrives. In a worker
// process (IsWorker) it serves the inherited listener whatever o says
// about workers.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	log := newSystemLog(o.Stderr)
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		if IsWorker() {
			// A terminal's ^C reaches the whole process group; workers
			// leave it to the master, which stops them with SIGTERM.
			signal.Ignore(syscall.SIGINT)
			signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP)
		} else {
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		}
		defer signal.Stop(ch)
		sigs = ch
	}
	if IsWorker() {
		return runWorker(ctx, o, log, sigs)
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
	if o.Workers > 0 {
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

// runWorker serves the listener inherited from the master.
func runWorker(ctx context.Context, o Options, log *logrus.Logger, sigs <-chan os.Signal) error {
	f := os.NewFile(listenerFD, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("worker %s: inherited listener: %w", os.Getenv(workerEnv), err)
	}
	home := os.Getenv(workerHomeEnv)
	cfg, err := Load(o.ConfigPath, home, log)
	if err != nil {
		ln.Close()
		return err
	}
	log.Infof("worker %s serving %s", os.Getenv(workerEnv), ln.Addr())
	return serve(ctx, o, cfg, ln, home, log, sigs)
}

// server is one process's serving state: the listener and the
// configuration in force, plus those retired by reloads whose sessions
// have not ended yet.
type server struct {
	ln   net.Listener
	log  *logrus.Logger
	path string
	home string

	mu      sync.Mutex
	cur     *Config
	retired map[*Config]struct{}
}

func serve(ctx context.Context, o Options, cfg *Config, ln net.Listener, home string, log *logrus.Logger, sigs <-chan os.Signal) error {
	s := &server{ln: ln, log: log, path: o.ConfigPath, home: home, cur: cfg, retired: map[*Config]struct{}{}}
	accepted := make(chan error, 1)
	go func() { accepted <- s.acceptLoop() }()
	log.Infof("ftpdtls %s: listening on %s", describe(o.ConfigPath), ln.Addr())
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
			log.Infof("received %v, shutting down", sig)
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
				errors.Is(err, syscall.ECONNABORTED) {
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
		s.mu.Unlock()
		go cfg.FTP.ServeConn(cfg.Proxy.Wrap(conn))
	}
}

// reload loads the configuration again and, if it loads, makes it the
// one new sessions get.
func (s *server) reload() {
	s.log.Info("received SIGHUP -- master server reparsing configuration file")
	cfg, err := Load(s.path, s.home, s.log)
	if err != nil {
		s.log.Errorf("error reloading configuration, keeping the current one: %v", err)
		return
	}
	s.mu.Lock()
	old := s.cur
	if cfg.Addr != old.Addr {
		s.log.Warnf("listening address changed from %s to %s: restart ftpdtls for it to take effect", old.Addr, cfg.Addr)
	}
	s.cur = cfg
	s.retired[old] = struct{}{}
	s.mu.Unlock()
	s.log.Info("configuration reloaded")
	go func() {
		// Sessions of the old configuration end on their own (QUIT,
		// idle timeout); then its caches are closed.
		old.FTP.Shutdown(context.Background())
		old.Close()
		s.mu.Lock()
		delete(s.retired, old)
		s.mu.Unlock()
	}()
}

// shutdown closes the listener, gives sessions ShutdownGrace to finish,
// cuts the rest and closes the configurations.
func (s *server) shutdown() {
	s.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
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
				s.log.Infof("cut sessions still running after %v", ShutdownGrace)
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
	s.log.Info("ftpdtls shut down")
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
		if err := removeCaches(dirs); err != nil {
			log.Warnf("removing the default configuration's caches: %v", err)
		}
	}
	os.RemoveAll(h.Dir)
}

// ---- master ----

func runMaster(ctx context.Context, o Options, home *Home, log *logrus.Logger, sigs <-chan os.Signal) error {
	// Parse (without opening caches) to refuse a bad configuration before
	// any worker starts, and to learn the address.
	dirs, err := Parse(o.ConfigPath, home.dir())
	if err != nil {
		return err
	}
	ln := o.Listener
	if ln == nil {
		addr := net.JoinHostPort(firstOr(dirs.Main.Addrs, ""), strconv.Itoa(dirs.Main.Port))
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	defer ln.Close()
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("workers need a TCP listener, not %T", ln)
	}
	lnFile, err := tl.File()
	if err != nil {
		return fmt.Errorf("listener file: %w", err)
	}
	defer lnFile.Close()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("workers: %w", err)
	}
	if home != nil {
		fmt.Fprint(o.Stdout, home.Banner(ln.Addr().String()))
	}
	log.Infof("ftpdtls master: %s on %s, %d workers", describe(o.ConfigPath), ln.Addr(), o.Workers)

	m := &master{exe: exe, args: os.Args[1:], lnFile: lnFile, home: home.dir(), log: log, stderr: o.Stderr,
		procs: make(map[int]*os.Process), exited: make(chan exit), stopped: make(chan struct{})}
	for id := 1; id <= o.Workers; id++ {
		if err := m.start(id); err != nil {
			m.stop()
			return err
		}
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	for {
		select {
		case <-ctx.Done():
			m.stop()
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if _, err := Parse(o.ConfigPath, home.dir()); err != nil {
					log.Errorf("error reloading configuration, workers keep the current one: %v", err)
					continue
				}
				m.signal(syscall.SIGHUP)
				continue
			}
			log.Infof("received %v, stopping workers", sig)
			m.stop()
			return nil
		case e := <-m.exited:
			m.restart(e)
		}
	}
}

type exit struct {
	id      int
	pid     int
	err     error
	started time.Time
}

type master struct {
	exe    string
	args   []string
	lnFile *os.File
	home   string
	log    *logrus.Logger
	stderr io.Writer

	mu       sync.Mutex
	procs    map[int]*os.Process
	stopping bool
	exited   chan exit     // unexpected exits, read by the master's loop
	stopped  chan struct{} // closed by stop: nobody reads exited any more
	wg       sync.WaitGroup
}

// start runs worker id.
func (m *master) start(id int) error {
	cmd := execWorker(m.exe, m.args, id, m.home, m.lnFile, m.stderr)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %d: %w", id, err)
	}
	m.mu.Lock()
	m.procs[id] = cmd.Process
	m.mu.Unlock()
	m.log.Infof("worker %d (pid %d) started", id, cmd.Process.Pid)
	started := time.Now()
	m.wg.Go(func() {
		err := cmd.Wait()
		m.mu.Lock()
		delete(m.procs, id)
		stopping := m.stopping
		m.mu.Unlock()
		if !stopping {
			select {
			case m.exited <- exit{id: id, pid: cmd.Process.Pid, err: err, started: started}:
			case <-m.stopped:
			}
		}
	})
	return nil
}

// restart starts a worker that died again, after a pause if it died
// young, so that a worker that cannot start does not spin.
func (m *master) restart(e exit) {
	m.log.Warnf("worker %d (pid %d) exited: %v; restarting it", e.id, e.pid, e.err)
	if time.Since(e.started) < time.Second {
		time.Sleep(time.Second)
	}
	m.mu.Lock()
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return
	}
	if err := m.start(e.id); err != nil {
		m.log.Errorf("%v", err)
		go func() {
			time.Sleep(5 * time.Second)
			select {
			case m.exited <- e:
			case <-m.stopped:
			}
		}()
	}
}

func (m *master) signal(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		p.Signal(sig)
	}
}

// stop sends SIGTERM to every worker and waits for them, killing those
// still running after the shutdown grace period and a little more.
func (m *master) stop() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	close(m.stopped)
	m.signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(ShutdownGrace + 5*time.Second):
		m.signal(syscall.SIGKILL)
		<-done
	}
	m.log.Info("all workers stopped")
}
