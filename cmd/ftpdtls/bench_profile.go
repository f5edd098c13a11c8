package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

// Profiling the daemon for the benchmarks: with FTPDTLS_CPUPROFILE=DIR in
// its environment, every process of this program (serve's master, its
// workers and brokers, which inherit the environment) writes its CPU
// profile to DIR, one file per window of FTPDTLS_CPUPROFILE_WINDOW
// (default 10s): DIR/cpu-PID-N.pprof. A window is written when it ends,
// so a process that exits loses its last one. DIR must be writable by the
// workers' and brokers' users (mode 1777). BENCHMARKS.md shows the use:
//
//	FTPDTLS_CPUPROFILE=/tmp/prof ftpdtls serve -c proftpd.conf &
//	... run a client loop for a few windows ...
//	go tool pprof -top ftpdtls /tmp/prof/cpu-*.pprof

func init() {
	dir := os.Getenv("FTPDTLS_CPUPROFILE")
	if dir == "" {
		return
	}
	window := 10 * time.Second
	if w, err := time.ParseDuration(os.Getenv("FTPDTLS_CPUPROFILE_WINDOW")); err == nil && w > 0 {
		window = w
	}
	go func() {
		for n := 0; ; n++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d-%d.pprof", os.Getpid(), n)))
			if err != nil {
				fmt.Fprintf(os.Stderr, "ftpdtls: FTPDTLS_CPUPROFILE: %v\n", err)
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(os.Stderr, "ftpdtls: FTPDTLS_CPUPROFILE: %v\n", err)
				f.Close()
				return
			}
			time.Sleep(window)
			pprof.StopCPUProfile()
			f.Close()
		}
	}()
}
