package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name        string
		xs          []float64
		med, p99, q float64
	}{
		{"one", []float64{7}, 7, 7, 7},
		{"odd", []float64{5, 1, 3}, 3, 5, 1},
		{"even takes the lower middle", []float64{4, 1, 3, 2}, 2, 4, 1},
		{"hundred", func() []float64 {
			xs := make([]float64, 100)
			for i := range xs {
				xs[i] = float64(100 - i)
			}
			return xs
		}(), 50, 99, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.xs...)
			if got := median(tc.xs); got != tc.med {
				t.Errorf("median = %v, want %v", got, tc.med)
			}
			if got := quantile(tc.xs, 0.99); got != tc.p99 {
				t.Errorf("p99 = %v, want %v", got, tc.p99)
			}
			if got := quantile(tc.xs, 0); got != tc.q {
				t.Errorf("q0 = %v, want %v", got, tc.q)
			}
			for i := range in {
				if in[i] != tc.xs[i] {
					t.Fatal("the samples were reordered")
				}
			}
		})
	}
	if !math.IsNaN(median(nil)) || !math.IsNaN(ratio(1, 0)) {
		t.Error("empty median or division by zero is not NaN")
	}
}

// TestProFTPDGeometry checks the computed ProFTPD figures against the
// sizes the real daemon reported (spec §1.5, observed §3.2).
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
		got, err := parseSizes(tc.in)
		if (err != nil) != tc.err || (err == nil && !equalInts(got, tc.want)) {
			t.Errorf("parseSizes(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func equalInts(a, b []int64) bool {
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

func TestPasvAddr(t *testing.T) {
	tests := []struct {
		msg, want string
	}{
		{"227 Entering Passive Mode (127,0,0,1,160,40).", "127.0.0.1:41000"},
		{"227 Entering Passive Mode (127,0,0,1,0,21)", "127.0.0.1:21"},
		{"227 Entering Passive Mode", ""},
		{"227 (127,0,0,1,300,1)", ""},
	}
	for _, tc := range tests {
		got, err := pasvAddr(tc.msg)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("pasvAddr(%q) = %q, %v; want %q", tc.msg, got, err, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	rep := &Report{Started: time.Now(), Finished: time.Now(), Settings: Settings{Duration: "1s", Runs: 3, Sizes: []int64{1 << 20}}}
	tab := &Table{ID: "x", Title: "A table", Note: "How to read it.", Columns: []string{"row", "rate", "ratio"}}
	tab.add(text("first"), count(12345.4), times(0.975))
	tab.add(text("second"), count(math.NaN()), nanos(12.34))
	tab.Findings = []string{"Something held."}
	rep.Tables = []*Table{tab}

	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	for _, want := range []string{"### A table", "How to read it.", "| row | rate | ratio |", "|---|---:|---:|",
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
	row := back.Table("x").Row("first")
	if row == nil || row[1].Value == nil || *row[1].Value != 12345.4 {
		t.Errorf("JSON lost the value: %+v", row)
	}
	if back.Table("x").Row("second")[1].Value != nil {
		t.Error("a missing value came back as a number")
	}
	var txt bytes.Buffer
	rep.WriteText(&txt)
	if !strings.Contains(txt.String(), "first   12,345  0.97x") {
		t.Errorf("text table not aligned:\n%s", txt.String())
	}
}

// TestFTPClient drives ftpdtls's daemon, in this process, with the
// client of the e2e group: a whole session (whose data connection must
// resume the control connection's session) and a resumed reconnection.
func TestFTPClient(t *testing.T) {
	dir := t.TempDir()
	r := &runner{o: Options{}, dir: dir, prog: &progress{w: &bytes.Buffer{}}}
	r.o.defaults()
	r.segs = &segments{dir: dir, prog: r.prog}
	t.Cleanup(func() { r.segs.cleanup(r.prog) })
	p, err := r.certs()
	if err != nil {
		t.Fatal(err)
	}
	s := &e2eSetup{dir: filepath.Join(dir, "e2e"), user: "bench", pass: "secret-password"}
	if err := s.prepare(p); err != nil {
		t.Fatal(err)
	}
	sc, info, err := r.segs.session(0)
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
	conf := filepath.Join(dir, "ftpdtls.conf")
	text := "DefaultAddress 127.0.0.1\nPort 2121\nAuthUserFile " + s.passwd + "\nTLSEngine on\nTLSRequired on\n" +
		"TLSECCertificateFile " + s.certFile + "\nTLSECCertificateKeyFile " + s.keyFile + "\nTLSSessionCache shm:" + info + " 1800\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- daemon.Run(ctx, daemon.Options{ConfigPath: conf, Listener: ln, Stdout: &logs, Stderr: &logs,
			Signals: make(chan os.Signal)})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	addr := ln.Addr().String()

	cfg := s.client.Clone()
	resumed, err := ftpSession(addr, cfg, s.user, s.pass)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	if !resumed {
		t.Error("the data connection did not resume the control connection's session")
	}
	if _, err := ftpSession(addr, cfg, s.user, "wrong"); err == nil || !strings.Contains(err.Error(), "PASS") {
		t.Errorf("a wrong password gave %v", err)
	}

	cfg = s.client.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	for i, want := range []bool{false, true, true} {
		f, err := dialFTPS(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f.resumed != want {
			t.Errorf("connection %d: resumed %v, want %v", i+1, f.resumed, want)
		}
		if err := f.quit(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2E runs the end-to-end group once, briefly, against the real
// ProFTPD, and checks that both servers were measured and that nothing
// is left running or attached.
func TestE2E(t *testing.T) {
	testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	testpeers.Need(t, "ftpdctl", "/usr/bin/ftpdctl")
	if os.Geteuid() != 0 {
		t.Skip("skipping: running ProFTPD as a daemon needs root")
	}
	bin := filepath.Join(t.TempDir(), "ftpdtls")
	build := exec.Command("go", "build", "-o", bin, "github.com/ftpdtls/ftpdtls/cmd/ftpdtls")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	tmp := t.TempDir()
	// ProFTPD's sessions run as nobody and must reach the served
	// directory under tmp.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(context.Background(), Options{Groups: []string{"e2e"}, Runs: 1, Progress: &progress,
		TempDir: tmp, E2E: E2EOptions{FTPDTLS: bin, Duration: 500 * time.Millisecond, Clients: 2}})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	tab := rep.Table("e2e")
	if tab == nil {
		t.Fatalf("no e2e table; skipped: %v\n%s", rep.Skipped, progress.String())
	}
	for _, name := range []string{"ProFTPD", "ftpdtls serve"} {
		row := tab.Row(name)
		if row == nil {
			t.Fatalf("no %s row", name)
		}
		for _, col := range []int{1, 3} {
			if row[col].Value == nil || *row[col].Value <= 0 {
				t.Errorf("%s %s: %q", name, tab.Columns[col], row[col].Text)
			}
		}
		if row[2].Text != "100%" {
			t.Errorf("%s: data connections resumed %s", name, row[2].Text)
		}
	}
	if hits := tab.Row("ftpdtls serve")[8]; hits.Value == nil || *hits.Value == 0 {
		t.Errorf("ftpdtls reported no cache hits: %q", hits.Text)
	}
	live, err := LiveSegments()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Segments {
		if s.ShmID > 0 && live[s.ShmID] {
			t.Errorf("segment %d (%s) is still there", s.ShmID, s.Kind)
		}
	}
	// Both servers were started with configuration files under tmp.
	out, _ := exec.Command("pgrep", "-f", tmp).CombinedOutput()
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("processes left: %s", out)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left in %s: %v", tmp, entries)
	}
}

// BenchmarkResumedHandshake compares resumed handshakes through the shm
// cache with Go's stateless tickets (the 0.97x target), over loopback TCP
// with client and server in this process:
//
//	go test ./internal/bench -run '^$' -bench ResumedHandshake -benchtime 2s -count 5
func BenchmarkResumedHandshake(b *testing.B) {
	dir := b.TempDir()
	r := &runner{o: Options{}, dir: dir, prog: &progress{w: &bytes.Buffer{}}}
	r.o.defaults()
	r.segs = &segments{dir: dir, prog: r.prog}
	b.Cleanup(func() { r.segs.cleanup(r.prog) })
	p, err := r.certs()
	if err != nil {
		b.Fatal(err)
	}
	info, err := r.shmSessionInfo()
	if err != nil {
		b.Fatal(err)
	}
	for _, tv := range tlsVersions {
		for _, kt := range keyTypes {
			for _, m := range []hsMode{goTickets, shmMode(info)} {
				name := strings.ReplaceAll(tv.label+"/"+kt.kind+"/"+strings.TrimSuffix(m.name, ":"), " ", "")
				b.Run(name, func(b *testing.B) {
					c := &hsCase{version: tv.v, kind: kt.kind, mode: m}
					if err := c.start(p); err != nil {
						b.Fatal(err)
					}
					defer c.stop()
					if _, err := handshake(c.srv.addr(), c.client); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						resumed, err := handshake(c.srv.addr(), c.client)
						if err != nil {
							b.Fatal(err)
						}
						if !resumed {
							b.Fatal("not resumed")
						}
					}
				})
			}
		}
	}
}
