//go:build linux

package access

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ftpConn is a minimal FTP client for the differential test: it sends
// raw commands and returns raw replies, so that every refusal is seen as
// the server sent it.
type ftpConn struct {
	c     net.Conn
	r     *bufio.Reader
	local netip.Addr
	lines []string // every line of the last reply
}

// ioTimeout bounds every read and write of the test client; it is a
// deadline against hangs, never a timing assertion.
const ioTimeout = 30 * time.Second

// errClosed is returned when the server closed the connection instead of
// replying.
var errClosed = errors.New("connection closed by the server")

// dialFTP connects from local (an address of 127.0.0.0/8) and reads the
// greeting.
func dialFTP(addr string, local netip.Addr) (*ftpConn, int, string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: ioTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, "", err
	}
	f := &ftpConn{c: c, r: bufio.NewReader(c), local: local}
	code, msg, err := f.reply()
	if err != nil {
		c.Close()
		return nil, 0, "", err
	}
	return f, code, msg, nil
}

func (f *ftpConn) Close() error { return f.c.Close() }

// reply reads one reply, multi-line ones included; msg is its last line.
func (f *ftpConn) reply() (int, string, error) {
	_ = f.c.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := f.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return 0, "", errClosed
		}
		return 0, "", err
	}
	line = strings.TrimRight(line, "\r\n")
	f.lines = []string{line}
	if len(line) < 4 {
		return 0, "", fmt.Errorf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return 0, "", fmt.Errorf("bad reply %q", line)
	}
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := f.r.ReadString('\n')
			if err != nil {
				return 0, "", err
			}
			l = strings.TrimRight(l, "\r\n")
			f.lines = append(f.lines, l)
			if strings.HasPrefix(l, end) {
				line = l
				break
			}
		}
	}
	return code, line, nil
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// cmd sends one command and reads its reply.
func (f *ftpConn) cmd(format string, args ...any) (int, string, error) {
	_ = f.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := fmt.Fprintf(f.c, format+"\r\n", args...); err != nil {
		return 0, "", err
	}
	return f.reply()
}

// transfer runs a data command over a passive connection opened from the
// control connection's address: upload is written for STOR-like commands
// (nil for downloads). during, if set, runs after the preliminary reply,
// while the data connection is still open. It returns the final reply
// (or the refusal) and the data read.
func (f *ftpConn) transfer(command string, upload []byte, during func()) (int, string, []byte, error) {
	code, msg, err := f.cmd("PASV")
	if err != nil {
		return 0, "", nil, err
	}
	if code != 227 {
		return code, msg, nil, nil
	}
	addr, err := parsePASV(msg)
	if err != nil {
		return 0, "", nil, err
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: f.local.AsSlice()}, Timeout: ioTimeout}
	dc, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, "", nil, err
	}
	defer dc.Close()
	code, msg, err = f.cmd("%s", command)
	if err != nil || code >= 200 {
		return code, msg, nil, err
	}
	_ = dc.SetDeadline(time.Now().Add(ioTimeout))
	var data []byte
	if upload != nil {
		if _, err := dc.Write(upload); err != nil {
			return 0, "", nil, err
		}
		if during != nil {
			during()
		}
	} else {
		if during != nil {
			during()
		}
		data, err = io.ReadAll(dc)
		if err != nil {
			return 0, "", nil, err
		}
	}
	dc.Close()
	code, msg, err = f.reply()
	return code, msg, data, err
}

// parsePASV reads "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func parsePASV(msg string) (string, error) {
	i, j := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if i < 0 || j < i {
		return "", fmt.Errorf("bad PASV reply %q", msg)
	}
	parts := strings.Split(msg[i+1:j], ",")
	if len(parts) != 6 {
		return "", fmt.Errorf("bad PASV reply %q", msg)
	}
	n := make([]int, 6)
	for k, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 255 {
			return "", fmt.Errorf("bad PASV reply %q", msg)
		}
		n[k] = v
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", n[0], n[1], n[2], n[3], n[4]*256+n[5]), nil
}

// abortedStore starts "STOR path", sends part of the file, then ABOR on
// the control connection, then another part and the end of the data
// connection, and returns every reply after the 150 (426 then 226,
// normally). ProFTPD looks for ABOR on the control connection before
// each read of the data connection; the second part guarantees a read
// after the ABOR has arrived and before the end of the data (loopback
// delivers the ABOR within the write that sends it), so the upload is
// aborted, never completed.
func (f *ftpConn) abortedStore(path string) ([]string, error) {
	code, msg, err := f.cmd("PASV")
	if err != nil || code != 227 {
		return nil, fmt.Errorf("PASV: %d %q %v", code, msg, err)
	}
	addr, err := parsePASV(msg)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: f.local.AsSlice()}, Timeout: ioTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	dc := c.(*net.TCPConn)
	defer dc.Close()
	if code, msg, err = f.cmd("STOR %s", path); err != nil || code != 150 {
		return nil, fmt.Errorf("STOR: %d %q %v", code, msg, err)
	}
	chunk := []byte(strings.Repeat("partial\n", 64))
	_ = dc.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := dc.Write(chunk); err != nil {
		return nil, err
	}
	_ = f.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(f.c, "ABOR\r\n"); err != nil {
		return nil, err
	}
	_, _ = dc.Write(chunk) // fails if the server has already closed it
	_ = dc.CloseWrite()
	var replies []string
	for {
		code, msg, err := f.reply()
		if err != nil {
			return replies, err
		}
		replies = append(replies, msg)
		if code != 426 && code != 450 && code != 451 {
			return replies, nil
		}
	}
}
