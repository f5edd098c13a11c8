package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// The scaling group's other processes run Worker: they read one job (a
// JSON line) from standard input, attach the job's segment, wait for the
// common start time, run the operation and write one result line
// ("RESULT {...}") to standard output.

// WorkerEnv is set in the environment of worker processes, so that a
// program (or a test binary) can tell it should run Worker.
const WorkerEnv = "FTPDTLS_BENCH_WORKER"

// job is the work of one process.
type job struct {
	Info       string   `json:"info"`
	Op         string   `json:"op"` // "get-hit" or "add"
	Goroutines int      `json:"goroutines"`
	Duration   int64    `json:"duration_ns"`
	Start      int64    `json:"start_unix_ns"`
	Stored     uint64   `json:"stored"` // ids 0..Stored-1 are in the cache
	Part       int      `json:"part"`   // this process owns ids with i % Of == Part (for add)
	Of         int      `json:"of"`
	Values     [][]byte `json:"values"`
}

type jobResult struct {
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	Lost    int64   `json:"lost"`
	Err     string  `json:"err,omitempty"`
}

// Worker runs one job read from in and writes its result to out; it
// returns the process exit status.
func Worker(in io.Reader, out io.Writer) int {
	var j job
	res := jobResult{}
	if err := json.NewDecoder(in).Decode(&j); err != nil {
		res.Err = "reading job: " + err.Error()
	} else {
		res = j.run()
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(out, "RESULT %s\n", b)
	if res.Err != "" {
		return 1
	}
	return 0
}

func (j job) run() jobResult {
	c, err := modtlsshm.NewSessionProvider().Open(j.Info, 1800*time.Second, modtls.Env{})
	if err != nil {
		return jobResult{Err: err.Error()}
	}
	defer c.Close()
	time.Sleep(time.Until(time.Unix(0, j.Start)))
	return runJob(context.Background(), c, j)
}

// getAdder is what a job uses of a cache.
type getAdder interface {
	Get(id []byte) ([]byte, time.Time, error)
	Add(id []byte, expires time.Time, state []byte) error
}

// runJob runs j's goroutines on c, in this process.
func runJob(ctx context.Context, c getAdder, j job) jobResult {
	var ops, lost atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	deadline := start.Add(time.Duration(j.Duration))
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	parts := j.Of * j.Goroutines
	for g := 0; g < j.Goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := make([]byte, 32)
			rnd := rng(0x9e3779b97f4a7c15 ^ uint64(j.Part*1000+g+1)*0xbf58476d1ce4e5b9)
			part := uint64(j.Part*j.Goroutines + g)
			next := part
			n := int64(0)
			for {
				for k := 0; k < opBatch; k++ {
					var err error
					switch j.Op {
					case "get-hit":
						i := rnd.next() % j.Stored
						if _, _, err = c.Get(sessionID(id, i)); errors.Is(err, modtls.ErrCacheMiss) {
							lost.Add(1)
							err = nil
						}
					case "add":
						err = c.Add(sessionID(id, next), exp, j.Values[next%uint64(len(j.Values))])
						next += uint64(parts)
						if next >= j.Stored {
							next = part
						}
					default:
						err = fmt.Errorf("unknown op %q", j.Op)
					}
					if err != nil {
						once.Do(func() { firstErr = err })
						ops.Add(n)
						return
					}
					n++
				}
				if !time.Now().Before(deadline) || ctx.Err() != nil {
					ops.Add(n)
					return
				}
			}
		}()
	}
	wg.Wait()
	res := jobResult{Ops: ops.Load(), Seconds: time.Since(start).Seconds(), Lost: lost.Load()}
	if firstErr != nil {
		res.Err = firstErr.Error()
	}
	return res
}

// worker is a started worker process.
type worker struct {
	cmd *exec.Cmd
	out *bufio.Scanner
	in  io.WriteCloser
}

func startWorker(start func() *exec.Cmd, j job) (*worker, error) {
	cmd := start()
	cmd.Env = append(cmd.Environ(), WorkerEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker process: %w", err)
	}
	w := &worker{cmd: cmd, out: bufio.NewScanner(stdout), in: in}
	if err := json.NewEncoder(in).Encode(j); err != nil {
		w.kill()
		return nil, err
	}
	in.Close()
	return w, nil
}

// result waits for the worker's result line and for it to exit.
func (w *worker) result() (jobResult, error) {
	var res jobResult
	found := false
	for w.out.Scan() {
		if rest, ok := strings.CutPrefix(w.out.Text(), "RESULT "); ok {
			found = json.Unmarshal([]byte(rest), &res) == nil
		}
	}
	err := w.cmd.Wait()
	if !found {
		return res, fmt.Errorf("worker process gave no result (%v)", err)
	}
	if res.Err != "" {
		return res, fmt.Errorf("worker process: %s", res.Err)
	}
	return res, nil
}

func (w *worker) kill() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}
