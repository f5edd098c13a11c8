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
// process model, measured side by side in one run:
//
//   - inprocess: ftpdtls before privilege separation, one process whose
//     sessions all act as the daemon's user (root when run as root);
//   - privsep: the root master, one worker (nobody), and the user's broker
//     (the AuthUserFile uid); as root only;
//   - privsep-2workers: the same with two workers.
//
// One session is: connect, greeting, USER, PASS, PWD, TYPE I, SIZE, RETR of a
// 4 KiB file through a passive data connection, QUIT, close. Plain FTP,
// so that TLS handshakes (the same in every model) do not hide what the
// models cost. Sessions run one after another. Reported: sessions/s (wall
// clock of the client) and daemon-cpu-ms/session, the user and system
// CPU time of all the daemon's processes (master, workers, brokers, from
// /proc) divided by the sessions. Run it with
//
//	go test -run '^$' -bench BenchmarkSession -benchtime 2000x ./internal/daemon/
func BenchmarkSession(b *testing.B) {
	for _, model := range []struct {
		name      string
		inProcess bool
		workers   int
		root      bool
	}{
		{"inprocess", true, 0, false},
		{"privsep", false, 1, true},
		{"privsep-2workers", false, 2, true},
	} {
		b.Run(model.name, func(b *testing.B) {
			if model.root && os.Geteuid() != 0 {
				b.Skip("privilege separation needs root")
			}
			dir := worldDir(b)
			u := ftpUser{name: "bench", password: "bench-pw", uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), home: filepath.Join(dir, "home")}
			extra := ""
			if !model.inProcess {
				u.uid, u.gid = aliceUID, aliceGID
			} else if u.uid == 0 {
				extra = "RootLogin on\n" // the old model: sessions as root
			}
			if err := os.Mkdir(u.home, 0o755); err != nil {
				b.Fatal(err)
			}
			os.Chown(u.home, int(u.uid), int(u.gid))
			payload := bytes.Repeat([]byte("0123456789abcdef"), 256)
			if err := os.WriteFile(filepath.Join(u.home, "file"), payload, 0o644); err != nil {
				b.Fatal(err)
			}
			users := writeUsers(b, dir, u)
			conf := filepath.Join(dir, "proftpd.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("ServerName \"bench\"\nAuthUserFile %s\nDefaultRoot ~\nMaxLoginAttempts 3\n%s", users, extra)), 0o600)
			d := startDaemon(b, testOptions{ConfigPath: conf, Workers: model.workers, InProcess: model.inProcess})

			session := func() {
				f := dialFTP(b, d.addr)
				f.greeting()
				f.login(u.name, u.password)
				f.expect(257, "PWD")
				f.expect(200, "TYPE I")
				f.expect(213, "SIZE file")
				if code, msg, got := f.retr("file"); code != 226 || !bytes.Equal(got, payload) {
					b.Fatalf("RETR: %d %s (%d bytes)", code, msg, len(got))
				}
				f.expect(221, "QUIT")
				f.c.Close()
			}
			session() // starts the broker
			cpu0 := treeCPU(b, d.cmd.Process.Pid)

			b.ResetTimer()
			start := time.Now()
			for range b.N {
				session()
			}
			elapsed := time.Since(start)
			b.StopTimer()

			cpu := treeCPU(b, d.cmd.Process.Pid) - cpu0

			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sessions/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "daemon-cpu-ms/session")
		})
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
