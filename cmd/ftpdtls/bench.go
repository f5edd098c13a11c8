package main

import (
	"os"
	"os/exec"

	"github.com/ftpdtls/ftpdtls/internal/bench"
)

// The bench command measures the caches on the user's machine; the
// engine is internal/bench. Its second process (the scaling group's) is
// this program again, "ftpdtls bench", told by bench.WorkerEnv to run a
// worker instead.

func init() {
	register(&command{
		name:    "bench",
		summary: "measure the session caches on this machine: bench [-duration D] [-size S] [-procs N] [-only GROUPS] [-json|-md]",
		run: func(args []string) int {
			c := &bench.Command{
				Name:        "ftpdtls bench",
				StartWorker: selfWorker("bench"),
				Stdout:      os.Stdout,
				Stderr:      os.Stderr,
			}
			return c.Run(args)
		},
	})
}

// selfWorker returns a function starting this executable with args; nil
// if the executable cannot be found.
func selfWorker(args ...string) func() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return func() *exec.Cmd { return exec.Command(exe, args...) }
}
