package daemon

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// execWorker prepares worker id: this program with the master's
// arguments, the listener as file descriptor 3, and the environment that
// makes Run a worker. Pdeathsig ends the worker if the master dies
// without stopping it.
func execWorker(exe string, args []string, id int, home string, ln *os.File, stderr io.Writer) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), workerEnv+"="+strconv.Itoa(id))
	if home != "" {
		cmd.Env = append(cmd.Env, workerHomeEnv+"="+home)
	}
	cmd.ExtraFiles = []*os.File{ln}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}
