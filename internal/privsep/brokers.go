package privsep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment of a broker process.
const (
	brokerEnv     = "FTPDTLS_BROKER"      // the broker's uid: this process is a broker
	brokerRootEnv = "FTPDTLS_BROKER_ROOT" // "1": uid 0 allowed (RootLogin on)
	channelFD     = 3                     // ExtraFiles[0]
)

// Brokers is the master's table of broker processes, one per credential
// (uid, gid and groups), each serving every session of that user. A
// broker is started at the first login of its user and told to exit
// (its control channel is closed) once it has had no session for Idle.
type Brokers struct {
	// Args are the broker's command line (shown by ps); the program is
	// always /proc/self/exe, the master's own binary, which works even
	// when its directory is not searchable by the user.
	Args []string
	// Stderr receives the brokers' own messages.
	Stderr io.Writer
	// Idle is how long a broker without sessions lives on; 0 means 30 s.
	Idle time.Duration
	// AllowRoot lets a uid 0 credential have a broker (RootLogin on).
	AllowRoot bool
	// Logf receives the table's log lines (brokers started and ended).
	Logf func(format string, args ...any)

	mu     sync.Mutex
	m      map[string]*broker
	closed bool
	wg     sync.WaitGroup
	all    map[*broker]struct{}
}

type broker struct {
	cred   Credential
	key    string
	cmd    *exec.Cmd
	ctrl   *Conn
	next   uint32
	open   map[uint32]chan SessionOpened // pending (open) and opened (nil) sessions
	idle   *time.Timer
	dead   bool
	exited chan struct{}
}

// ErrClosed: the table is shut down.
var ErrClosed = errors.New("privsep: brokers are shut down")

// Open starts a session of user rooted at root in the broker of cred
// (started if needed) and returns the worker's end of the session
// channel, to be passed to the worker that serves the user.
func (p *Brokers) Open(ctx context.Context, cred Credential, root, user string) (*os.File, error) {
	p.mu.Lock()
	if cred.Uid == 0 && !p.AllowRoot {
		p.mu.Unlock()
		return nil, errors.New("privsep: no broker runs as root")
	}
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	b := p.m[cred.key()]
	if b == nil {
		var err error
		if b, err = p.start(cred); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	if b.idle != nil {
		b.idle.Stop()
		b.idle = nil
	}
	b.next++
	id := b.next
	ch := make(chan SessionOpened, 1)
	b.open[id] = ch
	p.mu.Unlock()

	mine, theirs, err := pairFiles()
	if err == nil {
		err = b.ctrl.Send(id, &OpenSession{Root: root, User: user}, theirs)
		theirs.Close()
	}
	if err == nil {
		select {
		case m := <-ch:
			if m.Err != "" {
				err = &SessionError{Msg: m.Err, Errno: syscall.Errno(m.Errno)}
			}
		case <-b.exited:
			err = fmt.Errorf("broker for %s exited", cred)
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		if mine != nil {
			mine.Close()
		}
		p.mu.Lock()
		delete(b.open, id)
		p.armIdle(b)
		p.mu.Unlock()
		return nil, err
	}
	return mine, nil
}

// start runs a broker for cred; p.mu is held.
func (p *Brokers) start(cred Credential) (*broker, error) {
	ctrl, theirs, err := Pair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	groups := make([]uint32, len(cred.Groups))
	copy(groups, cred.Groups)
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       p.Args,
		Env:        brokerEnviron(cred, p.AllowRoot),
		Dir:        "/",
		Stdout:     p.Stderr,
		Stderr:     p.Stderr,
		ExtraFiles: []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: cred.Uid, Gid: cred.Gid, Groups: groups},
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if len(cmd.Args) == 0 {
		cmd.Args = []string{"ftpdtls"}
	}
	if err := cmd.Start(); err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("start broker for %s: %w", cred, err)
	}
	b := &broker{cred: cred, key: cred.key(), cmd: cmd, ctrl: ctrl, open: make(map[uint32]chan SessionOpened), exited: make(chan struct{})}
	if p.m == nil {
		p.m = make(map[string]*broker)
		p.all = make(map[*broker]struct{})
	}
	p.m[b.key] = b
	p.all[b] = struct{}{}
	p.logf("broker for %s started (pid %d)", cred, cmd.Process.Pid)
	p.wg.Go(func() { p.read(b) })
	p.wg.Go(func() {
		err := cmd.Wait()
		close(b.exited)
		p.mu.Lock()
		delete(p.all, b)
		closed := p.closed
		p.mu.Unlock()
		if err != nil && !closed {
			p.logf("broker for %s (pid %d) exited: %v", cred, cmd.Process.Pid, err)
		}
	})
	return b, nil
}

// read follows a broker's answers until its channel closes.
func (p *Brokers) read(b *broker) {
	defer func() {
		p.mu.Lock()
		b.dead = true
		if p.m[b.key] == b {
			delete(p.m, b.key)
		}
		for id, ch := range b.open {
			if ch != nil {
				ch <- SessionOpened{Err: "broker exited"}
			}
			delete(b.open, id)
		}
		p.mu.Unlock()
		b.ctrl.Close()
	}()
	for {
		r, err := b.ctrl.Recv()
		if err != nil {
			if !IsClosed(err) {
				p.logf("broker for %s: %v", b.cred, err)
			}
			return
		}
		r.Close()
		switch r.Type {
		case TypeSessionOpened:
			var m SessionOpened
			if err := r.Decode(&m); err != nil {
				p.logf("broker for %s: %v", b.cred, err)
				return
			}
			p.mu.Lock()
			ch, ok := b.open[r.ID]
			if ok && ch != nil {
				ch <- m
				if m.Err == "" {
					b.open[r.ID] = nil
				} else {
					delete(b.open, r.ID)
					p.armIdle(b)
				}
			}
			p.mu.Unlock()
		case TypeSessionEnded:
			var m SessionEnded
			if err := r.Decode(&m); err != nil {
				p.logf("broker for %s: %v", b.cred, err)
				return
			}
			p.mu.Lock()
			if ch, ok := b.open[r.ID]; ok && ch == nil {
				delete(b.open, r.ID)
				p.armIdle(b)
			}
			p.mu.Unlock()
		default:
			p.logf("broker for %s: %v: record type %d", b.cred, ErrProtocol, r.Type)
			return
		}
	}
}

// armIdle schedules the end of a broker without sessions; p.mu is held.
func (p *Brokers) armIdle(b *broker) {
	if len(b.open) > 0 || b.dead || b.idle != nil || p.closed {
		return
	}
	idle := p.Idle
	if idle <= 0 {
		idle = 30 * time.Second
	}
	b.idle = time.AfterFunc(idle, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(b.open) > 0 || b.dead || p.m[b.key] != b {
			return
		}
		delete(p.m, b.key)
		b.ctrl.Close() // the broker exits: it has no session
	})
}

// SetAllowRoot changes AllowRoot (a reload changed RootLogin).
func (p *Brokers) SetAllowRoot(allow bool) {
	p.mu.Lock()
	p.AllowRoot = allow
	p.mu.Unlock()
}

// Sessions returns the number of sessions open in each broker, by uid.
func (p *Brokers) Sessions() map[uint32]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[uint32]int)
	for _, b := range p.m {
		out[b.cred.Uid] += len(b.open)
	}
	return out
}

// Close tells every broker to exit once its sessions have ended, waits up
// to grace for them, then kills those left.
func (p *Brokers) Close(grace time.Duration) {
	p.mu.Lock()
	p.closed = true
	var procs []*broker
	for b := range p.all {
		if b.idle != nil {
			b.idle.Stop()
		}
		b.ctrl.Close()
		procs = append(procs, b)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for _, b := range procs {
			<-b.exited
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		for _, b := range procs {
			b.cmd.Process.Signal(syscall.SIGKILL)
		}
		<-done
	}
	p.wg.Wait()
}

func (p *Brokers) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// brokerEnviron is a broker's whole environment: what marks it as a
// broker, and what the Go runtime reads. Nothing of the master's (which
// may hold secrets) reaches a process that runs as a user.
func brokerEnviron(c Credential, allowRoot bool) []string {
	env := []string{brokerEnv + "=" + strconv.FormatUint(uint64(c.Uid), 10)}
	if allowRoot {
		env = append(env, brokerRootEnv+"=1")
	}
	for _, k := range []string{"GODEBUG", "GORACE", "GOTRACEBACK", "GOCOVERDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// pairFiles makes a connected session channel as two files.
func pairFiles() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("privsep: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "session"), os.NewFile(uintptr(fds[1]), "session"), nil
}

// IsBroker reports whether this process was started as a broker.
func IsBroker() bool { return os.Getenv(brokerEnv) != "" }

// BrokerMain is a broker process: it checks its identity, then serves the
// master's channel (file descriptor 3) until the master closes it and its
// sessions have ended. SIGTERM cuts the sessions. It returns the exit
// status.
func BrokerMain(stderr io.Writer) int {
	pid := os.Getpid()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s ftpdtls[%d] broker uid %d: %s\n", time.Now().Format("2006-01-02 15:04:05,000"), pid, os.Getuid(), fmt.Sprintf(format, args...))
	}
	ruid, euid, suid := getresuid()
	if (ruid == 0 || euid == 0 || suid == 0) && os.Getenv(brokerRootEnv) != "1" {
		logf("refusing to run as root")
		return 1
	}
	if err := SetNoNewPrivs(); err != nil {
		logf("%v", err)
		return 1
	}
	f := os.NewFile(channelFD, "master")
	ctrl, err := FileConn(f)
	f.Close()
	if err != nil {
		logf("%v", err)
		return 1
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	b := &Broker{Logf: logf}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		ctrl.Close()
		b.CloseSessions()
	}()
	if err := b.Serve(ctrl); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

func getresuid() (r, e, s int) { return unix.Getresuid() }
