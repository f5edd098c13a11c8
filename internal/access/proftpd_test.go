//go:build linux

package access

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// The differential test: the real ProFTPD 1.3.8 runs each configuration
// below on 127.0.0.1; a small FTP client logs in as each test user from
// one or more loopback addresses and tries every command of a grid on
// every path of a tree; every answer (connection accepted, login
// accepted, command allowed, the file modes and upload rules observed)
// must be the one Policy gives for the same configuration file.

// diffUsers are the AuthUserFile users; all have the uid and gid of
// nobody/nogroup, so that file permissions never decide (the tree is
// theirs), only <Limit>.
var diffUsers = []struct {
	name   string
	groups []string // supplementary groups (AuthGroupFile)
}{
	{"alice", []string{"staff", "ftpusers"}},
	{"bob", []string{"staff"}},
	{"carol", []string{"ftpusers"}},
	{"dave", nil},
}

const diffPassword = "secret"

// diffFiles and diffDirs are the probed paths, under the tree's root
// (@SRV@).
var (
	diffFiles = []string{"f", "pub/f", "pub/sub/f", "up/f", "up/in/f", "private/f",
		"home/alice/f", "home/alice/priv/f", "home/bob/f", "home/bob/locked/f", "home/carol/f"}
	diffDirs = []string{"", "pub", "pub/sub", "up", "up/in", "private", "home/alice",
		"home/alice/priv", "home/bob/locked"}
	// diffRoots are the directories that may become a session's root;
	// each holds a .rootid file whose size identifies it.
	diffRoots = []string{"", "pub", "home/alice", "home/bob", "home/carol", "home/dave"}
)

type diffScenario struct {
	name     string
	conf     string   // fragment; @SRV@ is the tree's root
	addrs    []string // client addresses; default 127.0.0.1
	users    []string // default all
	settings bool     // also probe Umask, AllowOverwrite, restarts, HiddenStores
	noProbes bool     // connect and login only
}

var diffScenarios = []diffScenario{
	{name: "users-groups", settings: true, conf: `
<Limit WRITE>
  AllowGroup staff
  DenyAll
</Limit>
<Limit READ>
  DenyUser carol
</Limit>
<Limit DIRS>
  Order deny,allow
  DenyGroup !ftpusers
  AllowAll
</Limit>
<Limit LOGIN>
  DenyUser dave
</Limit>
<Limit MKD RNFR>
  AllowUser bob
  DenyUser !bob,!carol
</Limit>
<Limit RNTO>
  DenyGroup staff
</Limit>
`},
	{name: "directories", conf: `
AllowOverwrite on
<Directory @SRV@>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/up>
  Umask 077
  <Limit WRITE>
    AllowUser alice,bob
  </Limit>
</Directory>
<Directory @SRV@/up/in/>
  <Limit STOR APPE>
    AllowAll
  </Limit>
  <Limit DELE RMD>
    DenyUser alice
  </Limit>
</Directory>
<Directory @SRV@/pub/*>
  <Limit ALL>
    DenyGroup ftpusers
  </Limit>
</Directory>
<Directory @SRV@/home/*/priv>
  <Limit READ DIRS>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/private/f>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
`},
	{name: "order-globs-global", conf: `
<Limit WRITE>
  DenyAll
</Limit>
<Limit WRITE>
  AllowUser bob
</Limit>
<Limit ALL>
  DenyUser carol
</Limit>
<Limit NOOP FEAT>
  AllowUser carol
</Limit>
<Directory @SRV@/home>
  <Limit RETR>
    AllowAll
  </Limit>
</Directory>
<Directory @SRV@/home/*>
  <Limit RETR>
    DenyUser alice
  </Limit>
  <Limit STOR>
    AllowUser carol
  </Limit>
</Directory>
<Directory @SRV@/*/f>
  <Limit SIZE MDTM>
    DenyAll
  </Limit>
</Directory>
<Global>
  <Limit DELE>
    AllowUser dave
  </Limit>
  <Limit WRITE>
    AllowGroup ftpusers
  </Limit>
</Global>
`},
	{name: "addresses", addrs: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, users: []string{"alice", "carol"}, conf: `
<Limit LOGIN>
  Order allow,deny
  Allow from 127.0.0.1 127.0.0.2
  Deny from all
</Limit>
<Limit WRITE>
  Deny from 127.0.0.2
</Limit>
<Limit READ>
  Order deny,allow
  Deny from all
  Allow from 127.0.0.0/31
</Limit>
<Limit DIRS>
  Deny from !127.0.0.1
</Limit>
<Limit MKD>
  Allow from none
  Deny from 127.0.0.
</Limit>
<Limit RMD>
  Allow from 127.0.0.1, !127.0.0.2
  DenyAll
</Limit>
<Limit SIZE>
  Deny from 127.0.0.1/32
  Deny from 127.0.0.*
</Limit>
<Limit MDTM>
  Deny from 127.0.*.2
</Limit>
`},
	{name: "login", noProbes: true, addrs: []string{"127.0.0.1", "127.0.0.2"}, conf: `
<Limit LOGIN>
  AllowUser alice
  Deny from 127.0.0.2
</Limit>
<Limit LOGIN>
  DenyGroup ftpusers,!staff
</Limit>
<Limit LOGIN>
  Order deny,allow
  DenyUser bob
  AllowGroup staff,ftpusers
  AllowUser dave
</Limit>
`},
	{name: "defaultroot", conf: `
DefaultRoot ~ staff,!ftpusers
DefaultRoot @SRV@/pub ftpusers
DefaultRoot /
<Directory @SRV@/pub/sub>
  <Limit ALL>
    DenyUser alice
  </Limit>
</Directory>
<Directory ~/priv>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory /locked>
  <Limit ALL>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/home/bob/locked>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/home/%u>
  <Limit DELE>
    DenyAll
  </Limit>
</Directory>
`},
	{name: "quirks", settings: true, conf: `
Umask 022 002
<Directory ~>
  Umask 077
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/home>
  <Limit RETR>
    AllowUser bob
  </Limit>
</Directory>
<Directory ~carol/f>
  <Limit SIZE>
    DenyAll
  </Limit>
</Directory>
<Directory @SRV@/up/>
  Umask 066
  <Limit SITE_CHMOD>
    DenyUser alice
  </Limit>
</Directory>
<Limit MKD>
  AllowGroup staff,ftpusers
  DenyAll
</Limit>
<Limit XPWD XRMD>
  DenyUser bob
</Limit>
<Limit RMD>
  AllowUser carol
  AllowUser dave
  Order deny, allow
  DenyAll
</Limit>
<Limit PASV>
  DenyUser dave
</Limit>
<Limit EPSV HELP STAT>
  DenyUser carol
</Limit>
<Limit ALL>
  DenyUser dave
</Limit>
<Limit MLST>
  AllowUser dave
</Limit>
`},
	{name: "settings", settings: true, conf: `
Umask 027 002
AllowOverride off
AllowOverwrite on
AllowStoreRestart on
AllowRetrieveRestart off
HiddenStores on
<Directory @SRV@/up>
  Umask 077
  AllowOverwrite off
  AllowRetrieveRestart on
  HiddenStores .part. .tmp
</Directory>
<Directory @SRV@/up/in>
  AllowStoreRestart off
  HiddenStores off
  Umask 0
</Directory>
<Directory @SRV@/pub>
  HiddenStores up
  Umask 002
</Directory>
<Directory @SRV@/home/*>
  AllowOverwrite off
  HiddenStores off
</Directory>
<Directory @SRV@/private>
  AllowStoreRestart off
  HiddenStores off
  DeleteAbortedStores on
</Directory>
<Directory @SRV@/home/bob>
  DeleteAbortedStores off
  HiddenStores on
</Directory>
`},
}

func TestProFTPDDifferential(t *testing.T) {
	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if os.Geteuid() != 0 {
		t.Skip("skipping: the differential test runs ProFTPD as root (it switches to the test users' uid)")
	}
	env := newDiffEnv(t)
	var total, denials int
	replies := map[string]string{}
	for _, sc := range diffScenarios {
		t.Run(sc.name, func(t *testing.T) {
			n, d := env.run(t, proftpd, sc, replies)
			total += n
			denials += d
		})
	}
	keys := make([]string, 0, len(replies))
	for k := range replies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("ProFTPD refuses %s with %q", k, replies[k])
	}
	t.Logf("%d decisions compared with ProFTPD (%d of them refusals): all equal unless reported above", total, denials)
	if total < 1000 {
		t.Errorf("only %d decisions compared", total)
	}
}

// diffEnv is the tree and the account files shared by the scenarios.
type diffEnv struct {
	dir, srv string
	rootSize map[string]int64 // real root -> size of its .rootid
}

const nobody = 65534

func newDiffEnv(t *testing.T) *diffEnv {
	dir, err := os.MkdirTemp("", "ftpdtls-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// ProFTPD's sessions run as nobody: the path to the tree must be
	// searchable.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &diffEnv{dir: dir, srv: filepath.Join(dir, "srv"), rootSize: map[string]int64{}}
	for _, d := range append(append([]string{}, diffDirs...), diffRoots...) {
		e.mkdir(t, e.real(d))
	}
	for _, f := range diffFiles {
		e.ensureFile(t, e.real(f))
	}
	for i, r := range diffRoots {
		p := filepath.Join(e.real(r), ".rootid")
		if err := os.WriteFile(p, []byte(strings.Repeat("r", 10+i)), 0o644); err != nil {
			t.Fatal(err)
		}
		e.rootSize[e.real(r)] = int64(10 + i)
	}
	var pw, gr strings.Builder
	members := map[string][]string{}
	var groups []string
	for _, u := range diffUsers {
		hash, err := authfile.SHA512Crypt(diffPassword, "$6$rounds=1000$accesstest")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&pw, "%s:%s:%d:%d::%s:/bin/sh\n", u.name, hash, nobody, nobody, e.real("home/"+u.name))
		for _, g := range u.groups {
			if members[g] == nil {
				groups = append(groups, g)
			}
			members[g] = append(members[g], u.name)
		}
	}
	fmt.Fprintf(&gr, "nogroup:x:%d:\n", nobody)
	for i, g := range groups {
		fmt.Fprintf(&gr, "%s:x:%d:%s\n", g, 3001+i, strings.Join(members[g], ","))
	}
	if err := os.WriteFile(filepath.Join(dir, "ftpd.passwd"), []byte(pw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ftpd.group"), []byte(gr.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *diffEnv) real(rel string) string {
	if rel == "" {
		return e.srv
	}
	return filepath.Join(e.srv, rel)
}

func (e *diffEnv) mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	// Own the whole path from the tree's root down.
	for q := p; strings.HasPrefix(q, e.srv); q = filepath.Dir(q) {
		if err := os.Lchown(q, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *diffEnv) ensureFile(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

func (e *diffEnv) ensureAbsent(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

// conf is the whole configuration of a scenario.
func (e *diffEnv) conf(sc diffScenario, port int) string {
	return fmt.Sprintf(`ServerType standalone
ServerName "access-diff"
Port %[1]d
DefaultAddress 127.0.0.1
SocketBindTight on
User nobody
Group nogroup
PidFile %[2]s/proftpd.pid
ScoreboardFile %[2]s/proftpd.scoreboard
SystemLog %[2]s/%[3]s.log
TransferLog none
WtmpLog off
UseReverseDNS off
DelayEngine off
MaxInstances 100
AuthOrder mod_auth_file.c
AuthUserFile %[2]s/ftpd.passwd
AuthGroupFile %[2]s/ftpd.group
RequireValidShell off
`, port, e.dir, sc.name) + strings.ReplaceAll(sc.conf, "@SRV@", e.srv)
}

// run starts ProFTPD with the scenario, runs every session and returns
// how many decisions were compared and how many were refusals.
func (e *diffEnv) run(t *testing.T, proftpd string, sc diffScenario, replies map[string]string) (int, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	confPath := filepath.Join(e.dir, sc.name+".conf")
	if err := os.WriteFile(confPath, []byte(e.conf(sc, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := directives.ParseFile(confPath, directives.Options{})
	if err != nil {
		t.Fatalf("ftpdtls does not parse the scenario: %v", err)
	}
	pol, errs := Compile(cfg, cfg.Main)
	for _, err := range errs {
		t.Fatalf("the scenario uses something Compile refuses: %v", err)
	}
	// "~name" is a user of the AuthUserFile, as the daemon would say.
	pol.HomeOf = func(name string) (string, bool) {
		for _, u := range diffUsers {
			if u.name == name {
				return e.real("home/" + name), true
			}
		}
		return "", false
	}
	out := &syncbuf.Buffer{}
	daemon := exec.Command(proftpd, "-n", "-q", "-c", confPath)
	daemon.Stdout, daemon.Stderr = out, out
	// Should the test binary be killed before its cleanup, ProFTPD goes
	// with it (it stops its session processes on SIGTERM).
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = daemon.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = daemon.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = daemon.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proftpd did not listen on %s:\n%s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	addrs := sc.addrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	users := sc.users
	if len(users) == 0 {
		for _, u := range diffUsers {
			users = append(users, u.name)
		}
	}
	r := &diffRun{t: t, env: e, sc: sc, pol: pol, addr: addr, replies: replies}
	for _, a := range addrs {
		for _, u := range users {
			r.session(u, netip.MustParseAddr(a))
		}
	}
	stop()
	if t.Failed() {
		t.Logf("proftpd output:\n%s", out.String())
		if b, err := os.ReadFile(filepath.Join(e.dir, sc.name+".log")); err == nil {
			t.Logf("SystemLog:\n%s", b)
		}
	}
	return r.n, r.denied
}

// diffRun is one scenario's sessions.
type diffRun struct {
	t        *testing.T
	env      *diffEnv
	sc       diffScenario
	pol      *Policy
	addr     string
	replies  map[string]string
	n        int
	denied   int
	who      Who
	root     string // the session's root ("/" without DefaultRoot)
	ftp      *ftpConn
	failures int
	pasv     bool // PASV is allowed for this session
}

func groupsOf(user string) []string {
	gs := []string{"nogroup"}
	for _, u := range diffUsers {
		if u.name == user {
			gs = append(gs, u.groups...)
		}
	}
	return gs
}

// check compares one ProFTPD answer with Policy's.
func (r *diffRun) check(what string, proftpd, policy bool, reply string) {
	r.n++
	if !proftpd {
		r.denied++
	}
	if proftpd != policy {
		r.failures++
		if r.failures <= 40 {
			r.t.Errorf("%s from %s: %s: ProFTPD %v (%q), Policy %v", r.who.User, r.who.Addr, what, proftpd, reply, policy)
		}
	}
}

// virt returns the session's view of a real path, false when it is
// outside the session's root.
func (r *diffRun) virt(real string) (string, bool) {
	if r.root == "/" {
		return real, true
	}
	if real == r.root {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(real, r.root+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}

func (r *diffRun) session(user string, from netip.Addr) {
	t := r.t
	home := r.env.real("home/" + user)
	r.who = Who{User: user, Groups: groupsOf(user), Addr: from, Home: home}
	f, code, msg, err := dialFTP(r.addr, from)
	connected := err == nil && code == 220
	if err != nil && !errors.Is(err, errClosed) {
		t.Fatalf("connecting from %s: %v", from, err)
	}
	r.check("connect", connected, r.pol.ConnectAllowed(from), msg)
	if !connected {
		if err != nil {
			msg = err.Error()
		}
		r.keep("a connection (<Limit LOGIN>)", msg)
		if f != nil {
			f.Close()
		}
		return
	}
	defer f.Close()
	r.ftp = f
	if code, msg, err = f.cmd("USER %s", user); err != nil || code != 331 {
		t.Fatalf("USER %s: %d %q %v", user, code, msg, err)
	}
	code, msg, err = f.cmd("PASS %s", diffPassword)
	if err != nil && !errors.Is(err, errClosed) {
		t.Fatalf("PASS: %v", err)
	}
	r.check("login", code == 230, r.pol.LoginAllowed(r.who), msg)
	if code != 230 {
		r.keep("LOGIN", msg)
		return
	}
	defer func() { _, _, _ = f.cmd("QUIT") }()
	// Binary mode: ProFTPD refuses SIZE and REST in ASCII mode.
	if code, msg, err = f.cmd("TYPE I"); err != nil || code != 200 {
		t.Fatalf("TYPE I: %d %q %v", code, msg, err)
	}
	root, chroot := r.pol.DefaultRoot(r.who, home)
	r.root = "/"
	cwd := home
	vcwd := home
	if chroot {
		r.root = root
		vcwd = "/"
		if v, ok := r.virt(home); ok {
			vcwd = v
		} else {
			cwd = root
		}
	}
	if r.sc.noProbes {
		return
	}
	// Where the session is confined: .rootid's size names the root.
	code, msg, _ = f.cmd("SIZE /.rootid")
	want := "no root"
	if chroot {
		want = root
	}
	got := "no root"
	for rt, size := range r.env.rootSize {
		if code == 213 && strings.TrimSpace(msg[4:]) == strconv.FormatInt(size, 10) {
			got = rt
		}
	}
	if code == 213 || r.pol.Allowed("SIZE", r.root+"/.rootid", r.who) {
		r.n++
		if got != want {
			t.Errorf("%s: session root %s (SIZE /.rootid: %d %q), Policy.DefaultRoot %s", user, got, code, msg, want)
		}
	}
	// Commands acting on the current directory.
	code, msg, _ = f.cmd("PWD")
	r.cmdCheck("PWD", cwd, "", code, msg)
	if code == 257 && !strings.Contains(msg, `"`+vcwd+`"`) {
		t.Errorf("%s: PWD %q, want %q", user, msg, vcwd)
	}
	code, msg, _ = f.cmd("NOOP")
	r.cmdCheck("NOOP", cwd, "", code, msg)
	code, msg, _ = f.cmd("FEAT")
	r.cmdCheck("FEAT", cwd, "", code, msg)
	code, msg, _ = f.cmd("HELP")
	r.cmdCheck("HELP", cwd, "", code, msg)
	code, msg, _ = f.cmd("STAT")
	r.cmdCheck("STAT", cwd, "", code, msg)
	code, msg, _ = f.cmd("EPSV")
	r.cmdCheck("EPSV", cwd, "", code, msg)
	code, msg, _ = f.cmd("PASV")
	r.cmdCheck("PASV", cwd, "", code, msg)
	// Without PASV there is no data connection: the data commands are
	// then left out for this user.
	r.pasv = code == 227
	for _, rel := range diffFiles {
		r.fileProbes(r.env.real(rel))
	}
	for _, rel := range diffDirs {
		r.dirProbes(r.env.real(rel))
	}
}

// keep remembers one refusal's reply per command, for the log.
func (r *diffRun) keep(cmd, msg string) {
	if _, ok := r.replies[cmd]; !ok {
		r.replies[cmd] = msg
	}
}

// cmdCheck compares ProFTPD's answer to cmd on real (arg is the
// argument as sent) with Policy's, and a refusal by <Limit> with the
// reply documented in the package doc.
func (r *diffRun) cmdCheck(cmd, real, arg string, code int, msg string) {
	ok := code > 0 && code < 400
	allowed := r.pol.Allowed(cmd, real, r.who)
	r.check(cmd+" "+real, ok, allowed, msg)
	if ok || allowed {
		return
	}
	r.keep(cmd, msg)
	format, known := limitRefusals[cmd]
	want := format
	if strings.Contains(format, "%s") {
		want = fmt.Sprintf(format, arg)
	}
	r.n++
	if !known || msg != want {
		r.failures++
		r.t.Errorf("%s refused by <Limit>: ProFTPD replied %q, the package doc says %q", cmd, msg, want)
	}
}

// limitRefusals are ProFTPD 1.3.8's replies to a command refused by
// <Limit> (%s: the command's argument), as the package doc lists them.
var limitRefusals = map[string]string{
	"RETR": "550 %s: Operation not permitted", "STOR": "550 %s: Operation not permitted",
	"APPE": "550 %s: Operation not permitted", "DELE": "550 %s: Operation not permitted",
	"RNFR": "550 %s: Operation not permitted", "RNTO": "550 %s: Operation not permitted",
	"SIZE": "550 %s: Operation not permitted", "MDTM": "550 %s: Operation not permitted",
	"MKD": "550 %s: Permission denied", "XMKD": "550 %s: Permission denied", "RMD": "550 %s: Permission denied",
	"CWD":        "550 %s: No such file or directory",
	"NLST":       "450 %s: No such file or directory",
	"MLSD":       "550 Unable to handle command",
	"MLST":       "550 Unable to handle command",
	"SITE_CHMOD": "550 CHMOD 0644 %s: Permission denied",
	"PWD":        "550 PWD: Permission denied",
	"NOOP":       "550 Operation not permitted",
	"FEAT":       "550 FEAT: Operation not permitted",
	"HELP":       "501 HELP: Permission denied",
	"STAT":       "500 STAT: Operation not permitted",
	"PASV":       "501 PASV: Operation not permitted",
	"EPSV":       "501 EPSV: Operation not permitted",
}

func (r *diffRun) fileProbes(real string) {
	t, f, e := r.t, r.ftp, r.env
	v, ok := r.virt(real)
	if !ok {
		return
	}
	payload := []byte("uploaded\n")

	e.ensureFile(t, real)
	if r.pasv {
		code, msg, _, err := f.transfer("RETR "+v, nil, nil)
		r.must(err)
		r.cmdCheck("RETR", real, v, code, msg)
	}

	code, msg, err := f.cmd("SIZE %s", v)
	r.must(err)
	r.cmdCheck("SIZE", real, v, code, msg)
	code, msg, err = f.cmd("MLST %s", v)
	r.must(err)
	r.cmdCheck("MLST", real, v, code, msg)
	code, msg, err = f.cmd("SITE CHMOD 0644 %s", v)
	r.must(err)
	r.cmdCheck("SITE_CHMOD", real, v, code, msg)
	code, msg, err = f.cmd("MDTM %s", v)
	r.must(err)
	r.cmdCheck("MDTM", real, v, code, msg)

	dir := r.pol.Dir(real, r.who)
	for _, cmd := range []string{"STOR", "APPE"} {
		if !r.pasv {
			break
		}
		e.ensureAbsent(t, real)
		hidden := ""
		code, msg, _, err = f.transfer(cmd+" "+v, payload, func() {
			if cmd != "STOR" {
				return
			}
			ents, _ := os.ReadDir(filepath.Dir(real))
			for _, de := range ents {
				if n := de.Name(); n != filepath.Base(real) && strings.Contains(n, filepath.Base(real)) {
					hidden = n
				}
			}
		})
		r.must(err)
		r.cmdCheck(cmd, real, v, code, msg)
		if code == 226 {
			st, err := os.Stat(real)
			if err != nil {
				t.Errorf("%s %s: 226 but %v", cmd, real, err)
			} else if got, want := st.Mode().Perm(), fs.FileMode(0o666&^dir.Umask); got != want {
				t.Errorf("%s: %s %s: mode %v, Policy.Dir umask %03o gives %v", r.who.User, cmd, real, got, dir.Umask, want)
			}
			r.n++
			if cmd == "STOR" && r.sc.settings {
				wantHidden := ""
				if dir.HiddenStores {
					wantHidden = dir.HiddenPrefix + filepath.Base(real) + dir.HiddenSuffix
				}
				r.n++
				if hidden != wantHidden {
					t.Errorf("%s: STOR %s: hidden file %q during the upload, Policy.Dir %q", r.who.User, real, hidden, wantHidden)
				}
			}
		}
	}

	if r.sc.settings && r.pasv && r.pol.Allowed("STOR", real, r.who) {
		// An aborted upload: DeleteAbortedStores, HiddenStores.
		e.ensureAbsent(t, real)
		replies, err := f.abortedStore(v)
		r.must(err)
		if strings.Join(replies, "|") != "426 Transfer aborted. Data connection closed.|226 Abort successful" {
			t.Errorf("%s: ABOR during STOR %s: %q", r.who.User, v, replies)
		}
		ents, _ := os.ReadDir(filepath.Dir(real))
		var left []string
		for _, de := range ents {
			if strings.Contains(de.Name(), filepath.Base(real)) {
				left = append(left, de.Name())
			}
		}
		var want []string
		switch {
		case dir.HiddenStores && !dir.DeleteAbortedHidden:
			want = []string{dir.HiddenPrefix + filepath.Base(real) + dir.HiddenSuffix}
		case dir.HiddenStores:
		case !dir.DeleteAbortedStores:
			want = []string{filepath.Base(real)}
		}
		r.n++
		if strings.Join(left, " ") != strings.Join(want, " ") {
			r.failures++
			t.Errorf("%s: aborted STOR %s (%q) left %q, Policy.Dir %+v says %q", r.who.User, real, replies, left, dir, want)
		}
		for _, n := range left {
			e.ensureAbsent(t, filepath.Join(filepath.Dir(real), n))
		}
	}

	e.ensureFile(t, real)
	code, msg, err = f.cmd("DELE %s", v)
	r.must(err)
	r.cmdCheck("DELE", real, v, code, msg)

	e.ensureFile(t, real)
	dst := real + ".ren"
	e.ensureAbsent(t, dst)
	code, msg, err = f.cmd("RNFR %s", v)
	r.must(err)
	r.cmdCheck("RNFR", real, v, code, msg)
	if code == 350 {
		code, msg, err = f.cmd("RNTO %s", v+".ren")
		r.must(err)
		r.cmdCheck("RNTO", dst, v+".ren", code, msg)
	}
	e.ensureAbsent(t, dst)
	e.ensureFile(t, real)

	if !r.sc.settings || !r.pasv {
		return
	}
	// Upload rules on an existing file.
	allowed := func(cmd string) bool { return r.pol.Allowed(cmd, real, r.who) }
	type rule struct {
		what  string
		rest  bool
		cmd   string
		want  bool
		write []byte
		reply string // ProFTPD's refusal when <Limit> allows the command
	}
	overwrite := "550 " + v + ": Overwrite permission denied"
	appendRestart := "451 " + v + ": Append/Restart not permitted, try again"
	restStor := overwrite
	switch {
	case !dir.AllowOverwrite:
	case !dir.AllowStoreRestart:
		restStor = appendRestart
	case dir.HiddenStores:
		restStor = "501 REST not compatible with server configuration"
	}
	for _, c := range []rule{
		{"STOR over an existing file (AllowOverwrite)", false, "STOR", allowed("STOR") && dir.AllowOverwrite, payload, overwrite},
		{"REST+STOR (AllowOverwrite, AllowStoreRestart, not HiddenStores)", true, "STOR", allowed("STOR") && dir.AllowOverwrite && dir.AllowStoreRestart && !dir.HiddenStores, payload, restStor},
		{"APPE to an existing file (AllowStoreRestart)", false, "APPE", allowed("APPE") && dir.AllowStoreRestart, payload, appendRestart},
		{"REST+RETR (AllowRetrieveRestart)", true, "RETR", allowed("RETR") && dir.AllowRetrieveRestart, nil, "451 " + v + ": Restart not permitted, try again"},
	} {
		e.ensureFile(t, real)
		if c.rest {
			code, msg, err = f.cmd("REST 1")
			r.must(err)
			if code != 350 {
				t.Fatalf("REST 1: %d %q", code, msg)
			}
		}
		code, msg, _, err = f.transfer(c.cmd+" "+v, c.write, nil)
		r.must(err)
		ok := code == 226
		r.check(c.what+" "+real, ok, c.want, msg)
		if !ok && !c.want && allowed(c.cmd) {
			r.keep(c.what+" "+msg[:3], msg)
			r.n++
			if msg != c.reply {
				r.failures++
				t.Errorf("%s: %s %s: ProFTPD replied %q, the package doc says %q", r.who.User, c.what, v, msg, c.reply)
			}
		}
	}
	e.ensureFile(t, real)
}

func (r *diffRun) dirProbes(real string) {
	t, f, e := r.t, r.ftp, r.env
	v, ok := r.virt(real)
	if !ok {
		return
	}
	code, msg, err := f.cmd("CWD %s", v)
	r.must(err)
	r.cmdCheck("CWD", real, v, code, msg)
	// STAT of a refused directory, like LIST, answers with an empty
	// listing: compare the listing.
	code, msg, err = f.cmd("STAT %s", v)
	r.must(err)
	r.n++
	if code != 212 && code != 213 {
		t.Errorf("STAT %s: %q", v, msg)
	} else {
		var body []byte
		for _, l := range f.lines[1 : len(f.lines)-1] {
			body = append(body, strings.TrimSpace(l)+"\n"...)
		}
		got, want := listed("LIST", body), r.expectedListing("STAT", real)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			r.failures++
			t.Errorf("%s from %s: STAT %s lists %q, Policy says %q", r.who.User, r.who.Addr, real, got, want)
		}
	}
	for _, cmd := range []string{"LIST", "NLST", "MLSD"} {
		if !r.pasv {
			break
		}
		code, msg, data, err := f.transfer(cmd+" "+v, nil, nil)
		r.must(err)
		if cmd == "LIST" {
			// ProFTPD answers a LIST of a refused directory with an empty
			// listing and 226, so compare the listing instead.
			r.n++
		} else {
			r.cmdCheck(cmd, real, v, code, msg)
		}
		if code != 226 {
			continue
		}
		got := listed(cmd, data)
		want := r.expectedListing(cmd, real)
		r.n++
		if strings.Join(got, " ") != strings.Join(want, " ") {
			r.failures++
			t.Errorf("%s from %s: %s %s lists %q, Policy says %q", r.who.User, r.who.Addr, cmd, real, got, want)
		}
	}
	nd := filepath.Join(real, "newd")
	e.ensureAbsent(t, nd)
	code, msg, err = f.cmd("MKD %s", joinV(v, "newd"))
	r.must(err)
	r.cmdCheck("MKD", nd, joinV(v, "newd"), code, msg)
	if code == 257 {
		want := fs.FileMode(0o777 &^ r.pol.Dir(nd, r.who).DirUmask)
		r.n++
		if st, err := os.Stat(nd); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: MKD %s: %v %v, Policy.Dir dir umask gives %v", r.who.User, nd, st.Mode(), err, want)
		}
	}
	e.ensureAbsent(t, nd)
	code, msg, err = f.cmd("XMKD %s", joinV(v, "newd"))
	r.must(err)
	r.cmdCheck("XMKD", nd, joinV(v, "newd"), code, msg)
	e.ensureAbsent(t, nd)
	ed := filepath.Join(real, "emptyd")
	e.mkdir(t, ed)
	code, msg, err = f.cmd("RMD %s", joinV(v, "emptyd"))
	r.must(err)
	r.cmdCheck("RMD", ed, joinV(v, "emptyd"), code, msg)
	e.ensureAbsent(t, ed)
}

// listed returns the names in a listing, sorted.
func listed(cmd string, data []byte) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\r", ""), "\n") {
		if line == "" || strings.HasPrefix(line, "total ") {
			continue
		}
		name := line
		switch cmd {
		case "LIST":
			f := strings.Fields(line)
			name = f[len(f)-1]
		case "MLSD":
			_, name, _ = strings.Cut(line, "; ")
		}
		name = filepath.Base(name)
		if name == "." || name == ".." {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// expectedListing is what Policy says a listing of dir holds: nothing if
// the command is refused on dir, else the entries on which it is allowed
// (ProFTPD leaves the others out); LIST and NLST do not show dot files,
// STAT and MLSD do.
func (r *diffRun) expectedListing(cmd, dir string) []string {
	out := []string{}
	if !r.pol.Allowed(cmd, dir, r.who) {
		return out
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range ents {
		if (cmd == "LIST" || cmd == "NLST") && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if r.pol.Allowed(cmd, filepath.Join(dir, e.Name()), r.who) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func joinV(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (r *diffRun) must(err error) {
	if err != nil {
		r.t.Fatalf("%s from %s: %v", r.who.User, r.who.Addr, err)
	}
}
