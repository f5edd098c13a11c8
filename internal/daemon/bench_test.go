package daemon

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSession is what one FTP session costs the daemon under each
// process model, measured side by side: the daemons run at the same time
// and each iteration runs one session against each in turn, so that every
// model sees the same machine (a shared machine's load moves a lot):
//
//   - inprocess: ftpdtls before privilege separation, one process whose
//     sessions all act as the daemon's user (root when run as root);
//   - privsep: the root master, one worker (nobody), and the user's broker
//     (the AuthUserFile uid); as root only;
//   - privsep2: the same with two workers.
//
// One session is: connect, greeting, USER, PASS, PWD, TYPE I, SIZE, RETR
// of a 4 KiB file through a passive data connection, QUIT, close. Plain
// FTP, so that TLS handshakes (the same in every model) do not hide what
// the models cost. Reported for each model: MODEL-sessions/s (one client,
// sessions one after another: the inverse of the mean session time) and
// MODEL-cpu-ms/session, the user and system CPU time of all the daemon's
// processes (master, workers, brokers, from /proc) per session; ns/op is
// one session of each model. Run it with
//
//	go test -run '^$' -bench BenchmarkSession -benchtime 2000x ./internal/daemon/
func BenchmarkSession(b *testing.B) {
	type model struct {
		name      string
		inProcess bool
		workers   int
		d         *daemonProc
		u         ftpUser
		wall      time.Duration
		cpu0      time.Duration
	}
	models := []*model{{name: "inprocess", inProcess: true}}
	if os.Geteuid() == 0 {
		models = append(models, &model{name: "privsep", workers: 1}, &model{name: "privsep2", workers: 2})
	} else {
		b.Log("not root: privilege separation is not measured")
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 256)
	for _, m := range models {
		dir := worldDir(b)
		m.u = ftpUser{name: "bench", password: "bench-pw", uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), home: filepath.Join(dir, "home")}
		extra := ""
		if !m.inProcess {
			m.u.uid, m.u.gid = aliceUID, aliceGID
		} else if m.u.uid == 0 {
			extra = "RootLogin on\n" // the old model: sessions as root
		}
		if err := os.Mkdir(m.u.home, 0o755); err != nil {
			b.Fatal(err)
		}
		os.Chown(m.u.home, int(m.u.uid), int(m.u.gid))
		if err := os.WriteFile(filepath.Join(m.u.home, "file"), payload, 0o644); err != nil {
			b.Fatal(err)
		}
		users := writeUsers(b, dir, m.u)
		conf := filepath.Join(dir, "proftpd.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf("ServerName \"bench\"\nAuthUserFile %s\nRequireValidShell off\nDefaultRoot ~\n%s", users, extra)), 0o600)
		m.d = startDaemon(b, testOptions{ConfigPath: conf, Workers: m.workers, InProcess: m.inProcess})
	}
	session := func(m *model) {
		f := dialFTP(b, m.d.addr)
		f.greeting()
		f.login(m.u.name, m.u.password)
		f.expect(257, "PWD")
		f.expect(200, "TYPE I")
		f.expect(213, "SIZE file")
		if code, msg, got := f.retr("file"); code != 226 || !bytes.Equal(got, payload) {
			b.Fatalf("%s: RETR: %d %s (%d bytes)", m.name, code, msg, len(got))
		}
		f.expect(221, "QUIT")
		f.c.Close()
	}
	for _, m := range models {
		session(m) // starts the broker
		m.cpu0 = treeCPU(b, m.d.cmd.Process.Pid)
	}
	b.ResetTimer()
	for range b.N {
		for _, m := range models {
			start := time.Now()
			session(m)
			m.wall += time.Since(start)
		}
	}
	b.StopTimer()
	for _, m := range models {
		cpu := treeCPU(b, m.d.cmd.Process.Pid) - m.cpu0
		b.ReportMetric(float64(b.N)/m.wall.Seconds(), m.name+"-sessions/s")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), m.name+"-cpu-ms/session")
	}
}

// treeCPU is the user and system time of process pid and its descendants
// (those that ended included, once waited for).
func treeCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	procs := map[int]int{}             // pid -> ppid
	stats := map[int][]string{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ppid, _ := strconv.Atoi(fields[1])
		procs[p] = ppid
		stats[p] = fields
	}
	var in func(int) bool
	in = func(p int) bool {
		for p > 1 {
			if p == pid {
				return true
			}
			p = procs[p]
		}
		return false
	}
	var ticks int64
	for p, f := range stats {
		if !in(p) {
			continue
		}
		// Fields after the command: state(0) ppid(1) ... utime(11)
		// stime(12) cutime(13) cstime(14).
		for _, i := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * tick
}
