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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Command is a program's "bench" command line.
type Command struct {
	// Name is what usage lines call the command ("ftpdtls bench").
	Name string
	// StartWorker returns an unstarted command running this program as a
	// worker (see Worker); nil leaves out the multi-process rows.
	StartWorker func() *exec.Cmd
	Stdout      io.Writer
	Stderr      io.Writer
	// Signals, if set, replaces SIGINT and SIGTERM (tests).
	Signals <-chan os.Signal
}

const usageText = `usage: %[1]s [flags]

Measures, on this machine, what ftpdtls's TLS session caches cost: resumed
handshakes through the shm cache against Go's stateless tickets, the
internal cache and full handshakes; shm cache operations (median and p99)
at several sizes and fill levels next to the bare lock and a Go map;
how many sessions and OCSP responses a segment holds (against ProFTPD's
fixed slots and nginx); scaling over goroutines and processes. Progress
goes to stderr, the tables to stdout. Every shm segment the run makes is
removed at the end, also on Ctrl-C.

Groups (-only): capacity, cache, scaling, handshake, redis (needs the
redis provider linked and redis-server), e2e (ProFTPD 1.3.8 against
ftpdtls serve; needs root and proftpd; only run when named).

Flags:
`

// Run parses args and runs the benchmarks; it returns the exit status
// (2 for a usage error, 130 when interrupted).
func (c *Command) Run(args []string) int {
	if os.Getenv(WorkerEnv) != "" {
		return Worker(os.Stdin, c.Stdout)
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	var o Options
	fs.DurationVar(&o.Duration, "duration", 200*time.Millisecond, "length of one measurement run")
	fs.IntVar(&o.Runs, "runs", 3, "runs per measurement; tables show medians")
	sizes := fs.String("size", "1574912,256M", "shm segment sizes for the cache and capacity groups (bytes; K, M, G suffixes)")
	fs.IntVar(&o.Procs, "procs", 2, "largest number of processes in the scaling group")
	goroutines := fs.String("goroutines", "1,2,4,8", "goroutine counts of the scaling group")
	only := fs.String("only", strings.Join(DefaultGroups, ","), "groups to run: "+strings.Join(AllGroups, ","))
	asJSON := fs.Bool("json", false, "print the report as JSON")
	asMD := fs.Bool("md", false, "print the tables as markdown (for BENCHMARKS.md)")
	fs.BoolVar(&o.Verbose, "v", false, "also report each segment made")
	fs.StringVar(&o.E2E.FTPDTLS, "ftpdtls", "", "e2e: the ftpdtls binary to serve with (default: this program, or ftpdtls in PATH)")
	fs.IntVar(&o.E2E.Clients, "e2e-clients", 4, "e2e: concurrent clients")
	fs.DurationVar(&o.E2E.Duration, "e2e-duration", 3*time.Second, "e2e: length of one run")
	fs.IntVar(&o.E2E.Workers, "e2e-workers", 0, "e2e: also measure ftpdtls serve -workers N (0: only the one-process server)")
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
	if o.Sizes, err = parseSizes(*sizes); err != nil {
		return usageErr("-size: %v", err)
	}
	if o.Goroutines, err = parseInts(*goroutines); err != nil {
		return usageErr("-goroutines: %v", err)
	}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g != "" {
			o.Groups = append(o.Groups, g)
		}
	}
	if o.Duration <= 0 || o.Runs <= 0 || o.Procs <= 0 {
		return usageErr("-duration, -runs and -procs must be positive")
	}
	o.Progress = c.Stderr
	o.StartWorker = c.StartWorker

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
			fmt.Fprintf(c.Stderr, "%s: %v: stopping and removing the segments made so far\n", c.Name, sig)
			cancel()
		case <-ctx.Done():
		}
	}()

	rep, err := Run(ctx, o)
	if errors.Is(err, ErrUnknownGroup) {
		return usageErr("-only: %v", err)
	}
	if rep != nil {
		switch {
		case *asJSON:
			rep.WriteJSON(c.Stdout)
		case *asMD:
			rep.WriteMarkdown(c.Stdout)
		default:
			rep.WriteText(c.Stdout)
		}
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

// parseSizes reads "1574912,256M".
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "K"):
			mult, f = 1<<10, strings.TrimSuffix(f, "K")
		case strings.HasSuffix(f, "M"):
			mult, f = 1<<20, strings.TrimSuffix(f, "M")
		case strings.HasSuffix(f, "G"):
			mult, f = 1<<30, strings.TrimSuffix(f, "G")
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		// The shm provider's smallest session cache holds one 10 KiB
		// entry; the benchmarks need room for a few hundred.
		if n*mult < 64<<10 {
			return nil, fmt.Errorf("size %d is below 64K", n*mult)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no size")
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
