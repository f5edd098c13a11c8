package conformance

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
)

// TestRedisDataFromControlOnOtherDaemonRefused (GitHub issue 8): with two
// `ftpdtls serve` daemons sharing their session cache in Redis, a
// session made on one daemon resumes on the other, yet a data connection
// on daemon 2 that resumes the session of a control connection on
// daemon 1 is refused with 425, as mod_tls refuses any data connection
// whose session is not its own control connection's. The control
// connection's own session is then accepted for its data.
func TestRedisDataFromControlOnOtherDaemonRefused(t *testing.T) {
	redisAddr := startRedisServer(t)
	_, home, roots, nodes := startServeNodes(t, redisAddr, 2)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			before := [2]int{
				strings.Count(nodes[0].readTLSLog(), msgNotFromCtrl),
				strings.Count(nodes[1].readTLSLog(), msgNotFromCtrl),
			}
			a := redisDialFTPS(t, nodes[0].addr, home, roots, v.version)
			b := redisDialFTPS(t, nodes[1].addr, home, roots, v.version)
			a.cmd(200, "NOOP") // a TLS 1.3 ticket is read with the reply after it
			b.cmd(200, "NOOP")

			// On daemon 2, b's data connection offers a's session,
			// which daemon 2 finds in Redis.
			dconn := redisOpenData(t, b, nodes[1].addr)
			dtls := tls.Client(dconn, a.cfg)
			if err := dtls.Handshake(); err != nil {
				t.Fatalf("data handshake on daemon 2 with a's session: %v\nlog:\n%s", err, nodes[1].log)
			}
			if !dtls.ConnectionState().DidResume {
				t.Fatalf("daemon 2 did not resume a's session (made on daemon 1) through Redis; the test proves nothing")
			}
			_, _ = io.Copy(io.Discard, dtls)
			dconn.Close()
			code, msg, err := b.r.ReadResponse(425)
			if got := fmt.Sprintf("%d %s", code, msg); err != nil || got != reply425Rejected {
				t.Fatalf("NLST on daemon 2 over a's session: got %q (%v), want %q", got, err, reply425Rejected)
			}
			log2 := nodes[1].readTLSLog()
			if got := strings.Count(log2, msgNotFromCtrl); got != before[1]+1 {
				t.Errorf("daemon 2's TLSLog has %d new %q lines, want 1:\n%s", got-before[1], msgNotFromCtrl, log2)
			}
			if got := strings.Count(nodes[0].readTLSLog(), msgNotFromCtrl); got != before[0] {
				t.Errorf("daemon 1's TLSLog gained a refusal it did not make:\n%s", nodes[0].readTLSLog())
			}

			// b's own session is accepted on the same control connection.
			dconn = redisOpenData(t, b, nodes[1].addr)
			dtls = tls.Client(dconn, b.cfg)
			if err := dtls.Handshake(); err != nil {
				t.Fatalf("data handshake on daemon 2 with b's session: %v", err)
			}
			if !dtls.ConnectionState().DidResume {
				t.Fatalf("b's data connection did not resume b's session")
			}
			listing, err := io.ReadAll(dtls)
			dconn.Close()
			if err != nil {
				t.Fatalf("reading the listing: %v", err)
			}
			b.expect(226)
			if !strings.Contains(string(listing), "README") {
				t.Errorf("listing over b's own session = %q, want it to name README", listing)
			}
			if log := nodes[1].readTLSLog(); strings.Count(log, msgNotFromCtrl) != before[1]+1 {
				t.Errorf("daemon 2 refused b's own session:\n%s", log)
			}
			a.cmd(221, "QUIT")
			b.cmd(221, "QUIT")
		})
	}
}

// redisDialFTPS logs in on addr over explicit FTPS with only the given
// TLS version and PROT P. Its sessions go to its own client session
// cache, so a data connection offers exactly the session of the
// connection whose cfg it uses.
func redisDialFTPS(t *testing.T, addr string, home *daemon.Home, roots *x509.CertPool, version uint16) *cliFTPS {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &cliFTPS{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), cache: tls.NewLRUClientSessionCache(8)}
	c.cfg = &tls.Config{ServerName: "localhost", RootCAs: roots, ClientSessionCache: c.cache,
		MinVersion: version, MaxVersion: version}
	c.expect(220)
	c.cmd(234, "AUTH TLS")
	tc := tls.Client(conn, c.cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("control handshake on %s: %v", addr, err)
	}
	if got := tc.ConnectionState().Version; got != version {
		t.Fatalf("control connection negotiated %s, want %s", tls.VersionName(got), tls.VersionName(version))
	}
	c.conn, c.r = tc, textproto.NewReader(bufio.NewReader(tc))
	c.cmd(331, "USER %s", home.User)
	c.cmd(230, "PASS %s", home.Password)
	c.cmd(200, "PBSZ 0")
	c.cmd(200, "PROT P")
	return c
}

// redisOpenData sends EPSV and NLST on c and returns the connected
// (not yet TLS) data connection, closed when the test ends.
func redisOpenData(t *testing.T, c *cliFTPS, ctrlAddr string) net.Conn {
	t.Helper()
	msg := c.cmd(229, "EPSV")
	i := strings.Index(msg, "(|||")
	if i < 0 {
		t.Fatalf("EPSV reply %q has no port", msg)
	}
	var port int
	if _, err := fmt.Sscanf(msg[i:], "(|||%d|)", &port); err != nil {
		t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	host, _, _ := net.SplitHostPort(ctrlAddr)
	dconn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dconn.Close() })
	_ = dconn.SetDeadline(time.Now().Add(10 * time.Second))
	c.cmd(150, "NLST")
	return dconn
}
