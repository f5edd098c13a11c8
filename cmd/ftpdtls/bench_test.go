package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/bench"
)

// benchHelperEnv makes the test binary run "ftpdtls bench" with the
// arguments in FTPDTLS_BENCH_ARGS (TestBenchHelperProcess).
const benchHelperEnv = "FTPDTLS_BENCH_HELPER"

// TestBenchHelperProcess is the bench command run as a separate process
// (for the Ctrl-C test) and the bench's worker processes; run directly,
// it skips.
func TestBenchHelperProcess(t *testing.T) {
	if os.Getenv(benchHelperEnv) == "" && os.Getenv(bench.WorkerEnv) == "" {
		t.Skip("helper process for the bench tests")
	}
	c := &bench.Command{Name: "ftpdtls bench", StartWorker: testWorker, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(c.Run(strings.Fields(os.Getenv("FTPDTLS_BENCH_ARGS"))))
}

// testWorker starts this test binary as a bench worker.
func testWorker() *exec.Cmd {
	return exec.Command(os.Args[0], "-test.run=^TestBenchHelperProcess$", "-test.count=1")
}

// TestBench runs every in-process group with tiny durations and checks
// the tables' rows, the segments made and that none is left.
func TestBench(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out, errs bytes.Buffer
	c := &bench.Command{Name: "ftpdtls bench", StartWorker: testWorker, Stdout: &out, Stderr: &errs}
	args := []string{"-duration", "5ms", "-runs", "2", "-size", "256K,1M", "-goroutines", "1,2", "-procs", "2",
		"-only", "capacity,cache,scaling,handshake", "-json", "-v"}
	if code := c.Run(args); code != 0 {
		t.Fatalf("bench exited %d:\n%s", code, errs.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bench -json output: %v\n%s", err, out.String())
	}

	tests := []struct {
		table string
		rows  []string // first cells that must be there
		nrows int
	}{
		{"capacity", []string{}, 2 * 6},
		{"cache", []string{"floor: lock word pair (modtlsshm's write lock)", "reference: fcntl F_SETLKW pair (ProFTPD's lock)"},
			2*(3+1) + 2},
		{"handshake", []string{"TLS 1.2 ECDSA P-256", "TLS 1.2 RSA-2048", "TLS 1.3 ECDSA P-256", "TLS 1.3 RSA-2048"}, 4},
		{"scaling-goroutines", []string{"1", "2"}, 2},
		{"scaling-handshakes", []string{"1", "2"}, 2},
		{"scaling-processes", []string{"1", "2"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.table, func(t *testing.T) {
			tab := rep.Table(tc.table)
			if tab == nil {
				t.Fatalf("no table %q in the report", tc.table)
			}
			if len(tab.Rows) != tc.nrows {
				t.Errorf("%d rows, want %d", len(tab.Rows), tc.nrows)
			}
			for _, label := range tc.rows {
				if tab.Row(label) == nil {
					t.Errorf("no row %q", label)
				}
			}
			for _, row := range tab.Rows {
				if len(row) != len(tab.Columns) {
					t.Errorf("row %q has %d cells for %d columns", row[0].Text, len(row), len(tab.Columns))
				}
			}
		})
	}

	// One map floor per size, holding as many sessions as the fullest row.
	maps := 0
	for _, row := range rep.Table("cache").Rows {
		if strings.HasPrefix(row[0].Text, "floor: Go map + sync.RWMutex, ") {
			maps++
		}
	}
	if maps != 2 {
		t.Errorf("%d map floor rows, want 2", maps)
	}
	// Every resumed-handshake rate is a measured, positive number.
	for _, row := range rep.Table("handshake").Rows {
		for i, cell := range row[1:6] {
			if cell.Value == nil || *cell.Value <= 0 {
				t.Errorf("handshake %s column %d: %q is not a rate", row[0].Text, i+1, cell.Text)
			}
		}
	}
	// The real sessions fill a segment far beyond ProFTPD's 10 KiB slots.
	capTab := rep.Table("capacity")
	full, proftpd := column(t, capTab, "when full"), column(t, capTab, "ProFTPD 1.3.8")
	if row := capTab.Rows[0]; row[full].Value == nil || row[proftpd].Value == nil || *row[full].Value <= *row[proftpd].Value {
		t.Errorf("capacity row %q: %s entries vs ProFTPD's %s", row[0].Text, row[full].Text, row[proftpd].Text)
	}

	if len(rep.Segments) == 0 {
		t.Fatal("the report lists no segments")
	}
	live, err := bench.LiveSegments()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Segments {
		if s.ShmID <= 0 {
			t.Errorf("segment %+v has no ID", s)
		}
		if live[s.ShmID] {
			t.Errorf("segment %d (%s) is still there", s.ShmID, s.Info)
		}
	}
	if n := strings.Count(errs.String(), "made session shm segment"); n == 0 {
		t.Errorf("-v reported no segment:\n%s", errs.String())
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left in the temporary directory: %v", entries)
	}
	if !regexp.MustCompile(`(?m)^\[\s*1/\d+ `).MatchString(errs.String()) {
		t.Errorf("no step counter in the progress:\n%s", errs.String())
	}
}

// column returns the index of the named column.
func column(t *testing.T, tab *bench.Table, name string) int {
	t.Helper()
	for i, c := range tab.Columns {
		if c == name {
			return i
		}
	}
	t.Fatalf("table %s has no column %q: %q", tab.ID, name, tab.Columns)
	return -1
}

// TestBenchInterrupt sends SIGINT to a running bench process in the
// middle of the cache group and checks that it stops with status 130 and
// that every segment it reported making is gone.
func TestBenchInterrupt(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchHelperEnv+"=1", "TMPDIR="+tmp,
		"FTPDTLS_BENCH_ARGS=-duration 300ms -runs 3 -size 1M -only capacity,cache -v")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	made := map[int]bool{}
	madeRE := regexp.MustCompile(`made \w+ shm segment ID (\d+)`)
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if m := madeRE.FindStringSubmatch(line); m != nil {
			id, _ := strconv.Atoi(m[1])
			made[id] = true
		}
		if !sent && strings.Contains(line, "] cache 1 MiB fill 50%") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	err = cmd.Wait()
	if !sent {
		t.Fatalf("the cache group never started:\n%s", log.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status %d (%v), want 130:\n%s", code, err, log.String())
	}
	if !strings.Contains(log.String(), "interrupted") || !strings.Contains(log.String(), "removed") {
		t.Errorf("no interruption and removal reported:\n%s", log.String())
	}
	if len(made) == 0 {
		t.Fatalf("no segment reported:\n%s", log.String())
	}
	live, err := bench.LiveSegments()
	if err != nil {
		t.Fatal(err)
	}
	for id := range made {
		if live[id] {
			t.Errorf("segment %d survived the interruption", id)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(tmp, "ftpdtls-bench-*")); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestBenchUsage checks the argument errors.
func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown group", []string{"-only", "bogus"}, `unknown benchmark group "bogus"`},
		{"bad size", []string{"-size", "12x"}, "-size: bad size"},
		{"tiny size", []string{"-size", "1K"}, "below 64K"},
		{"json and md", []string{"-json", "-md"}, "exclude each other"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			c := &bench.Command{Name: "ftpdtls bench", Stdout: &out, Stderr: &errs}
			if code := c.Run(tc.args); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs.String(), tc.msg) {
				t.Errorf("stderr lacks %q:\n%s", tc.msg, errs.String())
			}
		})
	}
}
