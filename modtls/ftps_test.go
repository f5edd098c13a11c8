package modtls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// A tiny FTPS responder: just enough of RFC 959/4217 for real clients to
// log in and fetch one file over a protected data connection, so that
// modtls's data-channel check meets jlaffaye/ftp, curl and lftp. (The real
// daemon lives in internal/; this only exercises modtls.)

const ftpsFile = "hello over FTPS\n"

type ftpsResponder struct {
	addr string
	eng  *TLS

	mu      sync.Mutex
	results []error       // CheckData verdicts, in order
	added   chan struct{} // a token per verdict recorded
}

func startFTPS(t *testing.T, eng *TLS) *ftpsResponder {
	t.Helper()
	r := &ftpsResponder{eng: eng, added: make(chan struct{}, 1024)}
	r.addr = testpeers.Serve(t, 20*time.Second, r.session)
	return r
}

func (r *ftpsResponder) verdicts() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.results...)
}

// waitVerdicts returns the verdicts once there are at least n, or what
// there is after a generous deadline. A client that gets a refusal may
// exit before the server records its verdict (the refusal is sent
// first), so tests wait for the server rather than read at once.
func (r *ftpsResponder) waitVerdicts(n int) []error {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		if v := r.verdicts(); len(v) >= n {
			return v
		}
		select {
		case <-r.added:
		case <-deadline.C:
			return r.verdicts()
		}
	}
}

func (r *ftpsResponder) record(err error) {
	r.mu.Lock()
	r.results = append(r.results, err)
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
}

func (r *ftpsResponder) session(c net.Conn) {
	ctl := r.eng.NewControl(nil)
	var conn net.Conn = c
	rd := bufio.NewReader(conn)
	reply := func(s string) { io.WriteString(conn, s+"\r\n") }
	var pasv net.Listener
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	reply("220 ftpdtls test responder")
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "AUTH":
			reply("234 AUTH " + arg + " successful")
			ctl.AuthRequested(arg)
			tc := tls.Server(c, ctl.TLSConfig())
			err := tc.Handshake()
			ctl.ControlHandshakeDone(tc, err)
			if err != nil {
				return
			}
			conn, rd = tc, bufio.NewReader(tc)
		case "FEAT":
			reply("211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n EPSV\r\n PASV\r\n SIZE\r\n211 End")
		case "USER":
			reply("331 Password required")
		case "PASS":
			reply("230 User logged in")
		case "PBSZ":
			reply("200 PBSZ 0 successful")
		case "PROT":
			if arg == "C" {
				ctl.ProtectionSet("Clear")
				reply("200 Protection set to Clear")
				continue
			}
			ctl.ProtectionSet("Private")
			reply("200 Protection set to Private")
		case "TYPE", "OPTS", "MODE", "CWD":
			reply("200 OK")
		case "PWD":
			reply(`257 "/" is the current directory`)
		case "SIZE":
			reply(fmt.Sprintf("213 %d", len(ftpsFile)))
		case "EPSV", "PASV":
			if pasv != nil {
				pasv.Close()
			}
			if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				reply("425 cannot listen")
				continue
			}
			port := pasv.Addr().(*net.TCPAddr).Port
			if strings.EqualFold(cmd, "EPSV") {
				reply(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", port))
			} else {
				reply(fmt.Sprintf("227 Entering Passive Mode (127,0,0,1,%d,%d)", port>>8, port&0xff))
			}
		case "RETR", "LIST", "NLST", "STOR":
			if pasv == nil {
				reply("425 Use PASV first")
				continue
			}
			reply("150 Opening BINARY mode data connection")
			d, err := pasv.Accept()
			pasv.Close()
			pasv = nil
			if err != nil {
				reply("425 Unable to build data connection")
				continue
			}
			d.SetDeadline(time.Now().Add(10 * time.Second))
			td := tls.Server(d, ctl.DataTLSConfig())
			err = ctl.CheckData(td)
			r.record(err)
			if err != nil {
				d.Close()
				reply(ReplyDataRejected)
				continue
			}
			switch strings.ToUpper(cmd) {
			case "RETR":
				io.WriteString(td, ftpsFile)
			case "STOR":
				io.Copy(io.Discard, td)
			default:
				io.WriteString(td, "file.txt\r\n")
			}
			td.Close()
			reply("226 Transfer complete")
		case "QUIT":
			reply("221 Goodbye")
			return
		default:
			reply("502 Command not implemented")
		}
	}
}

func ftpsEngine(t *testing.T, version uint16) (*TLS, *testPKI) {
	pki := newPKI(t)
	st := DefaultSettings()
	st.MinVersion, st.MaxVersion = version, version
	st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, pki
}

func TestFTPSJlaffayeClient(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			eng, pki := ftpsEngine(t, version)
			r := startFTPS(t, eng)
			c, err := ftp.Dial(r.addr, ftp.DialWithTimeout(10*time.Second),
				ftp.DialWithExplicitTLS(&tls.Config{
					RootCAs: pki.pool(), ServerName: "localhost",
					ClientSessionCache: tls.NewLRUClientSessionCache(4),
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Quit()
			if err := c.Login("user", "secret"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				resp, err := c.Retr("file.txt")
				if err != nil {
					t.Fatalf("RETR %d: %v", i+1, err)
				}
				b, _ := io.ReadAll(resp)
				resp.Close()
				if string(b) != ftpsFile {
					t.Fatalf("RETR %d got %q", i+1, b)
				}
			}
			for i, err := range r.verdicts() {
				if err != nil {
					t.Fatalf("data connection %d refused: %v", i+1, err)
				}
			}
		})
	}
}

// TestFTPSCurl shows the limit doc.go describes: curl (OpenSSL) resumes
// by ticket on TLS 1.3 but only by session id on TLS 1.2, which a
// crypto/tls server cannot do, so with reuse required its TLS 1.2 data
// connection is refused with 425.
func TestFTPSCurl(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	for _, tc := range []struct {
		version uint16
		flags   []string
		ok      bool
	}{
		{tls.VersionTLS13, []string{"--tlsv1.3"}, true},
		{tls.VersionTLS12, []string{"--tlsv1.2", "--tls-max", "1.2"}, false},
	} {
		t.Run(versionName(tc.version), func(t *testing.T) {
			eng, _ := ftpsEngine(t, tc.version)
			r := startFTPS(t, eng)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"-sS", "--ssl-reqd", "-k", "--user", "user:secret"}, tc.flags...)
			args = append(args, "ftp://"+r.addr+"/file.txt")
			out, err := exec.CommandContext(ctx, curl, args...).CombinedOutput()
			v := r.waitVerdicts(1)
			if len(v) != 1 {
				t.Fatalf("%d data connections checked; curl: %v %s", len(v), err, out)
			}
			if tc.ok {
				if err != nil || v[0] != nil || !bytes.Equal(out, []byte(ftpsFile)) {
					t.Fatalf("curl: %v %q; check: %v", err, out, v[0])
				}
				return
			}
			if err == nil || v[0] == nil {
				t.Fatalf("TLS 1.2 curl data connection was accepted (curl err %v, check %v)", err, v[0])
			}
			t.Logf("curl on TLS 1.2: %v; curl said: %s", v[0], bytes.TrimSpace(out))
		})
	}
}

func TestFTPSLftp(t *testing.T) {
	lftp := testpeers.Need(t, "lftp")
	for _, tc := range []struct {
		version  uint16
		priority string
	}{
		{tls.VersionTLS12, "NORMAL:-VERS-ALL:+VERS-TLS1.2"},
		{tls.VersionTLS13, "NORMAL:-VERS-ALL:+VERS-TLS1.3"},
	} {
		t.Run(versionName(tc.version), func(t *testing.T) {
			eng, _ := ftpsEngine(t, tc.version)
			r := startFTPS(t, eng)
			host, port, _ := net.SplitHostPort(r.addr)
			script := fmt.Sprintf("set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; "+
				"set ssl:priority %q; set net:max-retries 1; set net:timeout 10; "+
				"open -u user,secret -p %s %s; cat file.txt; cat file.txt", tc.priority, port, host)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, lftp, "-c", script)
			cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != ftpsFile+ftpsFile {
				t.Fatalf("lftp: %v %q; checks %v", err, out, r.verdicts())
			}
			for i, err := range r.verdicts() {
				if err != nil {
					t.Fatalf("data connection %d refused: %v", i+1, err)
				}
			}
		})
	}
}

// TestTLS12DataTicketRealClients measures what TLS12DataTicket is about
// with the OpenSSL clients that keep the control connection's session for
// every data connection: with renewed tickets (crypto/tls's default)
// their second TLS 1.2 data connection cannot resume and is refused;
// with empty tickets every one resumes. lftp (GnuTLS) works with both.
func TestTLS12DataTicketRealClients(t *testing.T) {
	ruby := testpeers.Need(t, "ruby")
	php := testpeers.Need(t, "php")
	lftp := testpeers.Need(t, "lftp")
	for _, policy := range []TLS12DataTicket{RenewDataTicket, EmptyDataTicket} {
		pki := newPKI(t)
		st := DefaultSettings()
		st.MinVersion, st.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
		eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})), WithTLS12DataTicket(policy))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		r := startFTPS(t, eng)
		host, port, _ := net.SplitHostPort(r.addr)
		listings := func(name string, args ...string) int {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
			return strings.Count(string(out), "file.txt")
		}
		rubyOK := listings(ruby, "-rnet/ftp", "-e", `f = Net::FTP.new("`+host+`", port: `+port+`,
			ssl: {verify_mode: OpenSSL::SSL::VERIFY_NONE}, username: "u", password: "p")
			3.times { begin; puts f.nlst; rescue => e; puts e; end }`)
		phpOK := listings(php, "-r", `$c = ftp_ssl_connect("`+host+`", `+port+`); ftp_login($c, "u", "p"); ftp_pasv($c, true);
			for ($i = 0; $i < 3; $i++) { $l = @ftp_nlist($c, "."); if ($l) { echo implode("\n", $l), "\n"; } }`)
		lftpOK := listings(lftp, "-e", "set ssl:verify-certificate no; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; cls; cls; cls; quit",
			"-u", "u,p", "ftp://"+r.addr)
		want := 1
		if policy == EmptyDataTicket {
			want = 3
		}
		if rubyOK != want || phpOK != want || lftpOK != 3 {
			t.Errorf("TLS12DataTicket %d: listings of 3 that worked: Ruby %d, PHP %d (want %d), lftp %d (want 3)",
				policy, rubyOK, phpOK, want, lftpOK)
		}
	}
}
