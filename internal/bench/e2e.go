package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	servers, stop, err := r.startE2EServers(ctx, s)
	defer stop()
	if err != nil {
		return nil, err
	}
	results, err := r.measureE2E(ctx, s, servers)
	if err != nil {
		return nil, err
	}
	return []*Table{r.e2eTable(servers, results)}, nil
}

// startE2EServers starts ProFTPD, ftpdtls serve and, with Workers > 0,
// ftpdtls serve -workers N; stop stops whichever started.
func (r *runner) startE2EServers(ctx context.Context, s *e2eSetup) (servers []*ftpServer, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	base := 41000 + rand.IntN(80)*200 // passive ports: 100 per server
	pro, err := r.startProFTPD(ctx, s, base)
	if pro != nil {
		stops = append(stops, func() { r.stopProFTPD(pro, s) })
	}
	if err != nil {
		return nil, stop, err
	}
	servers = append(servers, pro)
	workers := []int{0}
	if r.o.E2E.Workers > 0 {
		workers = append(workers, r.o.E2E.Workers)
	}
	for i, w := range workers {
		ftd, err := r.startServe(ctx, s, base+100*(i+1), w)
		if ftd != nil {
			stops = append(stops, func() { r.stopServe(ftd) })
		}
		if err != nil {
			return nil, stop, err
		}
		servers = append(servers, ftd)
	}
	started := make([]string, len(servers))
	for i, srv := range servers {
		srv.idleRSS = treeRSS(srv.cmd.Process.Pid)
		started[i] = fmt.Sprintf("%s on %s (pid %d)", srv.name, srv.addr, srv.cmd.Process.Pid)
	}
	r.prog.step("e2e: %s", strings.Join(started, ", "))
	return servers, stop, nil
}

// e2eResult gathers the runs of one server and metric.
type e2eResult struct {
	rate, resumed, dataResumed []float64
	rss                        []float64 // KiB samples of every run
	errs                       int64
	firstErr                   string
}

var e2eMetrics = []string{"sessions", "reconnects"}

// measureE2E runs every metric against every server, interleaved, then
// times idle sessions. results[m*len(servers)+i] is metric m of server i.
func (r *runner) measureE2E(ctx context.Context, s *e2eSetup, servers []*ftpServer) ([]e2eResult, error) {
	results := make([]e2eResult, len(servers)*len(e2eMetrics))
	_, err := r.rounds(ctx, len(results), func(ctx context.Context, i, round int) (float64, error) {
		srv, metric := servers[i%len(servers)], e2eMetrics[i/len(servers)]
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
		pct, what := 100*m.resumed, "resumed"
		if metric == "sessions" {
			pct, what = 100*m.dataResumed, "data connections resumed"
		}
		r.prog.step("e2e %s %s run %d/%d: %.1f/s, %.0f%% %s, %d errors, RSS median %.1f MiB",
			srv.name, metric, round+1, r.o.Runs, m.rate, pct, what, m.errs, median(m.rss)/1024)
		return m.rate, nil
	})
	if err != nil {
		return nil, err
	}
	// One session at a time on an otherwise idle server, 300 ms apart
	// (longer than ProFTPD's 0.2 s pause), shows what a session costs
	// without the pauses.
	for _, srv := range servers {
		if srv.idleLatency, err = idleLatency(ctx, s, srv, idleSessions); err != nil {
			return nil, err
		}
		r.prog.step("e2e %s: one session on the idle server takes %.1f ms (median of %d)", srv.name, srv.idleLatency, idleSessions)
	}
	for _, srv := range servers {
		st, err := srv.cacheInfo()
		if err != nil {
			srv.cacheErr = err
		}
		srv.hits = statusNumber(st, "Cache lifetime hits:")
		srv.misses = statusNumber(st, "Cache lifetime misses:")
		srv.stored = statusNumber(st, "Cache lifetime sessions stored:")
		r.prog.step("e2e %s cache counters: hits %d, misses %d, stored %d", srv.name, srv.hits, srv.misses, srv.stored)
	}
	return results, nil
}

func oneDecimal(v float64) Cell { return number(v, strconv.FormatFloat(v, 'f', 1, 64)) }

func (r *runner) e2eTable(servers []*ftpServer, results []e2eResult) *Table {
	t := &Table{
		ID: "e2e",
		Title: fmt.Sprintf("End to end: ProFTPD 1.3.8 vs ftpdtls serve (%d concurrent clients, %s per run)",
			r.o.E2E.Clients, r.o.E2E.Duration),
		Note: "sessions/s: connect, AUTH TLS (full handshake), USER/PASS, PBSZ 0, PROT P, PASV + LIST over TLS, QUIT. " +
			"reconnects/s: connect, AUTH TLS resuming the previous connection's session, QUIT. " +
			"idle session: one whole session at a time, 300 ms apart (median of 5). " +
			"Same client code, TLS 1.3 negotiated, medians over runs. RSS: sum over the server's processes, sampled every 100 ms during the runs. " +
			"Cache counters: read after all runs with `ftpdctl tls sesscache info` / `ftpdtls sesscache info`. " +
			"ProFTPD's master sleeps 0.2 s after every system call a signal interrupts (PR_TUNABLE_EINTR_RETRY_INTERVAL), " +
			"and every ended session interrupts it with SIGCHLD, so under connection churn it accepts in bursts.",
		Columns: []string{"server", "sessions/s", "data conns resumed", "reconnects/s", "reconnects resumed",
			"idle session ms", "RSS idle MiB", "RSS median MiB", "RSS max MiB", "cache hits", "misses", "stored", "errors"},
	}
	n := len(servers)
	for i, srv := range servers {
		sess, rec := results[i], results[n+i]
		rss := append(append([]float64{}, sess.rss...), rec.rss...)
		maxRSS := 0.0
		for _, v := range rss {
			maxRSS = max(maxRSS, v)
		}
		t.add(text(srv.name), oneDecimal(median(sess.rate)), percent(median(sess.dataResumed)),
			oneDecimal(median(rec.rate)), percent(median(rec.resumed)), oneDecimal(srv.idleLatency),
			mib(srv.idleRSS/1024), mib(median(rss)/1024), mib(maxRSS/1024),
			count(float64(srv.hits)), count(float64(srv.misses)), count(float64(srv.stored)), count(float64(sess.errs+rec.errs)))
		if srv.cacheErr != nil {
			t.Findings = append(t.Findings, fmt.Sprintf("%s: reading the cache counters failed: %v", srv.name, srv.cacheErr))
		}
		for _, res := range []e2eResult{sess, rec} {
			if res.firstErr != "" {
				t.Findings = append(t.Findings, fmt.Sprintf("%s: first client error: %s", srv.name, res.firstErr))
			}
		}
	}
	// Server 0 is ProFTPD, server 1 ftpdtls serve.
	t.Findings = append(t.Findings, fmt.Sprintf("ftpdtls serve / ProFTPD: sessions/s %.2fx, reconnects/s %.2fx, idle session time %.2fx.",
		ratio(median(results[1].rate), median(results[0].rate)), ratio(median(results[n+1].rate), median(results[n].rate)),
		ratio(servers[1].idleLatency, servers[0].idleLatency)))
	return t
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
