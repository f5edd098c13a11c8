package privsep

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Credential is a process identity: uid, primary gid and supplementary
// groups.
type Credential struct {
	Uid, Gid uint32
	Groups   []uint32
}

func (c Credential) String() string {
	return fmt.Sprintf("uid %d gid %d groups %v", c.Uid, c.Gid, c.Groups)
}

// key identifies a credential for the broker table.
func (c Credential) key() string {
	g := slices.Clone(c.Groups)
	slices.Sort(g)
	return fmt.Sprint(c.Uid, c.Gid, g)
}

// Drop makes the process c for good: supplementary groups, then the real,
// effective and saved gid, then the uid (syscall applies each to every
// thread of the process). It then checks, in /proc, that every thread
// carries exactly c and that root cannot be regained. The process must be
// root; c may not be.
func Drop(c Credential) error {
	if c.Uid == 0 {
		return errors.New("privsep: refusing to drop to uid 0")
	}
	groups := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups(%v): %w", c.Groups, err)
	}
	if err := syscall.Setresgid(int(c.Gid), int(c.Gid), int(c.Gid)); err != nil {
		return fmt.Errorf("setresgid(%d): %w", c.Gid, err)
	}
	if err := syscall.Setresuid(int(c.Uid), int(c.Uid), int(c.Uid)); err != nil {
		return fmt.Errorf("setresuid(%d): %w", c.Uid, err)
	}
	if err := Verify(c); err != nil {
		return err
	}
	if err := syscall.Setresuid(0, 0, 0); err == nil {
		return errors.New("privsep: root regained after dropping privileges")
	}
	return SetNoNewPrivs()
}

// SetNoNewPrivs makes sure nothing this process executes gains
// privileges (setuid binaries, file capabilities), in every thread. A
// program linked with cgo cannot reach every thread (AllThreadsSyscall
// refuses); there it applies to the calling thread and the threads
// created after it, and NoNewPrivsAllThreads is false.
func SetNoNewPrivs() error {
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
	if errno == syscall.ENOTSUP {
		return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	}
	if errno != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", errno)
	}
	return nil
}

// NoNewPrivsAllThreads reports whether SetNoNewPrivs reaches every
// thread of this program (it is not linked with cgo).
func NoNewPrivsAllThreads() bool {
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0)
	return errno != syscall.ENOTSUP
}

// Verify checks that every thread of this process has exactly c: real,
// effective, saved and file-system uid and gid, and the supplementary
// groups.
func Verify(c Credential) error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("privsep: listing this process's threads: %v", err)
	}
	for _, p := range tasks {
		st, err := ReadStatus(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited meanwhile
			}
			return err
		}
		if err := st.Is(c); err != nil {
			return fmt.Errorf("privsep: thread %s: %w", filepath.Base(filepath.Dir(p)), err)
		}
	}
	return nil
}

// Status is what /proc/PID/status says about a process's identity.
type Status struct {
	Uid, Gid   [4]uint32 // real, effective, saved, file system
	Groups     []uint32
	NoNewPrivs bool
}

// Is reports how st differs from c, or nil.
func (st *Status) Is(c Credential) error {
	for i, id := range st.Uid {
		if id != c.Uid {
			return fmt.Errorf("uids %v, want %d", st.Uid, c.Uid)
		}
		if st.Gid[i] != c.Gid {
			return fmt.Errorf("gids %v, want %d", st.Gid, c.Gid)
		}
	}
	got, want := slices.Clone(st.Groups), slices.Clone(c.Groups)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
		return fmt.Errorf("groups %v, want %v", st.Groups, c.Groups)
	}
	return nil
}

// ReadStatus parses a /proc/PID/status (or /proc/PID/task/TID/status)
// file.
func ReadStatus(path string) (*Status, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st Status
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		switch key {
		case "Uid", "Gid":
			if len(fields) != 4 {
				return nil, fmt.Errorf("%s: %s line %q", path, key, val)
			}
			dst := &st.Uid
			if key == "Gid" {
				dst = &st.Gid
			}
			for i, f := range fields {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%s: %s line %q", path, key, val)
				}
				dst[i] = uint32(n)
			}
			seen++
		case "Groups":
			for _, f := range fields {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%s: Groups line %q", path, val)
				}
				st.Groups = append(st.Groups, uint32(n))
			}
			seen++
		case "NoNewPrivs":
			st.NoNewPrivs = len(fields) == 1 && fields[0] == "1"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if seen != 3 {
		return nil, fmt.Errorf("%s: no Uid, Gid and Groups lines", path)
	}
	return &st, nil
}
