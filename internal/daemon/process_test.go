package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
)

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// wait is the generous deadline of every wait for an event in these
// tests: they run on loaded machines, and nothing here is about speed.
const wait = 60 * time.Second

// requireRoot skips a test that needs root, or fails it when CI demands
// that every test runs (FTPDTLS_REQUIRE_PEERS=1; CI runs as root).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("FTPDTLS_REQUIRE_PEERS") == "1" {
		t.Fatal("this test needs root (privilege separation: workers drop to nobody, brokers run as the FTP users); FTPDTLS_REQUIRE_PEERS=1 requires it")
	}
	t.Skip("needs root: privilege separation (workers drop to nobody, brokers run as the FTP users)")
}

// worldDir makes a directory that other users can reach (t.TempDir's
// parent is private to the test's user).
func worldDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ftpdtls-daemon-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// ftpUser is an AuthUserFile entry of a test.
type ftpUser struct {
	name, password string
	uid, gid       uint32
	home           string
}

// writeUsers writes an AuthUserFile and returns its path.
func writeUsers(t testing.TB, dir string, users ...ftpUser) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		line, err := authfile.LineFor(u.name, u.password, u.uid, u.gid, u.home)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	path := filepath.Join(dir, "ftpd.passwd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemonProc is `ftpdtls serve` running as a process of its own (this
// test binary, see TestMain), with its workers and brokers in its process
// group.
type daemonProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	addr string
	conf string
	done chan struct{}
	err  error

	readyCh chan string
}

// startDaemon runs a daemon on a 127.0.0.1 listener and waits until it
// serves.
func startDaemon(t testing.TB, to testOptions, env ...string) *daemonProc {
	t.Helper()
	d := launchDaemon(t, to, env...)
	d.waitReady()
	return d
}

func launchDaemon(t testing.TB, to testOptions, env ...string) *daemonProc {
	return launchDaemonAs(t, nil, to, env...)
}

// launchDaemonAs starts a daemon with the given credential (nil: the
// test's).
func launchDaemonAs(t testing.TB, cred *syscall.Credential, to testOptions, env ...string) *daemonProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	spec, _ := json.Marshal(to)
	// /proc/self/exe: this binary even for a daemon started as another
	// user, who cannot reach the build directory.
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{os.Args[0], "-test.run=^$"}, Dir: "/"}
	cmd.Env = append(append(os.Environ(), testDaemonEnv+"="+string(spec)), env...)
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	d := &daemonProc{t: t, cmd: cmd, log: &syncbuf.Buffer{}, conf: to.ConfigPath, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = d.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- a
			}
		}
		io.Copy(io.Discard, stdout)
		d.err = cmd.Wait()
		close(d.done)
	}()
	d.readyCh = ready
	t.Cleanup(d.kill)
	return d
}

// waitReady waits until the daemon serves.
func (d *daemonProc) waitReady() {
	d.t.Helper()
	select {
	case a := <-d.readyCh:
		d.addr = a
	case <-d.done:
		d.t.Fatalf("the daemon exited before serving: %v\n%s", d.err, d.log)
	case <-time.After(wait):
		d.t.Fatalf("the daemon does not serve after %v:\n%s", wait, d.log)
	}
}

// kill ends the daemon's whole process group, and removes the cache
// segments its master made.
func (d *daemonProc) kill() {
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	if d.conf != "" {
		if dirs, err := Parse(d.conf, ""); err == nil {
			RemoveCaches(dirs)
		}
	}
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.log)
	}
}

func (d *daemonProc) signal(sig syscall.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// exit waits for the daemon's exit and returns its status and error.
func (d *daemonProc) exit() (int, error) {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(wait):
		d.t.Fatalf("the daemon still runs after %v:\n%s", wait, d.log)
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode(), d.err
	}
	return 0, d.err
}

// waitLog waits until the daemon's log matches re, and returns the match.
func (d *daemonProc) waitLog(re string) []string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(wait)
	for {
		if m := rx.FindStringSubmatch(d.log.String()); m != nil {
			return m
		}
		select {
		case <-d.done:
			if m := rx.FindStringSubmatch(d.log.String()); m != nil {
				return m
			}
			d.t.Fatalf("the daemon exited (%v) without logging %q:\n%s", d.err, re, d.log)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon never logged %q:\n%s", re, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLogN waits until the daemon's log matches re n times, and returns
// the matches.
func (d *daemonProc) waitLogN(re string, n int) [][]string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(wait)
	for {
		if m := rx.FindAllStringSubmatch(d.log.String(), -1); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon never logged %q %d times:\n%s", re, n, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// workerPIDs returns the pids of the running workers of the daemon
// (children of its master marked as workers).
func (d *daemonProc) workerPIDs() []int {
	d.t.Helper()
	return childrenWithEnv(d.t, d.cmd.Process.Pid, workerEnv)
}

// brokerPIDs returns the pids of the daemon's brokers.
func (d *daemonProc) brokerPIDs() []int {
	d.t.Helper()
	return childrenWithEnv(d.t, d.cmd.Process.Pid, "FTPDTLS_BROKER")
}

// childrenWithEnv lists the children of ppid whose environment sets key.
func childrenWithEnv(t testing.TB, ppid int, key string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(ppid) || fields[0] == "Z" {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, key+"=") {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// procStatus reads a process's identity from /proc.
func procStatus(t *testing.T, pid int) *privsep.Status {
	t.Helper()
	st, err := privsep.ReadStatus(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// ftpConn is a minimal FTP client: enough to drive the daemon and see
// its exact replies.
type ftpConn struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func dialFTP(t testing.TB, addr string) *ftpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(wait))
	f := &ftpConn{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	return f
}

// greeting reads the 220 line.
func (f *ftpConn) greeting() string {
	f.t.Helper()
	_, msg, err := f.tp.ReadResponse(220)
	if err != nil {
		f.t.Fatalf("greeting: %v", err)
	}
	return msg
}

// cmd sends a command and returns the reply's code and text.
func (f *ftpConn) cmd(format string, args ...any) (int, string) {
	f.t.Helper()
	if err := f.tp.PrintfLine(format, args...); err != nil {
		f.t.Fatalf("send %q: %v", fmt.Sprintf(format, args...), err)
	}
	return f.reply()
}

func (f *ftpConn) reply() (int, string) {
	f.t.Helper()
	code, msg, err := f.tp.ReadResponse(0)
	if err != nil && code == 0 {
		f.t.Fatalf("reply: %v", err)
	}
	return code, msg
}

func (f *ftpConn) expect(want int, format string, args ...any) string {
	f.t.Helper()
	code, msg := f.cmd(format, args...)
	if code != want {
		f.t.Fatalf("%s: %d %s, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

func (f *ftpConn) login(user, password string) {
	f.t.Helper()
	f.expect(331, "USER %s", user)
	f.expect(230, "PASS %s", password)
}

// pasv opens a passive data connection.
func (f *ftpConn) pasv() net.Conn {
	f.t.Helper()
	msg := f.expect(227, "PASV")
	m := regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`).FindStringSubmatch(msg)
	if m == nil {
		f.t.Fatalf("PASV reply %q", msg)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	dc, err := net.DialTimeout("tcp", fmt.Sprintf("%s.%s.%s.%s:%d", m[1], m[2], m[3], m[4], p1*256+p2), wait)
	if err != nil {
		f.t.Fatal(err)
	}
	dc.SetDeadline(time.Now().Add(wait))
	return dc
}

// stor uploads data as name and returns the final reply.
func (f *ftpConn) stor(name string, data []byte) (int, string) {
	f.t.Helper()
	dc := f.pasv()
	code, msg := f.cmd("STOR %s", name)
	if code != 150 && code != 125 {
		dc.Close()
		return code, msg
	}
	dc.Write(data)
	dc.Close()
	return f.reply()
}

// retr downloads name; the final reply's code and the bytes.
func (f *ftpConn) retr(name string) (int, string, []byte) {
	f.t.Helper()
	dc := f.pasv()
	code, msg := f.cmd("RETR %s", name)
	if code != 150 && code != 125 {
		dc.Close()
		return code, msg, nil
	}
	b, _ := io.ReadAll(dc)
	dc.Close()
	code, msg = f.reply()
	return code, msg, b
}

func readStatus(path string) (*privsep.Status, error) { return privsep.ReadStatus(path) }

func credOf(uid, gid uint32, groups ...uint32) privsep.Credential {
	return privsep.Credential{Uid: uid, Gid: gid, Groups: groups}
}
