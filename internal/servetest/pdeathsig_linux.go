package servetest

import (
	"os/exec"
	"syscall"
)

// orphanGuard makes the daemon receive SIGTERM if the test process dies
// without stopping it (a killed test run must not leave daemons behind).
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
