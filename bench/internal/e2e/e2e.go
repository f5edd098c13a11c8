// Package e2e is the end-to-end group of `ftpdtls bench`: `ftpdtls serve`
// (one and two workers) next to the FTPS daemons operators pick, ProFTPD
// 1.3.8, vsftpd and pure-ftpd, on 127.0.0.1 with the same certificate, TLS
// settings, password hash and data-channel reuse requirement (see
// servers.go), driven by this program's own client and by real clients
// (curl, with its default happy-eyeballs timer and with a 5 ms one, and
// lftp), one session at a time and 16 at a time. It reports the wall time
// of the sessions, the servers' CPU time per session (every process of a
// server counted, those that ended included), the CPU floor of a session
// measured in this process, the memory each idle logged-in connection
// costs, and the throughput of a 1 GiB download and upload with one cipher
// pinned for every server.
//
// Every measurement is repeated Options.Runs times; the runs are
// interleaved (round 1 of every workload and server, then round 2, ...,
// the servers' order rotating from round to round), and the tables show
// medians, the spread of the runs and, for ftpdtls, its ratio to the best
// peer: of the medians, and the range of the ratios within each round.
//
// It needs root: it adds a system user for the run (vsftpd checks
// passwords through PAM) and a PAM service file, starts the daemons as
// root as their packages do, and removes all of it at the end.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpdtls/ftpdtls/bench/internal/report"
)

// Options configure Run. Zero fields take their defaults.
type Options struct {
	// FTPDTLS is the ftpdtls binary that serves.
	FTPDTLS string
	// Workers are the ftpdtls serve rows (-workers N); {1, 2} by default.
	// 0 is `ftpdtls serve -workers 0` started as the user: one process,
	// no privilege separation.
	Workers []int
	// Proftpd is /usr/sbin/proftpd by default.
	Proftpd string
	// PeerCache is where vsftpd and pure-ftpd are unpacked
	// (DefaultPeerCache()); NoFetch leaves them out when they are not
	// there instead of fetching them.
	PeerCache string
	NoFetch   bool
	// Peers are the other servers: "vsftpd", "proftpd", "pure-ftpd"
	// (default all three).
	Peers []string
	// Clients drive the sessions: "driver", "curl", "curl-he5", "lftp"
	// (default all four).
	Clients []string
	// Runs per measurement (default 3).
	Runs int
	// Sequential is the number of sessions run one after another (20);
	// Concurrent sessions run at a time (16), ConcurrentSessions in all
	// (96).
	Sequential, Concurrent, ConcurrentSessions int
	// IdleConns is how many logged-in connections the memory measurement
	// keeps open (32).
	IdleConns int
	// TransferSize is the size of the download and the upload (1 GiB);
	// negative leaves the transfers out.
	TransferSize int64
	// Cipher is the TLS 1.3 suite the transfers pin (TLS_AES_128_GCM_SHA256).
	Cipher string
	// FloorSessions is how many sessions the CPU floor is measured over (200).
	FloorSessions int
	// CPUProfile, if set, is a directory where every process of the
	// ftpdtls servers writes CPU profiles (FTPDTLS_CPUPROFILE, 5 s
	// windows), one subdirectory per server: go tool pprof -top ftpdtls
	// DIR/ftpdtls_serve/cpu-*.pprof.
	CPUProfile string
	// TempDir holds the run's directory (os.TempDir()).
	TempDir string
	// Progress receives one line per step.
	Progress *report.Progress
}

func (o *Options) defaults() {
	if len(o.Workers) == 0 {
		o.Workers = []int{1, 2}
	}
	if o.Proftpd == "" {
		o.Proftpd = "/usr/sbin/proftpd"
	}
	if o.PeerCache == "" {
		o.PeerCache = DefaultPeerCache()
	}
	if len(o.Peers) == 0 {
		o.Peers = []string{"vsftpd", "proftpd", "pure-ftpd"}
	}
	if len(o.Clients) == 0 {
		o.Clients = []string{"driver", "curl", "curl-he5", "lftp"}
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Sequential <= 0 {
		o.Sequential = 20
	}
	if o.Concurrent <= 0 {
		o.Concurrent = 16
	}
	if o.ConcurrentSessions <= 0 {
		o.ConcurrentSessions = 96
	}
	if o.IdleConns <= 0 {
		o.IdleConns = 32
	}
	if o.TransferSize == 0 {
		o.TransferSize = 1 << 30
	}
	if o.Cipher == "" {
		o.Cipher = "TLS_AES_128_GCM_SHA256"
	}
	if o.FloorSessions <= 0 {
		o.FloorSessions = 200
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Progress == nil {
		o.Progress = report.NewProgress(nil)
	}
}

// Ready says why the group cannot run here ("" if it can).
func Ready(o Options) string {
	o.defaults()
	switch {
	case os.Geteuid() != 0:
		return "needs root (it adds a system user for vsftpd's PAM login and runs the daemons as their packages do)"
	case o.FTPDTLS == "":
		return "no ftpdtls binary (run as ftpdtls, put it in PATH, or pass -ftpdtls)"
	}
	for _, tool := range []string{"useradd", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is missing"
		}
	}
	return ""
}

// workload is one row of session runs: a client, how many sessions and
// how many at a time.
type workload struct {
	client   client
	key      string
	sessions int
	conc     int
}

func (w workload) label() string {
	if w.conc == 1 {
		return fmt.Sprintf("%s, %d sequential sessions", w.client.name, w.sessions)
	}
	return fmt.Sprintf("%s, %d sessions %d at a time", w.client.name, w.sessions, w.conc)
}

// sample is one run of one workload against one server.
type sample struct {
	wall     time.Duration
	cpu      time.Duration // the server's, during the run
	sessions int
	errs     int
	firstErr string
	stalls   int // sessions that took 0.9 s or more
}

// measured gathers the samples of every workload and server.
type measured struct {
	mu      sync.Mutex
	samples map[string]map[string][]sample // workload key -> server name -> runs
}

func (m *measured) add(key, srv string, s sample) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples[key] == nil {
		m.samples[key] = map[string][]sample{}
	}
	m.samples[key][srv] = append(m.samples[key][srv], s)
}

func (m *measured) get(key, srv string) []sample { return m.samples[key][srv] }

// Result is what Run measured.
type Result struct {
	Tables []*report.Table
	Notes  []string
}

// Run measures. Everything it made (servers, user, PAM file, cgroups,
// files) is removed before it returns, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	prog := o.Progress
	res := &Result{}
	var specs []serverSpec
	for _, w := range o.Workers {
		sp := ftpdtlsSpec(o.FTPDTLS, w)
		if o.CPUProfile != "" {
			dir := filepath.Join(o.CPUProfile, strings.ReplaceAll(sp.name, " ", "_"))
			// The workers and brokers run as other users.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if err := os.Chmod(dir, 0o1777); err != nil {
				return nil, err
			}
			sp.env = []string{"FTPDTLS_CPUPROFILE=" + dir, "FTPDTLS_CPUPROFILE_WINDOW=5s"}
		}
		specs = append(specs, sp)
	}
	var peers *Peers
	if slices.Contains(o.Peers, "vsftpd") || slices.Contains(o.Peers, "pure-ftpd") {
		var err error
		if o.NoFetch {
			peers, err = FindPeers(o.PeerCache)
		} else {
			peers, err = FetchPeers(o.PeerCache, prog.Printf)
		}
		if err != nil {
			res.Notes = append(res.Notes, "vsftpd and pure-ftpd left out: "+err.Error())
			prog.Printf("vsftpd and pure-ftpd left out: %v", err)
		}
	}
	for _, name := range o.Peers {
		switch name {
		case "vsftpd":
			if peers != nil {
				specs = append(specs, vsftpdSpec(peers))
			}
		case "pure-ftpd":
			if peers != nil {
				specs = append(specs, pureFTPdSpec(peers))
			}
		case "proftpd":
			if _, err := os.Stat(o.Proftpd); err != nil {
				res.Notes = append(res.Notes, "ProFTPD left out: "+err.Error())
				continue
			}
			specs = append(specs, proftpdSpec(o.Proftpd))
		default:
			return nil, fmt.Errorf("unknown peer %q (known: vsftpd, proftpd, pure-ftpd)", name)
		}
	}
	var works []workload
	for _, key := range o.Clients {
		cl, ok := clients[key]
		if !ok {
			return nil, fmt.Errorf("unknown client %q (known: driver, curl, curl-he5, lftp)", key)
		}
		if prog := strings.TrimSuffix(key, "-he5"); prog != "driver" {
			if _, err := exec.LookPath(prog); err != nil {
				res.Notes = append(res.Notes, prog+" is not installed: its rows are left out")
				continue
			}
		}
		works = append(works,
			workload{client: cl, key: key + "/seq", sessions: o.Sequential, conc: 1},
			workload{client: cl, key: key + "/conc", sessions: o.ConcurrentSessions, conc: o.Concurrent})
	}
	transfers := o.TransferSize > 0
	if transfers {
		if _, err := exec.LookPath("curl"); err != nil {
			transfers = false
			res.Notes = append(res.Notes, "curl is not installed: no transfer rows")
		}
	}

	steps := 2 + len(specs) + 2 + o.Runs*len(specs)*(len(works)+1+map[bool]int{true: 2}[transfers])
	prog.AddSteps(steps)

	s, undo, err := newSetup(o.TempDir, map[bool]int64{true: o.TransferSize}[transfers])
	defer undo()
	if err != nil {
		return res, err
	}
	prog.Step("e2e: user %s (uid %d), certificate, home with %s in %s", User, s.uid,
		map[bool]string{true: fmt.Sprintf("a %d MiB download", o.TransferSize>>20), false: "the listing's files"}[transfers], s.dir)

	var servers []*server
	defer func() {
		for i := len(servers) - 1; i >= 0; i-- {
			servers[i].stop()
		}
	}()
	pasv := 40000 + (os.Getpid()%40)*200
	meterBase := fmt.Sprintf("ftpdtls-bench-%d", os.Getpid())
	idle := map[string]int{}
	for i, sp := range specs {
		srv, err := sp.start(ctx, s, fmt.Sprintf("%s-%d", meterBase, i), pasv+100*i)
		if srv != nil {
			servers = append(servers, srv)
		}
		if err != nil {
			return res, err
		}
		// A warm-up: the first login starts what a server starts once
		// (ftpdtls's per-user broker), and shows that the setup works.
		if err := driverSession(ctx, s, srv); err != nil {
			b, _ := os.ReadFile(srv.log.Name())
			return res, fmt.Errorf("%s: first session: %w\n%s", srv.name, err, tail(string(b), 3000))
		}
		idle[srv.name] = stableProcs(srv)
		prog.Step("e2e: %s on %s (%d processes idle; CPU from %s; data-channel reuse %s)", srv.name, srv.addr,
			idle[srv.name], srv.cpu.Kind(), srv.reuse)
	}
	res.Notes = append(res.Notes, "server CPU time read from "+servers[0].cpu.Kind())

	// The floors, before the servers are loaded (they are idle).
	var floors []Floor
	for _, f := range []struct {
		name   string
		curves []string
	}{{"X25519 (curl, lftp)", []string{"X25519"}}, {"X25519MLKEM768 (the driver)", nil}} {
		fl, err := measureFloor(ctx, s, f.name, curvesOf(f.curves), o.FloorSessions)
		if err != nil {
			return res, err
		}
		floors = append(floors, fl)
		prog.Step("e2e: CPU floor %s: full handshake %s, resumed %s, password check %s: %s per session (%s, %s)",
			fl.Name, ms(fl.Full), ms(fl.Resumed), ms(fl.Hash), ms(fl.Session), fl.Version, fl.Cipher)
	}

	m := &measured{samples: map[string]map[string][]sample{}}
	rss := map[string][][2]float64{} // server -> runs of (RSS, PSS) KiB per connection
	for round := 0; round < o.Runs; round++ {
		order := rotate(servers, round)
		for _, w := range works {
			for _, srv := range order {
				if err := ctx.Err(); err != nil {
					return res, err
				}
				smp, err := runSessions(ctx, s, srv, w, idle[srv.name])
				if err != nil {
					return res, err
				}
				m.add(w.key, srv.name, smp)
				prog.Step("e2e round %d/%d %s, %s: %s ms (%.1f sessions/s), server CPU %s ms per session%s",
					round+1, o.Runs, srv.name, w.label(), ms(smp.wall), float64(smp.sessions)/smp.wall.Seconds(),
					ms(smp.cpu/time.Duration(max(smp.sessions, 1))), errNote(smp))
			}
		}
		for _, srv := range order {
			r, p, err := freshMemory(ctx, s, specs[slices.Index(servers, srv)], fmt.Sprintf("%s-mem%d", meterBase, round),
				pasv+100*len(specs), o.IdleConns)
			if err != nil {
				return res, err
			}
			rss[srv.name] = append(rss[srv.name], [2]float64{r, p})
			prog.Step("e2e round %d/%d %s: %d idle logged-in connections: %.0f KiB RSS, %.0f KiB PSS each",
				round+1, o.Runs, srv.name, o.IdleConns, r, p)
		}
		if transfers {
			for _, up := range []bool{false, true} {
				for _, srv := range order {
					smp, cipher, err := transfer(ctx, s, srv, up, o.Cipher, idle[srv.name])
					if err != nil {
						return res, err
					}
					key := map[bool]string{false: "download", true: "upload"}[up]
					m.add(key, srv.name, smp)
					prog.Step("e2e round %d/%d %s: %d MiB %s: %.0f MiB/s, server CPU %s ms (%s)", round+1, o.Runs, srv.name,
						s.bigSize>>20, key, float64(s.bigSize)/(1<<20)/smp.wall.Seconds(), ms(smp.cpu), cipher)
				}
			}
		}
	}
	res.Tables = tables(o, servers, works, m, rss, floors, transfers, s.bigSize)
	return res, nil
}

func errNote(s sample) string {
	out := ""
	if s.stalls > 0 {
		out += fmt.Sprintf(", %d sessions took 0.9 s or more", s.stalls)
	}
	if s.errs > 0 {
		out += fmt.Sprintf(", %d FAILED (first: %s)", s.errs, s.firstErr)
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func rotate(xs []*server, n int) []*server {
	n %= len(xs)
	return append(append([]*server{}, xs[n:]...), xs[:n]...)
}

// stableProcs waits until the server's process count stays the same for
// half a second (a session's processes have ended) and returns it.
func stableProcs(srv *server) int {
	last, since := -1, time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n := len(srv.cpu.Pids())
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 500*time.Millisecond {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// runSessions runs one workload against srv.
func runSessions(ctx context.Context, s *setup, srv *server, w workload, idle int) (sample, error) {
	cpu0, err := srv.settle(idle)
	if err != nil {
		return sample{}, err
	}
	var next, errs, stalls atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < w.conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(w.sessions) && ctx.Err() == nil {
				t := time.Now()
				err := w.client.run(ctx, s, srv)
				if time.Since(t) >= 900*time.Millisecond {
					stalls.Add(1)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	cpu1, err := srv.settle(idle)
	if err != nil {
		return sample{}, err
	}
	smp := sample{wall: wall, cpu: cpu1 - cpu0, sessions: w.sessions, errs: int(errs.Load()), stalls: int(stalls.Load())}
	if v := firstErr.Load(); v != nil {
		smp.firstErr = v.(string)
	}
	return smp, nil
}

// freshMemory starts a fresh instance of a server (so that no memory
// grown by earlier runs is reused), makes one session, measures the
// memory of n idle logged-in connections and stops it.
func freshMemory(ctx context.Context, s *setup, sp serverSpec, meterName string, pasv, n int) (rss, pss float64, err error) {
	srv, err := sp.start(ctx, s, meterName, pasv)
	if srv != nil {
		defer srv.stop()
	}
	if err != nil {
		return 0, 0, err
	}
	if err := driverSession(ctx, s, srv); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", srv.name, err)
	}
	return idleMemory(ctx, s, srv, n, stableProcs(srv))
}

// idleMemory opens n logged-in connections (AUTH TLS, USER, PASS, PBSZ,
// PROT), lets the server settle, and returns the RSS and PSS (KiB) they
// added, per connection.
func idleMemory(ctx context.Context, s *setup, srv *server, n, idle int) (rss, pss float64, err error) {
	if _, err := srv.settle(idle); err != nil {
		return 0, 0, err
	}
	stableProcs(srv)
	rss0, pss0 := memory(srv.cpu.Pids())
	conns := make([]*ftpClient, 0, n)
	defer func() {
		for _, f := range conns {
			f.quit()
		}
	}()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		f, err := dialFTPS(srv.addr, s.clientTLS())
		if err != nil {
			return 0, 0, fmt.Errorf("%s: idle connection %d: %w", srv.name, i+1, err)
		}
		conns = append(conns, f)
		if err := f.login(User, s.pass); err != nil {
			return 0, 0, fmt.Errorf("%s: idle connection %d: %w", srv.name, i+1, err)
		}
	}
	stableProcs(srv)
	rss1, pss1 := memory(srv.cpu.Pids())
	return (rss1 - rss0) / float64(n), (pss1 - pss0) / float64(n), ctx.Err()
}

// transfer downloads the big file, or uploads it, with curl pinning the
// cipher, and returns the run and the cipher curl reported.
func transfer(ctx context.Context, s *setup, srv *server, up bool, cipher string, idle int) (sample, string, error) {
	cpu0, err := srv.settle(idle)
	if err != nil {
		return sample{}, "", err
	}
	args := append(curlArgs(s, true)[:6], "-v", "--max-time", "600", "--tlsv1.3", "--tls13-ciphers", cipher)
	target := "ftp://" + srv.addr + "/big.bin"
	upName := "up-" + srv.kind + ".bin"
	if up {
		args = append(args, "-T", s.bigFile, "ftp://"+srv.addr+"/"+upName)
	} else {
		args = append(args, "-o", "/dev/null", target)
	}
	ctx, cancel := context.WithTimeout(ctx, 11*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if up {
		defer os.Remove(s.home + "/" + upName)
	}
	if err != nil {
		return sample{}, "", fmt.Errorf("%s: curl %s: %v\n%s", srv.name, map[bool]string{true: "upload", false: "download"}[up], err,
			tail(stderr.String(), 2000))
	}
	got := ""
	for _, line := range strings.Split(stderr.String(), "\n") {
		if _, c, ok := strings.Cut(line, "SSL connection using "); ok {
			if got != "" && got != c {
				return sample{}, "", fmt.Errorf("%s: two ciphers: %s and %s", srv.name, got, c)
			}
			got = c
		}
	}
	if !strings.Contains(got, cipher) {
		return sample{}, "", fmt.Errorf("%s: curl reports %q, not %s", srv.name, got, cipher)
	}
	if up {
		fi, err := os.Stat(s.home + "/" + upName)
		if err != nil || fi.Size() != s.bigSize {
			return sample{}, "", fmt.Errorf("%s: the upload is not all there: %v", srv.name, errors.Join(err, sizeErr(fi, s.bigSize)))
		}
	}
	cpu1, err := srv.settle(idle)
	if err != nil {
		return sample{}, "", err
	}
	return sample{wall: wall, cpu: cpu1 - cpu0, sessions: 1}, got, nil
}

func sizeErr(fi os.FileInfo, want int64) error {
	if fi == nil || fi.Size() == want {
		return nil
	}
	return fmt.Errorf("%d bytes of %d", fi.Size(), want)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func median(xs []float64) float64 { return report.Median(xs) }
