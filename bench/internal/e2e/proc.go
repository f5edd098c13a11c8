package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A server's CPU time is what all its processes used, those that ended
// included: the master, its workers or per-session children, their
// helpers. Each server is started inside a cgroup of its own (cgroup v2
// cpu.stat, or v1 cpuacct.usage), whose counter adds up every process
// that ever ran in it, in nanoseconds. Without a writable cgroup
// hierarchy the counter falls back to /proc: utime+stime of every live
// process of the server's tree plus cutime+cstime (children that ended
// and were waited for), in clock ticks.

// cpuMeter reads a server's CPU time.
type cpuMeter interface {
	// CPU is the CPU time used so far by everything the server ran.
	CPU() (time.Duration, error)
	// Pids are the server's live processes.
	Pids() []int
	// Wrap returns argv starting the server inside the meter.
	Wrap(argv []string) []string
	// Adopt moves a running process into the meter (for a server that
	// cannot be wrapped because it starts as another user; its threads
	// move with it, and it must not have forked yet).
	Adopt(pid int) error
	// Close removes the cgroup (once every process has ended).
	Close() error
	// Kind says how the time is read ("cgroup v1 cpuacct", ...).
	Kind() string
}

// newCPUMeter makes a cgroup named name for one server, or falls back to
// /proc (root is the server's first process, set once it started).
func newCPUMeter(name string, root func() int) cpuMeter {
	for _, base := range []struct{ dir, file, kind string }{
		{"/sys/fs/cgroup", "cpu.stat", "cgroup v2 cpu.stat"},
		{"/sys/fs/cgroup/unified", "cpu.stat", "cgroup v2 cpu.stat"},
		{"/sys/fs/cgroup/cpuacct", "cpuacct.usage", "cgroup v1 cpuacct.usage"},
		{"/sys/fs/cgroup/cpu,cpuacct", "cpuacct.usage", "cgroup v1 cpuacct.usage"},
	} {
		if _, err := os.Stat(filepath.Join(base.dir, "cgroup.procs")); err != nil {
			continue
		}
		if base.file == "cpu.stat" {
			// A v2 hierarchy counts CPU in cpu.stat only where the cpu
			// controller or the core accounting is present: the root's
			// cpu.stat is always there.
			if _, err := os.Stat(filepath.Join(base.dir, "cpu.stat")); err != nil {
				continue
			}
		}
		dir := filepath.Join(base.dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, base.file)); err != nil {
			os.Remove(dir)
			continue
		}
		return &cgroupMeter{dir: dir, file: base.file, kind: base.kind}
	}
	return &procMeter{root: root}
}

type cgroupMeter struct{ dir, file, kind string }

func (c *cgroupMeter) Kind() string { return c.kind }

func (c *cgroupMeter) CPU() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, c.file))
	if err != nil {
		return 0, err
	}
	if c.file == "cpuacct.usage" {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(n), err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Duration(n) * time.Microsecond, err
		}
	}
	return 0, errors.New("no usage_usec in " + c.file)
}

func (c *cgroupMeter) Pids() []int {
	b, _ := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Wrap starts argv through sh, which first moves itself into the cgroup:
// every process the server forks from its first instruction on is in it.
func (c *cgroupMeter) Wrap(argv []string) []string {
	return append([]string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, c.dir}, argv...)
}

func (c *cgroupMeter) Adopt(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

func (c *cgroupMeter) Close() error {
	// A process killed a moment ago may still be leaving the group.
	var err error
	for i := 0; i < 100; i++ {
		for _, p := range c.Pids() {
			syscall.Kill(p, syscall.SIGKILL)
		}
		if err = os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", c.dir, err)
}

type procMeter struct{ root func() int }

func (p *procMeter) Kind() string                { return "/proc utime+stime+cutime+cstime (10 ms ticks)" }
func (p *procMeter) Wrap(argv []string) []string { return argv }
func (p *procMeter) Close() error                { return nil }
func (p *procMeter) Adopt(int) error             { return nil }
func (p *procMeter) Pids() []int                 { return tree(p.root()) }

func (p *procMeter) CPU() (time.Duration, error) {
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	var ticks int64
	for _, pid := range tree(p.root()) {
		f := statFields(pid)
		if len(f) < 15 {
			continue
		}
		// After the command: state(0) ppid(1) ... utime(11) stime(12)
		// cutime(13) cstime(14).
		for _, i := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * tick, nil
}

// statFields are the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// tree is pid and its descendants.
func tree(pid int) []int {
	if pid <= 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// memory is the resident (RSS) and proportional (PSS: shared pages
// divided among the processes sharing them) memory of pids, in KiB.
func memory(pids []int) (rss, pss float64) {
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			n, _ := strconv.ParseFloat(f[0], 64)
			switch k {
			case "Rss":
				rss += n
			case "Pss":
				pss += n
			}
		}
	}
	return rss, pss
}
