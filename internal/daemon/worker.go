package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// Descriptors and environment a master gives a worker.
const (
	workerEnv    = "FTPDTLS_WORKER" // the worker's slot, 1..N
	channelFD    = 3                // the master channel
	workerSpecFD = 4                // the sealed workerSpec
)

// requestTimeout bounds a worker's wait for the master's answer to a
// login or a limit check.
const requestTimeout = 2 * time.Minute

// IsWorker reports whether this process was started as a worker by a
// master.
func IsWorker() bool { return os.Getenv(workerEnv) != "" }

// worker is a worker process: it loads the configuration the master
// validated, drops its privileges, and serves the connections the master
// hands it. Logins and limits are the master's; files are the brokers'
// (or, without privileges, this process's).
type worker struct {
	spec  *workerSpec
	ch    *privsep.Conn
	cfg   *Config
	log   *logrus.Logger
	names userfs.Names

	refused refusals // connections refused for want of descriptors

	mu       sync.Mutex
	pending  map[uint32]chan *privsep.Record
	nextID   uint32
	conns    int
	draining bool
	stopping bool
	done     chan struct{} // closed when the worker has nothing left to do
	gone     chan struct{} // closed when the master channel is closed
}

// runWorker is a worker's life. A failure before it serves is sent to
// the master (Fatal) and returned.
func runWorker(log *logrus.Logger) error {
	chf := os.NewFile(channelFD, "master")
	ch, err := privsep.FileConn(chf)
	chf.Close()
	if err != nil {
		return fmt.Errorf("worker %s: master channel: %w", os.Getenv(workerEnv), err)
	}
	fail := func(err error) error {
		err = fmt.Errorf("worker %s: %w", os.Getenv(workerEnv), err)
		ch.Send(0, &privsep.Fatal{Err: err.Error()}, nil)
		ch.Close()
		return err
	}
	// ^C reaches the whole process group; SIGHUP is the master's. The
	// master stops workers with a Shutdown record (SIGTERM works too).
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	defer signal.Stop(sigs)

	specf := os.NewFile(workerSpecFD, "spec")
	spec, err := readWorkerSpec(specf)
	specf.Close()
	if err != nil {
		return fail(err)
	}
	cfg, err := loadChecked(spec.Source, asWorker, os.Geteuid(), spec.Digest, log)
	if err != nil {
		return fail(err)
	}
	if spec.Privileged {
		if err := privsep.Drop(spec.Cred); err != nil {
			cfg.Close()
			return fail(err)
		}
		// Changing credentials cleared the parent-death signal.
		unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	}
	dir := &directory{users: spec.Users, groups: spec.Groups, homes: spec.Homes, system: systemLookups(cfg.Dirs.Main)}
	dir.apply(cfg)
	w := &worker{spec: spec, ch: ch, cfg: cfg, log: log, pending: make(map[uint32]chan *privsep.Record),
		done: make(chan struct{}), gone: make(chan struct{}), names: dir.names(), refused: refusals{log: log}}
	cfg.FTP.Auth = workerAuth{w}
	cfg.FTP.Admission = workerAdmission{w}
	if err := ch.Send(0, &privsep.Ready{PID: uint32(os.Getpid())}, nil); err != nil {
		cfg.Close()
		return fmt.Errorf("worker %d: %w", spec.Worker, err)
	}
	if spec.Privileged {
		log.Infof("worker %d (generation %d) serving as uid %d gid %d", spec.Worker, spec.Generation, spec.Cred.Uid, spec.Cred.Gid)
	} else {
		log.Infof("worker %d (generation %d) serving", spec.Worker, spec.Generation)
	}
	go w.read()
	grace := time.Duration(spec.GraceMillis) * time.Millisecond
	select {
	case <-sigs:
		w.shutdown(grace)
	case <-w.done:
	}
	<-w.done
	cfg.Close()
	return nil
}

// read follows the master's records until the channel closes.
func (w *worker) read() {
	defer func() {
		close(w.gone)
		// Without a master nobody can log in or be counted: stop.
		go w.shutdown(time.Duration(w.spec.GraceMillis) * time.Millisecond)
	}()
	for {
		r, err := w.ch.Recv()
		if err != nil {
			if !privsep.IsClosed(err) {
				w.log.Errorf("master channel: %v", err)
			}
			return
		}
		switch r.Type {
		case privsep.TypeNewConn:
			var m privsep.NewConn
			if err := r.Decode(&m); err != nil {
				r.Close()
				w.log.Errorf("master channel: %v", err)
				return
			}
			w.serveConn(m.Conn, r)
		case privsep.TypeLoginReply, privsep.TypeAdmitReply:
			w.mu.Lock()
			ch := w.pending[r.ID]
			delete(w.pending, r.ID)
			w.mu.Unlock()
			if ch == nil {
				r.Close() // its requester gave up
				continue
			}
			ch <- r
		case privsep.TypeDrain:
			w.mu.Lock()
			w.draining = true
			idle := w.conns == 0
			w.mu.Unlock()
			w.log.Infof("worker %d: a new generation serves; exiting when the sessions here end", w.spec.Worker)
			if idle {
				w.finish()
			}
		case privsep.TypeShutdown:
			var m privsep.Shutdown
			if err := r.Decode(&m); err != nil {
				w.log.Errorf("master channel: %v", err)
				return
			}
			go w.shutdown(time.Duration(m.GraceMillis) * time.Millisecond)
		default:
			r.Close()
			w.log.Errorf("master channel: %v: record type %d", privsep.ErrProtocol, r.Type)
			return
		}
	}
}

// serveConn serves a connection the master handed over, and tells the
// master when it has ended.
//
// Under a flood the worker may be out of descriptors: the one that came
// with the record could not be installed (the connection is lost: the
// kernel dropped it), or taking it in as a net.Conn (a copy of the
// descriptor) fails. Then the oldest connections that have not logged in
// are closed to make room, as for a logged-in session's needs, and if
// that is not enough the client is told "421 Service not available" on
// the descriptor it came with; either way the log says so once a second
// with a count, not once per connection.
func (w *worker) serveConn(id uint64, r *privsep.Record) {
	var conn net.Conn
	var err error
	if r.File == nil {
		err = syscall.EMFILE // the kernel could not install it: the connection is lost
	} else {
		for i := 0; ; i++ {
			conn, err = net.FileConn(r.File)
			if err == nil || !outOfDescriptors(err) || i == 16 || !w.cfg.FTP.MakeRoom() {
				break
			}
			w.refused.count(true)
			time.Sleep(time.Duration(i+1) * time.Millisecond)
		}
		if err != nil {
			_ = r.File.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = r.File.Write([]byte("421 Service not available, closing control connection\r\n"))
		}
		r.Close()
	}
	if err != nil {
		if !outOfDescriptors(err) {
			w.log.Warnf("connection %d: %v", id, err)
		} else {
			w.refused.count(false)
		}
		w.ch.Send(0, &privsep.Closed{Conn: id}, nil)
		return
	}
	w.mu.Lock()
	w.conns++
	w.mu.Unlock()
	go func() {
		w.cfg.FTP.ServeConn(w.cfg.Proxy.Wrap(conn))
		w.ch.Send(0, &privsep.Closed{Conn: id}, nil)
		w.mu.Lock()
		w.conns--
		finished := w.conns == 0 && (w.draining || w.stopping)
		w.mu.Unlock()
		if finished {
			w.finish()
		}
	}()
}

// shutdown aborts transfers (426), closes the sessions and ends the
// worker within grace.
func (w *worker) shutdown(grace time.Duration) {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	w.stopping = true
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := w.cfg.FTP.Shutdown(ctx); err != nil {
		w.log.Infof("worker %d: cut the sessions still running after %v", w.spec.Worker, grace)
	}
	w.finish()
}

func (w *worker) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// call sends a request to the master and waits for its reply.
func (w *worker) call(ctx context.Context, m privsep.Message) (*privsep.Record, error) {
	ch := make(chan *privsep.Record, 1)
	w.mu.Lock()
	w.nextID++
	if w.nextID == 0 {
		w.nextID = 1
	}
	id := w.nextID
	w.pending[id] = ch
	w.mu.Unlock()
	cancel := func() {
		w.mu.Lock()
		delete(w.pending, id)
		w.mu.Unlock()
	}
	if err := w.ch.Send(id, m, nil); err != nil {
		cancel()
		return nil, fmt.Errorf("master: %w", err)
	}
	ctx, stop := context.WithTimeout(ctx, requestTimeout)
	defer stop()
	select {
	case r := <-ch:
		return r, nil
	case <-w.gone:
		cancel()
		return nil, errors.New("master: gone")
	case <-ctx.Done():
		cancel()
		return nil, fmt.Errorf("master: %w", ctx.Err())
	}
}

// workerAuth is the worker's ftpd.Authenticator: the master checks the
// password and opens the session in the user's broker.
type workerAuth struct{ w *worker }

func (a workerAuth) Login(ctx context.Context, req ftpd.LoginRequest) (*ftpd.Account, error) {
	w := a.w
	r, err := w.call(ctx, &privsep.Login{User: req.User, Password: req.Password, Remote: addrString(req.Remote), Local: addrString(req.Local)})
	if err != nil {
		return nil, err
	}
	var m privsep.LoginReply
	if err := r.Decode(&m); err != nil {
		r.Close()
		return nil, err
	}
	if m.Status == privsep.LoginNoRoot {
		r.Close()
		return nil, fmt.Errorf("%w (the master logged why)", ftpd.ErrSessionRoot)
	}
	if m.Status != privsep.LoginOK {
		r.Close()
		// The master's words, as a single-process server logs them.
		return nil, ftpd.LoginFailed(m.Reply)
	}
	acct := &account{User: m.User, Cred: privsep.Credential{Uid: m.Uid, Gid: m.Gid}, Groups: m.Groups, Home: m.Home, Root: m.Root, Cwd: m.Cwd}
	if r.File == nil {
		if w.spec.Privileged {
			return nil, errors.New("master: no file service for the session")
		}
		// Without privileges the session's files are this process's.
		return openLocal(acct, w.names, w.log, w.cfg.Dirs.Main)
	}
	c, err := privsep.FileConn(r.File)
	r.Close()
	if err != nil {
		return nil, err
	}
	return acct.ftpd(privsep.NewClient(c, w.names)), nil
}

// workerAdmission is the worker's ftpd.Admission: the master counts, so
// that the limits hold across workers. MaxInstances the master applies
// when it accepts.
type workerAdmission struct{ w *worker }

func (a workerAdmission) Connect(remote net.Addr) (func(), error) {
	if a.w.cfg.Limits.MaxConnectionsPerHost == 0 {
		return func() {}, nil
	}
	return a.admit(&privsep.Admit{Kind: privsep.AdmitConnect, Remote: addrString(remote)})
}

func (a workerAdmission) Login(user string, remote net.Addr) (func(), error) {
	if l := a.w.cfg.Limits; l.MaxClients == 0 && l.MaxClientsPerHost == 0 && l.MaxClientsPerUser == 0 && l.MaxHostsPerUser == 0 {
		return func() {}, nil // nothing to count
	}
	return a.admit(&privsep.Admit{Kind: privsep.AdmitLogin, User: user, Remote: addrString(remote)})
}

func (a workerAdmission) admit(q *privsep.Admit) (func(), error) {
	w := a.w
	r, err := w.call(context.Background(), q)
	if err != nil {
		return nil, err
	}
	var m privsep.AdmitReply
	err = r.Decode(&m)
	r.Close()
	if err != nil {
		return nil, err
	}
	if m.Ticket == 0 {
		return nil, &ftpd.Refusal{Code: int(m.Code), Msg: m.Msg, Log: m.Log}
	}
	var once sync.Once
	return func() {
		once.Do(func() { w.ch.Send(0, &privsep.Release{Ticket: m.Ticket}, nil) })
	}, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return privsep.Truncate(a.String(), privsep.MaxAddr)
}

// refusals counts what a worker out of descriptors did with the
// connections it received: connections not logged in closed to make room
// for them, and connections refused (421) or lost (the kernel could not
// pass their descriptor). It logs them once a second at most.
type refusals struct {
	log     logrus.FieldLogger
	mu      sync.Mutex
	evicted int
	refused int
	pending bool // a report is scheduled
	logged  time.Time
}

func (r *refusals) count(evicted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if evicted {
		r.evicted++
	} else {
		r.refused++
	}
	if r.pending {
		return
	}
	if wait := time.Second - time.Since(r.logged); wait > 0 {
		r.pending = true
		time.AfterFunc(wait, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.pending = false
			r.report()
		})
		return
	}
	r.report()
}

// report logs what was counted; r.mu is held.
func (r *refusals) report() {
	if r.evicted == 0 && r.refused == 0 {
		return
	}
	r.log.Warnf("out of descriptors: closed %d connection(s) not logged in to take in new ones; refused %d (421) or lost", r.evicted, r.refused)
	r.evicted, r.refused, r.logged = 0, 0, time.Now()
}

// outOfDescriptors reports EMFILE and ENFILE.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
