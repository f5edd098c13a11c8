package servetest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

func TestMain(m *testing.M) {
	code := testpeers.CheckNoLeakedSegments(m)
	Cleanup()
	os.Exit(code)
}

func statOf(fi os.FileInfo) *syscall.Stat_t { return fi.Sys().(*syscall.Stat_t) }

var workerCounts = []int{1, 2}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestStoresNeverDestroyData: refused uploads (no AllowOverwrite, no
// PASV, no PROT P, REST beyond the end) and aborted ones (a reset in the
// middle, ABOR, the daemon's SIGTERM) leave the old file's SHA-256 as it
// was; an upload that completes replaces it whole.
func TestStoresNeverDestroyData(t *testing.T) {
	for _, workers := range workerCounts {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			t.Run("refused", func(t *testing.T) {
				d := Start(t, Options{Workers: workers, TLS: true})
				target := d.WriteFile(t, "f.bin", random(t, 100000))
				before := SHA256(t, target)
				c := d.Dial(t)
				c.AuthTLS(tls.VersionTLS13)
				c.Login()
				c.EPSV()
				if msg := c.Must(550, "STOR f.bin"); msg != "f.bin: Overwrite permission denied" {
					t.Errorf("STOR over a file without AllowOverwrite: %q", msg)
				}
				if msg := c.Must(451, "APPE f.bin"); msg != "f.bin: Append/Restart not permitted, try again" {
					t.Errorf("APPE without AllowStoreRestart: %q", msg)
				}
				clear := d.Dial(t)
				clear.AuthTLSNoPROT(tls.VersionTLS13)
				clear.Login()
				clear.EPSV()
				if msg := clear.Must(522, "STOR new.bin"); msg != "SSL/TLS required on the data channel" {
					t.Errorf("STOR without PROT P: %q", msg)
				}
				if SHA256(t, target) != before || len(names(t, d.Home)) != 1 {
					t.Fatalf("refused uploads changed the home: %v", names(t, d.Home))
				}
			})
			t.Run("aborted", func(t *testing.T) {
				d := Start(t, Options{Workers: workers, TLS: true, Conf: "AllowOverwrite on\nAllowStoreRestart on\n"})
				target := d.WriteFile(t, "f.bin", random(t, 100000))
				before := SHA256(t, target)
				c := d.Dial(t)
				c.AuthTLS(tls.VersionTLS13)
				c.Login()
				// REST beyond the end: refused, no 1 TB sparse file.
				c.Must(350, "REST 1000000000000")
				c.EPSV()
				if msg := c.Must(554, "STOR f.bin"); msg != "REST: invalid f.bin argument" {
					t.Fatalf("REST beyond the end: %q", msg)
				}
				// Reset in the middle of the upload.
				conn, raw := c.Data("STOR f.bin")
				conn.Write(random(t, 50000))
				raw.SetLinger(0)
				raw.Close()
				if code, msg := c.Read(); code != 426 {
					t.Fatalf("reset upload: %d %s", code, msg)
				}
				// ABOR in the middle of an append.
				conn, _ = c.Data("APPE f.bin")
				conn.Write(random(t, 50000))
				c.Send("ABOR")
				if code, msg := c.Read(); code != 426 {
					t.Fatalf("aborted append: %d %s", code, msg)
				}
				c.Expect(226)
				if SHA256(t, target) != before || len(names(t, d.Home)) != 1 {
					t.Fatalf("aborted uploads changed the home: %v", names(t, d.Home))
				}
				// SIGTERM in the middle of an upload: 426, 421, old file.
				conn, _ = c.Data("STOR f.bin")
				conn.Write(random(t, 50000))
				d.Stop()
				if code, msg := c.Read(); code != 426 {
					t.Fatalf("upload during shutdown: %d %s", code, msg)
				}
				if code, msg := c.Read(); code != 421 {
					t.Fatalf("after the 426: %d %s", code, msg)
				}
				if SHA256(t, target) != before || len(names(t, d.Home)) != 1 {
					t.Fatalf("the shutdown changed the home: %v", names(t, d.Home))
				}
			})
			t.Run("completed despite a reset", func(t *testing.T) {
				d := Start(t, Options{Workers: workers, TLS: true, Conf: "AllowOverwrite on\n"})
				target := d.WriteFile(t, "f.bin", []byte("old"))
				c := d.Dial(t)
				c.AuthTLS(tls.VersionTLS13)
				c.Login()
				// Small enough to be in the server's socket buffer before
				// the reset: every byte arrives.
				payload := random(t, 32000)
				conn, raw := c.Data("STOR f.bin")
				conn.Write(payload)
				conn.(*tls.Conn).CloseWrite() // every byte and the close_notify sent
				raw.SetLinger(0)
				raw.Close()
				if code, msg := c.Read(); code != 226 {
					t.Fatalf("upload answered %d %s\n%s", code, msg, d.Log)
				}
				if got, _ := os.ReadFile(target); !bytes.Equal(got, payload) {
					t.Fatalf("stored %d bytes, want %d", len(got), len(payload))
				}
				if fi, err := os.Stat(target); err != nil || int(statOf(fi).Uid) != d.Uid {
					t.Fatalf("uploaded file owner: %v %v, want uid %d", fi, err, d.Uid)
				}
			})
		})
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestLimitWriteDenyAll: <Limit WRITE> DenyAll refuses STOR, DELE, MKD,
// RMD, RNFR and MFMT with ProFTPD's replies; reading still works.
func TestLimitWriteDenyAll(t *testing.T) {
	d := Start(t, Options{Workers: 1, Conf: "AllowOverwrite on\n<Directory ~>\n  <Limit WRITE>\n    DenyAll\n  </Limit>\n</Directory>\n"})
	target := d.WriteFile(t, "f.txt", []byte("keep me\n"))
	d.WriteFile(t, "sub/x", nil)
	before := SHA256(t, target)
	c := d.Dial(t)
	c.Login()
	for _, tc := range []struct{ cmd, want string }{
		{"STOR f.txt", "550 f.txt: Operation not permitted"},
		{"STOR new.txt", "550 new.txt: Operation not permitted"},
		{"DELE f.txt", "550 f.txt: Operation not permitted"},
		{"MKD d", "550 d: Permission denied"},
		{"RMD sub", "550 sub: Permission denied"},
		{"RNFR f.txt", "550 f.txt: Operation not permitted"},
		{"MFMT 20200101000000 f.txt", "550 Unable to handle command"},
	} {
		c.EPSV()
		if code, msg := c.Cmd("%s", tc.cmd); fmt.Sprintf("%d %s", code, msg) != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.cmd, code, msg, tc.want)
		}
	}
	if got := c.Retr("f.txt"); string(got) != "keep me\n" {
		t.Fatalf("RETR: %q", got)
	}
	if SHA256(t, target) != before || strings.Join(names(t, d.Home), ",") != "f.txt,sub" {
		t.Fatalf("the home changed: %v", names(t, d.Home))
	}
}

// TestMaxLoginAttempts: the connection closes after the third wrong
// password (ProFTPD's default MaxLoginAttempts 3), so a fourth is never
// answered.
func TestMaxLoginAttempts(t *testing.T) {
	d := Start(t, Options{Workers: 1})
	c := d.Dial(t)
	for i := 1; i <= 3; i++ {
		c.Must(331, "USER %s", d.User)
		if msg := c.Must(530, "PASS wrong%d", i); msg != "Login incorrect." {
			t.Fatalf("wrong password %d: %q", i, msg)
		}
	}
	if !c.Closed() {
		t.Fatal("the connection is still open after 3 wrong passwords: a 4th would be answered")
	}
	// Another connection may try again.
	c = d.Dial(t)
	c.Login()
}

// TestTimeoutsApplied: TimeoutIdle and TimeoutNoTransfer from the
// configuration end sessions with ProFTPD's replies.
func TestTimeoutsApplied(t *testing.T) {
	d := Start(t, Options{Workers: 1, Conf: "TimeoutIdle 2\nTimeoutNoTransfer 3\n"})
	c := d.Dial(t)
	c.Login()
	if code, msg := c.Read(); code != 421 || msg != "Idle timeout (2 seconds): closing control connection" {
		t.Fatalf("idle session: %d %s", code, msg)
	}
	c = d.Dial(t)
	c.Login()
	for {
		code, msg := c.Cmd("NOOP")
		if code == 421 {
			if msg != "No transfer timeout (3 seconds): closing control connection" {
				t.Fatalf("421 %s", msg)
			}
			break
		}
		if code != 200 {
			t.Fatalf("NOOP: %d %s", code, msg)
		}
		time.Sleep(500 * time.Millisecond) // the client's pace
	}
}

// TestFlood: 1,000 connections (idle, slowloris, stalled TLS handshakes)
// against a daemon limited to 256 descriptors: a logged-in client keeps
// transferring, and a new client can still log in. The worker, which
// receives connections faster than it can close the oldest idle ones,
// makes room or answers 421, and says so in the log once a second, not
// once per connection.
func TestFlood(t *testing.T) {
	start := time.Now()
	d := Start(t, Options{Workers: 1, TLS: true, NoFile: 256})
	d.WriteFile(t, "f", []byte("data"))
	user := d.Dial(t)
	user.AuthTLS(tls.VersionTLS13)
	user.Login()

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for i := range 1000 {
		c, err := net.DialTimeout("tcp", d.Addr, Deadline)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		flood = append(flood, c)
		switch i % 3 {
		case 1:
			c.Write([]byte("USER slow")) // never ends the line
		case 2:
			c.Write([]byte("AUTH TLS\r\n")) // never starts the handshake
		}
	}
	for range 3 {
		if got := user.Retr("f"); string(got) != "data" {
			t.Fatalf("RETR during the flood: %q", got)
		}
		if got := user.List("NLST"); strings.TrimSpace(got) != "f" {
			t.Fatalf("NLST during the flood: %q", got)
		}
	}
	fresh := d.Dial(t)
	fresh.AuthTLS(tls.VersionTLS13)
	fresh.Login()
	fresh.Must(257, "PWD")
	log := d.Log.String()
	if n := strings.Count(log, "file+net"); n > 0 {
		t.Errorf("%d connections handed to the worker were dropped without a word (file+net passed ...):\n%s", n, log)
	}
	if n, secs := strings.Count(log, "out of descriptors: "), int(time.Since(start)/time.Second); n > secs+2 {
		t.Errorf("%d reports of refused connections in %d s: more than one a second", n, secs)
	}
}

// TestPassiveTheft: a connection to the passive port from 127.0.0.2 is
// dropped and logged; the real client's transfer completes intact.
func TestPassiveTheft(t *testing.T) {
	if !CanBind("127.0.0.2") {
		t.Fatal("127.0.0.2 is not usable on this machine (needed to connect from a foreign address)")
	}
	for _, workers := range workerCounts {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			d := Start(t, Options{Workers: workers, TLS: true})
			content := random(t, 300000)
			d.WriteFile(t, "f", content)
			c := d.Dial(t)
			c.AuthTLS(tls.VersionTLS13)
			c.Login()
			addr := c.EPSV()
			thief, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: Deadline}).Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer thief.Close()
			c.Send("RETR f")
			thief.SetReadDeadline(time.Now().Add(Deadline))
			if n, _ := thief.Read(make([]byte, 1)); n != 0 {
				t.Fatal("the thief got data")
			}
			real, err := net.DialTimeout("tcp", addr, Deadline)
			if err != nil {
				t.Fatalf("the real client cannot connect: %v", err)
			}
			defer real.Close()
			c.Expect(150)
			tc := tls.Client(real, c.cfg)
			got, err := io.ReadAll(tc)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("real client got %d bytes (%v), want %d", len(got), err, len(content))
			}
			c.Expect(226)
			waitLog(t, d, "SECURITY VIOLATION: Passive connection from foreign IP address 127.0.0.2 rejected (does not match client IP address 127.0.0.1).")
		})
	}
}

func waitLog(t *testing.T, d *Daemon, want string) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !strings.Contains(d.Log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the daemon's log:\n%s", want, d.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMFMTAndMDTM: mod_facts's replies through serve, and LIST with the
// owner's and group's names from the AuthUserFile and AuthGroupFile.
func TestMFMTAndMDTM(t *testing.T) {
	d := Start(t, Options{Workers: 1})
	d.WriteFile(t, "hello.txt", []byte("hello world 123456\n"))
	c := d.Dial(t)
	c.Login()
	if msg := c.Must(213, "MFMT 20210304050607 hello.txt"); msg != "Modify=20210304050607; hello.txt" {
		t.Fatalf("MFMT: %q", msg)
	}
	if msg := c.Must(213, "MDTM hello.txt"); msg != "20210304050607" {
		t.Fatalf("MDTM: %q", msg)
	}
	if msg := c.Must(550, "MFMT 20210304050607 nope"); msg != "nope: No such file or directory" {
		t.Fatalf("MFMT of a missing file: %q", msg)
	}
	if got, want := c.List("LIST"), "-rw-r--r--   1 tester   testers        19 Mar  4  2021 hello.txt\r\n"; got != want {
		t.Fatalf("LIST:\n%q\nwant\n%q", got, want)
	}
}

// TestTransferLog: xferlog lines for a download, an upload and an
// aborted upload, as ProFTPD writes them.
func TestTransferLog(t *testing.T) {
	d := Start(t, Options{Workers: 1, TLS: true})
	d.WriteFile(t, "hello.txt", []byte("hello\n"))
	c := d.Dial(t)
	c.AuthTLS(tls.VersionTLS13)
	c.Login()
	c.Retr("hello.txt")
	c.Stor("up load.txt", []byte("abc"))
	conn, raw := c.Data("STOR broken")
	conn.Write([]byte("12"))
	raw.SetLinger(0)
	raw.Close()
	c.Expect(426)
	c.Must(221, "QUIT")
	var lines []string
	deadline := time.Now().Add(Deadline)
	for len(lines) < 3 {
		b, _ := os.ReadFile(filepath.Join(d.Dir, "xferlog"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if time.Now().After(deadline) {
			t.Fatalf("xferlog:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	home := regexp.QuoteMeta(d.Home)
	stamp := `^[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 `
	for i, want := range []string{
		`6 ` + home + `/hello\.txt b _ o r tester ftps 0 \* c$`,
		`3 ` + home + `/up_load\.txt b _ i r tester ftps 0 \* c$`,
		`\d+ ` + home + `/broken b _ i r tester ftps 0 \* i$`,
	} {
		if !regexp.MustCompile(stamp + want).MatchString(lines[i]) {
			t.Errorf("xferlog line %d: %q, want %s", i+1, lines[i], want)
		}
	}
}

// TestSearchOnlyHome: a home under a directory the user may search but
// not read (mode 0711, as daemon.NewHome makes its temporary directory,
// and as /home often is) works as with ProFTPD, with and without
// DefaultRoot: curl uploads into it and lists it. As root the session's
// files are handled by the user's broker (uid 65534) and the directory
// is root's; otherwise by the daemon itself, and the directory is the
// invoking user's own, without read permission (0311).
func TestSearchOnlyHome(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	mode := os.FileMode(0o711)
	if os.Geteuid() != 0 {
		mode = 0o311
	}
	for _, defaultRoot := range []bool{false, true} {
		for _, workers := range workerCounts {
			t.Run(fmt.Sprintf("DefaultRoot=%v/workers=%d", defaultRoot, workers), func(t *testing.T) {
				d := Start(t, Options{Workers: workers, TLS: true, NoDefaultRoot: !defaultRoot})
				d.WriteFile(t, "f.txt", []byte("hello"))
				if err := os.Chmod(d.Dir, mode); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(d.Dir, 0o755) })
				up := filepath.Join(t.TempDir(), "up.txt")
				if err := os.WriteFile(up, []byte("uploaded by curl\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				url := "ftp://" + d.Addr + "/"
				run := func(args ...string) string {
					t.Helper()
					args = append([]string{"-sS", "--ssl-reqd", "-k", "--max-time", "60", "--user", d.User + ":" + d.Pass}, args...)
					out, err := exec.Command(curl, args...).CombinedOutput()
					if err != nil {
						t.Fatalf("curl %s: %v\n%s\n%s", strings.Join(args[6:], " "), err, out, d.Log)
					}
					return string(out)
				}
				run("-T", up, url+"up.txt")
				if b, err := os.ReadFile(filepath.Join(d.Home, "up.txt")); err != nil || string(b) != "uploaded by curl\n" {
					t.Fatalf("uploaded file: %q, %v", b, err)
				}
				list := run("-l", url)
				if got := strings.Fields(list); len(got) != 2 || got[0] != "f.txt" || got[1] != "up.txt" {
					t.Errorf("NLST: %q, want f.txt and up.txt", list)
				}
				if long := run(url); !strings.Contains(long, " tester   testers         5 ") || !strings.HasSuffix(long, " up.txt\n") {
					t.Errorf("LIST: %q", long)
				}
				if got := run(url + "f.txt"); got != "hello" {
					t.Errorf("download: %q", got)
				}
			})
		}
	}
}

// TestClientCommands: what real clients send beyond transfers works as
// with ProFTPD: lftp's chmod and PHP's ftp_chmod (SITE CHMOD, through the
// user's broker when root), Python ftplib's STAT and HELP, curl's quote
// of SITE HELP; a mode on another user's file is refused with the
// kernel's words, and <Limit SITE_CHMOD> refuses before the file system
// is asked.
func TestClientCommands(t *testing.T) {
	lftp := testpeers.Need(t, "lftp")
	php := testpeers.Need(t, "php")
	python := testpeers.Need(t, "python3")
	d := Start(t, Options{Workers: 1, TLS: true, Conf: "<Directory ~/locked>\n  <Limit SITE_CHMOD>\n    DenyAll\n  </Limit>\n</Directory>\n"})
	f := d.WriteFile(t, "f.txt", []byte("hello"))
	g := d.WriteFile(t, "g.txt", []byte("hello"))
	locked := d.WriteFile(t, "locked/l.txt", []byte("hello"))
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", filepath.Base(name), err, out, d.Log)
		}
		return string(out)
	}
	_, port, _ := net.SplitHostPort(d.Addr)
	run(lftp, "-u", d.User+","+d.Pass, "-p", port, "-e",
		"set ssl:verify-certificate no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set net:max-retries 1; chmod 600 f.txt; quit", "127.0.0.1")
	if m := mode(f); m != 0o600 {
		t.Errorf("lftp chmod 600: mode %v", m)
	}
	script := filepath.Join(t.TempDir(), "chmod.php")
	os.WriteFile(script, []byte(`<?php
$c = ftp_ssl_connect("127.0.0.1", (int)$argv[1], 60);
if ($c === false || !ftp_login($c, $argv[2], $argv[3])) { exit(2); }
ftp_pasv($c, true);
var_dump(ftp_chmod($c, 0640, "g.txt"));
var_dump(@ftp_chmod($c, 0644, "locked/l.txt"));
`), 0o644)
	if out := run(php, script, port, d.User, d.Pass); out != "int(416)\nbool(false)\n" {
		t.Errorf("PHP ftp_chmod: %q", out)
	}
	if m := mode(g); m != 0o640 {
		t.Errorf("PHP ftp_chmod 0640: mode %v", m)
	}
	if m := mode(locked); m != 0o644 {
		t.Errorf("<Limit SITE_CHMOD> DenyAll: mode %v", m)
	}
	py := filepath.Join(t.TempDir(), "stat.py")
	os.WriteFile(py, []byte(`import ftplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c = ftplib.FTP_TLS(context=ctx); c.connect("127.0.0.1", int(sys.argv[1])); c.login(sys.argv[2], sys.argv[3]); c.prot_p()
print(c.sendcmd("STAT f.txt")); print(c.sendcmd("HELP SITE")); print(c.sendcmd("SITE HELP CHMOD"))
c.quit()
`), 0o644)
	out := run(python, py, port, d.User, d.Pass)
	for _, want := range []string{"213-Status of f.txt:\n -rw-------   1 tester   testers         5 ", " f.txt\n213 End of status\n",
		"214-HELP\n CHGRP\n214 CHMOD\n", " Syntax: SITE CHMOD <sp> mode <sp> pathname\n214 Direct comments to root@127.0.0.1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Python ftplib: no %q in\n%s", want, out)
		}
	}
	// netkit ftp's mget sends "NLST *.txt" and fetches what it names.
	netkit := testpeers.Need(t, "ftp-ssl")
	d.WriteFile(t, "a.txt", []byte("a"))
	d.WriteFile(t, "b.txt", []byte("b"))
	local := t.TempDir()
	cmd := exec.Command(netkit, "-p", "-i", "-n", "-v", "-z", "secure", "127.0.0.1", port)
	cmd.Dir = local
	cmd.Stdin = strings.NewReader(fmt.Sprintf("user %s %s\nbinary\nmget *.txt\nquit\n", d.User, d.Pass))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ftp-ssl: %v\n%s", err, out)
	}
	for _, n := range []string{"a.txt", "b.txt"} {
		if b, err := os.ReadFile(filepath.Join(local, n)); err != nil || len(b) != 1 {
			t.Errorf("mget *.txt: %s: %q, %v", n, b, err)
		}
	}
	// A file the user does not own: the kernel refuses, as with ProFTPD
	// (as root; otherwise every file here is the user's).
	if os.Geteuid() == 0 {
		rootFile := d.WriteFile(t, "root.txt", []byte("x"))
		os.Chown(rootFile, 0, 0)
		c := d.Dial(t)
		c.AuthTLS(tls.VersionTLS13)
		c.Login()
		if msg := c.Must(550, "SITE CHMOD 666 root.txt"); msg != "CHMOD 666 root.txt: Operation not permitted" {
			t.Errorf("SITE CHMOD of root's file: %q", msg)
		}
		if m := mode(rootFile); m != 0o644 {
			t.Errorf("root's file: mode %v", m)
		}
	}
}

// TestOwnerNamesFollowAuthOrder: listings name owners from the
// AuthUserFile and AuthGroupFile (through the brokers too, which send
// ids only), then from the system's databases, unless AuthOrder limits
// ProFTPD to mod_auth_file.c: then an owner the files do not know shows
// as its number, as with ProFTPD.
func TestOwnerNamesFollowAuthOrder(t *testing.T) {
	for _, tc := range []struct{ conf, root string }{
		{"", " root     root "},
		{"AuthOrder mod_auth_file.c\n", " 0        0    "},
	} {
		t.Run(fmt.Sprintf("AuthOrder=%v", tc.conf != ""), func(t *testing.T) {
			d := Start(t, Options{Workers: 1, TLS: true, NoDefaultRoot: true, Conf: tc.conf})
			d.WriteFile(t, "f.txt", []byte("x"))
			c := d.Dial(t)
			c.AuthTLS(tls.VersionTLS13)
			c.Login()
			if got := c.List("LIST -d /"); !strings.Contains(got, tc.root) || !strings.HasSuffix(got, " /\r\n") {
				t.Errorf("LIST -d / (owned by root): %q, want %q", got, tc.root)
			}
			if got := c.List("LIST f.txt"); !strings.Contains(got, " tester   testers ") {
				t.Errorf("LIST f.txt (the user's): %q", got)
			}
		})
	}
}
