package conformance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

const (
	// defaultVariations is how many generated fragments a run tries on
	// top of the recorded ones (FTPDTLS_VARIATIONS overrides it).
	defaultVariations = 300
	// proftpdParallel bounds concurrent proftpd processes (CI has 2 cores).
	proftpdParallel = 2
	// differentialBudget bounds the proftpd phase; what has not run by
	// then is reported as skipped.
	differentialBudget = 150 * time.Second
)

// TestDifferentialProFTPD runs every recorded fragment, and hundreds of
// variations generated from them, through the real `proftpd -t` and
// through ftpdtls, and fails on any difference in verdict or fatal
// message. The variations are random: the seed is logged, and
// FTPDTLS_SEED=N replays a run.
func TestDifferentialProFTPD(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if os.Geteuid() != 0 {
		// proftpd -t insists on switching to User/Group.
		if testpeers.Required() {
			t.Fatal("TestDifferentialProFTPD runs proftpd -t, which needs root")
		}
		t.Skip("skipping: proftpd -t needs root")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FTPDTLS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("FTPDTLS_SEED=%q: %v", s, err)
		}
	}
	n := defaultVariations
	if s := os.Getenv("FTPDTLS_VARIATIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 0 {
			t.Fatalf("FTPDTLS_VARIATIONS=%q: want a count", s)
		}
	}
	t.Logf("seed %d (FTPDTLS_SEED=%d replays this run)", seed, seed)

	bases := loadOracle(t)
	inputs := make([]variation, 0, len(bases)+n)
	for _, c := range bases {
		inputs = append(inputs, variation{label: c.Name, fragment: c.Fragment})
	}
	inputs = append(inputs, generateVariations(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), bases, n)...)

	// Every segment a proftpd run leaves is removed right after it; this
	// sweep catches the rest if the test stops early.
	parent := t.TempDir()
	var pidsMu sync.Mutex
	var pids []int
	t.Cleanup(func() {
		pidsMu.Lock()
		defer pidsMu.Unlock()
		if removed, err := sweepSegments(parent, pids...); err != nil || len(removed) > 0 {
			t.Logf("final sweep removed %d segments (err %v)", len(removed), err)
		}
	})

	type run struct {
		in               variation
		dir, conf        string
		ftpdtls, proftpd checkResult
		err              error
		done             bool
		// slow: proftpd -t did not answer within proftpdRunTimeout (it
		// waits on something outside the file, e.g. a resolver with no
		// network); the fragment is logged and not compared.
		slow bool
	}
	runs := make([]*run, len(inputs))
	// ftpdtls first, on the fresh directory, checking that it leaves no
	// segment behind (proftpd -t does).
	for i, in := range inputs {
		dir, conf := writeWrapped(t, parent, in.fragment, in.label)
		ru := &run{in: in, dir: dir, conf: conf}
		ru.ftpdtls = ftpdtlsCheckEnv(conf, dir)
		if removed, err := sweepSegments(dir, os.Getpid()); err != nil || len(removed) > 0 {
			t.Errorf("%s: ftpdtls check left shared memory behind: %v %v", in.label, removed, err)
		}
		runs[i] = ru
	}

	ctx, cancel := context.WithTimeout(context.Background(), differentialBudget)
	defer cancel()
	queue := make(chan *run)
	var wg sync.WaitGroup
	for range proftpdParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ru := range queue {
				var pid int
				rctx, rcancel := context.WithTimeout(ctx, proftpdRunTimeout)
				ru.proftpd, pid, ru.err = proftpdCheck(rctx, proftpd, ru.conf, ru.dir)
				ru.slow = rctx.Err() != nil && ctx.Err() == nil
				rcancel()
				pidsMu.Lock()
				pids = append(pids, pid)
				pidsMu.Unlock()
				if _, err := sweepSegments(ru.dir, pid); err != nil && ru.err == nil {
					ru.err = err
				}
				ru.done = ctx.Err() == nil
			}
		}()
	}
	for _, ru := range runs {
		if ctx.Err() != nil {
			break
		}
		queue <- ru
	}
	close(queue)
	wg.Wait()

	var ran, agreed, diverged, slow int
	notices := map[bool]int{} // missing notices, by proftpd's verdict
	var failures []string
	for i, ru := range runs {
		if !ru.done {
			continue
		}
		ran++
		kind := "case"
		if i >= len(bases) {
			kind = "variation"
		}
		if ru.slow {
			slow++
			t.Logf("%s %s: proftpd -t gave no answer within %v; not compared:\n%s", kind, ru.in.label, proftpdRunTimeout, indent(ru.in.fragment))
			continue
		}
		if ru.err != nil {
			failures = append(failures, fmt.Sprintf("%s %s: %v\n%s", kind, ru.in.label, ru.err, indent(ru.in.fragment)))
			continue
		}
		p, f := ru.proftpd, ru.ftpdtls
		switch {
		case p.Accept == f.Accept && slices.Equal(p.Fatal, f.Fatal):
			agreed++
		case documentedDivergence(p, f) != "":
			diverged++
			continue
		default:
			failures = append(failures, fmt.Sprintf("%s %s:\n%s  proftpd: %s\n  ftpdtls: %s",
				kind, ru.in.label, indent(ru.in.fragment), p, f))
			continue
		}
		for _, m := range missingNotices(p.Other, f.Other) {
			notices[p.Accept]++
			t.Logf("%s %s (%s): proftpd -t printed %q, not among ftpdtls's warnings %q", kind, ru.in.label, p.verdict(), m, f.Other)
		}
	}
	t.Logf("differential: %d of %d fragments run (%d recorded, %d generated), %d agreed, %d documented divergences, %d differ, "+
		"%d without an answer from proftpd; proftpd notices not among ftpdtls warnings: %d for accepted files, %d before a fatal error",
		ran, len(runs), len(bases), len(runs)-len(bases), agreed, diverged, len(failures), slow, notices[true], notices[false])
	if slow > len(runs)/100+1 {
		t.Errorf("%d fragments got no answer from proftpd within %v: the comparison is not worth much", slow, proftpdRunTimeout)
	}
	if ran < len(runs) {
		t.Errorf("only %d of %d fragments ran within %v", ran, len(runs), differentialBudget)
	}
	show := 25 // all of them with -v
	if testing.Verbose() {
		show = len(failures)
	}
	for i, f := range failures {
		if i == show {
			t.Errorf("... and %d more", len(failures)-show)
			break
		}
		t.Errorf("%s", f)
	}
	if len(failures) > 0 {
		t.Errorf("%d differences; replay with FTPDTLS_SEED=%d", len(failures), seed)
	}
}

// proftpdRunTimeout bounds one proftpd -t run, so that a fragment that
// makes proftpd wait (on a resolver, say) costs this, not the whole budget.
const proftpdRunTimeout = 20 * time.Second

// ftpdtlsCheckEnv is ftpdtlsCheck with the environment the generated
// fragments' %{env:...} references expect (the one proftpd gets).
func ftpdtlsCheckEnv(conf, dir string) checkResult {
	env := map[string]string{}
	for _, kv := range differentialEnv(dir) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return ftpdtlsCheckWith(conf, dir, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range splitFragment(s) {
		fmt.Fprintf(&b, "    | %q\n", l)
	}
	return b.String()
}
