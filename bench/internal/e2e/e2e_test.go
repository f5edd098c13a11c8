package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/bench/internal/report"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/servetest"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }

func TestEPSVPort(t *testing.T) {
	tests := []struct {
		msg  string
		want int
	}{
		{"229 Entering Extended Passive Mode (|||41000|)", 41000},
		{"229 Entering Extended Passive Mode (|||41000|).", 41000},
		{"229 Entering Extended Passive Mode", 0},
		{"229 (|||70000|)", 0},
		{"229 (||41000|)", 0},
	}
	for _, tc := range tests {
		got, err := epsvPort(tc.msg)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("epsvPort(%q) = %d, %v; want %d", tc.msg, got, err, tc.want)
		}
	}
}

// TestJudge checks the ratio to the best peer and the per-round range,
// for a lower-is-better and a higher-is-better row.
func TestJudge(t *testing.T) {
	servers := []*server{{name: "ftpdtls serve", kind: "ftpdtls"}, {name: "ftpdtls serve -workers 2", kind: "ftpdtls"},
		{name: "vsftpd", kind: "vsftpd"}, {name: "pure-ftpd", kind: "pure-ftpd"}}
	time := row{lower: true, runs: map[string][]float64{
		"ftpdtls serve":            {10, 12, 8},
		"ftpdtls serve -workers 2": {1, 1, 1}, // never the best peer: it is ftpdtls
		"vsftpd":                   {20, 10, 40},
		"pure-ftpd":                {30, 16, 16},
	}}
	j := judge(time, servers)
	if j.ftpdtls != 10 || j.best != 16 || j.bestName != "pure-ftpd" {
		t.Errorf("ftpdtls %v, best %v (%s); want 10, 16 (pure-ftpd)", j.ftpdtls, j.best, j.bestName)
	}
	// Rounds: 10/20, 12/10, 8/16.
	if j.ratio != 10.0/16 || j.lo != 0.5 || j.hi != 1.2 {
		t.Errorf("ratio %v, range %v-%v; want 0.625, 0.5-1.2", j.ratio, j.lo, j.hi)
	}
	tput := row{runs: map[string][]float64{"ftpdtls serve": {100}, "vsftpd": {50}, "pure-ftpd": {80}}}
	if j := judge(tput, servers); j.best != 80 || j.ratio != 1.25 {
		t.Errorf("throughput: best %v, ratio %v; want 80, 1.25", j.best, j.ratio)
	}
}

// TestFloor measures the floor briefly: the handshakes resume where they
// should and every part costs something.
func TestFloor(t *testing.T) {
	floorSessions := 3
	if n, err := strconv.Atoi(os.Getenv("FTPDTLS_BENCH_FLOOR_SESSIONS")); err == nil && n > 0 {
		floorSessions = n // to measure with the test: FTPDTLS_BENCH_FLOOR_SESSIONS=200 go test -v -run TestFloor
	}
	s := &setup{pass: "secret"}
	var err error
	if s.hash, err = hashFor(s.pass); err != nil {
		t.Fatal(err)
	}
	s.cert = testCert()
	for _, curves := range [][]string{{"X25519"}, nil} {
		f, err := measureFloor(context.Background(), s, "test", curvesOf(curves), floorSessions)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: full %v, resumed %v, hash %v: %v per session", f.Group, f.Full, f.Resumed, f.Hash, f.Session)
		if len(f.FullS) != floorSessions || len(f.ResumedS) != floorSessions || len(f.HashS) != floorSessions {
			t.Fatalf("samples: %d full, %d resumed, %d hash", len(f.FullS), len(f.ResumedS), len(f.HashS))
		}
		if f.Full <= 0 || f.Resumed <= 0 || f.Hash <= 0 || f.Session != f.Full+f.Resumed+f.Hash {
			t.Errorf("floor %+v", f)
		}
		if f.Version != "TLS 1.3" {
			t.Errorf("negotiated %s", f.Version)
		}
		want := map[bool]string{true: "X25519", false: "X25519MLKEM768"}[curves != nil]
		if f.Group != want {
			t.Errorf("key exchange %s, want %s", f.Group, want)
		}
	}
}

// TestRun runs the whole group once, small, against every server found
// here, and checks that each was measured by each client, that the
// targets were judged, and that nothing is left: user, PAM file,
// processes, cgroups, files.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the end-to-end bench run under -short")
	}
	if os.Geteuid() != 0 {
		if testpeers.Required() {
			t.Fatal("the end-to-end bench needs root, and FTPDTLS_REQUIRE_PEERS=1 requires it")
		}
		t.Skip("skipping: the end-to-end bench needs root")
	}
	testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	testpeers.Need(t, "curl")
	testpeers.Need(t, "lftp")
	peerCache := os.Getenv("FTPDTLS_BENCH_PEERS")
	if peerCache == "" {
		peerCache = DefaultPeerCache()
	}
	if _, err := FindPeers(peerCache); err != nil {
		if _, err := FetchPeers(peerCache, t.Logf); err != nil {
			if testpeers.Required() {
				t.Fatalf("vsftpd and pure-ftpd: %v", err)
			}
			t.Skipf("skipping: vsftpd and pure-ftpd cannot be fetched: %v", err)
		}
	}
	bin := servetest.Binary(t)
	tmp := t.TempDir()
	// The servers' unprivileged processes must reach the run's directory.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{FTPDTLS: bin, Workers: []int{1, 2, 0}, PeerCache: peerCache, NoFetch: true, Runs: 1, Sequential: 2, Concurrent: 2,
		ConcurrentSessions: 3, IdleConns: 2, TransferSize: 4 << 20, FloorSessions: 3, TempDir: tmp,
		Progress: report.NewProgress(&progress)})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var md bytes.Buffer
	(&report.Report{Tables: res.Tables, Notes: res.Notes}).WriteMarkdown(&md)
	t.Logf("progress:\n%s\ntables:\n%s", progress.String(), md.String())
	main := res.Tables[0]
	for _, name := range []string{"ftpdtls serve", "ftpdtls serve -workers 2", "ftpdtls serve (one process, as the user)",
		"vsftpd", "ProFTPD", "pure-ftpd"} {
		col := main.Column(name)
		if col < 0 {
			t.Fatalf("no column %q: %v\n%s", name, main.Columns, progress.String())
		}
		for _, r := range main.Rows {
			if r[col].Value == nil || *r[col].Value <= 0 {
				t.Errorf("%s, %s: %q", name, r[0].Text, r[col].Text)
			}
		}
	}
	if len(main.Rows) != 8+1+1+2+2 {
		t.Errorf("%d rows, want 14 (8 session workloads, CPU, memory, 2 transfers and their CPU)", len(main.Rows))
	}
	for _, f := range main.Findings {
		if strings.Contains(f, "FAILED") {
			t.Errorf("finding: %s", f)
		}
	}
	if n := strings.Count(strings.Join(main.Findings, "\n"), "target "); n != 4+1+1+2 {
		t.Errorf("%d targets judged, want 8:\n%s", n, strings.Join(main.Findings, "\n"))
	}
	if _, err := user.Lookup(User); err == nil {
		t.Errorf("user %s is still there", User)
	}
	if m, _ := filepath.Glob("/etc/pam.d/ftpdtls-bench-*"); len(m) != 0 {
		t.Errorf("PAM files left: %v", m)
	}
	if out, _ := exec.Command("pgrep", "-f", tmp).CombinedOutput(); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("processes left: %s", out)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left in %s: %v", tmp, entries)
	}
	for _, base := range []string{"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if m, _ := filepath.Glob(filepath.Join(base, "ftpdtls-bench-*")); len(m) != 0 {
			t.Errorf("cgroups left: %v", m)
		}
	}
}

func hashFor(pass string) (string, error) {
	return authfile.SHA512Crypt(pass, "$6$"+authfile.RandomString(16))
}

func testCert() *testpki.Cert { return testpki.SelfSigned(testpki.ECDSA) }
