package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// Handshakes are measured over TCP on 127.0.0.1 with client and server
// in this process: a client goroutine dials, completes the handshake and
// reads one byte (so that a TLS 1.3 client takes in its ticket); the
// server writes that byte and closes. A rate counts both sides' work.

// tlsVersions are the protocol versions the tables compare.
var tlsVersions = []struct {
	v     uint16
	label string
}{
	{tls.VersionTLS12, "TLS 1.2"},
	{tls.VersionTLS13, "TLS 1.3"},
}

// hsServer is a TLS server on 127.0.0.1.
type hsServer struct {
	ln   net.Listener
	cfg  *tls.Config
	wg   sync.WaitGroup
	fail atomic.Int64 // handshakes that failed on the server side
}

func startServer(cfg *tls.Config) (*hsServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hsServer{ln: ln, cfg: cfg}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *hsServer) addr() string { return s.ln.Addr().String() }

func (s *hsServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, s.cfg)
			if err := tc.Handshake(); err != nil {
				s.fail.Add(1)
				return
			}
			tc.Write([]byte{'x'})
			io.Copy(io.Discard, tc) // until the client closes
		}()
	}
}

func (s *hsServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// handshake makes one connection and reports whether it resumed.
func handshake(addr string, cfg *tls.Config) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return false, err
	}
	var b [1]byte
	if _, err := io.ReadFull(tc, b[:]); err != nil {
		return false, err
	}
	return tc.ConnectionState().DidResume, nil
}

// clientConfig is a verifying client of version v; resume gives it a
// session cache.
func clientConfig(p *pki, v uint16, resume bool) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "localhost", MinVersion: v, MaxVersion: v}
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return cfg
}

// handshakeRate runs conc client goroutines for d and returns handshakes
// per second and the fraction that resumed.
func handshakeRate(ctx context.Context, addr string, cfg *tls.Config, conc int, d time.Duration) (perSec, resumed float64, err error) {
	var n, res atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				r, err := handshake(addr, cfg)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
				if r {
					res.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, fmt.Errorf("handshake with %s: %w", addr, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if n.Load() == 0 {
		return 0, 0, errors.New("no handshake completed")
	}
	return float64(n.Load()) / time.Since(start).Seconds(), float64(res.Load()) / float64(n.Load()), nil
}

// openModTLS builds mod_tls from configuration lines (TLSEngine on and
// both protocol versions are added) with cert as the main server's
// certificate.
func openModTLS(cert tls.Certificate, lines ...string) (*modtls.TLS, error) {
	text := "TLSEngine on\nTLSProtocol TLSv1.2 TLSv1.3\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := directives.Parse(strings.NewReader(text), "bench.conf", daemon.ParseOptions(""))
	if err != nil {
		return nil, fmt.Errorf("bench configuration: %w", err)
	}
	return modtls.Open(cfg, modtls.Env{Config: cfg}, modtls.WithCertificates(nil, cert))
}

// hsMode is one way of serving handshakes.
type hsMode struct {
	name   string // column label
	resume bool   // the client keeps a session cache
	// cacheName is the session cache modtls must have opened ("" for a
	// server without modtls).
	cacheName string
	// lines are the modtls configuration lines; nil means a plain
	// crypto/tls server with Go's own stateless tickets.
	lines []string
}

// hsCase is one (version, key type, mode) measurement with its server.
type hsCase struct {
	version uint16
	kind    string
	mode    hsMode
	conc    int // client goroutines (0: one)
	srv     *hsServer
	eng     *modtls.TLS
	client  *tls.Config
	primed  bool
	resumed []float64 // resumed fraction of each run
	cpu     []float64 // CPU time of this process per handshake (µs), each run
}

func (c *hsCase) start(p *pki) error {
	cert := p.server[c.kind]
	var cfg *tls.Config
	if c.mode.lines == nil {
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	} else {
		eng, err := openModTLS(cert, c.mode.lines...)
		if err != nil {
			return err
		}
		if _, name := eng.SessionCache(); name != c.mode.cacheName {
			eng.Close()
			return fmt.Errorf("%s: modtls opened the %q session cache, not %q", c.mode.name, name, c.mode.cacheName)
		}
		c.eng = eng
		cfg = eng.TLSConfig(nil)
	}
	srv, err := startServer(cfg)
	if err != nil {
		c.stop()
		return err
	}
	c.srv = srv
	c.client = clientConfig(p, c.version, c.mode.resume)
	return nil
}

func (c *hsCase) stop() {
	if c.srv != nil {
		c.srv.close()
	}
	if c.eng != nil {
		c.eng.Close()
	}
}

// measure runs one rate measurement with conc clients.
func (c *hsCase) measure(ctx context.Context, d time.Duration, conc int) (float64, error) {
	if c.mode.resume && !c.primed {
		if _, err := handshake(c.srv.addr(), c.client); err != nil {
			return 0, err
		}
		c.primed = true
	}
	cpu0, start := cpuTime(), time.Now()
	r, res, err := handshakeRate(ctx, c.srv.addr(), c.client, conc, d)
	if err != nil {
		return 0, fmt.Errorf("%s %s %s: %w", versionLabel(c.version), c.kind, c.mode.name, err)
	}
	n := r * time.Since(start).Seconds()
	c.cpu = append(c.cpu, float64((cpuTime()-cpu0).Microseconds())/n)
	c.resumed = append(c.resumed, res)
	return r, nil
}

// cpuTime is the user and system CPU time this process has used. Client
// and server run in this process, so its CPU time per handshake is what
// a handshake costs both sides, and unlike a rate it does not drop when
// other programs take the CPUs.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func versionLabel(v uint16) string {
	for _, tv := range tlsVersions {
		if tv.v == v {
			return tv.label
		}
	}
	return fmt.Sprintf("0x%04x", v)
}

func keyLabel(kind string) string {
	for _, kt := range keyTypes {
		if kt.kind == kind {
			return kt.label
		}
	}
	return kind
}

// shmMode returns the mode serving resumptions through an shm cache on
// info (one segment for all shm cases of a table).
func shmMode(info string) hsMode {
	return hsMode{name: "shm:", resume: true, cacheName: "shm",
		lines: []string{"TLSSessionCache shm:" + info + " 1800"}}
}

// fullMode is the shm server with clients that keep no sessions.
func fullMode(info string) hsMode {
	m := shmMode(info)
	m.name, m.resume = "full", false
	return m
}

var (
	goTickets    = hsMode{name: "Go tickets", resume: true}
	modtlsTicket = hsMode{name: "modtls tickets", resume: true, cacheName: modtls.InternalCache,
		lines: []string{"TLSSessionTickets on"}}
	internalMode = hsMode{name: "internal:", resume: true, cacheName: modtls.InternalCache,
		lines: []string{"TLSSessionCache internal: 1800"}}
)

func init() {
	register(&group{
		name: "handshake",
		steps: func(r *runner) int {
			return len(tlsVersions) * len(keyTypes) * 5 * r.o.Runs
		},
		ready: func(*runner) string { return "" },
		run:   runHandshakes,
	})
}

// runCases starts every case, measures them in interleaved rounds and
// stops them; it returns the samples per case.
func (r *runner) runCases(ctx context.Context, cases []*hsCase) ([][]float64, error) {
	p, err := r.certs()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range cases {
			c.stop()
		}
	}()
	for _, c := range cases {
		if err := c.start(p); err != nil {
			return nil, err
		}
	}
	return r.rounds(ctx, len(cases), func(ctx context.Context, i, round int) (float64, error) {
		c := cases[i]
		conc := max(c.conc, 1)
		v, err := c.measure(ctx, r.o.Duration, conc)
		if err == nil {
			r.prog.step("handshake %s %s %-14s %d client(s) run %d/%d: %s hs/s", versionLabel(c.version), keyLabel(c.kind),
				c.mode.name, conc, round+1, r.o.Runs, thousands(int64(v)))
		}
		return v, err
	})
}

// shmSessionInfo makes a segment for the shm handshake cases, opened by
// modtls itself; it is tracked for cleanup.
func (r *runner) shmSessionInfo() (string, error) {
	sc, info, err := r.segs.session(0)
	if err != nil {
		return "", err
	}
	// modtls opens it again through the registered provider; this
	// handle only made and named it (cleanup removes it by info).
	sc.Close()
	return info, nil
}

func runHandshakes(ctx context.Context, r *runner) ([]*Table, error) {
	info, err := r.shmSessionInfo()
	if err != nil {
		return nil, err
	}
	modes := []hsMode{fullMode(info), goTickets, modtlsTicket, internalMode, shmMode(info)}
	var cases []*hsCase
	for _, tv := range tlsVersions {
		for _, kt := range keyTypes {
			for _, m := range modes {
				cases = append(cases, &hsCase{version: tv.v, kind: kt.kind, mode: m})
			}
		}
	}
	samples, err := r.runCases(ctx, cases)
	if err != nil {
		return nil, err
	}
	t := &Table{
		ID:    "handshake",
		Title: "Resumed-handshake throughput (handshakes/s and CPU µs per handshake, one client, TCP loopback, client and server in one process)",
		Note: "Each cell: median handshakes/s over the runs, and in parentheses the median CPU time this process used per handshake " +
			"(client and server together; unlike the rate, it does not drop when other programs take the CPUs). " +
			"\"full\": no client session cache, server with the shm cache (each full handshake stores a session). " +
			"\"Go tickets\": plain crypto/tls, stateless tickets. \"modtls tickets\": modtls with TLSSessionTickets on. " +
			"\"internal:\" and \"shm:\": modtls with that TLSSessionCache (the ticket is a 32-byte id; the session is stored in the cache). " +
			"Ratios of throughput: by rate, and by CPU cost per handshake (the throughput when CPU-bound); \"full CPU / shm CPU\": how much cheaper a resumption is. " +
			"Go's default key exchange (X25519MLKEM768 first) is used, so TLS 1.3 resumption includes an ECDHE.",
		Columns: []string{"protocol / key", "full", "Go tickets", "modtls tickets", "internal:", "shm:",
			"shm / Go tickets (rate)", "shm / Go tickets (CPU)", "internal / Go tickets (CPU)", "full CPU / shm CPU", "rate spread"},
	}
	var missed []string
	worst := 0.0
	for row := 0; row < len(cases)/len(modes); row++ {
		base := row * len(modes)
		med := make([]float64, len(modes))
		cpu := make([]float64, len(modes))
		cells := []Cell{}
		rowSpread := 0.0
		for j := range modes {
			c := cases[base+j]
			med[j], cpu[j] = median(samples[base+j]), median(c.cpu)
			rowSpread = max(rowSpread, spread(samples[base+j]))
			cells = append(cells, number(med[j], fmt.Sprintf("%s (%.0f)", thousands(int64(med[j])), cpu[j])))
			if c.mode.resume && median(c.resumed) < 1 {
				t.Findings = append(t.Findings, fmt.Sprintf("%s %s %s: only %.0f%% of the handshakes resumed",
					versionLabel(c.version), keyLabel(c.kind), c.mode.name, 100*median(c.resumed)))
			}
		}
		worst = max(worst, rowSpread)
		c := cases[base]
		label := versionLabel(c.version) + " " + keyLabel(c.kind)
		byRate, byCPU := ratio(med[4], med[1]), ratio(cpu[1], cpu[4])
		row := append([]Cell{text(label)}, cells...)
		row = append(row, times(byRate), times(byCPU), times(ratio(cpu[1], cpu[3])), times(ratio(cpu[0], cpu[4])), percent(rowSpread))
		t.add(row...)
		if byRate < 0.97 || byCPU < 0.97 {
			missed = append(missed, fmt.Sprintf("%s (%.2fx by rate, %.2fx by CPU)", label, byRate, byCPU))
		}
	}
	if len(missed) == 0 {
		t.Findings = append(t.Findings, "Target shm >= 0.97x Go tickets: met in every row, by rate and by CPU cost.")
	} else {
		t.Findings = append(t.Findings, "Target shm >= 0.97x Go tickets: missed for "+strings.Join(missed, ", ")+
			fmt.Sprintf(" (largest run-to-run spread of a rate: %.0f%%; a gap smaller than the spread is noise).", worst*100))
	}
	return []*Table{t}, nil
}
