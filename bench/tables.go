package bench

import (
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ftpdtls/ftpdtls/bench/internal/report"
)

// The micro groups: the packages whose benchmarks they run, and how the
// results become tables. Every cell is the median over the rounds;
// "spread" is (max-min)/median of the runs, the largest of the row.

var microGroups = map[string]microGroup{
	"capacity": {
		ready: always,
		pkgs: func(o options) []pkgBench {
			sizes := make([]string, len(o.sizes))
			for i, s := range o.sizes {
				sizes[i] = strconv.FormatInt(s, 10)
			}
			return []pkgBench{{Pkg: "./bench", Pattern: "^BenchmarkCapacity$", Benchtime: "1x",
				Env: []string{"FTPDTLS_BENCH_SIZES=" + strings.Join(sizes, ",")}}}
		},
		tables: capacityTable,
	},
	"cache": {
		ready: always,
		pkgs: func(options) []pkgBench {
			return []pkgBench{{Pkg: "./modtlsshm", Pattern: "^(BenchmarkCache|BenchmarkLockOptions|BenchmarkRandomRead)$"}}
		},
		tables: cacheTables,
	},
	"scaling": {
		ready: always,
		pkgs: func(options) []pkgBench {
			return []pkgBench{{Pkg: "./modtlsshm/shmbench", Pattern: "^BenchmarkLookupScaling$", Benchtime: "1x"}}
		},
		tables: scalingTable,
	},
	"handshake": {
		ready: always,
		pkgs: func(options) []pkgBench {
			return []pkgBench{
				{Pkg: "./bench", Pattern: "^BenchmarkResumedHandshake$"},
				{Pkg: "./modtls", Pattern: "^(BenchmarkHandshake|BenchmarkWrapUnwrap)$"},
			}
		},
		tables: handshakeTables,
	},
	"redis": {
		ready: func() string {
			if _, err := exec.LookPath("redis-server"); err != nil {
				return "redis-server is not installed"
			}
			return ""
		},
		pkgs: func(options) []pkgBench {
			return []pkgBench{{Pkg: "./modtlsredis", Pattern: "^Benchmark"}}
		},
		tables: redisTable,
	},
}

// median of a metric over the rounds, and its spread.
func (r *results) median(name, unit string) float64 { return report.Median(r.values(name, unit)) }
func (r *results) spread(name, unit string) float64 { return report.Spread(r.values(name, unit)) }

// pivot lays out results as a table: key maps a benchmark name to its row
// and column (ok false leaves it out); rows keep the order they first
// appear in, columns are given. Cells are the median of unit, shown by
// format; a last column gives the largest spread of the row.
func pivot(t *report.Table, r *results, unit string, key func(name string) (row, col string, ok bool),
	cols []string, format func(float64) report.Cell) {
	t.Columns = append(append([]string{t.Columns[0]}, cols...), "spread")
	var rows []string
	cells := map[string]map[string]string{} // row -> col -> benchmark
	for _, name := range r.order {
		row, col, ok := key(name)
		if !ok {
			continue
		}
		if cells[row] == nil {
			cells[row] = map[string]string{}
			rows = append(rows, row)
		}
		cells[row][col] = name
	}
	for _, row := range rows {
		out := []report.Cell{report.Text(row)}
		spread := 0.0
		for _, col := range cols {
			name, ok := cells[row][col]
			if !ok {
				out = append(out, report.Text("-"))
				continue
			}
			out = append(out, format(r.median(name, unit)))
			spread = max(spread, r.spread(name, unit))
		}
		t.Add(append(out, report.Percent(spread))...)
	}
}

func nanos(v float64) report.Cell { return report.Auto(v) }

var sizeRE = regexp.MustCompile(`size=(\d+)KiB`)

// sizeLabel turns "size=1540KiB" into "1.5 MiB".
func sizeLabel(s string) string {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	kib, _ := strconv.ParseFloat(m[1], 64)
	if kib >= 1024 && math.Mod(kib, 1024) == 0 {
		return fmt.Sprintf("%.0f MiB", kib/1024)
	}
	if kib >= 1024 {
		return fmt.Sprintf("%.1f MiB", kib/1024)
	}
	return fmt.Sprintf("%.0f KiB", kib)
}

func cacheTables(o options, r *results) []*report.Table {
	ops := []string{"get-hit", "get-hit/parallel", "get-miss", "get-miss/parallel", "add", "add/parallel", "delete", "delete+add/parallel"}
	t := &report.Table{ID: "cache", Columns: []string{"cache"},
		Title: "Cache operations (ns per operation; modtlsshm's BenchmarkCache)",
		Note: "Typical TLS 1.3 sessions (32-byte ids, 57-byte states) at 1%, 50% and 95% of a segment's estimated capacity; " +
			"/parallel: all CPUs at once (ns per operation of all of them together). add replaces an entry (the fill stays put); " +
			"delete removes the oldest. Floors: the lock word pair every shm write takes, and a Go map under a sync.RWMutex " +
			"(10,000 sessions, one process only)."}
	pivot(t, r, "ns/op", func(name string) (string, string, bool) {
		rest, ok := strings.CutPrefix(name, "BenchmarkCache/")
		if !ok {
			return "", "", false
		}
		switch {
		case rest == "baseline/lockword-pair":
			return "floor: lock word pair", "add", true
		case strings.HasPrefix(rest, "baseline/map/"):
			return "floor: Go map + sync.RWMutex", strings.TrimPrefix(rest, "baseline/map/"), true
		}
		parts := strings.SplitN(rest, "/", 3) // size=..., fill=..., op
		if len(parts) != 3 {
			return "", "", false
		}
		return "shm " + sizeLabel(parts[0]) + ", " + strings.TrimPrefix(parts[1], "fill=") + " full", parts[2], true
	}, ops, nanos)

	locks := &report.Table{ID: "cache-locks", Columns: []string{"lock"},
		Title: "Locking a segment (ns per lock/unlock pair; modtlsshm's BenchmarkLockOptions) and the memory floor",
		Note: "The ways a segment shared by processes could be locked: modtlsshm's lock word (a compare-and-swap in the segment), " +
			"OFD and POSIX fcntl locks (ProFTPD's is F_SETLKW), flock, and an in-process sync.Mutex for reference; parallel: " +
			"every CPU at once. Last rows: one dependent 8-byte read at a random place in a segment (BenchmarkRandomRead), the " +
			"memory latency under a lookup, which makes two or three such reads."}
	pivot(locks, r, "ns/op", func(name string) (string, string, bool) {
		if rest, ok := strings.CutPrefix(name, "BenchmarkLockOptions/"); ok {
			if kind, ok := strings.CutSuffix(rest, "/parallel"); ok {
				return kind, "parallel", true
			}
			return rest, "one goroutine", true
		}
		if rest, ok := strings.CutPrefix(name, "BenchmarkRandomRead/"); ok {
			return "random read, " + sizeLabel(rest) + " segment", "one goroutine", true
		}
		return "", "", false
	}, []string{"one goroutine", "parallel"}, nanos)
	return []*report.Table{t, locks}
}

func scalingTable(o options, r *results) []*report.Table {
	t := &report.Table{ID: "scaling", Title: "Lookups in one segment by one and by two processes (modtlsshm/shmbench's BenchmarkLookupScaling)",
		Note: "Each process attaches the same default-size segment and looks up stored sessions; the counts alternate over " +
			"rounds inside the benchmark (medians of its rounds, then over this run's runs). Per CPU second: lookups per second " +
			"of the CPU time the helpers used, which drops when processes write one cache line in turn.",
		Columns: []string{"processes", "lookups/s", "per CPU second", "vs 1 process", "spread"}}
	name := "BenchmarkLookupScaling"
	for _, p := range []struct{ label, suffix string }{{"1", "1proc"}, {"2", "2procs"}} {
		ratio := 1.0
		if p.label == "2" {
			ratio = r.median(name, "2procs/1proc")
		}
		t.Add(report.Text(p.label), report.Count(r.median(name, "lookups/s-"+p.suffix)),
			report.Count(r.median(name, "lookups/cpu-s-"+p.suffix)), report.Times(ratio),
			report.Percent(r.spread(name, "lookups/s-"+p.suffix)))
	}
	if v := r.median(name, "2procs/1proc"); !math.IsNaN(v) {
		t.Findings = append(t.Findings, fmt.Sprintf("target 2 processes >= 1.5x the lookups of one: %s, %.2fx.",
			map[bool]string{true: "met", false: "MISSED"}[v >= 1.5], v))
	}
	return []*report.Table{t}
}

func handshakeTables(o options, r *results) []*report.Table {
	modes := []string{"full", "gotickets", "modtlstickets", "internal", "shm"}
	labels := map[string]string{"full": "full", "gotickets": "Go tickets", "modtlstickets": "modtls tickets",
		"internal": "internal:", "shm": "shm:"}
	t := &report.Table{ID: "handshake",
		Title: "Resumed handshakes (µs of CPU per handshake, client and server in one process; package bench's BenchmarkResumedHandshake)",
		Note: "One client over TCP on 127.0.0.1, client and server in one process: CPU time of the process per handshake " +
			"(both sides), which does not drop when other programs take the CPUs, and in parentheses handshakes/s. \"full\": " +
			"no client session cache (shm server). \"Go tickets\": plain crypto/tls. \"modtls tickets\": TLSSessionTickets on. " +
			"\"internal:\"/\"shm:\": modtls with that TLSSessionCache (the ticket is a 32-byte id). Go's default key exchange " +
			"(X25519MLKEM768 first), so a TLS 1.3 resumption includes one.",
		Columns: []string{"protocol / key"}}
	for _, m := range modes {
		t.Columns = append(t.Columns, labels[m])
	}
	t.Columns = append(t.Columns, "shm / Go tickets (CPU)", "full / shm (CPU)", "spread")
	var rows []string
	for _, name := range r.order {
		if rest, ok := strings.CutPrefix(name, "BenchmarkResumedHandshake/"); ok {
			if row := rest[:strings.LastIndexByte(rest, '/')]; !slices.Contains(rows, row) {
				rows = append(rows, row)
			}
		}
	}
	var missed []string
	for _, row := range rows {
		cells := []report.Cell{report.Text(strings.NewReplacer("TLS1.", "TLS 1.", "/ecdsa", " ECDSA P-256", "/rsa", " RSA-2048").Replace(row))}
		cpu := map[string]float64{}
		spread := 0.0
		for _, m := range modes {
			name := "BenchmarkResumedHandshake/" + row + "/" + m
			cpu[m] = r.median(name, "cpu-us/op")
			rate := 1e9 / r.median(name, "ns/op")
			spread = max(spread, r.spread(name, "cpu-us/op"))
			cells = append(cells, report.Number(cpu[m], fmt.Sprintf("%.0f (%s/s)", cpu[m], report.Thousands(int64(rate)))))
		}
		byCPU := report.Ratio(cpu["gotickets"], cpu["shm"])
		cells = append(cells, report.Times(byCPU), report.Times(report.Ratio(cpu["full"], cpu["shm"])), report.Percent(spread))
		t.Add(cells...)
		if !(byCPU >= 0.97) {
			missed = append(missed, fmt.Sprintf("%s (%.2fx)", cells[0].Text, byCPU))
		}
	}
	if len(rows) > 0 {
		if len(missed) == 0 {
			t.Findings = append(t.Findings, "target shm resumed handshakes >= 0.97x Go's tickets (by CPU per handshake): met in every row.")
		} else {
			t.Findings = append(t.Findings, "target shm resumed handshakes >= 0.97x Go's tickets (by CPU per handshake): MISSED for "+
				strings.Join(missed, ", ")+"; compare with the spread.")
		}
	}

	mt := &report.Table{ID: "handshake-modtls", Columns: []string{"protocol / key"},
		Title: "Full and resumed handshakes through modtls's internal cache (µs per handshake, wall; modtls's BenchmarkHandshake)",
		Note:  "Last row: BenchmarkWrapUnwrap, what modtls adds to a resumption (store a session and find it again), in µs."}
	pivot(mt, r, "ns/op", func(name string) (string, string, bool) {
		if name == "BenchmarkWrapUnwrap" {
			return "modtls wrap + unwrap of a session", "resumed", true
		}
		rest, ok := strings.CutPrefix(name, "BenchmarkHandshake/")
		if !ok {
			return "", "", false
		}
		i := strings.LastIndexByte(rest, '/')
		return strings.ReplaceAll(rest[:i], "/", " "), rest[i+1:], true
	}, []string{"full", "resumed"}, func(v float64) report.Cell { return report.Auto(v / 1000) })
	return []*report.Table{t, mt}
}

func redisTable(o options, r *results) []*report.Table {
	t := &report.Table{ID: "redis", Columns: []string{"operation"},
		Title: "The Redis provider (µs per operation; modtlsredis's benchmarks, redis-server on 127.0.0.1)",
		Note:  "A session add and get are each a round trip to redis-server; Parallel: all CPUs at once; DecodeCompact: decoding a stored value."}
	pivot(t, r, "ns/op", func(name string) (string, string, bool) {
		rest, ok := strings.CutPrefix(name, "Benchmark")
		return rest, "µs/op", ok
	}, []string{"µs/op"}, func(v float64) report.Cell { return report.Auto(v / 1000) })
	return []*report.Table{t}
}

// ProFTPD 1.3.8's fixed-slot geometry: a header, then slots of a fixed
// size whatever the entry's real size.
const (
	proftpdSessHeader = 56
	proftpdSessSlot   = 10288
	proftpdOCSPHeader = 48
	proftpdOCSPSlot   = 4176
	// nginxPerMiB is nginx's documented density for ssl_session_cache
	// ("one megabyte of the cache contains about 4000 sessions").
	nginxPerMiB = 4000
)

// proftpdEntries is how many entries ProFTPD fits in a requested size,
// and the segment it makes (rounded up to a page).
func proftpdEntries(requested int64, ocsp bool) (n, segment int64) {
	header, slot := int64(proftpdSessHeader), int64(proftpdSessSlot)
	if ocsp {
		header, slot = proftpdOCSPHeader, proftpdOCSPSlot
	}
	n = (requested - header) / slot
	return n, (header + n*slot + 4095) &^ 4095
}

var capacityLabels = map[string]string{
	"tls13": "TLS 1.3 session", "tls12": "TLS 1.2 session", "mtls": "TLS 1.3 mutual-TLS session (ECDSA client cert)",
	"ocsp-ecdsa": "OCSP response, ECDSA P-256 CA", "ocsp-rsa": "OCSP response, RSA-2048 CA",
	"ocsp-rsa-delegated": "OCSP response, RSA-2048 delegated responder (certificate embedded)",
}

func capacityTable(o options, r *results) []*report.Table {
	t := &report.Table{ID: "capacity", Title: "Capacity: entries a segment holds (package bench's BenchmarkCapacity)",
		Note: "Filled with real values (session states modtls stored after real handshakes, OCSP responses) until the first " +
			"eviction, then with half as many again (\"when full\"). \"log / slots used\": how full the record log and the index were " +
			"at the first eviction. Per MiB: \"when full\" over the segment's size. ProFTPD's figures are computed from its fixed " +
			"slots (10,288 B per session, 4,176 B per OCSP response); nginx's is its documented ~4,000 sessions per MiB.",
		Columns: []string{"entry (mean value size)", "segment", "first eviction", "log / slots used then", "when full", "per MiB",
			"ProFTPD 1.3.8", "ProFTPD per MiB", "nginx per MiB", "vs ProFTPD"}}
	for _, name := range r.order {
		rest, ok := strings.CutPrefix(name, "BenchmarkCapacity/size=")
		if !ok {
			continue
		}
		sizeText, kind, _ := strings.Cut(rest, "/")
		size, _ := strconv.ParseInt(sizeText, 10, 64)
		ocsp := strings.HasPrefix(kind, "ocsp")
		seg := r.median(name, "segment-B")
		full := r.median(name, "when-full")
		perMiB := full / (seg / (1 << 20))
		pn, pseg := proftpdEntries(size, ocsp)
		pPerMiB := float64(pn) / (float64(pseg) / (1 << 20))
		nginx := report.Text("-")
		if !ocsp {
			nginx = report.Count(nginxPerMiB)
		}
		t.Add(report.Text(fmt.Sprintf("%s (%.0f B)", capacityLabels[kind], r.median(name, "value-B"))),
			report.Number(seg, report.Thousands(int64(seg))+" B"), report.Count(r.median(name, "first-eviction")),
			report.Text(fmt.Sprintf("%.0f%% / %.0f%%", r.median(name, "log-used-%"), r.median(name, "slots-used-%"))),
			report.Count(full), report.Count(perMiB), report.Count(float64(pn)), report.Count(pPerMiB), nginx,
			report.Times(report.Ratio(perMiB, pPerMiB)))
	}
	return []*report.Table{t}
}
