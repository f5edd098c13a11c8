package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A session, with every client: connect, AUTH TLS (a full handshake),
// USER/PASS, PBSZ 0, PROT P, a passive data connection (a resumed
// handshake where the server requires it) carrying the listing of the
// home directory, QUIT. The clients:
//
//   - driver: this program's own FTPS client (crypto/tls, EPSV, LIST);
//   - curl: `curl --ssl-reqd ftp://...` (PWD, EPSV, TYPE A, LIST), with
//     its default 200 ms happy-eyeballs timer and with
//     --happy-eyeballs-timeout-ms 5 (see BENCHMARKS.md on the timer);
//   - lftp: `lftp -c 'open ...; ls'` (FEAT, PWD, PBSZ, PROT, EPSV, LIST).

// client runs one session against srv.
type client struct {
	name string
	run  func(ctx context.Context, s *setup, srv *server) error
}

// clientTimeout bounds one session: generous, so that a loaded machine
// does not fail a run, while a hang still does.
const clientTimeout = 60 * time.Second

var clients = map[string]client{
	"driver":   {"driver", driverSession},
	"curl":     {"curl", func(ctx context.Context, s *setup, srv *server) error { return curlSession(ctx, s, srv, false) }},
	"curl-he5": {"curl 5 ms", func(ctx context.Context, s *setup, srv *server) error { return curlSession(ctx, s, srv, true) }},
	"lftp":     {"lftp", lftpSession},
}

// listingOK reports whether a listing shows the served files.
func listingOK(out []byte) error {
	if !bytes.Contains(out, []byte("file09.txt")) {
		return fmt.Errorf("the listing lacks the served files: %q", truncate(out, 300))
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func curlArgs(s *setup, he5 bool) []string {
	args := []string{"-sS", "--ssl-reqd", "--cacert", s.certFile, "-u", User + ":" + s.pass, "--max-time", "60"}
	if he5 {
		args = append(args, "--happy-eyeballs-timeout-ms", "5")
	}
	return args
}

func curlSession(ctx context.Context, s *setup, srv *server, he5 bool) error {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append(curlArgs(s, he5), "ftp://"+srv.addr+"/")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("curl: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return listingOK(out)
}

// lftpScript is the lftp command line of a session: certificate checked,
// TLS required for the login and the data, no retries.
func lftpScript(s *setup, srv *server, cmds string) string {
	return fmt.Sprintf("set ssl:ca-file %s; set ftp:ssl-force true; set ftp:ssl-protect-data true; "+
		"set net:max-retries 1; set net:timeout 30; set cmd:fail-exit true; open -u %s,%s ftp://%s; %s",
		s.certFile, User, s.pass, srv.addr, cmds)
}

func lftpSession(ctx context.Context, s *setup, srv *server) error {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "lftp", "-c", lftpScript(s, srv, "ls"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("lftp: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return listingOK(out)
}

func driverSession(ctx context.Context, s *setup, srv *server) error {
	cfg := s.clientTLS()
	f, err := dialFTPS(srv.addr, cfg)
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.login(User, s.pass); err != nil {
		return err
	}
	data, resumed, err := f.list()
	if err != nil {
		return err
	}
	if err := listingOK(data); err != nil {
		return err
	}
	if !resumed && srv.kind != "pure-ftpd" {
		return errors.New("the data connection did not resume the control connection's session")
	}
	return f.quit()
}

// clientTLS is a verifying client configuration with a session cache of
// its own (so that the control connection makes a full handshake and the
// data connection can resume it).
func (s *setup) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.cert.Roots(), ServerName: "localhost", MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// ftpClient is the driver: the commands of one session, with a deadline
// on every exchange.
type ftpClient struct {
	conn net.Conn
	r    *bufio.Reader
	cfg  *tls.Config
}

const ftpTimeout = 30 * time.Second

// dialFTPS connects, reads the greeting and secures the control
// connection with AUTH TLS.
func dialFTPS(addr string, cfg *tls.Config) (*ftpClient, error) {
	c, err := net.DialTimeout("tcp", addr, ftpTimeout)
	if err != nil {
		return nil, err
	}
	f := &ftpClient{conn: c, r: bufio.NewReader(c), cfg: cfg}
	if _, err := f.reply(220); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := f.cmd(234, "AUTH TLS"); err != nil {
		c.Close()
		return nil, err
	}
	tc := tls.Client(c, cfg)
	c.SetDeadline(time.Now().Add(ftpTimeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("control TLS handshake: %w", err)
	}
	f.conn, f.r = tc, bufio.NewReader(tc)
	return f, nil
}

func (f *ftpClient) close() { f.conn.Close() }

// cmd sends a command and checks the reply code.
func (f *ftpClient) cmd(want int, line string) (string, error) {
	f.conn.SetDeadline(time.Now().Add(ftpTimeout))
	if _, err := io.WriteString(f.conn, line+"\r\n"); err != nil {
		return "", err
	}
	verb, _, _ := strings.Cut(line, " ")
	msg, err := f.reply(want)
	if err != nil {
		return msg, fmt.Errorf("%s: %w", verb, err)
	}
	return msg, nil
}

// reply reads one (possibly multi-line) reply and checks its code.
func (f *ftpClient) reply(want int) (string, error) {
	f.conn.SetDeadline(time.Now().Add(ftpTimeout))
	line, err := f.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		return line, fmt.Errorf("malformed reply %q", line)
	}
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			more, err := f.r.ReadString('\n')
			if err != nil {
				return line, err
			}
			if strings.HasPrefix(more, end) {
				break
			}
		}
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil || code != want {
		return line, fmt.Errorf("reply %q, want %d", line, want)
	}
	return line, nil
}

// login sends USER, PASS, PBSZ 0 and PROT P.
func (f *ftpClient) login(user, pass string) error {
	if _, err := f.cmd(331, "USER "+user); err != nil {
		return err
	}
	if _, err := f.cmd(230, "PASS "+pass); err != nil {
		return err
	}
	if _, err := f.cmd(200, "PBSZ 0"); err != nil {
		return err
	}
	_, err := f.cmd(200, "PROT P")
	return err
}

// list runs EPSV and LIST over a protected data connection and returns
// the listing and whether the data handshake resumed.
func (f *ftpClient) list() ([]byte, bool, error) {
	msg, err := f.cmd(229, "EPSV")
	if err != nil {
		return nil, false, err
	}
	port, err := epsvPort(msg)
	if err != nil {
		return nil, false, err
	}
	host, _, _ := net.SplitHostPort(f.conn.RemoteAddr().String())
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), ftpTimeout)
	if err != nil {
		return nil, false, fmt.Errorf("data connection: %w", err)
	}
	defer dc.Close()
	if _, err := f.cmd(150, "LIST"); err != nil {
		return nil, false, err
	}
	dc.SetDeadline(time.Now().Add(ftpTimeout))
	tc := tls.Client(dc, f.cfg)
	if err := tc.Handshake(); err != nil {
		return nil, false, fmt.Errorf("data TLS handshake: %w", err)
	}
	data, err := io.ReadAll(tc)
	if err != nil {
		return nil, false, fmt.Errorf("reading listing: %w", err)
	}
	resumed := tc.ConnectionState().DidResume
	tc.Close()
	if _, err := f.reply(226); err != nil {
		return nil, false, fmt.Errorf("end of LIST: %w", err)
	}
	return data, resumed, nil
}

func (f *ftpClient) quit() error {
	_, err := f.cmd(221, "QUIT")
	f.close()
	return err
}

// epsvPort reads "229 Entering Extended Passive Mode (|||port|)".
func epsvPort(msg string) (int, error) {
	open, end := strings.IndexByte(msg, '('), strings.LastIndexByte(msg, ')')
	if open < 0 || end < open {
		return 0, fmt.Errorf("malformed EPSV reply %q", msg)
	}
	f := strings.Split(msg[open+1:end], "|")
	if len(f) != 5 {
		return 0, fmt.Errorf("malformed EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(f[3])
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("malformed EPSV reply %q", msg)
	}
	return port, nil
}
