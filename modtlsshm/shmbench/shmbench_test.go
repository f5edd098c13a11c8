package shmbench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestMain(m *testing.M) {
	RunHelper()
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}

// TestLookupScaling runs a tiny measurement (it checks that the helpers
// start, look up only stored sessions and report, not any speed).
func TestLookupScaling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := LookupScaling(ctx, Options{Dir: t.TempDir(), Sessions: 256, Procs: []int{1, 2}, Duration: 20 * time.Millisecond, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Procs != 1 || res[1].Procs != 2 {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if len(r.PerSec) != 2 || r.Median <= 0 || r.Ratio <= 0 {
			t.Fatalf("result %+v", r)
		}
	}
	if res[0].Ratio != 1 {
		t.Fatalf("ratio of the first count to itself: %v", res[0].Ratio)
	}
}

// BenchmarkLookupScaling measures lookups of stored sessions with 1 and
// 2 processes attached to one default-size segment, side by side in
// alternating rounds, and reports both rates and their ratio:
//
//	go test -run '^$' -bench BenchmarkLookupScaling ./modtlsshm/shmbench/
func BenchmarkLookupScaling(b *testing.B) {
	var res []Result
	for b.Loop() {
		var err error
		res, err = LookupScaling(context.Background(), Options{Dir: b.TempDir(), Runs: 5,
			Progress: func(procs, round int, v, perCPU float64) {
				b.Logf("round %d, %d processes: %.0f lookups/s, %.0f per CPU second", round+1, procs, v, perCPU)
			}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(res[0].Median, "lookups/s-1proc")
	b.ReportMetric(res[1].Median, "lookups/s-2procs")
	b.ReportMetric(res[1].Ratio, "2procs/1proc")
	b.ReportMetric(res[0].MedianPerCPU, "lookups/cpu-s-1proc")
	b.ReportMetric(res[1].MedianPerCPU, "lookups/cpu-s-2procs")
}
