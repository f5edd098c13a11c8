package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// The tests run the program in two processes: the test binary itself,
// re-executed with GOFTP_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("GOFTP_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const hello = "hello over FTPS\n"

type setup struct {
	dir, root, ca string
	addrs         []string
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs n processes of the program on one session cache.
func start(t *testing.T, n int) *setup {
	t.Helper()
	s := &setup{dir: t.TempDir()}
	s.root = filepath.Join(s.dir, "root")
	if err := os.Mkdir(s.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.root, "hello.txt"), []byte(hello), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA()
	s.ca = ca.WriteFile(t, s.dir, "ca")
	certFile, keyFile := ca.Server(testpki.ECDSA).Files(t)
	cacheFile := filepath.Join(s.dir, "sessions")
	t.Cleanup(func() { modtlsshm.RemoveSessionCache("/file=" + cacheFile) })
	for i := 0; i < n; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cmd := exec.Command(os.Args[0], "-listen", addr, "-root", s.root, "-user", "alice", "-password", "secret",
			"-cache", cacheFile, "-cert", certFile, "-key", keyFile)
		cmd.Env = append(os.Environ(), "GOFTP_MAIN=1")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("server %s:\n%s", addr, logs.String())
			}
		})
		s.addrs = append(s.addrs, addr)
	}
	for _, addr := range s.addrs { // wait until each one greets
		deadline := time.Now().Add(60 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if strings.HasPrefix(line, "220") {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start: %v", addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// TestLftpAndCurl: both processes serve lftp and curl over explicit FTPS
// with protected data connections, which pass the data-channel check.
func TestLftpAndCurl(t *testing.T) {
	lftp := testpeers.Need(t, "lftp")
	curl := testpeers.Need(t, "curl")
	s := start(t, 2)
	for i, addr := range s.addrs {
		up := filepath.Join(s.dir, "up"+strconv.Itoa(i)+".txt")
		if err := os.WriteFile(up, []byte("uploaded "+addr+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, "", lftp, "-e", "set ssl:ca-file "+s.ca+"; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; "+
			"cls; cat hello.txt; put "+up+"; quit", "-u", "alice,secret", "ftp://"+addr)
		if !strings.Contains(out, "hello.txt") || !strings.Contains(out, hello) {
			t.Fatalf("lftp on %s:\n%s", addr, out)
		}
		if b, err := os.ReadFile(filepath.Join(s.root, filepath.Base(up))); err != nil || !bytes.Contains(b, []byte(addr)) {
			t.Fatalf("lftp's upload to %s: %q %v", addr, b, err)
		}
		url := "ftp://alice:secret@" + addr + "/"
		if out := run(t, "", curl, "-sS", "--ssl-reqd", "--cacert", s.ca, url+"hello.txt"); out != hello {
			t.Fatalf("curl download from %s: %q", addr, out)
		}
		run(t, "", curl, "-sS", "--ssl-reqd", "--cacert", s.ca, "-T", up, url+"curl-"+filepath.Base(up))
		if out := run(t, "", curl, "-sS", "--ssl-reqd", "--cacert", s.ca, "-l", url); !strings.Contains(out, "curl-up") {
			t.Fatalf("curl listing of %s: %q", addr, out)
		}
	}
}

// TestSessionResumesOnTheOtherProcess: a session saved by openssl
// s_client on one process is resumed on the other.
func TestSessionResumesOnTheOtherProcess(t *testing.T) {
	openssl := testpeers.Need(t, "openssl")
	s := start(t, 2)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(s.dir, "sess"+v)
		base := []string{"s_client", "-starttls", "ftp", v, "-CAfile", s.ca}
		first := run(t, "", openssl, append(base, "-connect", s.addrs[0], "-sess_out", sess)...)
		if !strings.Contains(first, "New, TLSv1.") {
			t.Fatalf("%s on the first process:\n%s", v, first)
		}
		second := run(t, "", openssl, append(base, "-connect", s.addrs[1], "-sess_in", sess)...)
		if !strings.Contains(second, "Reused, TLSv1.") {
			t.Fatalf("%s: the second process did not resume the first one's session:\n%s", v, second)
		}
	}
}
