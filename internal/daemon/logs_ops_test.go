package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// recordedRun is the recorded ProFTPD 1.3.8 FTPS exchange the logs are
// compared with (see its README.md).
const recordedRun = "testdata/proftpd-runtime-1.3.8"

// The exchange's user, as in the recording.
const (
	testerUID, testerGID = 54340, 54341
	testerPassword       = "tester-secret"
)

// exchangeSetup is the recorded run's configuration for one server:
// its files in dir, the tester user with hello.txt in its home.
type exchangeSetup struct {
	dir, home, users, groups, cert, key string
}

func newExchangeSetup(t *testing.T) *exchangeSetup {
	t.Helper()
	dir := worldDir(t)
	s := &exchangeSetup{dir: dir, home: filepath.Join(dir, "tester")}
	if err := os.Mkdir(s.home, 0o755); err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(s.home, "hello.txt")
	if err := os.WriteFile(hello, []byte("hello over FTPS 1\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.home, hello} {
		if err := os.Chown(p, testerUID, testerGID); err != nil {
			t.Fatal(err)
		}
	}
	s.users = writeUsers(t, dir, ftpUser{name: "tester", password: testerPassword, uid: testerUID, gid: testerGID, home: s.home})
	s.groups = filepath.Join(dir, "ftpd.group")
	if err := os.WriteFile(s.groups, []byte(fmt.Sprintf("testers:x:%d:tester\n", testerGID)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cert, s.key = testpki.NewCA().Server(testpki.RSA).WriteFiles(t, dir, "server")
	return s
}

// recordedConf is the recording's proftpd.conf with this setup's files,
// the port given and a TransferLog (the recording has none).
func (s *exchangeSetup) recordedConf(t *testing.T, port int) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(recordedRun, "proftpd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		f := strings.Fields(l)
		switch f[0] {
		case "Port":
			l = fmt.Sprintf("Port %d", port)
		case "PassivePorts":
			continue // ephemeral ports: tests run side by side
		case "AuthUserFile":
			l = "AuthUserFile " + s.users
		case "AuthGroupFile":
			l = "AuthGroupFile " + s.groups
		case "TLSRSACertificateFile":
			l = "TLSRSACertificateFile " + s.cert
		case "TLSRSACertificateKeyFile":
			l = "TLSRSACertificateKeyFile " + s.key
		case "TransferLog":
			l = "TransferLog " + filepath.Join(s.dir, "xferlog")
		}
		// The recording's PidFile and ScoreboardFile are next to its
		// directory ("@DIR@.pid"): here they go inside.
		l = strings.ReplaceAll(l, "@DIR@.", s.dir+"/proftpd.")
		l = strings.ReplaceAll(l, "@DIR@", s.dir)
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// runExchange runs the recording's clients (clients.txt) against addr,
// waiting after each for its session to end in the system log, so that
// the lines of one session never mix with the next one's.
func runExchange(t *testing.T, addr string, sessionsEnded func(n int)) {
	t.Helper()
	curl := testpeers.Need(t, "curl")
	openssl := testpeers.Need(t, "openssl")
	dir := t.TempDir()
	upload := filepath.Join(dir, "upload.txt")
	if err := os.WriteFile(upload, []byte("uploaded over FTPS by curl\n")[:26], 0o644); err != nil {
		t.Fatal(err)
	}
	url := "ftp://tester:" + testerPassword + "@" + addr + "/"
	n := 0
	// run runs a client to its end. awaitFile, if set, is a file the
	// client writes during the session (s_client's -sess_out): its
	// standard input, whose end ends the session, stays open until the
	// file is there (a TLS 1.3 session ticket comes after the handshake).
	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		var out syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(args, "-sess_out"); i >= 0 {
			for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
				if fi, err := os.Stat(args[i+1]); err == nil && fi.Size() > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s %q never saved its session:\n%s", name, args, out.String())
				}
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out.String())
		}
		n++
		sessionsEnded(n)
	}
	run(curl, "-s", "-k", "--ssl-reqd", url)
	run(curl, "-s", "-k", "--ssl-reqd", "-T", upload, url)
	run(curl, "-s", "-k", "--ssl-reqd", url)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(dir, "sess"+v)
		sclient := []string{"s_client", "-starttls", "ftp", "-connect", addr, v, "-servername", "localhost"}
		run(openssl, append(sclient, "-sess_out", sess)...)
		run(openssl, append(sclient, "-sess_in", sess)...)
	}
	// And a download, for the TransferLog (the recording has none).
	run(curl, "-s", "-k", "--ssl-reqd", "-o", filepath.Join(dir, "hello.txt"), url+"hello.txt")
}

// The recorded exchange has 7 sessions; runExchange adds one.
const exchangeSessions = 8

// waitFile waits until the file at path holds n matches of re.
func waitFile(t *testing.T, path string, re *regexp.Regexp, n int) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b, _ := os.ReadFile(path)
		if len(re.FindAllIndex(b, -1)) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had %d lines matching %q:\n%s", path, n, re, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var sessionClosed = regexp.MustCompile(`\): FTP session closed\.`)

// systemLogLine is a SystemLog line: time, host, program[pid], server
// address, optional client, message.
var systemLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+) (proftpd|ftpdtls)\[(\d+)\] (\S+)( \([^)]*\))?: (.*)$`)

// normSystemLog returns the lines of a SystemLog with the time, host and
// pid removed and the program's name and version made PROG, keeping the
// server address and the client.
func normSystemLog(t *testing.T, text string) []string {
	t.Helper()
	version := regexp.MustCompile(`^(ProFTPD 1\.3\.8( \(stable\))?( \(built [^)]*\))?|ftpdtls (\(devel\)|v\S+)( \(go[^)]*\))?) (standalone mode)`)
	killed := regexp.MustCompile(`^(ProFTPD|ftpdtls) killed`)
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := systemLogLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a SystemLog line: %q", l)
		}
		msg := version.ReplaceAllString(m[6], "PROG $6")
		msg = killed.ReplaceAllString(msg, "PROG killed")
		out = append(out, m[4]+m[5]+": "+msg)
	}
	return out
}

// ftpdtlsOnly are the SystemLog lines ftpdtls writes that ProFTPD has no
// counterpart for: its process model (docs/SERVE.md).
var ftpdtlsOnly = regexp.MustCompile(`^\S+: (ftpdtls master: .*|worker \d+ .*|generation \d+ ready: .*|broker for uid .*|notice: no User/Group configured.*)$|` +
	// The engine's lines about a session's TLS and transfers, which
	// ProFTPD writes to the TLSLog and the TransferLog only.
	`^\S+ \([^)]*\): (TLS 1\.[23] control connection established, using cipher \S+|(STOR|RETR|APPE|STOU) \S+: \d+ bytes (received|sent))$`)

// TestLoggedExchangeMatchesProFTPD runs the recorded ProFTPD 1.3.8 FTPS
// exchange (curl listing, uploading and listing again, openssl s_client
// saving and reusing TLS 1.2 and TLS 1.3 sessions) against `ftpdtls
// serve` running the recording's proftpd.conf, and compares its logs
// with ProFTPD's line by line after removing times, pids and paths: the
// SystemLog with the recording's (its stderr.log: ProFTPD -n logs
// there), the TLSLog with the recording's tls.log, and the TransferLog
// (xferlog) with what the real proftpd writes for the same exchange, run
// here. Before that, serve refuses the recording's configuration as it
// is, naming the directives it does not apply.
func TestLoggedExchangeMatchesProFTPD(t *testing.T) {
	requireRoot(t)
	testpeers.Need(t, "curl")
	testpeers.Need(t, "openssl")
	s := newExchangeSetup(t)

	// As recorded: the controls and the scoreboard are refused.
	conf := writeConf(t, s.dir, s.recordedConf(t, 21))
	d := launchDaemon(t, testOptions{ConfigPath: conf, Workers: 1})
	if code, _ := d.exit(); code != 1 {
		t.Fatalf("serve ran the recorded configuration (with ControlsEngine): status %d\n%s", code, d.log)
	}
	for _, name := range []string{"ScoreboardFile", "ControlsEngine", "ControlsSocket", "ControlsACLs", "ControlsLog", "TLSControlsACLs"} {
		if !regexp.MustCompile(`fatal: ` + name + `: not supported by ftpdtls serve.* on line \d+ of '` + regexp.QuoteMeta(conf) + `'`).MatchString(d.log.String()) {
			t.Errorf("serve does not refuse %s:\n%s", name, d.log)
		}
	}

	// Without them, it serves.
	var kept []string
	for _, l := range strings.Split(s.recordedConf(t, 21), "\n") {
		if !regexp.MustCompile(`^(ScoreboardFile|Controls|TLSControlsACLs)`).MatchString(l) {
			kept = append(kept, l)
		}
	}
	conf = writeConf(t, s.dir, strings.Join(kept, "\n"))
	d = startDaemon(t, testOptions{ConfigPath: conf, Workers: 1})
	sysLog, tlsLog, xferLog := filepath.Join(s.dir, "system.log"), filepath.Join(s.dir, "tls.log"), filepath.Join(s.dir, "xferlog")
	runExchange(t, d.addr, func(n int) { waitFile(t, sysLog, sessionClosed, n) })
	d.signal(syscall.SIGTERM)
	if code, err := d.exit(); code != 0 {
		t.Fatalf("serve: status %d (%v)\n%s", code, err, d.log)
	}
	if strings.TrimSpace(d.log.String()) != "" {
		t.Errorf("serve wrote to standard error though SystemLog is set:\n%s", d.log)
	}

	if testing.Verbose() {
		for _, f := range []string{sysLog, tlsLog, xferLog, filepath.Join(s.dir, "trace.log")} {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", filepath.Base(f), b)
		}
	}

	t.Run("SystemLog", func(t *testing.T) {
		got, _ := os.ReadFile(sysLog)
		rec, err := os.ReadFile(filepath.Join(recordedRun, "stderr.log"))
		if err != nil {
			t.Fatal(err)
		}
		want := normSystemLog(t, string(rec))
		// A line only the recording's configuration makes ProFTPD write.
		want = removeLine(want, "127.0.0.1: SocketBindTight in effect, ignoring DefaultServer")
		// The download runExchange adds.
		last := len(want) - 2
		want = append(want[:last:last], "127.0.0.1 (127.0.0.1[127.0.0.1]): FTP session opened.",
			"127.0.0.1 (127.0.0.1[127.0.0.1]): USER tester: Login successful.",
			"127.0.0.1 (127.0.0.1[127.0.0.1]): FTP session closed.")
		want = append(want, normSystemLog(t, string(rec))[len(normSystemLog(t, string(rec)))-2:]...)
		var ours []string
		for _, l := range normSystemLog(t, string(got)) {
			if !ftpdtlsOnly.MatchString(l) {
				ours = append(ours, l)
			}
		}
		compareLines(t, "SystemLog", ours, want)
		if t.Failed() {
			t.Logf("ftpdtls's SystemLog:\n%s", got)
		}
	})

	t.Run("TLSLog", func(t *testing.T) {
		got, _ := os.ReadFile(tlsLog)
		rec, err := os.ReadFile(filepath.Join(recordedRun, "tls.log"))
		if err != nil {
			t.Fatal(err)
		}
		want := normTLSLog(t, string(rec))
		// The download runExchange adds: a session like the first.
		want = append(want, want[:6]...)
		compareLines(t, "TLSLog", normTLSLog(t, string(got)), want)
	})

	t.Run("TransferLog", func(t *testing.T) {
		proftpd := testpeers.Need(t, "proftpd")
		got, _ := os.ReadFile(xferLog)
		want := runProFTPDExchange(t, proftpd)
		compareLines(t, "TransferLog", normXferlog(t, string(got), s.dir), want)
	})
}

// runProFTPDExchange runs the exchange against the real proftpd with
// the recording's configuration and a TransferLog, and returns its
// xferlog normalised.
func runProFTPDExchange(t *testing.T, proftpd string) []string {
	t.Helper()
	s := newExchangeSetup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := writeConf(t, s.dir, s.recordedConf(t, port))
	cmd := exec.Command(proftpd, "-n", "-c", conf)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	done := testpeers.StartGroup(t, cmd, "proftpd", wait, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(wait); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			bufio.NewReader(c).ReadString('\n')
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("proftpd exited:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proftpd does not listen on %s:\n%s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ProFTPD -n logs to standard error (the recording's stderr.log).
	closed := regexp.MustCompile(`FTP session closed\.`)
	runExchange(t, addr, func(n int) {
		deadline := time.Now().Add(wait)
		for len(closed.FindAllStringIndex(stderr.String(), -1)) < n+1 { // +1: the probe above
			if time.Now().After(deadline) {
				t.Fatalf("proftpd never logged %d closed sessions:\n%s", n+1, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	b, err := os.ReadFile(filepath.Join(s.dir, "xferlog"))
	if err != nil {
		t.Fatalf("proftpd wrote no xferlog: %v\n%s", err, stderr.String())
	}
	if testing.Verbose() {
		t.Logf("proftpd's xferlog:\n%s", b)
	}
	return normXferlog(t, string(b), s.dir)
}

// xferlogLine is an xferlog line: the date, then the fields.
var xferlogLine = regexp.MustCompile(`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} (\d+) (.*)$`)

// normXferlog removes the date, the transfer time and the setup's
// directory.
func normXferlog(t *testing.T, text, dir string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if l == "" {
			continue
		}
		m := xferlogLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not an xferlog line: %q", l)
		}
		out = append(out, "DATE SECS "+strings.ReplaceAll(m[2], dir, "DIR"))
	}
	return out
}

// tlsLogLine is a TLSLog line.
var tlsLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} mod_tls/2\.9\.2\[\d+\]: (.*)$`)

// normTLSLog keeps the messages, with the cipher of "accepted" lines
// made CIPHER: crypto/tls prefers AES-128 where OpenSSL followed the
// client's AES-256 (modtls's TestTLSLogMatchesProFTPD checks the names).
func normTLSLog(t *testing.T, text string) []string {
	t.Helper()
	cipher := regexp.MustCompile(`using cipher \S+ \(\d+ bits`)
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := tlsLogLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a TLSLog line: %q", l)
		}
		out = append(out, cipher.ReplaceAllString(m[1], "using cipher CIPHER (BITS bits"))
	}
	return out
}

func removeLine(lines []string, line string) []string {
	var out []string
	for _, l := range lines {
		if l != line {
			out = append(out, l)
		}
	}
	return out
}

// compareLines fails with both logs side by side unless they are equal.
func compareLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	equal := len(got) == len(want)
	for i := 0; equal && i < len(got); i++ {
		equal = got[i] == want[i]
	}
	if equal {
		return
	}
	var b strings.Builder
	for i := 0; i < len(got) || i < len(want); i++ {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "  "
		if g != w {
			mark = "!="
		}
		fmt.Fprintf(&b, "%s ftpdtls: %s\n   ProFTPD: %s\n", mark, g, w)
	}
	t.Errorf("%s differs from ProFTPD's (%d lines, want %d):\n%s", what, len(got), len(want), b.String())
}
