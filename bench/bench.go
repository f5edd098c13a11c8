// Package bench is `ftpdtls bench`: it measures, on the machine it runs
// on, what ftpdtls's TLS session caches cost and hold and how `ftpdtls
// serve` compares with the FTPS daemons operators run, and prints the
// results as tables (text, markdown for BENCHMARKS.md, JSON), with one
// progress line per step on stderr.
//
// The micro groups run the packages' own benchmarks (`go test -bench` of
// modtlsshm, modtls, modtlsredis and modtlsshm/shmbench, and two of this
// package's: the session capacity of a segment and the comparison of
// resumed handshakes) from the source tree, so they need the go command
// and a checkout; the end-to-end group (bench/internal/e2e) drives real
// daemons and clients and needs root. Groups (-only):
//
//   - capacity: entries a segment holds (BenchmarkCapacity, this package);
//   - cache: modtlsshm's BenchmarkCache, BenchmarkLockOptions and
//     BenchmarkRandomRead;
//   - handshake: modtls's BenchmarkHandshake and BenchmarkWrapUnwrap, and
//     BenchmarkResumedHandshake (this package: shm against Go's tickets);
//   - scaling: modtlsshm/shmbench's BenchmarkLookupScaling (lookups in one
//     segment by one and by two processes);
//   - redis: modtlsredis's benchmarks (needs redis-server);
//   - e2e: ftpdtls serve, ProFTPD, vsftpd and pure-ftpd end to end (only
//     when named).
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/bench/internal/e2e"
	"github.com/ftpdtls/ftpdtls/bench/internal/report"
)

// Report is what a run measured.
type Report = report.Report

// Table is one table of a Report.
type Table = report.Table

// Groups are the groups `ftpdtls bench` knows, in the order they run.
var Groups = []string{"capacity", "cache", "scaling", "handshake", "redis", "e2e"}

// DefaultGroups run without -only (e2e needs root and runs only when
// named).
var DefaultGroups = []string{"capacity", "cache", "scaling", "handshake", "redis"}

// Command is a program's "bench" command line.
type Command struct {
	// Name is what usage lines call the command ("ftpdtls bench").
	Name string
	// FTPDTLS is the ftpdtls binary the e2e group serves with (default:
	// this program when it is ftpdtls).
	FTPDTLS        string
	Stdout, Stderr io.Writer
	// Signals, if set, replaces SIGINT and SIGTERM (tests).
	Signals <-chan os.Signal
	// testHookPids, if set, receives the processes each benchmark binary
	// ran (tests check that none left a segment).
	testHookPids func(map[int]bool)
}

const usageText = `usage: %[1]s [flags]

Measures, on this machine, what ftpdtls's TLS session caches cost and hold,
and how ftpdtls serve compares with ProFTPD, vsftpd and pure-ftpd.

The micro groups run the packages' own benchmarks (go test -bench) from the
ftpdtls source tree, in interleaved rounds, and show medians:
  capacity   entries a segment holds, against ProFTPD's fixed slots and nginx
  cache      shm get/add/delete at several sizes and fills, the lock, a map
  scaling    lookups in one segment by one and by two processes
  handshake  resumed handshakes through shm, internal:, modtls's and Go's
             tickets, and full ones
  redis      the Redis provider's operations (needs redis-server)
They need the go command and run from a checkout (or -src DIR).

  e2e        ftpdtls serve (1 and 2 workers), ProFTPD 1.3.8, vsftpd and
             pure-ftpd on 127.0.0.1, driven by this program's client, curl
             and lftp, one session at a time and 16 at a time: wall time,
             server CPU per session against the in-process floor, memory
             per idle connection, 1 GiB download and upload. Needs root;
             vsftpd and pure-ftpd are fetched with apt-get download and
             unpacked with dpkg -x (never installed: they would remove
             ProFTPD). Only run when named (-only e2e).

Progress goes to stderr, the tables to stdout. Every shm segment, server,
user and file a run makes is removed at the end, also on Ctrl-C.

Flags:
`

// Run parses args and runs the benchmarks; it returns the exit status
// (2 for a usage error, 130 when interrupted).
func (c *Command) Run(args []string) int {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	var o options
	fs.StringVar(&o.benchtime, "duration", "300ms", "micro groups: -test.benchtime of one run (a duration, or Nx iterations)")
	fs.IntVar(&o.runs, "runs", 3, "runs per measurement; tables show medians")
	sizes := fs.String("size", "1574912,256M", "capacity group: segment sizes (bytes; K, M, G suffixes)")
	only := fs.String("only", strings.Join(DefaultGroups, ","), "groups to run: "+strings.Join(Groups, ","))
	fs.StringVar(&o.src, "src", "", "micro groups: the ftpdtls source tree (default: the module of the working directory)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	asMD := fs.Bool("md", false, "print the tables as markdown (for BENCHMARKS.md)")
	var eo e2e.Options
	fs.StringVar(&eo.FTPDTLS, "ftpdtls", c.FTPDTLS, "e2e: the ftpdtls binary to serve with")
	workers := fs.String("e2e-workers", "1,2", "e2e: ftpdtls serve rows (-workers N; 0: one process started as the user, no privilege separation)")
	peers := fs.String("e2e-peers", "vsftpd,proftpd,pure-ftpd", "e2e: the other servers")
	clientList := fs.String("e2e-clients", "driver,curl,curl-he5,lftp", "e2e: the clients (curl-he5: curl --happy-eyeballs-timeout-ms 5)")
	fs.IntVar(&eo.Sequential, "e2e-sequential", 20, "e2e: sessions run one after another")
	fs.IntVar(&eo.Concurrent, "e2e-concurrent", 16, "e2e: sessions run at a time")
	fs.IntVar(&eo.ConcurrentSessions, "e2e-concurrent-sessions", 96, "e2e: sessions of a concurrent run")
	fs.IntVar(&eo.IdleConns, "e2e-idle", 32, "e2e: logged-in connections of the memory measurement")
	transfer := fs.String("e2e-transfer", "1G", "e2e: size of the download and the upload (0: none)")
	fs.StringVar(&eo.PeerCache, "e2e-peer-cache", e2e.DefaultPeerCache(), "e2e: where vsftpd and pure-ftpd are unpacked")
	fs.BoolVar(&eo.NoFetch, "e2e-no-fetch", false, "e2e: leave vsftpd and pure-ftpd out unless already unpacked")
	fs.StringVar(&o.tmp, "tmp", "", "e2e: directory for the run's files (default $TMPDIR or /tmp)")
	fs.StringVar(&eo.CPUProfile, "e2e-cpuprofile", "", "e2e: directory where the ftpdtls servers' processes write CPU profiles (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usageText, c.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, a...))
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *asJSON && *asMD {
		return usageErr("-json and -md exclude each other")
	}
	var err error
	if o.sizes, err = parseSizes(*sizes, 64<<10); err != nil {
		return usageErr("-size: %v", err)
	}
	if t, err := parseSizes(*transfer, 0); err != nil {
		return usageErr("-e2e-transfer: %v", err)
	} else {
		eo.TransferSize = t[0]
		if eo.TransferSize == 0 {
			eo.TransferSize = -1
		}
	}
	for _, g := range splitList(*only) {
		if !slices.Contains(Groups, g) {
			return usageErr("-only: unknown group %q (known: %s)", g, strings.Join(Groups, ", "))
		}
		o.groups = append(o.groups, g)
	}
	for _, w := range splitList(*workers) {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return usageErr("-e2e-workers: bad count %q", w)
		}
		eo.Workers = append(eo.Workers, n)
	}
	eo.Peers, eo.Clients = splitList(*peers), splitList(*clientList)
	if !validBenchtime(o.benchtime) || o.runs <= 0 {
		return usageErr("-duration must be a positive duration or Nx, -runs positive")
	}
	eo.Runs, eo.TempDir = o.runs, o.tmp
	o.e2e = eo
	o.command = strings.Join(append([]string{c.Name}, args...), " ")
	o.hookPids = c.testHookPids

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := c.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(c.Stderr, "%s: %v: stopping and removing what the run made\n", c.Name, sig)
			cancel()
		case <-ctx.Done():
		}
	}()
	rep, err := run(ctx, o, report.NewProgress(c.Stderr))
	switch {
	case *asJSON:
		rep.WriteJSON(c.Stdout)
	case *asMD:
		rep.WriteMarkdown(c.Stdout)
	default:
		rep.WriteText(c.Stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(c.Stderr, "%s: interrupted\n", c.Name)
			return 130
		}
		fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, err)
		return 1
	}
	return 0
}

// options are the parsed command line.
type options struct {
	benchtime string
	runs      int
	sizes     []int64
	groups    []string
	src, tmp  string
	command   string
	e2e       e2e.Options
	hookPids  func(map[int]bool)
}

// run measures the groups; the report holds what was finished, also when
// the run fails or is interrupted.
func run(ctx context.Context, o options, prog *report.Progress) (*Report, error) {
	rep := &Report{Machine: report.ThisMachine(), Command: o.command, Started: time.Now()}
	defer func() {
		rep.Finished = time.Now()
		rep.Machine.LoadAtFinish = report.LoadAvg()
	}()
	var micro []string
	for _, g := range Groups {
		if slices.Contains(o.groups, g) && g != "e2e" {
			micro = append(micro, g)
		}
	}
	if len(micro) > 0 {
		if err := runMicro(ctx, o, micro, prog, rep); err != nil {
			return rep, err
		}
	}
	if slices.Contains(o.groups, "e2e") {
		eo := o.e2e
		eo.Progress = prog
		if eo.FTPDTLS == "" {
			if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "ftpdtls" {
				eo.FTPDTLS = exe
			}
		}
		if why := e2e.Ready(eo); why != "" {
			rep.Skipped = append(rep.Skipped, "e2e: "+why)
			prog.Printf("skipping e2e: %s", why)
			return rep, nil
		}
		res, err := e2e.Run(ctx, eo)
		if res != nil {
			rep.Tables = append(rep.Tables, res.Tables...)
			rep.Notes = append(rep.Notes, res.Notes...)
		}
		if err != nil {
			return rep, fmt.Errorf("e2e: %w", err)
		}
	}
	return rep, nil
}

// runMicro runs the go test groups.
func runMicro(ctx context.Context, o options, groups []string, prog *report.Progress, rep *Report) error {
	goCmd, err := exec.LookPath("go")
	var src string
	if err == nil {
		src, err = findModule(goCmd, o.src)
	}
	if err != nil {
		for _, g := range groups {
			rep.Skipped = append(rep.Skipped, g+": needs the go command and the ftpdtls source tree (run from a checkout, or -src DIR): "+err.Error())
		}
		prog.Printf("skipping %s: %v", strings.Join(groups, ", "), err)
		return nil
	}
	dir, err := os.MkdirTemp(o.tmp, "ftpdtls-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	g := &goTest{src: src, dir: dir, goCmd: goCmd, runs: o.runs, benchtime: o.benchtime, prog: prog, hookPids: o.hookPids}
	defer func() {
		if len(g.removed) > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("removed %d shm segment(s) an interrupted benchmark left: %s",
				len(g.removed), strings.Join(g.removed, "; ")))
		}
	}()
	for _, name := range groups {
		spec := microGroups[name]
		if why := spec.ready(); why != "" {
			rep.Skipped = append(rep.Skipped, name+": "+why)
			prog.Printf("skipping %s: %s", name, why)
			continue
		}
		pkgs := spec.pkgs(o)
		res, err := g.run(ctx, name, pkgs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rep.Tables = append(rep.Tables, spec.tables(o, res)...)
	}
	return nil
}

// microGroup is one go test group: what it runs and the tables it makes.
type microGroup struct {
	ready  func() string
	pkgs   func(o options) []pkgBench
	tables func(o options, r *results) []*Table
}

func always() string { return "" }

// validBenchtime accepts what -test.benchtime does: a duration or Nx.
func validBenchtime(s string) bool {
	if n, ok := strings.CutSuffix(s, "x"); ok {
		v, err := strconv.Atoi(n)
		return err == nil && v > 0
	}
	d, err := time.ParseDuration(s)
	return err == nil && d > 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseSizes reads "1574912,256M"; every size must be at least min.
func parseSizes(s string, min int64) ([]int64, error) {
	var out []int64
	for _, f := range splitList(s) {
		mult := int64(1)
		for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
			if strings.HasSuffix(f, suffix) {
				mult, f = m, strings.TrimSuffix(f, suffix)
			}
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		if n*mult < min {
			return nil, fmt.Errorf("size %d is below %dK", n*mult, min>>10)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no size")
	}
	return out, nil
}
