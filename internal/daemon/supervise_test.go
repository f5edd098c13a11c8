package daemon

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// sessionUser makes an FTP user whose home is in dir: with its own uid
// (54321) when the test runs as root, else with the test's uid (the only
// one a daemon not started as root can serve).
func sessionUser(t *testing.T, dir string) ftpUser {
	t.Helper()
	u := ftpUser{name: "alice", password: "alice-pw", uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), home: filepath.Join(dir, "alice")}
	if os.Geteuid() == 0 {
		u.uid, u.gid = aliceUID, aliceGID
	}
	if err := os.Mkdir(u.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(u.home, int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
	return u
}

// basicConf is a plain-FTP configuration for user, with extra lines.
func basicConf(t *testing.T, dir string, u ftpUser, name, extra string) string {
	t.Helper()
	users := writeUsers(t, dir, u)
	return writeConf(t, dir, fmt.Sprintf("ServerName %q\nAuthUserFile %s\nRequireValidShell off\nDefaultRoot ~\n%s", name, users, extra))
}

// TestWorkerStartupFailure: a worker that fails while the daemon starts
// stops the master with the worker's error and exit status 1, instead of
// a restart loop with clients hanging.
func TestWorkerStartupFailure(t *testing.T) {
	dir := worldDir(t)
	conf := basicConf(t, dir, sessionUser(t, dir), "fails", "")
	d := launchDaemon(t, testOptions{ConfigPath: conf, Workers: 2}, testWorkerFailEnv+"=TLSCertificateFile /etc/x.pem: no such file (changed since the master checked it)")
	code, err := d.exit()
	if code != 1 {
		t.Fatalf("exit status %d (%v), want 1:\n%s", code, err, d.log)
	}
	log := d.log.String()
	if !regexp.MustCompile(`ftpdtls serve: worker \d \(pid \d+\) failed to start: worker \d: TLSCertificateFile /etc/x.pem: no such file \(changed since the master checked it\)`).MatchString(log) {
		t.Errorf("the master's error does not carry the worker's:\n%s", log)
	}
	if n := strings.Count(log, " started"); n > 2 {
		t.Errorf("%d workers started: the master restarted a worker that failed at start:\n%s", n, log)
	}
}

// TestMasterValidatesFirst: what a worker would fail on (here the user
// file) stops the master before it starts any worker.
func TestMasterValidatesFirst(t *testing.T) {
	dir := worldDir(t)
	conf := writeConf(t, dir, "ServerName \"bad\"\nTLSEngine off\n")
	d := launchDaemon(t, testOptions{ConfigPath: conf, Workers: 2})
	code, _ := d.exit()
	log := d.log.String()
	if code != 1 || !strings.Contains(log, "ftpdtls serve: no users: ftpdtls serve needs an AuthUserFile") {
		t.Fatalf("exit status %d, want 1 with the error:\n%s", code, log)
	}
	if strings.Contains(log, "worker") {
		t.Errorf("a worker was started for a configuration the master refuses:\n%s", log)
	}
}

// TestReloadThenCrash: SIGHUP with a broken file is refused and logged;
// a worker that dies afterwards is replaced from the last good
// configuration, never from the broken file, and a connection made while
// no worker runs waits for the replacement instead of being dropped. A
// good file then makes a new generation, and SIGTERM stops everything.
func TestReloadThenCrash(t *testing.T) {
	dir := worldDir(t)
	u := sessionUser(t, dir)
	conf := basicConf(t, dir, u, "good", "")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1, RestartDelay: 200})
	if g := dialFTP(t, d.addr).greeting(); !strings.Contains(g, "(good)") {
		t.Fatalf("greeting %q", g)
	}
	goodText, _ := os.ReadFile(conf)

	if err := os.WriteFile(conf, []byte("ServerName \"broken\"\nTLSEngine maybe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.waitLog(`error reloading configuration, keeping the current one: .*TLSEngine`)

	old := d.workerPIDs()
	if len(old) != 1 {
		t.Fatalf("workers %v, want one", old)
	}
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitLog(fmt.Sprintf(`worker 1 \(pid %d\) exited: signal: killed`, old[0]))
	// While no worker runs the connection waits in the listen queue.
	f := dialFTP(t, d.addr)
	if g := f.greeting(); !strings.Contains(g, "(good)") {
		t.Fatalf("the replacement greets with %q: it does not run the last good configuration", g)
	}
	f.login(u.name, u.password)
	f.expect(221, "QUIT")
	if strings.Contains(d.log.String(), "no worker can serve") {
		t.Errorf("a connection was accepted while no worker could serve it:\n%s", d.log)
	}

	good := strings.Replace(string(goodText), `"good"`, `"better"`, 1)
	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	d.waitLog(`configuration reloaded \(generation 2\)`)
	if g := dialFTP(t, d.addr).greeting(); !strings.Contains(g, "(better)") {
		t.Fatalf("after a good reload the greeting is %q", g)
	}
	d.signal(syscall.SIGTERM)
	if code, err := d.exit(); code != 0 {
		t.Fatalf("exit status %d (%v) after SIGTERM", code, err)
	}
	if strings.Contains(d.log.String(), "still running after") {
		t.Errorf("workers had to be killed:\n%s", d.log)
	}
}

// TestRestartBudget: workers that keep dying are restarted with growing
// delays until the budget is spent; then the master exits with status 1.
func TestRestartBudget(t *testing.T) {
	dir := worldDir(t)
	conf := basicConf(t, dir, sessionUser(t, dir), "budget", "")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1, RestartBudget: 2, RestartDelay: 10})
	killed := map[int]bool{}
	for i := range 3 {
		var pids []int
		deadline := time.Now().Add(wait)
		for {
			pids = slices.DeleteFunc(d.workerPIDs(), func(p int) bool { return killed[p] })
			if len(pids) == 1 && strings.Count(d.log.String(), "serving") > i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no replacement worker %d:\n%s", i, d.log)
			}
			time.Sleep(10 * time.Millisecond)
		}
		killed[pids[0]] = true
		syscall.Kill(pids[0], syscall.SIGKILL)
	}
	code, _ := d.exit()
	log := d.log.String()
	if code != 1 || !strings.Contains(log, "workers keep failing (2 restarts within 1m0s), giving up") {
		t.Fatalf("exit status %d, want 1 after the budget:\n%s", code, log)
	}
	for _, want := range []string{"restarting worker 1 in 10ms (restart 1 of at most 2", "restarting worker 1 in 20ms (restart 2 of at most 2"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestShutdownAbortsTransfer: SIGTERM during an upload that trickles in
// forever aborts it with 426, leaves the file it was replacing as it was,
// and the daemon exits (within the grace period, not when the client
// stops).
func TestShutdownAbortsTransfer(t *testing.T) {
	dir := worldDir(t)
	u := sessionUser(t, dir)
	old := bytes.Repeat([]byte("old content\n"), 1000)
	target := filepath.Join(u.home, "data.bin")
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(target, int(u.uid), int(u.gid))
	conf := basicConf(t, dir, u, "grace", "AllowOverwrite on\n")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1, GraceMillis: 1500})
	f := dialFTP(t, d.addr)
	f.greeting()
	f.login(u.name, u.password)
	dc := f.pasv()
	f.expect(150, "STOR data.bin")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := dc.Write([]byte("x")); err != nil {
				return
			}
		}
	})
	defer func() { close(stop); dc.Close(); wg.Wait() }()
	d.signal(syscall.SIGTERM)
	code, msg := f.reply()
	if code != 426 {
		t.Errorf("reply to the running STOR after SIGTERM: %d %s, want 426", code, msg)
	}
	if st, err := d.exit(); st != 0 {
		t.Fatalf("exit status %d (%v)", st, err)
	}
	got, err := os.ReadFile(target)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(old) {
		t.Errorf("the file the aborted upload replaced changed (%d bytes, %v)", len(got), err)
	}
	if b, _ := io.ReadAll(f.c); len(b) > 0 && !strings.HasPrefix(string(b), "421") {
		t.Errorf("after 426: %q", b)
	}
}

// TestMaxClientsAcrossWorkers: MaxClients counts the sessions of every
// worker: with two workers serving one session each, a third login is
// refused with ProFTPD's reply and disconnected; when a session ends,
// the next login is admitted.
func TestMaxClientsAcrossWorkers(t *testing.T) {
	dir := worldDir(t)
	u := sessionUser(t, dir)
	conf := basicConf(t, dir, u, "limits", "MaxClients 2\n")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 2})
	c1 := dialFTP(t, d.addr)
	c1.greeting()
	c1.login(u.name, u.password)
	c2 := dialFTP(t, d.addr)
	c2.greeting()
	c2.login(u.name, u.password)
	pids := map[string]bool{}
	for _, m := range d.waitLogN(`ftpdtls\[(\d+)\] (?:\S+ )?\([^)]*\): USER alice: Login successful`, 2) {
		pids[m[1]] = true
	}
	if len(pids) != 2 {
		t.Fatalf("the two sessions are served by %d workers, want 2:\n%s", len(pids), d.log)
	}
	c3 := dialFTP(t, d.addr)
	c3.greeting()
	c3.expect(331, "USER %s", u.name)
	if code, msg := c3.cmd("PASS %s", u.password); code != 530 || msg != "Sorry, the maximum number of allowed clients (2) are already connected." {
		t.Errorf("third login: %d %s", code, msg)
	}
	if b, err := io.ReadAll(c3.c); len(b) > 0 || err != nil {
		t.Errorf("after the refusal the connection stays open (%q, %v)", b, err)
	}
	d.waitLog(`Connection refused \(MaxClients 2\)`)

	c1.expect(221, "QUIT")
	deadline := time.Now().Add(wait)
	for {
		c := dialFTP(t, d.addr)
		c.greeting()
		c.expect(331, "USER %s", u.name)
		code, msg := c.cmd("PASS %s", u.password)
		if code == 230 {
			break
		}
		if code != 530 || time.Now().After(deadline) {
			t.Fatalf("login after a session ended: %d %s", code, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionResumptionAcrossWorkers: with the shm cache, a TLS session
// made with one worker resumes with workers that never saw it: the other
// worker of the generation, and the workers of a new generation after
// SIGHUP (new processes). The segment is the master's (root's, mode
// 0600 when the master is root) and the workers use it after dropping
// their privileges.
func TestSessionResumptionAcrossWorkers(t *testing.T) {
	openssl := testpeers.Need(t, "openssl")
	dir := worldDir(t)
	u := sessionUser(t, dir)
	certFile, keyFile := testpki.NewCA().Server(testpki.ECDSA).Files(t)
	conf := basicConf(t, dir, u, "resume", fmt.Sprintf(`TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %s
TLSECCertificateKeyFile %s
TLSSessionCache shm:/file=%s/sess_cache
`, certFile, keyFile, dir))
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 2})

	sess := filepath.Join(dir, "session.pem")
	sClient := func(extra ...string) (reused bool, out string) {
		t.Helper()
		args := append([]string{"s_client", "-connect", d.addr, "-starttls", "ftp", "-tls1_2"}, extra...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %q: %v\n%s", args, err, b)
		}
		return strings.Contains(string(b), "\nReused, "), string(b)
	}
	// sessionPID is the worker that served the n-th connection.
	opened := `ftpdtls\[(\d+)\] (?:\S+ )?\([^)]*\): FTP session opened`
	sessionPID := func(n int) string { return d.waitLogN(opened, n)[n-1][1] }

	// Hold a connection on the first worker, so the full handshake goes
	// to the second.
	hold := dialFTP(t, d.addr)
	hold.greeting()
	first := sessionPID(1)
	if reused, out := sClient("-sess_out", sess); reused {
		t.Fatalf("the first handshake resumed a session:\n%s", out)
	}
	made := sessionPID(2)
	if made == first {
		t.Fatalf("both connections went to worker %s", made)
	}
	hold.c.Close()
	if reused, out := sClient("-sess_in", sess); !reused {
		t.Fatalf("no resumption in the same generation:\n%s", out)
	}

	// A new generation: processes that never held the session.
	old := map[string]bool{first: true, made: true}
	d.signal(syscall.SIGHUP)
	d.waitLog(`configuration reloaded \(generation 2\)`)
	if reused, out := sClient("-sess_in", sess); !reused {
		t.Fatalf("a worker of the new generation did not resume the session:\n%s", out)
	}
	if pid := sessionPID(4); old[pid] {
		t.Fatalf("the resumption after SIGHUP was served by an old worker (%s)", pid)
	}
	if os.Geteuid() == 0 {
		// The segment is root's, 0600, and the workers are nobody.
		out, err := exec.Command("ipcs", "-m").Output()
		if err == nil && !regexp.MustCompile(`(?m)^0x[0-9a-f]+\s+\d+\s+root\s+600\s`).Match(out) {
			t.Errorf("no root-owned 0600 segment in ipcs -m:\n%s", out)
		}
	}
}

// TestMaxInstances: MaxInstances counts the connections of every worker;
// one beyond it is closed without a word, as ProFTPD closes it, and is
// logged.
func TestMaxInstances(t *testing.T) {
	dir := worldDir(t)
	conf := basicConf(t, dir, sessionUser(t, dir), "instances", "MaxInstances 1\n")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 2})
	c1 := dialFTP(t, d.addr)
	c1.greeting()
	c2 := dialFTP(t, d.addr)
	if b, _ := io.ReadAll(c2.c); len(b) > 0 {
		t.Errorf("a connection beyond MaxInstances got %q", b)
	}
	d.waitLog(`warning: MaxInstances \(1\) reached, new connection denied`)
	c1.expect(221, "QUIT")
	deadline := time.Now().Add(wait)
	for {
		c := dialFTP(t, d.addr)
		line, err := bufioLine(c)
		if err == nil && strings.HasPrefix(line, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection admitted after the first ended: %q, %v", line, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bufioLine(c *ftpConn) (string, error) { return c.tp.ReadLine() }

// TestMasterOutOfDescriptors: a master that cannot accept (out of
// descriptors) backs off instead of spinning, the sessions already
// logged in go on, and the waiting connections are served once
// descriptors are free again.
func TestMasterOutOfDescriptors(t *testing.T) {
	dir := worldDir(t)
	u := sessionUser(t, dir)
	conf := basicConf(t, dir, u, "fds", "")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1})
	f := dialFTP(t, d.addr)
	f.greeting()
	f.login(u.name, u.password)
	f.expect(200, "TYPE I")

	pid := d.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// The lowest free descriptor number: a limit there leaves the master
	// no descriptor to accept with.
	open := map[int]bool{}
	for _, e := range fds {
		n, _ := strconv.Atoi(e.Name())
		open[n] = true
	}
	free := 0
	for open[free] {
		free++
	}
	low := unix.Rlimit{Cur: uint64(free), Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	var waiting []*ftpConn
	for range 20 {
		waiting = append(waiting, dialFTP(t, d.addr))
	}
	d.waitLogN(`too many open files; retrying in`, 3)
	// The logged-in session does not need the master.
	if code, msg := f.stor("during-the-flood.txt", []byte("still served\n")); code != 226 {
		t.Errorf("STOR while the master is out of descriptors: %d %s", code, msg)
	}
	if code, _, b := f.retr("during-the-flood.txt"); code != 226 || string(b) != "still served\n" {
		t.Errorf("RETR while the master is out of descriptors: %d %q", code, b)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range waiting {
		c.greeting()
	}
	if n := strings.Count(d.log.String(), "too many open files"); n > 200 {
		t.Errorf("%d accept failures logged: the master spins instead of backing off", n)
	}
}

// TestNotStartedAsRoot: a daemon started by an ordinary user says so at
// start, serves the users whose AuthUserFile uid is its own (files owned
// by it), refuses the others at login, and refuses a User it cannot
// switch to; with workers as without.
func TestNotStartedAsRoot(t *testing.T) {
	dir := worldDir(t)
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		uid, gid = aliceUID, aliceGID
		cred = &syscall.Credential{Uid: uid, Gid: gid}
	}
	alice := ftpUser{"alice", "alice-pw", uid, gid, filepath.Join(dir, "alice")}
	bob := ftpUser{"bob", "bob-pw", uid + 1, gid, filepath.Join(dir, "alice")}
	os.Mkdir(alice.home, 0o755)
	os.Chown(alice.home, int(uid), int(gid))
	users := writeUsers(t, dir, alice, bob)
	os.Chown(users, int(uid), int(gid)) // the daemon runs as alice
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			conf := writeConf(t, dir, fmt.Sprintf("ServerName \"plain\"\nAuthUserFile %s\nRequireValidShell off\nDefaultRoot ~\n", users))
			os.Chmod(conf, 0o644)
			d := launchDaemonAs(t, cred, testOptions{ConfigPath: conf, Workers: workers})
			d.waitReady()
			d.waitLog(fmt.Sprintf(`notice: not started as root: every session acts as uid %d gid %d; AuthUserFile users with another uid are refused at login`, uid, gid))
			f := dialFTP(t, d.addr)
			f.greeting()
			f.login("alice", "alice-pw")
			name := fmt.Sprintf("w%d.txt", workers)
			if code, msg := f.stor(name, []byte("x")); code != 226 {
				t.Fatalf("STOR: %d %s", code, msg)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(alice.home, name), &st); err != nil || st.Uid != uid {
				t.Errorf("upload owned by %d (%v), want %d", st.Uid, err, uid)
			}
			g := dialFTP(t, d.addr)
			g.greeting()
			g.expect(331, "USER bob")
			if code, msg := g.cmd("PASS bob-pw"); code != 530 {
				t.Errorf("login of a user with another uid: %d %s, want 530", code, msg)
			}
			d.waitLog(fmt.Sprintf(`user bob has uid %d, and ftpdtls serve, not started as root, serves every session as uid %d`, uid+1, uid))
			d.signal(syscall.SIGTERM)
			if code, err := d.exit(); code != 0 {
				t.Fatalf("exit status %d (%v)", code, err)
			}
		})
	}
	// A User it cannot become is refused at start, as ProFTPD refuses it.
	conf := writeConf(t, dir, fmt.Sprintf("User root\nAuthUserFile %s\n", users))
	os.Chmod(conf, 0o644)
	d := launchDaemonAs(t, cred, testOptions{ConfigPath: conf})
	if code, _ := d.exit(); code != 1 || !strings.Contains(d.log.String(), "ftpdtls serve: unable to set UID to root, current UID: ") {
		t.Errorf("User root when not started as root: exit status %d:\n%s", code, d.log)
	}
}

// TestUserRootRefused: started as root, User root is refused: workers
// parse what clients send.
func TestUserRootRefused(t *testing.T) {
	requireRoot(t)
	dir := worldDir(t)
	users := writeUsers(t, dir, sessionUser(t, dir))
	for _, tc := range []struct{ lines, want string }{
		{"User root\n", "User root: ftpdtls serve does not serve clients as root"},
		{"User nobody\nGroup root\n", "Group root: ftpdtls serve does not serve clients with group root"},
	} {
		conf := writeConf(t, dir, fmt.Sprintf("%sAuthUserFile %s\n", tc.lines, users))
		d := launchDaemon(t, testOptions{ConfigPath: conf})
		if code, _ := d.exit(); code != 1 || !strings.Contains(d.log.String(), "ftpdtls serve: "+tc.want) {
			t.Errorf("%q: exit status %d:\n%s", tc.lines, code, d.log)
		}
	}
}

// TestIncludeChangedSinceValidation: workers parse the text the master
// validated, but read included files again; a replacement worker finds
// one changed since and refuses to run it (never a configuration nobody
// validated), and the master gives up once its restart budget is spent.
func TestIncludeChangedSinceValidation(t *testing.T) {
	dir := worldDir(t)
	inc := filepath.Join(dir, "name.conf")
	if err := os.WriteFile(inc, []byte("ServerName \"included\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := basicConf(t, dir, sessionUser(t, dir), "main", "Include "+inc+"\n")
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 1, RestartBudget: 1, RestartDelay: 10})
	if g := dialFTP(t, d.addr).greeting(); !strings.Contains(g, "(included)") {
		t.Fatalf("greeting %q", g)
	}
	if err := os.WriteFile(inc, []byte("ServerName \"not validated\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pids := d.workerPIDs()
	if len(pids) != 1 {
		t.Fatalf("workers %v", pids)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	code, _ := d.exit()
	log := d.log.String()
	if code != 1 || !strings.Contains(log, "includes changed since the master validated it") {
		t.Fatalf("exit status %d, want 1 with the reason:\n%s", code, log)
	}
	if strings.Contains(log, "(not validated)") {
		t.Errorf("the unvalidated configuration served:\n%s", log)
	}
}
