package bench

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ftpClient is the minimal explicit-FTPS client both servers are driven
// with: just the commands of one session, with a deadline on every
// exchange.
type ftpClient struct {
	conn net.Conn
	r    *bufio.Reader
	cfg  *tls.Config
	// Resumed reports whether the control connection's handshake resumed.
	resumed bool
}

const ftpTimeout = 10 * time.Second

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
	f.resumed = tc.ConnectionState().DidResume
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

// list runs PASV and LIST over a protected data connection and returns
// the listing and whether the data handshake resumed.
func (f *ftpClient) list() ([]byte, bool, error) {
	msg, err := f.cmd(227, "PASV")
	if err != nil {
		return nil, false, err
	}
	addr, err := pasvAddr(msg)
	if err != nil {
		return nil, false, err
	}
	dc, err := net.DialTimeout("tcp", addr, ftpTimeout)
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

// pasvAddr reads "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func pasvAddr(msg string) (string, error) {
	open, end := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if open < 0 || end < open {
		return "", fmt.Errorf("malformed PASV reply %q", msg)
	}
	f := strings.Split(msg[open+1:end], ",")
	if len(f) != 6 {
		return "", fmt.Errorf("malformed PASV reply %q", msg)
	}
	var n [6]int
	for i, s := range f {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > 255 {
			return "", fmt.Errorf("malformed PASV reply %q", msg)
		}
		n[i] = v
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", n[0], n[1], n[2], n[3], n[4]*256+n[5]), nil
}
