package e2e

import (
	"crypto/tls"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/bench/internal/report"
)

func curvesOf(names []string) []tls.CurveID {
	var out []tls.CurveID
	for _, n := range names {
		switch n {
		case "X25519":
			out = append(out, tls.X25519)
		case "P256":
			out = append(out, tls.CurveP256)
		}
	}
	return out
}

// row is one metric over the servers: its per-round values (nil when a
// server has none), whether lower is better, and how to show a value.
type row struct {
	label  string
	key    string // workload key, for the judgements
	lower  bool
	runs   map[string][]float64
	format func(v float64) report.Cell
}

// judged is what the findings need of a row: ftpdtls's median, the best
// peer's, their ratio and the range of the per-round ratios.
type judged struct {
	ftpdtls, best  float64
	bestName       string
	ratio, lo, hi  float64
	spread         float64
	ftpdtlsPresent bool
}

func judge(r row, servers []*server) judged {
	j := judged{ratio: math.NaN(), lo: math.NaN(), hi: math.NaN()}
	first := servers[0].name
	j.ftpdtls = median(r.runs[first])
	j.ftpdtlsPresent = len(r.runs[first]) > 0
	better := func(a, b float64) bool {
		if math.IsNaN(b) {
			return true
		}
		if r.lower {
			return a < b
		}
		return a > b
	}
	j.best = math.NaN()
	for _, srv := range servers {
		v := median(r.runs[srv.name])
		if srv.kind == "ftpdtls" || math.IsNaN(v) {
			continue
		}
		if better(v, j.best) {
			j.best, j.bestName = v, srv.name
		}
		j.spread = max(j.spread, report.Spread(r.runs[srv.name]))
	}
	j.spread = max(j.spread, report.Spread(r.runs[first]))
	j.ratio = report.Ratio(j.ftpdtls, j.best)
	// Per round: ftpdtls against the best peer of the same round.
	for i := range r.runs[first] {
		best := math.NaN()
		for _, srv := range servers {
			if srv.kind == "ftpdtls" || i >= len(r.runs[srv.name]) {
				continue
			}
			if v := r.runs[srv.name][i]; better(v, best) {
				best = v
			}
		}
		q := report.Ratio(r.runs[first][i], best)
		if math.IsNaN(q) {
			continue
		}
		if math.IsNaN(j.lo) || q < j.lo {
			j.lo = q
		}
		if math.IsNaN(j.hi) || q > j.hi {
			j.hi = q
		}
	}
	return j
}

func tables(o Options, servers []*server, works []workload, m *measured, rss map[string][][2]float64,
	floors []Floor, transfers bool, bigSize int64) []*report.Table {
	names := make([]string, len(servers))
	for i, srv := range servers {
		names[i] = srv.name
	}
	cols := append(append([]string{"workload"}, names...), "ftpdtls / best peer", "range over runs", "spread")

	var rows []row
	// Wall time of each session workload (ms), with sessions/s.
	for _, w := range works {
		r := row{label: w.label() + ", ms (sessions/s)", key: w.key, lower: true, runs: map[string][]float64{}}
		n := float64(w.sessions)
		r.format = func(v float64) report.Cell {
			return report.Number(v, fmt.Sprintf("%s (%.0f/s)", report.Thousands(int64(math.Round(v))), n/(v/1000)))
		}
		for _, name := range names {
			for _, s := range m.get(w.key, name) {
				r.runs[name] = append(r.runs[name], float64(s.wall)/1e6)
			}
		}
		rows = append(rows, r)
	}
	// Server CPU per session over every session run of a round.
	cpu := row{label: "server CPU per session, all session runs, ms", key: "cpu", lower: true, runs: map[string][]float64{},
		format: func(v float64) report.Cell { return report.Fixed(v, 2) }}
	for _, name := range names {
		for round := 0; round < o.Runs; round++ {
			var c time.Duration
			var n int
			for _, w := range works {
				if ss := m.get(w.key, name); round < len(ss) {
					c += ss[round].cpu
					n += ss[round].sessions
				}
			}
			if n > 0 {
				cpu.runs[name] = append(cpu.runs[name], float64(c)/1e6/float64(n))
			}
		}
	}
	rows = append(rows, cpu)
	// Memory per idle logged-in connection.
	mem := row{label: fmt.Sprintf("RSS per idle logged-in connection (of %d), KiB (PSS)", o.IdleConns), key: "rss", lower: true,
		runs: map[string][]float64{}}
	pssOf := map[string][]float64{}
	for _, name := range names {
		for _, v := range rss[name] {
			mem.runs[name] = append(mem.runs[name], v[0])
			pssOf[name] = append(pssOf[name], v[1])
		}
	}
	mem.format = func(v float64) report.Cell { return report.Count(v) }
	rows = append(rows, mem)
	if transfers {
		for _, key := range []string{"download", "upload"} {
			r := row{label: fmt.Sprintf("%d MiB %s, %s, MiB/s", bigSize>>20, key, o.Cipher), key: key, runs: map[string][]float64{},
				format: func(v float64) report.Cell { return report.Count(v) }}
			for _, name := range names {
				for _, s := range m.get(key, name) {
					r.runs[name] = append(r.runs[name], float64(bigSize)/(1<<20)/s.wall.Seconds())
				}
			}
			rows = append(rows, r)
		}
		for _, key := range []string{"download", "upload"} {
			r := row{label: fmt.Sprintf("server CPU per GiB, %s, ms", key), key: key + "-cpu", lower: true, runs: map[string][]float64{},
				format: func(v float64) report.Cell { return report.Count(v) }}
			for _, name := range names {
				for _, s := range m.get(key, name) {
					r.runs[name] = append(r.runs[name], float64(s.cpu)/1e6/(float64(bigSize)/(1<<30)))
				}
			}
			rows = append(rows, r)
		}
	}

	main := &report.Table{ID: "e2e", Columns: cols,
		Title: fmt.Sprintf("End to end: ftpdtls serve and the FTPS daemons operators pick, %d runs interleaved, medians", o.Runs),
		Note: "A session: connect, AUTH TLS (full handshake), USER/PASS, PBSZ 0, PROT P, a passive data connection (resuming the " +
			"control connection's TLS session where the server requires it: all but pure-ftpd) carrying LIST, QUIT. Same ECDSA " +
			"P-256 certificate, TLS 1.2+1.3, same $6$ password hash, 127.0.0.1. \"curl\": its default 200 ms happy-eyeballs timer; " +
			"\"curl 5 ms\": --happy-eyeballs-timeout-ms 5. Server CPU: every process of the server, those that ended included. " +
			"Ratios: ftpdtls serve (one worker) over the best peer (lowest time, CPU or memory; highest throughput), of the medians; " +
			"the range is the same ratio within each round. Spread: (max-min)/median of a cell's runs, the largest of the row."}
	for _, r := range rows {
		cells := []report.Cell{report.Text(r.label)}
		for _, name := range names {
			v := median(r.runs[name])
			c := r.format(v)
			if r.key == "rss" && !math.IsNaN(v) {
				c = report.Number(v, fmt.Sprintf("%s (%s)", report.Thousands(int64(math.Round(v))),
					report.Thousands(int64(math.Round(median(pssOf[name]))))))
			}
			cells = append(cells, c)
		}
		j := judge(r, servers)
		cells = append(cells, report.Times(j.ratio), report.Text(rangeText(j)), report.Percent(j.spread))
		main.Add(cells...)
	}
	// Failures and stalls, if any.
	for _, w := range works {
		for _, name := range names {
			var errs, stalls int
			first := ""
			for _, s := range m.get(w.key, name) {
				errs += s.errs
				stalls += s.stalls
				if first == "" {
					first = s.firstErr
				}
			}
			if errs > 0 {
				main.Findings = append(main.Findings, fmt.Sprintf("%s, %s: %d sessions FAILED (first: %s)", name, w.label(), errs, first))
			}
			if stalls > 0 && strings.HasPrefix(w.key, "curl") && w.conc == 1 {
				main.Findings = append(main.Findings, fmt.Sprintf("%s, %s: %d of %d sessions took 0.9 s or more "+
					"(curl waiting on a timer: see the curl waits in BENCHMARKS.md)", name, w.label(), stalls, w.sessions*o.Runs))
			}
		}
	}
	main.Findings = append(main.Findings, targets(rows, servers, floors, m, works, o)...)

	return []*report.Table{main, cpuTable(o, servers, works, m, floors), floorTable(floors)}
}

func rangeText(j judged) string {
	if math.IsNaN(j.lo) {
		return "-"
	}
	return fmt.Sprintf("%.2f-%.2f", j.lo, j.hi)
}

// cpuTable shows the server CPU per session of each workload, against
// the floor.
func cpuTable(o Options, servers []*server, works []workload, m *measured, floors []Floor) *report.Table {
	var names []string
	for _, srv := range servers {
		names = append(names, srv.name)
	}
	t := &report.Table{ID: "e2e-cpu", Title: "Server CPU per session by workload (ms, medians over runs)",
		Columns: append(append([]string{"workload"}, names...), "ftpdtls / best peer", "ftpdtls / floor"),
		Note: "CPU time of every process of the server during the runs of one workload, divided by its sessions. " +
			"Floor: the server side of a full and a resumed TLS 1.3 handshake and a password check, measured in-process " +
			"(next table), with the key exchange the client picks (X25519 for curl and lftp, X25519MLKEM768 for the driver)."}
	for _, w := range works {
		r := row{key: w.key, lower: true, runs: map[string][]float64{}}
		cells := []report.Cell{report.Text(w.label())}
		for _, name := range names {
			for _, s := range m.get(w.key, name) {
				r.runs[name] = append(r.runs[name], float64(s.cpu)/1e6/float64(s.sessions))
			}
			cells = append(cells, report.Fixed(median(r.runs[name]), 2))
		}
		j := judge(r, servers)
		fl := floorFor(w.key, floors)
		cells = append(cells, report.Times(j.ratio), report.Times(report.Ratio(j.ftpdtls, float64(fl.Session)/1e6)))
		t.Add(cells...)
	}
	return t
}

// floorFor is the floor of a workload's key exchange.
func floorFor(key string, floors []Floor) Floor {
	if len(floors) < 2 {
		return Floor{}
	}
	if strings.HasPrefix(key, "driver") {
		return floors[1]
	}
	return floors[0]
}

func floorTable(floors []Floor) *report.Table {
	t := &report.Table{ID: "e2e-floor", Title: "CPU floor of one FTPS session, measured in-process (server side, ms, medians)",
		Columns: []string{"key exchange (clients)", "full handshake", "resumed handshake", "password check ($6$, 5,000 rounds)",
			"session floor", "negotiated", "sessions"},
		Note: "crypto/tls server with the same ECDSA P-256 certificate and ftpdtls's SHA-512 crypt, each connection's goroutine " +
			"locked to its thread and timed with its CPU clock (CLOCK_THREAD_CPUTIME_ID): only the server's work counts."}
	for _, f := range floors {
		t.Add(report.Text(f.Name), report.Fixed(float64(f.Full)/1e6, 3), report.Fixed(float64(f.Resumed)/1e6, 3),
			report.Fixed(float64(f.Hash)/1e6, 3), report.Fixed(float64(f.Session)/1e6, 3),
			report.Text(f.Version+", "+f.Cipher+", "+f.Group), report.Count(float64(f.SessionsMeasured)))
	}
	return t
}

// targets judges the targets.
func targets(rows []row, servers []*server, floors []Floor, m *measured, works []workload, o Options) []string {
	var out []string
	verdict := func(ok bool) string { return map[bool]string{true: "met", false: "MISSED"}[ok] }
	for _, r := range rows {
		j := judge(r, servers)
		if math.IsNaN(j.ratio) {
			continue
		}
		switch {
		case strings.HasPrefix(r.key, "curl-he5/") || strings.HasPrefix(r.key, "lftp/"):
			s := fmt.Sprintf("target wall time <= 1.0x the fastest peer (%s), %s: %s, %.2fx (rounds %s)",
				j.bestName, r.label, verdict(j.ratio <= 1), j.ratio, rangeText(j))
			if strings.HasSuffix(r.key, "/conc") {
				s += fmt.Sprintf("; stretch <= 0.7x: %s", verdict(j.ratio <= 0.7))
			}
			if strings.HasPrefix(r.key, "curl-he5/") {
				def := strings.Replace(r.key, "curl-he5/", "curl/", 1)
				for _, d := range rows {
					if d.key == def {
						dj := judge(d, servers)
						s += fmt.Sprintf("; with curl's default timer %.2fx", dj.ratio)
					}
				}
			}
			out = append(out, s+".")
		case r.key == "cpu":
			s := fmt.Sprintf("target server CPU per session <= 0.5x the most efficient peer (%s): %s, %.2fx (rounds %s)",
				j.bestName, verdict(j.ratio <= 0.5), j.ratio, rangeText(j))
			if len(floors) > 0 {
				// The floor of the mix of workloads: each workload's
				// floor weighted by its sessions.
				var fsum float64
				var n int
				for _, w := range works {
					fsum += float64(floorFor(w.key, floors).Session) / 1e6 * float64(w.sessions)
					n += w.sessions
				}
				fl := fsum / float64(n)
				q := j.ftpdtls / fl
				s += fmt.Sprintf("; <= 1.3x the floor (%.2f ms for this mix of clients): %s, %.2fx", fl, verdict(q <= 1.3), q)
			}
			out = append(out, s+".")
		case r.key == "download" || r.key == "upload":
			out = append(out, fmt.Sprintf("target %s throughput >= the best peer (%s): %s, %.2fx.", r.key, j.bestName,
				verdict(j.ratio >= 1), j.ratio))
		case r.key == "rss":
			out = append(out, fmt.Sprintf("target RSS per idle logged-in connection <= the best peer's (%s): %s, %.2fx.",
				j.bestName, verdict(j.ratio <= 1), j.ratio))
		}
	}
	return out
}
