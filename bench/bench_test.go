package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/bench/internal/report"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.CheckNoLeakedSegments(m)) }

func TestParseBenchLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		name string
		n    int64
		m    map[string]float64
	}{
		{"BenchmarkCache/size=1540KiB/fill=1%/get-hit-2   \t 8000000\t   125.3 ns/op\t   0 B/op\t   0 allocs/op", true,
			"BenchmarkCache/size=1540KiB/fill=1%/get-hit", 8000000, map[string]float64{"ns/op": 125.3, "B/op": 0, "allocs/op": 0}},
		{"BenchmarkRandomRead/size=1540KiB-16 1 962.0 ns/op", true, "BenchmarkRandomRead/size=1540KiB", 1, map[string]float64{"ns/op": 962}},
		{"BenchmarkLookupScaling 1 1.5e+07 lookups/s-1proc 0.79 2procs/1proc", true, "BenchmarkLookupScaling", 1,
			map[string]float64{"lookups/s-1proc": 1.5e7, "2procs/1proc": 0.79}},
		{"PASS", false, "", 0, nil},
		{"BenchmarkX-2 --- FAIL: oops", false, "", 0, nil},
		{"BenchmarkX-2 10 12 ns/op extra", false, "", 0, nil},
		{"    bench_test.go:12: BenchmarkX 1 2 ns/op", false, "", 0, nil},
	}
	for _, tc := range tests {
		got, ok := parseBenchLine(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok %v", tc.line, ok)
			continue
		}
		if !ok {
			continue
		}
		if got.Name != tc.name || got.N != tc.n || len(got.Metrics) != len(tc.m) {
			t.Errorf("%q: %+v", tc.line, got)
		}
		for u, v := range tc.m {
			if got.Metrics[u] != v {
				t.Errorf("%q: %s = %v, want %v", tc.line, u, got.Metrics[u], v)
			}
		}
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
		err  bool
	}{
		{"1574912,256M", []int64{1574912, 256 << 20}, false},
		{"64K, 1G", []int64{64 << 10, 1 << 30}, false},
		{"1000", nil, true},
		{"abc", nil, true},
		{"", nil, true},
		{"-5M", nil, true},
	}
	for _, tc := range tests {
		got, err := parseSizes(tc.in, 64<<10)
		if (err != nil) != tc.err || (err == nil && !slicesEqual(got, tc.want)) {
			t.Errorf("parseSizes(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestProFTPDGeometry checks the computed ProFTPD figures against the
// sizes the real daemon reported for these requests (ftpdctl tls
// sesscache info).
func TestProFTPDGeometry(t *testing.T) {
	tests := []struct {
		requested  int64
		ocsp       bool
		n, segment int64
	}{
		{1574912, false, 153, 1576960},
		{512000, false, 49, 507904},
		{10344, false, 1, 12288},
		{1574912, true, 377, 1576960},
		{512000, true, 122, 512000},
	}
	for _, tc := range tests {
		n, seg := proftpdEntries(tc.requested, tc.ocsp)
		if n != tc.n || seg != tc.segment {
			t.Errorf("proftpdEntries(%d, ocsp=%v) = %d, %d; want %d, %d", tc.requested, tc.ocsp, n, seg, tc.n, tc.segment)
		}
	}
}

// TestTables builds the micro tables from canned results: rows, columns
// and medians land where they belong.
func TestTables(t *testing.T) {
	r := &results{}
	for round, v := range []float64{100, 300, 200} {
		for _, name := range []string{"BenchmarkCache/size=1540KiB/fill=1%/get-hit", "BenchmarkCache/size=1540KiB/fill=1%/add",
			"BenchmarkCache/baseline/lockword-pair", "BenchmarkCache/size=262144KiB/fill=95%/get-hit/parallel"} {
			r.add(benchResult{Name: name, Metrics: map[string]float64{"ns/op": v + float64(round)}})
		}
	}
	tabs := cacheTables(options{}, r)
	cache := tabs[0]
	row := cache.Row("shm 1.5 MiB, 1% full")
	if row == nil {
		t.Fatalf("rows: %+v", cache.Rows)
	}
	col := func(name string) int {
		i := cache.Column(name)
		if i < 0 {
			t.Fatalf("no column %q in %v", name, cache.Columns)
		}
		return i
	}
	// Medians of 100, 301, 202.
	if got := row[col("get-hit")]; got.Value == nil || *got.Value != 202 {
		t.Errorf("get-hit cell %+v", got)
	}
	if got := row[col("get-miss")].Text; got != "-" {
		t.Errorf("an unmeasured cell reads %q", got)
	}
	if row[col("spread")].Text != "100%" {
		t.Errorf("spread %q, want 100%% ((301-100)/202, rounded)", row[col("spread")].Text)
	}
	if r := cache.Row("shm 256 MiB, 95% full"); r == nil || r[col("get-hit/parallel")].Value == nil {
		t.Errorf("256 MiB row: %+v", r)
	}
	if r := cache.Row("floor: lock word pair"); r == nil || r[col("add")].Value == nil {
		t.Errorf("lock word row: %+v", r)
	}
}

// TestRender checks the three renderings of a report.
func TestRender(t *testing.T) {
	rep := &Report{Command: "ftpdtls bench", Started: time.Now(), Finished: time.Now()}
	tab := &report.Table{ID: "x", Title: "A table", Note: "How to read it.", Columns: []string{"row", "rate", "ratio"}}
	tab.Add(report.Text("first"), report.Count(12345.4), report.Times(0.975))
	tab.Add(report.Text("second"), report.Count(nan()), report.Auto(12.34))
	tab.Findings = []string{"Something held."}
	rep.Tables = []*report.Table{tab}
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	for _, want := range []string{"#### A table", "How to read it.", "| row | rate | ratio |", "|---|---:|---:|",
		"| first | 12,345 | 0.97x |", "| second | - | 12.3 |", "- Something held."} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if row := back.Table("x").Row("first"); row == nil || row[1].Value == nil || *row[1].Value != 12345.4 {
		t.Errorf("JSON lost the value: %+v", row)
	}
	if back.Table("x").Row("second")[1].Value != nil {
		t.Error("a missing value came back as a number")
	}
	var txt bytes.Buffer
	rep.WriteText(&txt)
	// text/tabwriter aligns the columns.
	if !strings.Contains(txt.String(), "row     rate    ratio  \nfirst   12,345  0.97x  \nsecond  -       12.3   \n") {
		t.Errorf("text table not aligned:\n%s", txt.String())
	}
}

func nan() float64 { var z float64; return z / z }

// TestUsage checks the argument errors.
func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown group", []string{"-only", "bogus"}, `unknown group "bogus"`},
		{"bad size", []string{"-size", "12x"}, "-size: bad size"},
		{"tiny size", []string{"-size", "1K"}, "below 64K"},
		{"json and md", []string{"-json", "-md"}, "exclude each other"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"workers", []string{"-e2e-workers", "-1"}, "-e2e-workers: bad count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			c := &Command{Name: "ftpdtls bench", Stdout: &out, Stderr: &errs}
			if code := c.Run(tc.args); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs.String(), tc.msg) {
				t.Errorf("stderr lacks %q:\n%s", tc.msg, errs.String())
			}
		})
	}
}

// TestBench runs the capacity and handshake groups through the packages'
// test binaries, once and briefly, and checks the tables. It builds test
// binaries and runs benchmarks: skipped under -short.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the bench harness run under -short")
	}
	var out, errs bytes.Buffer
	c := &Command{Name: "ftpdtls bench", Stdout: &out, Stderr: &errs}
	args := []string{"-only", "capacity,handshake", "-runs", "1", "-duration", "3x", "-size", "128K", "-json", "-tmp", t.TempDir()}
	if code := c.Run(args); code != 0 {
		t.Fatalf("exit %d:\n%s", code, errs.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	capTab := rep.Table("capacity")
	if capTab == nil || len(capTab.Rows) != len(capacityKinds) {
		t.Fatalf("capacity table: %+v\n%s", capTab, errs.String())
	}
	full, proftpd := capTab.Column("when full"), capTab.Column("ProFTPD 1.3.8")
	if row := capTab.Rows[0]; row[full].Value == nil || row[proftpd].Value == nil || *row[full].Value <= *row[proftpd].Value {
		t.Errorf("capacity row %q: %s entries vs ProFTPD's %s", row[0].Text, row[full].Text, row[proftpd].Text)
	}
	hs := rep.Table("handshake")
	if hs == nil || len(hs.Rows) != 4 {
		t.Fatalf("handshake table: %+v", hs)
	}
	for _, row := range hs.Rows {
		for i, cell := range row[1:6] {
			if cell.Value == nil || *cell.Value <= 0 {
				t.Errorf("handshake %s column %d: %q", row[0].Text, i+1, cell.Text)
			}
		}
	}
	if mt := rep.Table("handshake-modtls"); mt == nil || len(mt.Rows) != 5 {
		t.Errorf("modtls handshake table: %+v", mt)
	}
	if !regexp.MustCompile(`(?m)^\[\s*1/\d+ `).MatchString(errs.String()) {
		t.Errorf("no step counter in the progress:\n%s", errs.String())
	}
}

// TestBenchInterrupt interrupts a run in the middle of the cache group
// and checks that it stops with status 130 and that no segment made by
// the interrupted benchmark binary (or its helpers) is left.
func TestBenchInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the bench harness run under -short")
	}
	sigs := make(chan os.Signal, 1)
	pr, pw := io.Pipe()
	var out bytes.Buffer
	var mu sync.Mutex
	pids := map[int]bool{}
	c := &Command{Name: "ftpdtls bench", Stdout: &out, Stderr: pw, Signals: sigs, testHookPids: func(ps map[int]bool) {
		mu.Lock()
		defer mu.Unlock()
		for p := range ps {
			pids[p] = true
		}
	}}
	done := make(chan int, 1)
	go func() {
		done <- c.Run([]string{"-only", "cache", "-runs", "2", "-duration", "200ms", "-tmp", t.TempDir()})
		pw.Close()
	}()
	var log strings.Builder
	sc := bufio.NewScanner(pr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		// Segments exist from the first result of BenchmarkCache on.
		if !sent && strings.Contains(line, "] cache Cache/size=") {
			sigs <- os.Interrupt
			sent = true
		}
	}
	code := <-done
	if !sent {
		t.Fatalf("the cache group never reported:\n%s", log.String())
	}
	if code != 130 {
		t.Errorf("exit status %d, want 130:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), "interrupted") {
		t.Errorf("no interruption reported:\n%s", log.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pids) == 0 {
		t.Fatal("no benchmark process was tracked")
	}
	segs, err := testpeers.CacheSegments()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if pids[s.CreatorPID] {
			t.Errorf("left by the interrupted benchmark: %v", s)
		}
	}
}
