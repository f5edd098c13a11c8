package ftpd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/servetest"
)

func wantLines(t *testing.T, cmd string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", cmd, got, want)
	}
}

// TestHELPAndSITEHELP: ProFTPD 1.3.8's lists and syntax lines, with
// ftpdtls's marks on what it does not implement (active mode, HOST, CLNT,
// RANG), as recorded from /usr/sbin/proftpd with mod_tls.
func TestHELPAndSITEHELP(t *testing.T) {
	tt, pool := newTestTLS(t, 0, 0)
	addr, _ := startServer(t, &Server{TLS: tt})
	c := dialClient(t, addr)
	// Both are answered before login, as by ProFTPD.
	wantLines(t, "HELP", c.CmdLines("HELP"),
		"214-The following commands are recognized (* =>'s unimplemented):",
		" CWD     XCWD    CDUP    XCUP    SMNT*   QUIT    PORT*   PASV    ",
		" EPRT*   EPSV    ALLO    RNFR    RNTO    DELE    MDTM    RMD     ",
		" XRMD    MKD     XMKD    PWD     XPWD    SIZE    SYST    HELP    ",
		" NOOP    FEAT    OPTS    HOST*   CLNT*   AUTH    CCC*    CONF*   ",
		" ENC*    MIC*    PBSZ    PROT    TYPE    STRU    MODE    RETR    ",
		" STOR    STOU    APPE    REST    ABOR    RANG*   USER    PASS    ",
		" ACCT*   REIN*   LIST    NLST    STAT    SITE    MLSD    MLST    ",
		"214 Direct comments to root@127.0.0.1")
	wantLines(t, "SITE HELP", c.CmdLines("SITE HELP"),
		"214-The following SITE commands are recognized (* =>'s unimplemented)",
		" HELP", " CHGRP", " CHMOD",
		"214 Direct comments to root@127.0.0.1")
	c.Roots = pool
	c.AuthTLS(0)
	c.Login()
	for cmd, want := range map[string][]string{
		"HELP CWD":          {"214 Syntax: CWD <sp> pathname"},
		"HELP  cwd":         {"214 Syntax: CWD <sp> pathname"},
		"HELP SMNT":         {"214 Syntax: SMNT is not implemented"},
		"HELP STOU":         {"214 Syntax: STOU (store unique filename)"},
		"HELP FOO":          {"502 Unknown command 'FOO'"},
		"HELP x y":          {"502 Unknown command 'X'"},
		"HELP SITE":         {"214-HELP", " CHGRP", "214 CHMOD"},
		"HELP site":         {"214-HELP", " CHGRP", "214 CHMOD"},
		"HELP SITE CHMOD":   {"502 Unknown command 'SITE SITE CHMOD'"},
		"SITE help":         {"214-The following SITE commands are recognized (* =>'s unimplemented)", " HELP", " CHGRP", " CHMOD", "214 Direct comments to root@127.0.0.1"},
		"SITE HELP CHMOD":   {"214-The following SITE commands are recognized (* =>'s unimplemented)", " Syntax: SITE CHMOD <sp> mode <sp> pathname", "214 Direct comments to root@127.0.0.1"},
		"SITE HELP CHMOD x": {"214-The following SITE commands are recognized (* =>'s unimplemented)", " Syntax: SITE CHMOD <sp> mode <sp> pathname", "214 Direct comments to root@127.0.0.1"},
		"SITE HELP FOO":     {"502 Unknown command 'SITE HELP FOO'"},
		"SITE FOO":          {"500 'SITE FOO' not understood"},
		"SITE":              {"500 'SITE' requires parameters"},
		"SITE CHMOD 600":    {"500-'SITE CHMOD 600' not understood", "500 SITE not understood"},
	} {
		wantLines(t, cmd, c.CmdLines(cmd), want...)
	}
	// Without TLS, AUTH, PBSZ and PROT are not implemented.
	addr, _ = startServer(t, &Server{})
	c = dialClient(t, addr)
	if help := strings.Join(c.CmdLines("HELP"), "\n"); !strings.Contains(help, " AUTH*   CCC*") || !strings.Contains(help, " PBSZ*   PROT*   TYPE") {
		t.Errorf("HELP without TLS:\n%s", help)
	}
}

// TestParseChmod: SITE CHMOD's modes, each result recorded from ProFTPD
// 1.3.8 (Umask 022) on a file of the starting mode.
func TestParseChmod(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		start, got uint32 // got 0o7777+1: invalid
	}{
		{"644", 0o600, 0o644}, {"0644", 0o600, 0o644}, {"755", 0o600, 0o755},
		{"0x1ff", 0o600, 0o777}, {"12345", 0o600, 0o12345}, {"4755", 0o600, 0o4755},
		{"99", 0o600, bad}, {"-1", 0o600, bad}, {"abc", 0o600, bad}, {"0x", 0o600, bad},
		{"u+x", 0o644, 0o744}, {"go-w", 0o666, 0o644}, {"=r", 0o644, 0o444},
		{"a=rwx", 0o600, 0o777}, {"ug+rw", 0o600, 0o660}, {"u+s", 0o644, 0o4644},
		{"o+t", 0o644, 0o1644}, {"u+X", 0o644, bad}, {"u+x,g+w", 0o644, bad},
		{"+x", 0o644, 0o755}, {"g=u", 0o640, 0o060}, {"u-rw", 0o640, 0o040},
		{"go=", 0o755, bad}, {"o=g", 0o644, 0o004}, {"ugo+w", 0o644, 0o666},
		{"uu+x", 0o644, 0o744}, {"x+r", 0o644, bad}, {"u+", 0o644, bad}, {"+", 0o644, bad},
		{"u=rwxs", 0o644, 0o4700}, {"g+u", 0o600, 0o660}, {"ua-r", 0o644, 0o200},
	} {
		got, ok := parseChmod(tc.mode, tc.start, 0o022)
		if !ok {
			got = bad
		}
		if got != tc.got {
			t.Errorf("SITE CHMOD %s on %04o: %o, ProFTPD: %o", tc.mode, tc.start, got, tc.got)
		}
	}
}

const bad = 0o7777 + 1

// denying is a policy that refuses the commands it names, on every path.
type denying struct {
	FixedPolicy
	cmds map[string]bool
}

func (d denying) Allowed(cmd, _ string, _ access.Who) bool { return !d.cmds[cmd] }
func (denying) ConnectAllowed(netip.Addr) bool             { return true }

// TestSITECHMOD: SITE CHMOD and SITE CHGRP as ProFTPD answers them.
func TestSITECHMOD(t *testing.T) {
	addr, home := startServer(t, &Server{})
	f := filepath.Join(home, "f.txt")
	write := func(mode os.FileMode) {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(f, mode)
	}
	write(0o600)
	os.Mkdir(filepath.Join(home, "my dir"), 0o755)
	os.WriteFile(filepath.Join(home, "my dir", "g h"), nil, 0o600)
	c := dialClient(t, addr)
	c.Must(530, "SITE CHMOD 644 f.txt")
	c.Login()
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	}
	for _, tc := range []struct {
		cmd   string
		reply string
		mode  os.FileMode
	}{
		{"SITE CHMOD 644 f.txt", "200 SITE CHMOD command successful", 0o644},
		{"site chmod 0600 f.txt", "200 SITE CHMOD command successful", 0o600},
		{"SITE CHMOD u+x f.txt", "200 SITE CHMOD command successful", 0o700},
		{"SITE CHMOD 4755 f.txt", "200 SITE CHMOD command successful", 0o755 | os.ModeSetuid},
		{"SITE CHMOD 99 f.txt", "550 '99': invalid mode", 0o755 | os.ModeSetuid},
		{"SITE CHMOD 644 nonexist", "550 nonexist: No such file or directory", 0o755 | os.ModeSetuid},
		{"SITE CHMOD 644 f.txt extra", "550 f.txt extra: No such file or directory", 0o755 | os.ModeSetuid},
		{"SITE CHMOD 640  f.txt", "200 SITE CHMOD command successful", 0o640},
	} {
		if got := strings.Join(c.CmdLines(tc.cmd), "\n"); got != tc.reply {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.reply)
		}
		if m := mode(f); m != tc.mode {
			t.Errorf("after %s: mode %v, want %v", tc.cmd, m, tc.mode)
		}
	}
	c.Must(250, "CWD my dir")
	c.Must(200, "SITE CHMOD 644 g h")
	if m := mode(filepath.Join(home, "my dir", "g h")); m != 0o644 {
		t.Errorf("a name with a space: %v", m)
	}
	c.Must(200, "SITE CHGRP %d g h", os.Getgid())
	wantLines(t, "SITE CHGRP by name", c.CmdLines("SITE CHGRP nosuchgroup g h"), "550 g h: Invalid argument")

	// <Limit SITE_CHMOD> and <Limit SITE_CHGRP> (group WRITE).
	addr, home = startServer(t, &Server{Policy: denying{FixedPolicy{Settings: DefaultDirSettings}, map[string]bool{"SITE_CHMOD": true, "SITE_CHGRP": true}}})
	os.WriteFile(filepath.Join(home, "f.txt"), nil, 0o600)
	c = dialClient(t, addr)
	c.Login()
	wantLines(t, "SITE CHMOD refused", c.CmdLines("SITE CHMOD 644 f.txt"), "550 CHMOD 644 f.txt: Permission denied")
	wantLines(t, "SITE CHGRP refused", c.CmdLines("SITE CHGRP 0 f.txt"), "550 f.txt: Permission denied")
	if m := mode(filepath.Join(home, "f.txt")); m != 0o600 {
		t.Errorf("a refused SITE CHMOD changed the mode: %v", m)
	}
}

// TestSTAT: STAT's session status and listings, in ProFTPD's words.
func TestSTAT(t *testing.T) {
	addr, home := startServer(t, &Server{ServerName: "probe"})
	os.WriteFile(filepath.Join(home, "f.txt"), []byte("hi\n"), 0o644)
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	c := dialClient(t, addr)
	c.Must(530, "STAT")
	c.Must(331, "USER %s", testUser)
	c.Must(230, "PASS %s", testPass)
	wantLines(t, "STAT", c.CmdLines("STAT"),
		"211-Status of 'probe'",
		" Connected from 127.0.0.1 (127.0.0.1)",
		" Logged in as "+testUser,
		" TYPE: ASCII, STRUcture: File, Mode: Stream",
		" No data connection",
		"211 End of status")
	c.Must(200, "TYPE I")
	if got := c.Retr("f.txt"); string(got) != "hi\n" {
		t.Fatalf("RETR: %q", got)
	}
	if got := c.List("NLST"); got != "f.txt\r\nsub\r\n" {
		t.Fatalf("NLST: %q", got)
	}
	wantLines(t, "STAT after transfers", c.CmdLines("STAT"),
		"211-Status of 'probe'",
		" Connected from 127.0.0.1 (127.0.0.1)",
		" Logged in as "+testUser,
		" TYPE: BINARY, STRUcture: File, Mode: Stream",
		" Total bytes transferred for session: 15",
		" No data connection",
		"211 End of status")
	line := regexp.MustCompile(`^ [-d]rw[-x]r-[-x]r-[-x] +[0-9]+ \S+ +\S+ +[0-9]+ [A-Z][a-z]{2} [ 0-9]\d ( \d{4}|\d\d:\d\d) (.*)$`)
	names := func(lines []string) []string {
		var out []string
		for _, l := range lines[1 : len(lines)-1] {
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("listing line %q", l)
				continue
			}
			out = append(out, m[2])
		}
		return out
	}
	st := c.CmdLines("STAT .")
	if st[0] != "212-Status of .:" || st[len(st)-1] != "212 End of status" || strings.Join(names(st), ",") != ".,..,f.txt,sub" {
		t.Errorf("STAT .: %q", st)
	}
	st = c.CmdLines("STAT -la sub")
	if st[0] != "212-Status of sub:" || strings.Join(names(st), ",") != ".,.." {
		t.Errorf("STAT -la sub: %q", st)
	}
	st = c.CmdLines("STAT sub/../f.txt")
	if st[0] != "213-Status of sub/../f.txt:" || st[len(st)-1] != "213 End of status" || strings.Join(names(st), ",") != "sub/../f.txt" {
		t.Errorf("STAT sub/../f.txt: %q", st)
	}
	wantLines(t, "STAT nonexist", c.CmdLines("STAT nonexist"), "450 nonexist: No such file or directory")
}

// TestSTATDuringTransfer: STAT during a download describes it (ProFTPD
// answers it at once; other commands wait for the transfer's end).
func TestSTATDuringTransfer(t *testing.T) {
	addr, home := startServer(t, &Server{ServerName: "probe"})
	// Larger than what the sockets' buffers can hold, so that the
	// transfer is still running when STAT arrives; sparse.
	if err := os.WriteFile(filepath.Join(home, "big"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(home, "big"), 256<<20); err != nil {
		t.Fatal(err)
	}
	c := dialClient(t, addr)
	c.Login()
	conn, _ := c.Data("RETR big")
	head := make([]byte, 1000)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatal(err)
	}
	st := c.CmdLines("STAT")
	if len(st) != 7 || st[0] != "211-Status of 'probe'" || !regexp.MustCompile(`^ Passive data transfer from 127\.0\.0\.1 port \d+$`).MatchString(st[4]) ||
		!regexp.MustCompile(`^ RETR /big \(268435456/\d+\)$`).MatchString(st[5]) || st[6] != "211 End of status" {
		t.Errorf("STAT during RETR: %q", st)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	c.Expect(226)
}

// TestOPTSMLST: OPTS MLST selects the facts MLST and MLSD show, and FEAT
// stars them, as ProFTPD's mod_facts does (its quirks included).
func TestOPTSMLST(t *testing.T) {
	addr, home := startServer(t, &Server{})
	os.WriteFile(filepath.Join(home, "f.txt"), []byte("hi\n"), 0o644)
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	c := dialClient(t, addr)
	c.Login()
	wantLines(t, "OPTS MLST type;size;", c.CmdLines("OPTS MLST type;size;"), "200 MLST OPTS type;size;")
	wantLines(t, "MLST f.txt", c.CmdLines("MLST f.txt"), "250-Start of list for f.txt", " size=3;type=file; /f.txt", "250 End of list")
	if got := c.List("MLSD"); !strings.Contains(got, "size=3;type=file; f.txt\r\n") || !strings.Contains(got, "type=dir; sub\r\n") || !strings.Contains(got, "type=cdir; .\r\n") {
		t.Errorf("MLSD after OPTS MLST type;size;: %q", got)
	}
	if feat := strings.Join(c.CmdLines("FEAT"), "\n"); !strings.Contains(feat, " MLST modify;perm;size*;type*;unique;UNIX.group;UNIX.groupname;UNIX.mode;UNIX.owner;UNIX.ownername;\n") {
		t.Errorf("FEAT after OPTS MLST:\n%s", feat)
	}
	wantLines(t, "OPTS MLST foo;Size;TYPE;", c.CmdLines("OPTS MLST foo;Size;TYPE;"), "200 MLST OPTS size;type;")
	// The last name counts only if a ";" follows it.
	wantLines(t, "OPTS MLST type;size", c.CmdLines("OPTS MLST type;size"), "200 MLST OPTS type;")
	wantLines(t, "MLST sub", c.CmdLines("MLST sub"), "250-Start of list for sub", " type=dir; /sub", "250 End of list")
	wantLines(t, "OPTS MLST", c.CmdLines("OPTS MLST"), "200 MLST OPTS")
	wantLines(t, "MLST f.txt, no facts", c.CmdLines("MLST f.txt"), "250-Start of list for f.txt", "  /f.txt", "250 End of list")
	wantLines(t, "OPTS MLST a; b;", c.CmdLines("OPTS MLST a; b;"), "501 'OPTS MLST' not understood")
	wantLines(t, "OPTS MLST UNIX.mode;modify;", c.CmdLines("OPTS MLST UNIX.mode;modify;"), "200 MLST OPTS UNIX.mode;modify;")
	if got := c.CmdLines("MLST f.txt"); len(got) != 3 || !regexp.MustCompile(`^ modify=\d{14};UNIX\.mode=0644; /f\.txt$`).MatchString(got[1]) {
		t.Errorf("MLST with modify and UNIX.mode: %q", got)
	}
}

// TestXCommandsAndListOfMissingPath: the X forms name themselves in
// their replies; LIST of a missing path opens the data connection (150)
// and then answers 450, NLST answers 450 at once, as ProFTPD does.
func TestXCommandsAndListOfMissingPath(t *testing.T) {
	addr, home := startServer(t, &Server{})
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	c := dialClient(t, addr)
	c.Login()
	for _, tc := range [][2]string{
		{"XPWD", `257 "/" is the current directory`},
		{"XMKD xd", `257 "/xd" - Directory successfully created`},
		{"XCWD xd", "250 XCWD command successful"},
		{"XCUP", "250 XCUP command successful"},
		{"XRMD xd", "250 XRMD command successful"},
		{"XCWD nonexist", "550 nonexist: No such file or directory"},
		{"XMKD sub", "550 sub: File exists"},
		{"XRMD nonexist", "550 nonexist: No such file or directory"},
		{"MKD md", `257 "/md" - Directory successfully created`},
		{"RMD md", "250 RMD command successful"},
		{"CWD sub", "250 CWD command successful"},
		{"CDUP", "250 CDUP command successful"},
	} {
		wantLines(t, tc[0], c.CmdLines(tc[0]), tc[1])
	}
	for _, cmd := range []string{"LIST nonexist", "LIST -l nonexist"} {
		d, err := net.DialTimeout("tcp", c.EPSV(), servetest.Deadline)
		if err != nil {
			t.Fatal(err)
		}
		c.Must(150, "%s", cmd)
		if b, err := io.ReadAll(d); err != nil || len(b) != 0 {
			t.Errorf("%s: data %q, %v", cmd, b, err)
		}
		d.Close()
		wantLines(t, cmd, c.ReadLines(), "450 nonexist: No such file or directory")
	}
	c.EPSV()
	wantLines(t, "NLST nonexist", c.CmdLines("NLST nonexist"), "450 nonexist: No such file or directory")
}

// TestSTOU: a unique name in the current directory, told in the 150
// reply, whatever the argument; refused after REST and with two
// arguments, as by ProFTPD.
func TestSTOU(t *testing.T) {
	addr, home := startServer(t, &Server{}) // AllowOverwrite off (ProFTPD's default)
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	c := dialClient(t, addr)
	c.Login()
	c.Must(250, "CWD sub")
	for _, cmd := range []string{"STOU", "STOU name"} {
		addr := c.EPSV()
		d, err := net.DialTimeout("tcp", addr, servetest.Deadline)
		if err != nil {
			t.Fatal(err)
		}
		msg := c.Must(150, "%s", cmd)
		m := regexp.MustCompile(`^FILE: (ftp[A-Za-z0-9]{6})$`).FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("%s: 150 %s", cmd, msg)
		}
		d.Write([]byte("unique"))
		d.Close()
		c.Expect(226)
		if b, err := os.ReadFile(filepath.Join(home, "sub", m[1])); err != nil || string(b) != "unique" {
			t.Errorf("%s: %s holds %q, %v", cmd, m[1], b, err)
		}
		if fi, _ := os.Stat(filepath.Join(home, "sub", m[1])); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644 (0666 and the Umask)", cmd, fi.Mode())
		}
	}
	c.Must(350, "REST 5")
	c.EPSV()
	wantLines(t, "STOU after REST", c.CmdLines("STOU"), "550 STOU incompatible with REST")
	c.EPSV()
	wantLines(t, "STOU a b", c.CmdLines("STOU a b"), "500 'STOU a b' not understood")
	if n, _ := os.ReadDir(filepath.Join(home, "sub")); len(n) != 2 {
		t.Errorf("sub holds %d files, want the 2 uploads", len(n))
	}
}

// TestLimitOnCommandsWithoutPaths: <Limit> on PWD, NOOP, FEAT, HELP, STAT,
// PASV and EPSV, with ProFTPD's replies.
func TestLimitOnCommandsWithoutPaths(t *testing.T) {
	deny := map[string]bool{"PWD": true, "XPWD": true, "NOOP": true, "FEAT": true, "HELP": true, "STAT": true, "PASV": true, "EPSV": true, "SITE_HELP": true}
	addr, _ := startServer(t, &Server{Policy: denying{FixedPolicy{Settings: DefaultDirSettings}, deny}})
	c := dialClient(t, addr)
	c.Login()
	for _, tc := range [][2]string{
		{"PWD", "550 PWD: Permission denied"},
		{"XPWD", "550 XPWD: Permission denied"},
		{"NOOP", "550 Operation not permitted"},
		{"FEAT", "550 FEAT: Operation not permitted"},
		{"HELP", "501 HELP: Permission denied"},
		{"SITE HELP", "501 HELP: Permission denied"},
		{"STAT", "500 STAT: Operation not permitted"},
		{"PASV", "501 PASV: Operation not permitted"},
		{"EPSV", "501 EPSV: Operation not permitted"},
	} {
		wantLines(t, tc[0], c.CmdLines(tc[0]), tc[1])
	}
}

// rootlessAuth accepts the password and then cannot use the session's
// root, as the daemon reports a DefaultRoot that does not exist.
type rootlessAuth struct{}

func (rootlessAuth) Login(context.Context, LoginRequest) (*Account, error) {
	return nil, fmt.Errorf("%w: /srv/missing: no such file or directory", ErrSessionRoot)
}

// TestSessionRootRefused: "530 Login incorrect." and the end of the
// connection, as ProFTPD ends the session when it cannot chroot.
func TestSessionRootRefused(t *testing.T) {
	addr, _ := startServer(t, &Server{Auth: rootlessAuth{}})
	c := dialClient(t, addr)
	c.Must(331, "USER %s", testUser)
	c.Must(530, "PASS %s", testPass)
	if !c.ClosedSilently() {
		t.Error("the connection stayed open")
	}
}

// TestListGlobs: LIST and NLST expand a pattern in their last path
// element as ProFTPD's glob(3) does (mget and mdelete of netkit ftp send
// "NLST *.txt"): names as the pattern gives them, dot files only for a
// dot pattern, each match listed as an entry, "450 No files found" for
// NLST without a match and an empty LIST; a file whose name has the
// pattern's characters is itself.
func TestListGlobs(t *testing.T) {
	addr, home := startServer(t, &Server{})
	for _, name := range []string{"f.txt", "g.txt", "h.log", ".hid.txt", "sub2/a.txt", "sub2/b.log", "sub/x", "lit*eral"} {
		os.MkdirAll(filepath.Dir(filepath.Join(home, name)), 0o755)
		os.WriteFile(filepath.Join(home, name), []byte("x"), 0o644)
	}
	c := dialClient(t, addr)
	c.Login()
	for cmd, want := range map[string]string{
		"NLST *.txt":      "f.txt\r\ng.txt\r\n",
		"NLST sub*":       "sub\r\nsub2\r\n",
		"NLST sub2/*.txt": "sub2/a.txt\r\n",
		"NLST .*":         ".\r\n..\r\n.hid.txt\r\n",
		"NLST ?.log":      "h.log\r\n",
		"NLST [fg].txt":   "f.txt\r\ng.txt\r\n",
		"NLST lit*eral":   "lit*eral\r\n",
		"LIST nomatch*":   "",
	} {
		if got := c.List(cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
	long := c.List("LIST sub*")
	if lines := strings.Split(strings.TrimSpace(long), "\r\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "d") || !strings.HasSuffix(lines[0], " sub") || !strings.HasSuffix(lines[1], " sub2") {
		t.Errorf("LIST sub*: %q", long)
	}
	c.EPSV()
	wantLines(t, "NLST nomatch*", c.CmdLines("NLST nomatch*"), "450 No files found")

	// UseGlobbing off: a pattern is a name.
	cfg, err := directives.Parse(strings.NewReader("UseGlobbing off\n"), "test.conf", directives.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{}
	if _, err := Configure(srv, cfg.Main); err != nil || !srv.NoGlobbing {
		t.Fatalf("Configure UseGlobbing off: %v, NoGlobbing %v", err, srv.NoGlobbing)
	}
	addr, home = startServer(t, srv)
	os.WriteFile(filepath.Join(home, "f.txt"), nil, 0o644)
	c = dialClient(t, addr)
	c.Login()
	c.EPSV()
	wantLines(t, "NLST *.txt (UseGlobbing off)", c.CmdLines("NLST *.txt"), "450 *.txt: No such file or directory")
}
