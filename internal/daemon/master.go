package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
)

// The master never reads what clients send: it validates configurations,
// accepts connections and hands them to workers, checks passwords, counts
// the limits, and starts the workers and the brokers. Everything it
// receives from workers is a privsep record of bounded size.

// masterConfig is a configuration the master validated: what it needs
// itself (the user file, the limits, who serves) and the text workers
// will run.
type masterConfig struct {
	src    *source
	digest string
	users  *userDB
	limits limitSettings
	id     identity
	addr   string
}

// validate loads a configuration completely, as a worker would (user
// file, certificates and keys, caches, logs), then closes what it opened:
// a worker can only fail on what changed on disk since.
func validate(path, home string, log logrus.FieldLogger) (*masterConfig, error) {
	src, err := readSource(path, home)
	if err != nil {
		return nil, err
	}
	cfg, err := load(src, asMaster, os.Geteuid(), log)
	if err != nil {
		return nil, err
	}
	if err := cfg.Close(); err != nil {
		log.Warnf("closing the validated configuration: %v", err)
	}
	if cfg.Identity.Privileged {
		if err := checkExecutable(); err != nil {
			return nil, err
		}
	}
	return &masterConfig{src: src, digest: cfg.Digest, users: cfg.users, limits: cfg.Limits, id: cfg.Identity, addr: cfg.Addr}, nil
}

// checkExecutable: brokers run this program as each user, who must be
// allowed to execute it.
func checkExecutable() error {
	fi, err := os.Stat("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("this program: %w", err)
	}
	if fi.Mode().Perm()&0o001 == 0 {
		exe, _ := os.Executable()
		return fmt.Errorf("%s is not executable by other users (mode %v); the processes that act for each FTP user run it: chmod o+x it",
			exe, fi.Mode().Perm())
	}
	return nil
}

// generation is the set of workers running one configuration.
type generation struct {
	n       int
	cfg     *masterConfig
	slots   []*workerProc // by slot-1; nil while a slot waits for a restart
	started bool          // every worker reported Ready once
}

// workerProc is a worker as the master sees it.
type workerProc struct {
	gen      *generation
	slot     int
	cmd      *exec.Cmd
	ch       *privsep.Conn
	ready    bool
	draining bool
	fatal    string
	conns    map[uint64]struct{}
	tickets  map[uint64]func()
	logins   int // password checks in progress
	exited   chan struct{}
}

// maxLoginsPerWorker bounds the password checks a worker may have in
// progress: each costs the master a goroutine and CPU.
const maxLoginsPerWorker = 256

func (w *workerProc) String() string {
	return fmt.Sprintf("worker %d (pid %d)", w.slot, w.cmd.Process.Pid)
}

type connEntry struct {
	w       *workerProc
	release func()
}

// master events, handled one at a time by run.
type (
	evReady struct{ w *workerProc }
	evExit  struct {
		w   *workerProc
		err error
	}
	evRestart struct {
		gen  *generation
		slot int
	}
	evAcceptFailed   struct{ err error }
	evPendingTimeout struct{ gen *generation }
)

type master struct {
	o      Options
	log    *logrus.Logger
	ln     net.Listener
	home   string
	events chan any
	done   chan struct{} // closed when the master has stopped
	// stopCh is closed when the master starts to stop.
	stopCh  chan struct{}
	counter *counter
	brokers *privsep.Brokers // nil without privileges
	logins  chan struct{}    // bounds concurrent password checks

	mu       sync.Mutex
	serving  *sync.Cond // the set of workers that can take connections changed
	cfg      *masterConfig
	current  *generation
	pending  *generation // a reload's workers, starting
	gens     int
	workers  map[*workerProc]struct{}
	conns    map[uint64]*connEntry
	nextConn uint64
	nextTkt  uint64
	stopping bool
	restarts []time.Time
	acceptWG sync.WaitGroup
}

// runMaster validates the configuration, binds the listener, starts the
// first generation of workers and supervises them until a signal stops
// it or the workers cannot be kept running.
func runMaster(ctx context.Context, o Options, home *Home, log *logrus.Logger, sigs <-chan os.Signal) error {
	cfg, err := validate(o.ConfigPath, home.dir(), log)
	if err != nil {
		return err
	}
	m := &master{o: o, log: log, home: home.dir(), events: make(chan any, 64), done: make(chan struct{}), stopCh: make(chan struct{}), counter: newCounter(cfg.limits),
		cfg: cfg, workers: map[*workerProc]struct{}{}, conns: map[uint64]*connEntry{},
		logins: make(chan struct{}, 2*runtime.NumCPU())}
	m.serving = sync.NewCond(&m.mu)
	m.logIdentity(cfg.id)
	if cfg.id.Privileged {
		m.brokers = &privsep.Brokers{Args: childArgs(), Stderr: o.Stderr, Idle: o.BrokerIdle, AllowRoot: cfg.users.rootLogin,
			Logf: func(f string, a ...any) { log.Infof(f, a...) }}
	}

	m.ln = o.Listener
	if m.ln == nil {
		if m.ln, err = net.Listen("tcp", cfg.addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	defer m.ln.Close()
	if home != nil {
		fmt.Fprint(o.Stdout, home.Banner(m.ln.Addr().String()))
	}
	log.Infof("ftpdtls master: %s on %s, %d workers", describe(o.ConfigPath), m.ln.Addr(), max(o.Workers, 1))
	logStartup(log)
	defer publish(log).remove()
	ms, err := startMetrics(o.Metrics, nil, log)
	if err != nil {
		return err
	}
	defer ms.stop()

	m.mu.Lock()
	m.current, err = m.startGeneration(cfg)
	m.mu.Unlock()
	if err != nil {
		return m.stop(err)
	}
	startup := time.NewTimer(o.StartTimeout)
	defer startup.Stop()
	for {
		select {
		case <-ctx.Done():
			return m.stop(nil)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				m.reload()
				continue
			}
			logSignal(log, sig)
			return m.stop(nil)
		case <-startup.C:
			m.mu.Lock()
			started := m.current.started
			m.mu.Unlock()
			if !started {
				return m.stop(fmt.Errorf("workers not ready after %v", o.StartTimeout))
			}
		case ev := <-m.events:
			if err := m.handle(ev); err != nil {
				return m.stop(err)
			}
		}
	}
}

func (m *master) logIdentity(id identity) {
	switch {
	case !id.Privileged:
		m.log.Infof("notice: not started as root: every session acts as uid %d gid %d; AuthUserFile users with another uid are refused at login",
			id.Self.Uid, id.Self.Gid)
	case id.Defaulted:
		m.log.Infof("notice: no User/Group configured: workers serve as %s/%s", id.UserName, id.GroupName)
	}
}

// childArgs is the command line of workers and brokers: the master's
// own, so that ps shows what they belong to.
func childArgs() []string { return append([]string(nil), os.Args...) }

// handle reacts to one event; an error stops the master.
func (m *master) handle(ev any) error {
	var ready bool
	defer func() {
		if ready && m.o.Ready != nil {
			m.o.Ready(m.ln.Addr())
		}
	}()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev := ev.(type) {
	case evReady:
		w := ev.w
		if _, alive := m.workers[w]; !alive || m.stopping {
			return nil
		}
		w.ready = true
		g := w.gen
		if !g.started && g.allReady() {
			g.started = true
			if g == m.pending {
				m.promote(g)
			} else if g == m.current {
				m.log.Infof("generation %d ready: %d workers", g.n, len(g.slots))
				m.acceptWG.Go(m.acceptLoop)
				ready = true
			}
		}
		m.serving.Broadcast()
	case evExit:
		return m.exited(ev.w, ev.err)
	case evRestart:
		if ev.gen != m.current || m.stopping || ev.gen.slots[ev.slot-1] != nil {
			return nil
		}
		if _, err := m.startWorker(ev.gen, ev.slot); err != nil {
			return m.restartLater(ev.gen, ev.slot, err)
		}
	case evAcceptFailed:
		return ev.err
	case evPendingTimeout:
		if ev.gen == m.pending {
			m.log.Errorf("error reloading configuration, keeping the current one: workers not ready after %v", m.o.StartTimeout)
			m.abandon(ev.gen)
		}
	}
	return nil
}

func (g *generation) allReady() bool {
	for _, w := range g.slots {
		if w == nil || !w.ready {
			return false
		}
	}
	return true
}

// exited handles the end of a worker; m.mu is held.
func (m *master) exited(w *workerProc, err error) error {
	delete(m.workers, w)
	for id := range w.conns {
		if e := m.conns[id]; e != nil {
			e.release()
			delete(m.conns, id)
		}
	}
	for _, rel := range w.tickets {
		rel()
	}
	w.conns, w.tickets = nil, nil
	g := w.gen
	if g.slots[w.slot-1] == w {
		g.slots[w.slot-1] = nil
	}
	m.serving.Broadcast()
	why := w.fatal
	if why == "" {
		why = fmt.Sprint(err)
	}
	switch {
	case m.stopping:
		return nil
	case w.draining:
		m.log.Infof("%s of generation %d finished", w, g.n)
		return nil
	case g == m.pending:
		m.log.Errorf("error reloading configuration, keeping the current one: %s", why)
		m.abandon(g)
		return nil
	case g != m.current:
		return nil
	case !g.started:
		return fmt.Errorf("%s failed to start: %s", w, why)
	}
	m.log.Errorf("%s exited: %s", w, why)
	return m.restartLater(g, w.slot, errors.New(why))
}

// restartLater schedules a replacement for a slot with a growing delay,
// or gives up when the budget is spent: then the master stops, and its
// exit status says it failed.
func (m *master) restartLater(g *generation, slot int, cause error) error {
	now := time.Now()
	recent := m.restarts[:0]
	for _, t := range m.restarts {
		if now.Sub(t) < m.o.RestartWindow {
			recent = append(recent, t)
		}
	}
	m.restarts = recent
	if len(m.restarts) >= m.o.RestartBudget {
		return fmt.Errorf("workers keep failing (%d restarts within %v), giving up; last: %v", len(m.restarts), m.o.RestartWindow, cause)
	}
	m.restarts = append(m.restarts, now)
	delay := m.o.RestartDelay << (len(m.restarts) - 1)
	m.log.Warnf("restarting worker %d in %v (restart %d of at most %d within %v)", slot, delay, len(m.restarts), m.o.RestartBudget, m.o.RestartWindow)
	time.AfterFunc(delay, func() { m.event(evRestart{gen: g, slot: slot}) })
	return nil
}

// event hands an event to run; after the master has stopped, nobody
// reads them any more.
func (m *master) event(ev any) {
	select {
	case m.events <- ev:
	case <-m.done:
	}
}

// startGeneration starts the workers of a configuration; m.mu is held.
func (m *master) startGeneration(cfg *masterConfig) (*generation, error) {
	m.gens++
	n := max(m.o.Workers, 1)
	g := &generation{n: m.gens, cfg: cfg, slots: make([]*workerProc, n)}
	for slot := 1; slot <= n; slot++ {
		if _, err := m.startWorker(g, slot); err != nil {
			m.abandon(g)
			return nil, err
		}
	}
	return g, nil
}

// startWorker starts the worker of a slot; m.mu is held.
func (m *master) startWorker(g *generation, slot int) (*workerProc, error) {
	cfg := g.cfg
	spec := &workerSpec{Generation: g.n, Worker: slot, Source: cfg.src, Digest: cfg.digest, Privileged: cfg.id.Privileged, Cred: cfg.id.Worker,
		GraceMillis: m.o.Grace.Milliseconds()}
	if cfg.users != nil {
		dir := cfg.users.directory()
		spec.Users, spec.Groups, spec.Homes = dir.users, dir.groups, dir.homes
	}
	specFile, err := spec.file()
	if err != nil {
		return nil, err
	}
	defer specFile.Close()
	ch, theirs, err := privsep.Pair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        childArgs(),
		Env:         append(os.Environ(), workerEnv+"="+strconv.Itoa(slot)),
		Dir:         "/",
		Stdout:      m.o.Stderr,
		Stderr:      m.o.Stderr,
		ExtraFiles:  []*os.File{theirs, specFile},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	}
	if err := cmd.Start(); err != nil {
		ch.Close()
		return nil, fmt.Errorf("start worker %d: %w", slot, err)
	}
	w := &workerProc{gen: g, slot: slot, cmd: cmd, ch: ch, conns: map[uint64]struct{}{}, tickets: map[uint64]func(){}, exited: make(chan struct{})}
	g.slots[slot-1] = w
	m.workers[w] = struct{}{}
	m.log.Infof("%s of generation %d started", w, g.n)
	read := make(chan struct{})
	go func() {
		defer close(read)
		m.readWorker(w)
	}()
	go func() {
		err := cmd.Wait()
		// The worker's last records (Fatal) are read before its exit
		// is handled.
		<-read
		ch.Close()
		close(w.exited)
		m.event(evExit{w: w, err: err})
	}()
	return w, nil
}

// readWorker follows a worker's records until its channel closes.
func (m *master) readWorker(w *workerProc) {
	for {
		r, err := w.ch.Recv()
		if err != nil {
			if !privsep.IsClosed(err) {
				m.kill(w, err)
			}
			return
		}
		r.Close() // workers never send descriptors
		if err := m.record(w, r); err != nil {
			m.kill(w, err)
			return
		}
	}
}

// kill ends a worker that broke the protocol.
func (m *master) kill(w *workerProc, err error) {
	m.log.Errorf("%s: %v; killing it", w, err)
	w.cmd.Process.Signal(syscall.SIGKILL)
}

func (m *master) record(w *workerProc, r *privsep.Record) error {
	switch r.Type {
	case privsep.TypeReady:
		var msg privsep.Ready
		if err := r.Decode(&msg); err != nil {
			return err
		}
		go m.event(evReady{w})
	case privsep.TypeFatal:
		var msg privsep.Fatal
		if err := r.Decode(&msg); err != nil {
			return err
		}
		m.mu.Lock()
		w.fatal = msg.Err
		m.mu.Unlock()
	case privsep.TypeLogin:
		var msg privsep.Login
		if err := r.Decode(&msg); err != nil {
			return err
		}
		m.mu.Lock()
		busy := w.logins >= maxLoginsPerWorker
		if !busy {
			w.logins++
		}
		m.mu.Unlock()
		if busy {
			m.send(w, r.ID, &privsep.LoginReply{Status: privsep.LoginIncorrect, Reply: "too many logins in progress"}, nil)
			return nil
		}
		go func() {
			m.login(w, r.ID, &msg)
			m.mu.Lock()
			w.logins--
			m.mu.Unlock()
		}()
	case privsep.TypeAdmit:
		var msg privsep.Admit
		if err := r.Decode(&msg); err != nil {
			return err
		}
		m.mu.Lock()
		// A session holds at most two tickets (its connection and its
		// login); more means the worker does not give them back.
		tickets, conns := len(w.tickets), len(w.conns)
		m.mu.Unlock()
		if tickets >= 4*conns+64 {
			return fmt.Errorf("%w: %d limit tickets held for %d connections", privsep.ErrProtocol, tickets, conns)
		}
		m.admit(w, r.ID, &msg)
	case privsep.TypeRelease:
		var msg privsep.Release
		if err := r.Decode(&msg); err != nil {
			return err
		}
		m.mu.Lock()
		if rel := w.tickets[msg.Ticket]; rel != nil {
			delete(w.tickets, msg.Ticket)
			rel()
		}
		m.mu.Unlock()
	case privsep.TypeClosed:
		var msg privsep.Closed
		if err := r.Decode(&msg); err != nil {
			return err
		}
		m.mu.Lock()
		if e := m.conns[msg.Conn]; e != nil && e.w == w {
			e.release()
			delete(m.conns, msg.Conn)
			delete(w.conns, msg.Conn)
		}
		m.mu.Unlock()
	default:
		return fmt.Errorf("%w: record type %d from a worker", privsep.ErrProtocol, r.Type)
	}
	return nil
}

// send sends to a worker, which must be reading: a worker that does not
// take a record within a minute is stuck and is killed.
func (m *master) send(w *workerProc, id uint32, msg privsep.Message, f *os.File) error {
	w.ch.SetWriteDeadline(time.Now().Add(time.Minute))
	err := w.ch.Send(id, msg, f)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		m.kill(w, fmt.Errorf("does not read its channel"))
	}
	return err
}

// login checks a password for a worker and opens the session.
func (m *master) login(w *workerProc, id uint32, q *privsep.Login) {
	m.logins <- struct{}{}
	defer func() { <-m.logins }()
	m.mu.Lock()
	cfg := m.cfg
	m.mu.Unlock()
	reply := &privsep.LoginReply{Status: privsep.LoginIncorrect}
	var session *os.File
	acct, err := cfg.users.login(q.User, q.Password, addrFromString(q.Remote))
	if err == nil && cfg.id.Privileged {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		session, err = m.brokers.Open(ctx, acct.Cred, acct.Root, acct.User)
		cancel()
		switch {
		case err == nil:
		case acct.Root != "/" && rootUnusable(err):
			// A DefaultRoot the user cannot use: ProFTPD's words, and the
			// worker ends the session.
			err = sessionRootFailed(m.log, cfg.users.main, acct, err)
			reply.Status = privsep.LoginNoRoot
		default:
			m.log.Errorf("USER %s: session in %s as uid %d: %v", acct.User, acct.Root, acct.Cred.Uid, err)
			err = fmt.Errorf("unable to open the session root %s: %w", acct.Root, err)
		}
	}
	if err != nil {
		reply.Reply = err.Error()
	} else {
		*reply = privsep.LoginReply{Status: privsep.LoginOK, User: acct.User, Uid: acct.Cred.Uid, Gid: acct.Cred.Gid,
			Groups: acct.Groups, Home: acct.Home, Root: acct.Root, Cwd: acct.Cwd}
		if len(reply.Groups) > privsep.MaxGroups {
			reply.Groups = reply.Groups[:privsep.MaxGroups]
		}
	}
	if err := m.send(w, id, reply, session); err != nil && !privsep.IsClosed(err) {
		m.log.Warnf("%s: login reply: %v", w, err)
	}
	if session != nil {
		session.Close()
	}
}

// admit counts a connection or session for a worker.
func (m *master) admit(w *workerProc, id uint32, q *privsep.Admit) {
	host := hostOfString(q.Remote)
	var rel func()
	var refusal *ftpd.Refusal
	if q.Kind == privsep.AdmitConnect {
		rel, refusal = m.counter.connect(host)
	} else {
		rel, refusal = m.counter.login(q.User, host)
	}
	reply := &privsep.AdmitReply{}
	if refusal != nil {
		reply.Code, reply.Msg, reply.Log = uint32(refusal.Code), refusal.Msg, refusal.Log
	} else {
		m.mu.Lock()
		if w.tickets == nil { // the worker has exited meanwhile
			m.mu.Unlock()
			rel()
			return
		}
		m.nextTkt++
		reply.Ticket = m.nextTkt
		w.tickets[reply.Ticket] = rel
		m.mu.Unlock()
	}
	m.send(w, id, reply, nil)
}

// acceptLoop accepts connections while some worker can take them, and
// hands each to the least busy one.
func (m *master) acceptLoop() {
	var delay time.Duration
	for {
		if !m.waitServing() {
			return
		}
		conn, err := m.ln.Accept()
		if err != nil {
			m.mu.Lock()
			stopping := m.stopping
			m.mu.Unlock()
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			if isTemporary(err) {
				// Out of descriptors (or a connection reset before it
				// was accepted): wait, so as not to spin, and try again.
				if m.pause(&delay, fmt.Sprintf("accept: %v", err)) {
					continue
				}
				return
			}
			m.event(evAcceptFailed{fmt.Errorf("accept: %w", err)})
			return
		}
		delay = 0
		m.dispatch(conn)
	}
}

// pause waits after a temporary failure, twice as long as the last time
// (5 ms to 1 s), and logs why; false if the master stops meanwhile.
func (m *master) pause(delay *time.Duration, why string) bool {
	*delay = min(max(2**delay, 5*time.Millisecond), time.Second)
	m.log.Warnf("%s; retrying in %v", why, *delay)
	select {
	case <-time.After(*delay):
		return true
	case <-m.stopCh:
		return false
	}
}

func isTemporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// waitServing blocks until a worker can take connections; false when the
// master stops.
func (m *master) waitServing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for !m.stopping && m.pick() == nil {
		m.serving.Wait()
	}
	return !m.stopping
}

// pick returns the ready worker of the current generation with the
// fewest connections; m.mu is held.
func (m *master) pick() *workerProc {
	var best *workerProc
	for _, w := range m.current.slots {
		if w != nil && w.ready && !w.draining && (best == nil || len(w.conns) < len(best.conns)) {
			best = w
		}
	}
	return best
}

// dispatch counts a connection against MaxInstances and hands it to a
// worker.
func (m *master) dispatch(conn net.Conn) {
	remote, local := conn.RemoteAddr().String(), conn.LocalAddr().String()
	release, refusal := m.counter.instance()
	if refusal != nil {
		m.log.Warn(refusal.Log)
		conn.Close()
		return
	}
	fc, ok := conn.(interface{ File() (*os.File, error) })
	if !ok {
		m.log.Errorf("cannot hand a %T to a worker", conn)
		conn.Close()
		release()
		return
	}
	// Out of descriptors, the copy to hand over cannot be made yet: keep
	// the connection and try again after a pause, as accept does, rather
	// than drop a client that is already connected.
	var f *os.File
	var delay time.Duration
	for {
		var err error
		if f, err = fc.File(); err == nil {
			break
		}
		if !isTemporary(err) || !m.pause(&delay, fmt.Sprintf("connection from %s: %v", remote, err)) {
			m.log.Warnf("connection from %s closed: %v", remote, err)
			conn.Close()
			release()
			return
		}
	}
	conn.Close()
	defer f.Close()
	for {
		// A connection accepted just as the last worker died waits here
		// for the replacement, as the next ones wait in the listen
		// queue: the acceptor does not accept meanwhile.
		m.mu.Lock()
		for !m.stopping && m.pick() == nil {
			m.serving.Wait()
		}
		w := m.pick()
		if m.stopping || w == nil {
			m.mu.Unlock()
			release()
			return
		}
		m.nextConn++
		id := m.nextConn
		m.conns[id] = &connEntry{w: w, release: release}
		w.conns[id] = struct{}{}
		m.mu.Unlock()
		err := m.send(w, 0, &privsep.NewConn{Conn: id, Remote: remote, Local: local}, f)
		if err == nil {
			return
		}
		m.mu.Lock()
		delete(m.conns, id)
		delete(w.conns, id)
		w.ready = false // it will be replaced when its exit is seen
		m.mu.Unlock()
		m.log.Warnf("%s: handing over a connection: %v", w, err)
	}
}

// reload validates the configuration again and, if it is good, starts a
// generation of workers that runs it; the old one drains once the new is
// ready. A bad configuration changes nothing, and workers that die later
// are replaced from the last good one.
func (m *master) reload() {
	m.log.Info("received SIGHUP -- master server reparsing configuration file")
	cfg, err := validate(m.o.ConfigPath, m.home, m.log)
	if err != nil {
		m.log.Errorf("error reloading configuration, keeping the current one: %v", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return
	}
	if cfg.addr != m.cfg.addr {
		m.log.Warnf("listening address changed from %s to %s: restart ftpdtls for it to take effect", m.cfg.addr, cfg.addr)
	}
	if cfg.id.Privileged != m.cfg.id.Privileged {
		m.log.Errorf("error reloading configuration, keeping the current one: the privilege model changed")
		return
	}
	if !m.current.started {
		m.log.Warn("SIGHUP ignored: the workers are still starting")
		return
	}
	if m.pending != nil {
		m.abandon(m.pending)
	}
	g, err := m.startGeneration(cfg)
	if err != nil {
		m.log.Errorf("error reloading configuration, keeping the current one: %v", err)
		return
	}
	m.pending = g
	time.AfterFunc(m.o.StartTimeout, func() { m.event(evPendingTimeout{g}) })
}

// promote makes a reload's generation the current one; m.mu is held.
func (m *master) promote(g *generation) {
	old := m.current
	m.current, m.pending, m.cfg = g, nil, g.cfg
	m.counter.setLimits(g.cfg.limits)
	if m.brokers != nil {
		m.brokers.SetAllowRoot(g.cfg.users.rootLogin)
	}
	for _, w := range old.slots {
		if w != nil {
			w.draining = true
			go m.send(w, 0, &privsep.Drain{}, nil)
		}
	}
	republish()
	m.log.Infof("configuration reloaded (generation %d)", g.n)
}

// abandon stops a generation that will not serve; m.mu is held.
func (m *master) abandon(g *generation) {
	if m.pending == g {
		m.pending = nil
	}
	for _, w := range g.slots {
		if w != nil {
			w.draining = true
			w.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
}

// stop ends the daemon: no more connections; every worker aborts its
// transfers and closes its sessions within the grace period, after which
// those still running are killed; then the brokers exit. It returns err.
func (m *master) stop(err error) error {
	close(m.stopCh)
	m.mu.Lock()
	m.stopping = true
	m.serving.Broadcast()
	var all []*workerProc
	for w := range m.workers {
		all = append(all, w)
	}
	m.mu.Unlock()
	m.ln.Close()
	if err != nil {
		m.log.Errorf("stopping: %v", err)
	}
	for _, w := range all {
		go func() {
			if m.send(w, 0, &privsep.Shutdown{GraceMillis: uint32(m.o.Grace.Milliseconds())}, nil) != nil {
				w.cmd.Process.Signal(syscall.SIGTERM)
			}
		}()
	}
	deadline := time.After(m.o.Grace + 2*time.Second)
	for _, w := range all {
		select {
		case <-w.exited:
		case <-deadline:
			m.log.Warnf("%s still running after %v; killing it", w, m.o.Grace)
			for _, w := range all {
				w.cmd.Process.Signal(syscall.SIGKILL)
			}
			for _, w := range all {
				<-w.exited
			}
		}
	}
	m.acceptWG.Wait()
	if m.brokers != nil {
		m.brokers.Close(2 * time.Second)
	}
	close(m.done)
	logShutdown(m.log)
	return err
}

func addrFromString(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return nil
}
