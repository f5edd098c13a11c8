package main

import (
	"os"
	"path/filepath"

	"github.com/ftpdtls/ftpdtls/bench"
)

// The bench command measures the caches and the daemon on the user's
// machine; the harness is the bench package (bench/), which runs the
// packages' own benchmarks and the end-to-end comparison.

func init() {
	register(&command{
		name:    "bench",
		summary: "measure the caches and serve against ProFTPD, vsftpd, pure-ftpd: bench [-only GROUPS] [-runs N] [-json|-md]",
		run: func(args []string) int {
			c := &bench.Command{Name: "ftpdtls bench", Stdout: os.Stdout, Stderr: os.Stderr}
			if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "ftpdtls" {
				c.FTPDTLS = exe
			}
			return c.Run(args)
		},
	})
}
