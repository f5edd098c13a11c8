package testpeers

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartGroup starts cmd in a process group of its own, so that stopping
// it reaches the processes it forks, and stops the group when the test
// ends: SIGTERM, then, after stopWait, SIGKILL (which also fails the
// test). after, if not nil, runs once the process has exited (to remove
// what it may leave). The returned channel is closed when the process
// has exited.
func StartGroup(t testing.TB, cmd *exec.Cmd, name string, stopWait time.Duration, after func()) <-chan struct{} {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopWait):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Errorf("%s did not stop on SIGTERM within %v", name, stopWait)
		}
		if after != nil {
			after()
		}
	})
	return exited
}
