package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
)

// The end-to-end group runs the real ProFTPD 1.3.8 and `ftpdtls serve`
// side by side on 127.0.0.1, with equivalent configurations (explicit
// FTPS required, TLS 1.2 and 1.3, one ECDSA P-256 certificate, an shm
// session cache, one AuthUserFile user, passive ports), and drives both
// with the same client (ftpclient.go) at the same concurrency:
//
//   - sessions/s: connect, AUTH TLS (a full handshake: each session has a
//     fresh client session cache), USER/PASS, PBSZ 0, PROT P, PASV + LIST
//     over a TLS data connection (which must resume the control
//     connection's session, both servers' default), QUIT;
//   - reconnects/s: connect, AUTH TLS resuming the session of the client's
//     previous connection, QUIT.
//
// While each runs, the resident memory of the server's process tree is
// sampled from /proc. Afterwards each server's session cache counters are
// read with its own control tool (ftpdctl, ftpdtls sesscache).

// E2EOptions configure the end-to-end group.
type E2EOptions struct {
	// FTPDTLS is the ftpdtls binary to run "serve" with (default: this
	// program if it is named ftpdtls, else ftpdtls from PATH).
	FTPDTLS string
	// Proftpd and Ftpdctl default to /usr/sbin/proftpd and /usr/bin/ftpdctl.
	Proftpd, Ftpdctl string
	// Clients is the number of concurrent client goroutines (default 4).
	Clients int
	// Duration of one run (default 3s).
	Duration time.Duration
	// Workers > 0 adds a third server, ftpdtls serve -workers Workers:
	// that many processes sharing the listener and the shm cache.
	Workers int
}

func (o *E2EOptions) defaults(time.Duration) {
	if o.FTPDTLS == "" {
		if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "ftpdtls" {
			o.FTPDTLS = exe
		} else if p, err := exec.LookPath("ftpdtls"); err == nil {
			o.FTPDTLS = p
		}
	}
	if o.Proftpd == "" {
		o.Proftpd = "/usr/sbin/proftpd"
	}
	if o.Ftpdctl == "" {
		o.Ftpdctl = "/usr/bin/ftpdctl"
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
}

const proftpdModules = "/usr/lib/proftpd"

func init() {
	register(&group{
		name: "e2e",
		steps: func(r *runner) int {
			n := 2 // servers: ProFTPD, ftpdtls serve, maybe ftpdtls serve -workers
			if r.o.E2E.Workers > 0 {
				n = 3
			}
			return 2 + n*2*r.o.Runs + 2*n
		},
		ready: func(r *runner) string {
			o := r.o.E2E
			switch {
			case os.Geteuid() != 0:
				return "running ProFTPD as a daemon needs root"
			case o.FTPDTLS == "":
				return "no ftpdtls binary (run as ftpdtls, put it in PATH, or pass -ftpdtls)"
			}
			for _, p := range []string{o.Proftpd, o.Ftpdctl, o.FTPDTLS, proftpdModules + "/mod_tls.so", proftpdModules + "/mod_tls_shmcache.so"} {
				if _, err := os.Stat(p); err != nil {
					return p + " is not installed"
				}
			}
			return ""
		},
		run: runE2E,
	})
}

// ftpServer is one server under test.
type ftpServer struct {
	name      string
	addr      string
	cmd       *exec.Cmd
	log       *os.File
	cacheInfo func() (string, error) // the cache's status text
}

// e2eSetup is what both servers share.
type e2eSetup struct {
	dir, home          string
	certFile, keyFile  string
	user, pass         string
	passwd             string
	client             *tls.Config // verifying, without a session cache
	proftpdSessionFile string
}

func runE2E(ctx context.Context, r *runner) ([]*Table, error) {
	p, err := r.certs()
	if err != nil {
		return nil, err
	}
	s := &e2eSetup{dir: filepath.Join(r.dir, "e2e"), user: "bench", pass: authfile.RandomString(16)}
	if err := s.prepare(p); err != nil {
		return nil, err
	}
	r.prog.step("e2e: prepared %s", s.dir)

	base := 41000 + rand.IntN(80)*200
	pro, err := r.startProFTPD(ctx, s, base)
	if pro != nil {
		defer r.stopProFTPD(pro, s)
	}
	if err != nil {
		return nil, err
	}
	servers := []*ftpServer{pro}
	workers := []int{0}
	if r.o.E2E.Workers > 0 {
		workers = append(workers, r.o.E2E.Workers)
	}
	for i, w := range workers {
		ftd, err := r.startServe(ctx, s, base+100*(i+1), w)
		if ftd != nil {
			defer r.stopServe(ftd)
		}
		if err != nil {
			return nil, err
		}
		servers = append(servers, ftd)
	}
	started := make([]string, len(servers))
	for i, srv := range servers {
		started[i] = fmt.Sprintf("%s on %s (pid %d)", srv.name, srv.addr, srv.cmd.Process.Pid)
	}
	r.prog.step("e2e: %s", strings.Join(started, ", "))
	idle := make([]float64, len(servers))
	for i, srv := range servers {
		idle[i] = treeRSS(srv.cmd.Process.Pid)
	}
	metrics := []string{"sessions", "reconnects"}
	type result struct {
		rate, resumed, dataResumed []float64
		rss                        []float64
		errs                       int64
		firstErr                   string
	}
	results := make([]result, len(servers)*len(metrics))
	_, err = r.rounds(ctx, len(results), func(ctx context.Context, i, round int) (float64, error) {
		srv, metric := servers[i%len(servers)], metrics[i/len(servers)]
		m, err := r.e2eRun(ctx, s, srv, metric)
		if err != nil {
			return 0, err
		}
		res := &results[i]
		res.rate = append(res.rate, m.rate)
		res.resumed = append(res.resumed, m.resumed)
		res.dataResumed = append(res.dataResumed, m.dataResumed)
		res.rss = append(res.rss, m.rss...)
		res.errs += m.errs
		if res.firstErr == "" {
			res.firstErr = m.firstErr
		}
		res100 := 100 * m.resumed
		what := "resumed"
		if metric == "sessions" {
			res100, what = 100*m.dataResumed, "data connections resumed"
		}
		r.prog.step("e2e %s %s run %d/%d: %.1f/s, %.0f%% %s, %d errors, RSS median %.1f MiB",
			srv.name, metric, round+1, r.o.Runs, m.rate, res100, what, m.errs, median(m.rss)/1024)
		return m.rate, nil
	})
	if err != nil {
		return nil, err
	}

	// One session at a time on an otherwise idle server, 300 ms apart
	// (longer than ProFTPD's 0.2 s pause), shows what a session costs
	// without the pauses.
	latency := make([]float64, len(servers))
	for i, srv := range servers {
		if latency[i], err = idleLatency(ctx, s, srv, idleSessions); err != nil {
			return nil, err
		}
		r.prog.step("e2e %s: one session on the idle server takes %.1f ms (median of %d)", srv.name, latency[i], idleSessions)
	}

	t := &Table{
		ID: "e2e",
		Title: fmt.Sprintf("End to end: ProFTPD 1.3.8 vs ftpdtls serve (%d concurrent clients, %s per run)",
			r.o.E2E.Clients, r.o.E2E.Duration),
		Note: "sessions/s: connect, AUTH TLS (full handshake), USER/PASS, PBSZ 0, PROT P, PASV + LIST over TLS, QUIT. " +
			"reconnects/s: connect, AUTH TLS resuming the previous connection's session, QUIT. " +
			"Same client code, TLS 1.3 negotiated, medians over runs. RSS: sum over the server's processes, sampled every 100 ms during the runs. " +
			"Cache counters: read after all runs with `ftpdctl tls sesscache info` / `ftpdtls sesscache info`. " +
			"ProFTPD's master sleeps 0.2 s after every system call a signal interrupts (PR_TUNABLE_EINTR_RETRY_INTERVAL), " +
			"and every ended session interrupts it with SIGCHLD, so under connection churn it accepts in bursts.",
		Columns: []string{"server", "sessions/s", "data conns resumed", "reconnects/s", "reconnects resumed",
			"idle session ms", "RSS idle MiB", "RSS median MiB", "RSS max MiB", "cache hits", "misses", "stored", "errors"},
	}
	for i, srv := range servers {
		sess, rec := results[i], results[len(servers)+i]
		rss := append(append([]float64{}, sess.rss...), rec.rss...)
		st, err := srv.cacheInfo()
		if err != nil {
			t.Findings = append(t.Findings, fmt.Sprintf("%s: reading the cache counters failed: %v", srv.name, err))
		}
		r.prog.step("e2e %s cache counters: hits %d, misses %d, stored %d", srv.name,
			statusNumber(st, "Cache lifetime hits:"), statusNumber(st, "Cache lifetime misses:"), statusNumber(st, "Cache lifetime sessions stored:"))
		maxRSS := 0.0
		for _, v := range rss {
			maxRSS = max(maxRSS, v)
		}
		t.add(text(srv.name), number(median(sess.rate), strconv.FormatFloat(median(sess.rate), 'f', 1, 64)),
			percent(median(sess.dataResumed)),
			number(median(rec.rate), strconv.FormatFloat(median(rec.rate), 'f', 1, 64)), percent(median(rec.resumed)),
			number(latency[i], strconv.FormatFloat(latency[i], 'f', 1, 64)), mib(idle[i]/1024), mib(median(rss)/1024), mib(maxRSS/1024),
			count(float64(statusNumber(st, "Cache lifetime hits:"))), count(float64(statusNumber(st, "Cache lifetime misses:"))),
			count(float64(statusNumber(st, "Cache lifetime sessions stored:"))), count(float64(sess.errs+rec.errs)))
		for _, res := range []result{sess, rec} {
			if res.firstErr != "" {
				t.Findings = append(t.Findings, fmt.Sprintf("%s: first client error: %s", srv.name, res.firstErr))
			}
		}
	}
	// results: sessions of each server, then reconnects of each server;
	// server 0 is ProFTPD, server 1 ftpdtls serve.
	n := len(servers)
	t.Findings = append(t.Findings, fmt.Sprintf("ftpdtls serve / ProFTPD: sessions/s %.2fx, reconnects/s %.2fx, idle session latency %.2fx.",
		ratio(median(results[1].rate), median(results[0].rate)), ratio(median(results[n+1].rate), median(results[n].rate)),
		ratio(latency[1], latency[0])))
	return []*Table{t}, nil
}

// idleSessions is how many sessions idleLatency times.
const idleSessions = 5

// idleLatency times n whole sessions, one at a time and 300 ms apart, and
// returns the median in milliseconds.
func idleLatency(ctx context.Context, s *e2eSetup, srv *ftpServer, n int) (float64, error) {
	var ms []float64
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		start := time.Now()
		if _, err := ftpSession(srv.addr, s.client, s.user, s.pass); err != nil {
			return 0, fmt.Errorf("%s: %w", srv.name, err)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
	}
	return median(ms), nil
}

// prepare writes the certificate, the user file and the served directory.
func (s *e2eSetup) prepare(p *pki) error {
	s.home = filepath.Join(s.dir, "ftp")
	if err := os.MkdirAll(s.home, 0o755); err != nil {
		return err
	}
	// ProFTPD's session processes run as nobody: the run's directories
	// must be searchable (the temporary directory above them is).
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < 10; i++ {
		if err := os.WriteFile(filepath.Join(s.home, fmt.Sprintf("file%02d.txt", i)), bytes.Repeat([]byte("x"), 100*(i+1)), 0o644); err != nil {
			return err
		}
	}
	var err error
	if s.certFile, s.keyFile, err = writePEM(s.dir, "server", p.server["ecdsa"]); err != nil {
		return err
	}
	line, err := authfile.Line(s.user, s.pass, s.home)
	if err != nil {
		return err
	}
	s.passwd = filepath.Join(s.dir, "ftpd.passwd")
	if err := os.WriteFile(s.passwd, []byte(line+"\n"), 0o600); err != nil { // ProFTPD refuses a world-readable one
		return err
	}
	s.client = &tls.Config{RootCAs: p.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections or the process exits.
func waitListening(ctx context.Context, addr string, cmd *exec.Cmd, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening", filepath.Base(cmd.Path))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %s", filepath.Base(cmd.Path), addr)
}

func startLogged(name string, logPath string, args ...string) (*exec.Cmd, *os.File, <-chan struct{}, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a ^C to the bench does not reach it before
	// the bench has stopped it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return cmd, log, exited, nil
}

func (r *runner) startProFTPD(ctx context.Context, s *e2eSetup, pasv int) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "proftpd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.proftpdSessionFile = filepath.Join(dir, "sess_cache")
	sock := filepath.Join(dir, "ctrls.sock")
	conf := fmt.Sprintf(`ServerName "ProFTPD bench"
ServerType standalone
DefaultServer on
Port %[1]d
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
PidFile %[2]s/proftpd.pid
ScoreboardFile %[2]s/proftpd.scoreboard
DelayTable %[2]s/proftpd.delay
WtmpLog off
TransferLog none
UseReverseDNS off
MaxInstances 500
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
ModulePath %[3]s
LoadModule mod_ctrls_admin.c
LoadModule mod_tls.c
LoadModule mod_tls_shmcache.c
ControlsEngine on
ControlsInterval 1
ControlsSocket %[4]s
ControlsACLs all allow user root
AuthOrder mod_auth_file.c
AuthUserFile %[5]s
RequireValidShell off
DefaultRoot ~
PassivePorts %[6]d %[7]d
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[8]s
TLSECCertificateKeyFile %[9]s
TLSSessionCache shm:/file=%[10]s 1800
TLSControlsACLs all allow user root
`, port, dir, proftpdModules, sock, s.passwd, pasv, pasv+99, s.certFile, s.keyFile, s.proftpdSessionFile)
	path := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd, log, exited, err := startLogged(r.o.E2E.Proftpd, filepath.Join(dir, "proftpd.log"), "-n", "-c", path)
	if err != nil {
		return nil, err
	}
	srv := &ftpServer{name: "ProFTPD", addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log}
	srv.cacheInfo = func() (string, error) {
		out, err := exec.Command(r.o.E2E.Ftpdctl, "-s", sock, "tls", "sesscache", "info").CombinedOutput()
		return strings.ReplaceAll(string(out), "ftpdctl: ", ""), err
	}
	if err := waitListening(ctx, srv.addr, cmd, exited); err != nil {
		b, _ := os.ReadFile(log.Name())
		return srv, fmt.Errorf("%w:\n%s", err, b)
	}
	return srv, nil
}

// stopProFTPD stops the daemon (SIGTERM: it removes its segments) and
// removes its session segment if it is still there (SIGKILL, a crash).
func (r *runner) stopProFTPD(srv *ftpServer, s *e2eSetup) {
	var key int
	var st unix.Stat_t
	if unix.Stat(s.proftpdSessionFile, &st) == nil {
		// ProFTPD's key: ftok(file, 247), see the spec.
		key = int(int32(uint32(247)<<24 | uint32(st.Dev&0xff)<<16 | uint32(st.Ino&0xffff)))
	}
	stopProcess(srv.cmd)
	srv.log.Close()
	if key == 0 {
		return
	}
	seg := Segment{Kind: "proftpd-session", Info: "/file=" + s.proftpdSessionFile}
	if id, err := unix.SysvShmGet(key, 0, 0); err == nil {
		seg.ShmID = id
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err == nil && int(d.Cpid) == srv.cmd.Process.Pid {
			seg.Bytes = int64(d.Segsz)
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			r.prog.printf("removed ProFTPD's session segment ID %d left after its shutdown", id)
		}
	}
	r.segs.mu.Lock()
	r.segs.made = append(r.segs.made, seg)
	r.segs.mu.Unlock()
}

// stopProcess sends SIGTERM to the process group and waits up to 15 s
// before killing it.
func stopProcess(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
}

func (r *runner) startServe(ctx context.Context, s *e2eSetup, pasv, workers int) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, fmt.Sprintf("ftpdtls-%d", workers))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// The segment is made here, so that it is tracked and removed
	// whatever happens to the daemon (ftpdtls keeps its segments when it
	// stops, so that sessions survive restarts).
	sc, info, err := r.segs.session(0)
	if err != nil {
		return nil, err
	}
	sc.Close()
	conf := fmt.Sprintf(`ServerName "ftpdtls bench"
DefaultAddress 127.0.0.1
Port %[1]d
AuthUserFile %[2]s
PassivePorts %[3]d %[4]d
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[5]s
TLSECCertificateKeyFile %[6]s
TLSSessionCache shm:%[7]s 1800
`, port, s.passwd, pasv, pasv+99, s.certFile, s.keyFile, info)
	path := filepath.Join(dir, "ftpdtls.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "-c", path}
	if workers > 0 {
		args = append(args, "-workers", strconv.Itoa(workers))
	}
	cmd, log, exited, err := startLogged(r.o.E2E.FTPDTLS, filepath.Join(dir, "serve.log"), args...)
	if err != nil {
		return nil, err
	}
	name := "ftpdtls serve"
	if workers > 0 {
		name += fmt.Sprintf(" -workers %d", workers)
	}
	srv := &ftpServer{name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log}
	srv.cacheInfo = func() (string, error) {
		out, err := exec.Command(r.o.E2E.FTPDTLS, "sesscache", "-c", path, "info").CombinedOutput()
		return string(out), err
	}
	if err := waitListening(ctx, srv.addr, cmd, exited); err != nil {
		b, _ := os.ReadFile(log.Name())
		return srv, fmt.Errorf("%w:\n%s", err, b)
	}
	return srv, nil
}

func (r *runner) stopServe(srv *ftpServer) {
	stopProcess(srv.cmd)
	srv.log.Close()
}

// e2eMeasure is one run against one server.
type e2eMeasure struct {
	rate, resumed, dataResumed float64
	rss                        []float64 // KiB samples
	errs                       int64
	firstErr                   string
}

func (r *runner) e2eRun(ctx context.Context, s *e2eSetup, srv *ftpServer, metric string) (e2eMeasure, error) {
	var m e2eMeasure
	var n, resumed, dataN, dataResumed, errs atomic.Int64
	var errOnce sync.Once
	stopSampling := make(chan struct{})
	samplingDone := make(chan struct{})
	go func() {
		defer close(samplingDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				m.rss = append(m.rss, treeRSS(srv.cmd.Process.Pid))
			}
		}
	}()
	// Each reconnecting client first makes one untimed connection, so
	// that every timed one has a session to resume.
	cfgs := make([]*tls.Config, r.o.E2E.Clients)
	for g := range cfgs {
		cfgs[g] = s.client.Clone()
		if metric == "reconnects" {
			cfgs[g].ClientSessionCache = tls.NewLRUClientSessionCache(4)
			f, err := dialFTPS(srv.addr, cfgs[g])
			if err != nil {
				return m, fmt.Errorf("%s: %w", srv.name, err)
			}
			f.quit()
		}
	}
	start := time.Now()
	deadline := start.Add(r.o.E2E.Duration)
	var wg sync.WaitGroup
	for g := 0; g < r.o.E2E.Clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := cfgs[g]
			fail := func(err error) {
				errs.Add(1)
				errOnce.Do(func() { m.firstErr = err.Error() })
				time.Sleep(20 * time.Millisecond)
			}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				switch metric {
				case "sessions":
					res, err := ftpSession(srv.addr, cfg, s.user, s.pass)
					if err != nil {
						fail(err)
						continue
					}
					n.Add(1)
					dataN.Add(1)
					if res {
						dataResumed.Add(1)
					}
				case "reconnects":
					f, err := dialFTPS(srv.addr, cfg)
					if err != nil {
						fail(err)
						continue
					}
					res := f.resumed
					if err := f.quit(); err != nil {
						fail(err)
						continue
					}
					n.Add(1)
					if res {
						resumed.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-samplingDone
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.errs = errs.Load()
	if n.Load() == 0 {
		return m, fmt.Errorf("%s %s: nothing completed; first error: %s", srv.name, metric, m.firstErr)
	}
	m.rate = float64(n.Load()) / elapsed.Seconds()
	if metric == "reconnects" {
		m.resumed = float64(resumed.Load()) / float64(n.Load())
	}
	if dataN.Load() > 0 {
		m.dataResumed = float64(dataResumed.Load()) / float64(dataN.Load())
	}
	return m, nil
}

// ftpSession runs one whole FTPS session, with a session cache of its
// own (so its control connection makes a full handshake), and reports
// whether the data connection resumed.
func ftpSession(addr string, cfg *tls.Config, user, pass string) (bool, error) {
	cfg = cfg.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	f, err := dialFTPS(addr, cfg)
	if err != nil {
		return false, err
	}
	defer f.close()
	if err := f.login(user, pass); err != nil {
		return false, err
	}
	data, resumed, err := f.list()
	if err != nil {
		return false, err
	}
	if !bytes.Contains(data, []byte("file09.txt")) {
		return false, errors.New("LIST did not show the served files")
	}
	return resumed, f.quit()
}

// treeRSS is the resident memory (KiB) of pid and all its descendants.
func treeRSS(pid int) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	total := 0.0
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		total += rssKiB(p)
		queue = append(queue, children[p]...)
	}
	return total
}

func rssKiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}
