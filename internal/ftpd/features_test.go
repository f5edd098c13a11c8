package ftpd

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/servetest"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// policyFrom compiles the access policy of a configuration text.
func policyFrom(t *testing.T, conf string) *access.Policy {
	t.Helper()
	cfg, err := directives.Parse(strings.NewReader(conf), "test.conf", directives.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, errs := access.Compile(cfg, cfg.Main)
	for _, e := range errs {
		t.Fatalf("Compile: %v", e)
	}
	return p
}

// TestPolicyRefusals: <Limit> refusals get ProFTPD 1.3.8's replies (as
// recorded from the real ProFTPD), and refused entries stay out of
// listings.
func TestPolicyRefusals(t *testing.T) {
	pol := policyFrom(t, `
<Directory ~>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory ~/sub>
  <Limit ALL>
    DenyAll
  </Limit>
</Directory>
AllowOverwrite on
`)
	addr, home := startServer(t, &Server{Policy: pol})
	os.WriteFile(filepath.Join(home, "f.txt"), []byte("keep"), 0o644)
	os.MkdirAll(filepath.Join(home, "sub", "d"), 0o755)
	os.WriteFile(filepath.Join(home, "sub", "g.txt"), []byte("x"), 0o644)
	before := servetest.SHA256(t, filepath.Join(home, "f.txt"))
	c := dialClient(t, addr)
	c.Login()
	for _, tc := range []struct{ cmd, reply string }{
		{"STOR f.txt", "550 f.txt: Operation not permitted"},
		{"STOR new.txt", "550 new.txt: Operation not permitted"},
		{"APPE f.txt", "550 f.txt: Operation not permitted"},
		{"DELE f.txt", "550 f.txt: Operation not permitted"},
		{"MKD newdir", "550 newdir: Permission denied"},
		{"RMD sub/d", "550 sub/d: Permission denied"},
		{"RNFR f.txt", "550 f.txt: Operation not permitted"},
		{"MFMT 20210304050607 f.txt", "550 Unable to handle command"},
		{"CWD sub", "550 sub: No such file or directory"},
		{"RETR sub/g.txt", "550 sub/g.txt: Operation not permitted"},
		{"SIZE sub/g.txt", "550 sub/g.txt: Operation not permitted"},
		{"MDTM sub/g.txt", "550 sub/g.txt: Operation not permitted"},
		{"MLST sub/g.txt", "550 Unable to handle command"},
		{"NLST sub", "450 sub: No such file or directory"},
		{"MLSD sub", "550 Unable to handle command"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			c.EPSV()
			code, msg := c.Cmd("%s", tc.cmd)
			if got := fmt.Sprintf("%d %s", code, msg); got != tc.reply {
				t.Errorf("%s: %s, want %s", tc.cmd, got, tc.reply)
			}
		})
	}
	if servetest.SHA256(t, filepath.Join(home, "f.txt")) != before {
		t.Fatal("a refused command changed f.txt")
	}
	if _, err := os.Stat(filepath.Join(home, "newdir")); err == nil {
		t.Fatal("MKD refused but the directory exists")
	}
	// LIST of a refused directory is empty; refused entries are hidden.
	conn, _ := c.Data("LIST sub")
	b, _ := io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	if len(b) != 0 {
		t.Fatalf("LIST of a refused directory: %q", b)
	}
	conn, _ = c.Data("NLST")
	b, _ = io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	if string(b) != "f.txt\r\n" {
		t.Fatalf("NLST hides nothing: %q", b)
	}
}

// TestUmaskAndOverwrite: Umask sets the modes of uploads and new
// directories; AllowOverwrite on lets STOR replace and RNTO overwrite.
func TestUmaskAndOverwrite(t *testing.T) {
	pol := policyFrom(t, "Umask 027 077\nAllowOverwrite on\n")
	addr, home := startServer(t, &Server{Policy: pol})
	c := dialClient(t, addr)
	c.Login()
	c.Stor("new.txt", []byte("x"))
	c.Must(257, "MKD nd")
	for name, want := range map[string]os.FileMode{"new.txt": 0o640, "nd": 0o700} {
		if fi, err := os.Stat(filepath.Join(home, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	c.Stor("new.txt", []byte("replaced"))
	if b, _ := os.ReadFile(filepath.Join(home, "new.txt")); string(b) != "replaced" {
		t.Fatalf("overwrite: %q", b)
	}
	c.Stor("other.txt", []byte("y"))
	c.Must(350, "RNFR other.txt")
	c.Must(250, "RNTO new.txt")

	// Without AllowOverwrite, RNTO onto an existing file is refused.
	addr2, home2 := startServer(t, &Server{})
	os.WriteFile(filepath.Join(home2, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(home2, "b"), []byte("b"), 0o644)
	c2 := dialClient(t, addr2)
	c2.Login()
	c2.Must(350, "RNFR a")
	if msg := c2.Must(550, "RNTO b"); msg != "b: Rename permission denied" {
		t.Fatalf("RNTO over an existing file: %q", msg)
	}
}

// TestLoginLimit: <Limit LOGIN> refuses a user with "530 Login
// incorrect." and counts as a failed attempt.
func TestLoginLimit(t *testing.T) {
	pol := policyFrom(t, "<Limit LOGIN>\n  DenyUser "+testUser+"\n</Limit>\n")
	addr, _ := startServer(t, &Server{Policy: pol, MaxLoginAttempts: 1})
	c := dialClient(t, addr)
	c.Must(331, "USER %s", testUser)
	if msg := c.Must(530, "PASS %s", testPass); msg != "Login incorrect." {
		t.Fatalf("refused login: %q", msg)
	}
	if !c.ClosedSilently() {
		t.Fatal("connection open after the only allowed attempt")
	}
}

// TestMFMTAndMDTM: ProFTPD's mod_facts replies.
func TestMFMTAndMDTM(t *testing.T) {
	addr, home := startServer(t, &Server{})
	os.WriteFile(filepath.Join(home, "hello.txt"), []byte("hi"), 0o644)
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	c := dialClient(t, addr)
	c.Login()
	for _, tc := range []struct{ cmd, reply string }{
		{"MFMT 20210304050607 hello.txt", "213 Modify=20210304050607; hello.txt"},
		{"MDTM hello.txt", "213 20210304050607"},
		{"MFMT 20200102030405.123 hello.txt", "213 Modify=20200102030405; hello.txt"},
		{"MDTM hello.txt", "213 20200102030405"},
		{"MFMT 2021030405 hello.txt", "501 2021030405: Invalid argument"},
		{"MFMT 20211304050607 hello.txt", "501 hello.txt: Invalid argument"},
		{"MFMT 20210304050607 nope", "550 nope: No such file or directory"},
		{"MFMT 20210304050607", "501 Invalid number of parameters"},
		{"MDTM sub", "550 sub: not a plain file"},
		{"MDTM nope", "550 nope: No such file or directory"},
	} {
		code, msg := c.Cmd("%s", tc.cmd)
		if got := fmt.Sprintf("%d %s", code, msg); got != tc.reply {
			t.Errorf("%s: %s, want %s", tc.cmd, got, tc.reply)
		}
	}
	fi, _ := os.Stat(filepath.Join(home, "hello.txt"))
	if want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC); !fi.ModTime().Equal(want) {
		t.Fatalf("mtime %v, want %v", fi.ModTime(), want)
	}
	msg := c.Must(211, "FEAT")
	for _, f := range []string{" MFMT", " MDTM", " SIZE", " REST STREAM"} {
		if !strings.Contains(msg, f+"\n") {
			t.Errorf("FEAT lacks %q:\n%s", f, msg)
		}
	}
}

// TestListingFormats: LIST as ProFTPD's mod_ls writes it, with the
// owner's and group's names; MLSD and MLST as mod_facts writes them.
func TestListingFormats(t *testing.T) {
	names := userfs.NameMap{Users: map[uint32]string{uint32(os.Getuid()): "tester"},
		Groups: map[uint32]string{uint32(os.Getgid()): "testers"}}
	home := t.TempDir()
	auth := LocalAuth{Names: names, Check: func(u, p string) (string, error) {
		if u != testUser || p != testPass {
			return "", ErrLoginIncorrect
		}
		return home, nil
	}}
	addr, _ := startServer(t, &Server{Auth: auth})
	file := filepath.Join(home, "hello.txt")
	os.WriteFile(file, []byte("hello world 12345\n\n"), 0o644)
	recent := time.Now().Add(-time.Hour).UTC()
	os.Chtimes(file, recent, recent)
	old := filepath.Join(home, "old.txt")
	os.WriteFile(old, []byte("x"), 0o600)
	oldTime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	os.Chtimes(old, oldTime, oldTime)
	os.WriteFile(filepath.Join(home, ".hidden"), nil, 0o644)
	c := dialClient(t, addr)
	c.Login()

	conn, _ := c.Data("LIST")
	b, _ := io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	want := fmt.Sprintf("-rw-r--r--   1 tester   testers        19 %s %2d %02d:%02d hello.txt\r\n"+
		"-rw-------   1 tester   testers         1 Mar  4  2021 old.txt\r\n",
		recent.Format("Jan"), recent.Day(), recent.Hour(), recent.Minute())
	if string(b) != want {
		t.Fatalf("LIST:\n%q\nwant\n%q", b, want)
	}
	conn, _ = c.Data("LIST -a")
	b, _ = io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\r\n"); len(lines) != 5 || !strings.HasSuffix(lines[0], " .") ||
		!strings.HasSuffix(lines[1], " ..") || !strings.HasSuffix(lines[2], " .hidden") {
		t.Fatalf("LIST -a:\n%s", b)
	}

	conn, _ = c.Data("MLSD")
	b, _ = io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	st := statT(t, file)
	wantLine := fmt.Sprintf("modify=%s;perm=adfrw;size=19;type=file;unique=%XU%X;UNIX.group=%d;UNIX.groupname=testers;UNIX.mode=0644;UNIX.owner=%d;UNIX.ownername=tester; hello.txt",
		recent.Format("20060102150405"), st.Dev, st.Ino, os.Getgid(), os.Getuid())
	lines := strings.Split(strings.TrimSpace(string(b)), "\r\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "type=cdir;") || !strings.HasSuffix(lines[0], " .") ||
		lines[2] != wantLine || !strings.Contains(lines[4], "type=pdir;") {
		t.Fatalf("MLSD:\n%s\nwant line\n%s", b, wantLine)
	}
	msg := c.Must(250, "MLST hello.txt")
	if !strings.Contains(msg, "Start of list for hello.txt\n "+strings.TrimSuffix(wantLine, " hello.txt")+" /hello.txt\nEnd of list") {
		t.Fatalf("MLST:\n%s", msg)
	}
}

// TestSystemNamesInListings: without a name table, the system's names.
func TestSystemNamesInListings(t *testing.T) {
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		t.Fatalf("the test's own user has no name: %v", err)
	}
	addr, home := startServer(t, &Server{})
	os.WriteFile(filepath.Join(home, "f"), nil, 0o644)
	c := dialClient(t, addr)
	c.Login()
	conn, _ := c.Data("LIST")
	b, _ := io.ReadAll(conn)
	conn.Close()
	c.Expect(226)
	if fields := strings.Fields(string(b)); len(fields) < 3 || fields[2] != u.Username {
		t.Fatalf("LIST shows owner %q, want %s", b, u.Username)
	}
}

// TestTransferLog: one xferlog line per transfer, as ProFTPD writes them.
func TestTransferLog(t *testing.T) {
	var log syncbuf.Buffer
	addr, home := startServer(t, &Server{TransferLog: &log, Policy: permissive})
	os.WriteFile(filepath.Join(home, "hello.txt"), []byte("hello\n"), 0o644)
	c := dialClient(t, addr)
	c.Login()
	c.Retr("hello.txt")
	c.Stor("new file.txt", []byte("abc"))
	conn, raw := c.Data("STOR broken")
	conn.Write([]byte("12"))
	raw.SetLinger(0)
	raw.Close()
	c.Expect(426)
	c.Must(200, "TYPE A")
	c.Retr("hello.txt")
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("TransferLog:\n%s", log.String())
	}
	stamp := `[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 `
	for i, want := range []string{
		`6 ` + regexp.QuoteMeta(home) + `/hello\.txt b _ o r alice ftp 0 \* c`,
		`3 ` + regexp.QuoteMeta(home) + `/new_file\.txt b _ i r alice ftp 0 \* c`,
		`\d+ ` + regexp.QuoteMeta(home) + `/broken b _ i r alice ftp 0 \* i`,
		`7 ` + regexp.QuoteMeta(home) + `/hello\.txt a _ o r alice ftp 0 \* c`,
	} {
		if !regexp.MustCompile("^" + stamp + want + "$").MatchString(lines[i]) {
			t.Errorf("line %d: %q, want %s", i, lines[i], want)
		}
	}
}

// TestASCIIMode: TYPE A converts line ends as ProFTPD does, and is the
// default; SIZE is refused in it.
func TestASCIIMode(t *testing.T) {
	addr, home := startServer(t, &Server{Policy: permissive})
	os.WriteFile(filepath.Join(home, "t.txt"), []byte("a\nb\r\nc\n"), 0o644)
	c := dialClient(t, addr)
	c.Must(331, "USER %s", testUser)
	c.Must(230, "PASS %s", testPass)
	if msg := c.Must(550, "SIZE t.txt"); msg != "SIZE not allowed in ASCII mode" {
		t.Fatalf("SIZE in ASCII mode: %q", msg)
	}
	if msg := c.Must(501, "REST 5"); msg != "REST: Resuming transfers not allowed in ASCII mode" {
		t.Fatalf("REST in ASCII mode: %q", msg)
	}
	if b := c.Retr("t.txt"); string(b) != "a\r\nb\r\nc\r\n" {
		t.Fatalf("ASCII RETR: %q", b)
	}
	c.Stor("u.txt", []byte("x\r\ny\rz\r\n"))
	if b, _ := os.ReadFile(filepath.Join(home, "u.txt")); string(b) != "x\ny\rz\n" {
		t.Fatalf("ASCII STOR stored %q", b)
	}
}

// TestABORDuringTransfer: ABOR aborts a running upload (426, then 226
// for the ABOR) and the old file stays; NOOP and transfer commands get
// ProFTPD's in-transfer replies.
func TestABORDuringTransfer(t *testing.T) {
	addr, home := startServer(t, &Server{Policy: permissive})
	target := filepath.Join(home, "f")
	os.WriteFile(target, []byte("old"), 0o644)
	before := servetest.SHA256(t, target)
	c := dialClient(t, addr)
	c.Login()
	conn, _ := c.Data("STOR f")
	conn.Write([]byte("partial"))
	if msg := c.Must(200, "NOOP"); msg != "NOOP: data transfer in progress" {
		t.Fatalf("NOOP during a transfer: %q", msg)
	}
	if msg := c.Must(450, "RETR f"); msg != "RETR: data transfer in progress" {
		t.Fatalf("RETR during a transfer: %q", msg)
	}
	c.Send("PWD") // answered after the transfer
	c.Send("\xff\xf4\xff\xf2ABOR")
	if code, msg := c.Read(); code != 426 || msg != "Transfer aborted. Data connection closed" {
		t.Fatalf("aborted upload: %d %s", code, msg)
	}
	c.Expect(226)
	c.Expect(257)
	if servetest.SHA256(t, target) != before {
		t.Fatal("ABOR left a changed file")
	}
	c.Must(200, "NOOP")
}

// TestTLSEvents: the engine tells a TLSSession that implements TLSEvents
// about AUTH, the control handshake and PROT.
func TestTLSEvents(t *testing.T) {
	tt, pool := newTestTLS(t, tls.VersionTLS12, tls.VersionTLS13)
	ev := &eventTLS{testTLS: tt}
	addr, _ := startServer(t, &Server{TLS: ev})
	c := dialClient(t, addr)
	c.Roots = pool
	c.AuthTLS(tls.VersionTLS13)
	c.Must(200, "PROT C")
	want := "AUTH TLS|handshake TLS 1.3 <nil>|PROT P|PROT C"
	if got := ev.String(); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

type eventTLS struct {
	*testTLS
	mu     sync.Mutex
	events []string
}

func (e *eventTLS) NewSession(c net.Conn) (TLSSession, error) {
	s, err := e.testTLS.NewSession(c)
	return eventSession{s, e}, err
}

func (e *eventTLS) add(s string) { e.mu.Lock(); e.events = append(e.events, s); e.mu.Unlock() }
func (e *eventTLS) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.events, "|")
}

type eventSession struct {
	TLSSession
	e *eventTLS
}

func (s eventSession) AuthRequested(mech string) { s.e.add("AUTH " + mech) }
func (s eventSession) ControlHandshakeDone(c *tls.Conn, err error) {
	s.e.add(fmt.Sprintf("handshake %s %v", tls.VersionName(c.ConnectionState().Version), err))
}
func (s eventSession) ProtectionSet(level string) { s.e.add("PROT " + level) }

func statT(t *testing.T, name string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// TestNLSTAndSymlinks: NLST prefixes the entries of a directory it is
// given with that name, as ProFTPD does; MLSD shows a symbolic link as
// OS.unix=symlink with its target's unique fact; LIST shows "-> target".
func TestNLSTAndSymlinks(t *testing.T) {
	addr, home := startServer(t, &Server{})
	os.MkdirAll(filepath.Join(home, "sub"), 0o755)
	os.WriteFile(filepath.Join(home, "sub", "f.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, "hello.txt"), []byte("x"), 0o644)
	os.Symlink("hello.txt", filepath.Join(home, "link"))
	c := dialClient(t, addr)
	c.Login()
	list := func(cmd string) string {
		conn, _ := c.Data("%s", cmd)
		b, _ := io.ReadAll(conn)
		conn.Close()
		c.Expect(226)
		return string(b)
	}
	for cmd, want := range map[string]string{
		"NLST sub":  "sub/f.txt\r\n",
		"NLST /sub": "/sub/f.txt\r\n",
		"NLST .":    "hello.txt\r\nlink\r\nsub\r\n",
		"NLST /":    "/hello.txt\r\n/link\r\n/sub\r\n",
	} {
		if got := list(cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
	if got := list("LIST link"); !strings.HasSuffix(got, " link -> hello.txt\r\n") || !strings.HasPrefix(got, "lrwxrwxrwx") {
		t.Errorf("LIST link: %q", got)
	}
	st := statT(t, filepath.Join(home, "hello.txt"))
	mlsd := list("MLSD")
	want := fmt.Sprintf("perm=adfrw;size=9;type=OS.unix=symlink;unique=%XU%X;", st.Dev, st.Ino)
	if !strings.Contains(mlsd, want) {
		t.Errorf("MLSD:\n%s\nwant a line with %s", mlsd, want)
	}
}
