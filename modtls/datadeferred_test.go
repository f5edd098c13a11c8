package modtls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// dataServer is the data side of an FTP engine that holds the *tls.Conn,
// as internal/ftpd does: each data connection is handshaken with
// Control.DataTLSConfigFor(upload), then CheckData gives the verdict; a
// refused connection is closed (CheckData sent the close_notify), an
// accepted download writes the payload, an accepted upload reads until
// the client's close_notify; both end with a close_notify of their own.
type dataServer struct {
	ctl    *Control
	addr   string
	upload bool
	mu     sync.Mutex
	next   []bool // direction of the next data connections, in order
	res    chan dataResult
}

// dataResult is what the engine saw on one data connection.
type dataResult struct {
	verdict  error  // CheckData's
	received []byte // an upload's bytes
	readErr  error  // an upload's read error
	// refusalBytes are the bytes a refused connection sent after its
	// handshake, until it was closed: the close_notify record.
	refusalBytes int64
}

// countingConn counts the bytes written to a connection.
type countingConn struct {
	net.Conn
	mu      sync.Mutex
	written int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingConn) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

var payload = bytes.Repeat([]byte("ftpdtls data connection\n"), 4096)

func startEngine(t *testing.T, ctl *Control) *dataServer {
	t.Helper()
	e := &dataServer{ctl: ctl, res: make(chan dataResult, 16)}
	e.addr = testpeers.Serve(t, time.Minute, func(c net.Conn) {
		e.mu.Lock()
		upload := e.next[0]
		e.next = e.next[1:]
		e.mu.Unlock()
		cc := &countingConn{Conn: c}
		tc := tls.Server(cc, ctl.DataTLSConfigFor(upload))
		var r dataResult
		if err := tc.Handshake(); err != nil {
			r.verdict = err
			e.res <- r
			return
		}
		handshake := cc.count()
		if r.verdict = ctl.CheckData(tc); r.verdict != nil {
			r.refusalBytes = cc.count() - handshake
			e.res <- r
			return // the deferred close of c, as ftpd closes a refused connection
		}
		if upload {
			r.received, r.readErr = io.ReadAll(tc)
		} else {
			_, r.readErr = tc.Write(payload)
		}
		tc.CloseWrite()
		e.res <- r
		io.Copy(io.Discard, c) // until the client closes
	})
	return e
}

// transfer opens a data connection as an FTP client does and reports
// what the client saw: whether the handshake resumed, the client's error
// (nil when the connection ended cleanly; a download must bring the
// payload) and the server's result.
func (e *dataServer) transfer(t *testing.T, ccfg *tls.Config, upload bool) (resumed bool, clientErr error, r dataResult) {
	t.Helper()
	e.mu.Lock()
	e.next = append(e.next, upload)
	e.mu.Unlock()
	raw, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(time.Minute))
	c := tls.Client(raw, ccfg)
	if err := c.Handshake(); err != nil {
		t.Fatalf("data handshake failed on the client (the check must not fail it): %v", err)
	}
	resumed = c.ConnectionState().DidResume
	if upload {
		if _, err := c.Write(payload); err != nil {
			clientErr = err
		} else if err := c.CloseWrite(); err != nil {
			clientErr = err
		}
	}
	// Read to the end (a download's bytes, then the server's close), which
	// also takes in any session ticket the server sent.
	got, err := io.ReadAll(c)
	if clientErr == nil {
		clientErr = err
	}
	select {
	case r = <-e.res:
	case <-time.After(time.Minute):
		t.Fatal("the server did not finish the data connection")
	}
	if clientErr == nil && !upload && r.verdict == nil && !bytes.Equal(got, payload) {
		clientErr = fmt.Errorf("download: %d bytes, want %d", len(got), len(payload))
	}
	if r.verdict != nil && len(got) > 0 {
		clientErr = fmt.Errorf("a refused data connection delivered %d bytes", len(got))
	}
	return resumed, clientErr, r
}

// oneUseCache is a client session cache that uses each session once, as
// OpenSSL's client cache does with TLS 1.3 tickets (PHP ftp, Ruby
// net/ftp, curl with several URLs): a session handed out for a handshake
// is forgotten, so every data connection needs the ticket the previous
// connection sent.
type oneUseCache struct {
	mu   sync.Mutex
	m    map[string]*tls.ClientSessionState
	puts int
}

func newOneUseCache() *oneUseCache { return &oneUseCache{m: map[string]*tls.ClientSessionState{}} }

func (c *oneUseCache) Get(key string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	delete(c.m, key)
	return s, ok
}

func (c *oneUseCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs == nil {
		delete(c.m, key)
		return
	}
	c.m[key] = cs
	c.puts++
}

func (c *oneUseCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts
}

// TestDataTLSConfigForTickets: with DataTLSConfigFor a resumed TLS 1.3
// data connection sends a session ticket on downloads and listings and
// none on uploads, as ProFTPD does; so a client that uses each ticket
// once (OpenSSL's client cache) keeps resuming from listing to listing
// and from a listing to an upload, and its transfer after an upload is
// refused, as with ProFTPD. With DataTLSConfig (no tickets at all) the
// same client is refused from its second data connection on.
func TestDataTLSConfigForTickets(t *testing.T) {
	pki := newPKI(t)
	eng, log := dataEngine(t, pki, 0, false)
	ctl := eng.NewControl(nil)
	ctrl := startTLSServer(t, ctl.TLSConfig)
	e := startEngine(t, ctl)
	cache := newOneUseCache()
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	ccfg.ClientSessionCache = cache
	if _, _, err := ctrl.dial(t, ccfg); err != nil {
		t.Fatal(err)
	}
	if n := cache.count(); n != 1 {
		t.Fatalf("setup: the control connection sent %d tickets, want 1", n)
	}
	steps := []struct {
		name           string
		upload         bool
		resumed, works bool
		tickets        int // tickets the client holds received so far
	}{
		{"LIST", false, true, true, 2},
		{"NLST", false, true, true, 3},
		{"STOR", true, true, true, 3},
		// The ticket of NLST was spent by STOR, which sent none: a new
		// session, refused, as ProFTPD refuses it.
		{"RETR after STOR", false, false, false, 3},
	}
	for _, s := range steps {
		resumed, cerr, r := e.transfer(t, ccfg, s.upload)
		if resumed != s.resumed {
			t.Fatalf("%s: resumed=%v, want %v", s.name, resumed, s.resumed)
		}
		if s.works {
			if r.verdict != nil || cerr != nil || r.readErr != nil {
				t.Fatalf("%s: server verdict %v, client %v, server transfer %v", s.name, r.verdict, cerr, r.readErr)
			}
			if s.upload && !bytes.Equal(r.received, payload) {
				t.Fatalf("%s: the server received %d bytes, want %d", s.name, len(r.received), len(payload))
			}
		} else if !errors.Is(r.verdict, ErrDataReuse) || cerr != nil {
			t.Fatalf("%s: server verdict %v and client %v, want ErrDataReuse ending with a close_notify", s.name, r.verdict, cerr)
		}
		if n := cache.count(); n != s.tickets {
			t.Fatalf("%s: the client has received %d tickets, want %d (a ticket on every resumed download "+
				"or listing, none on uploads or refused connections)", s.name, n, s.tickets)
		}
	}
	if !log.has(msgReused) || !log.has(msgNotReused) {
		t.Fatalf("TLSLog %q", log.all())
	}

	// DataTLSConfig sends no tickets: the same client's second data
	// connection finds no session.
	ctl2 := eng.NewControl(nil)
	p := &ftpsPair{ctl: ctl2, ctrl: startTLSServer(t, ctl2.TLSConfig), data: startTLSServer(t, ctl2.DataTLSConfig)}
	cache2 := newOneUseCache()
	ccfg2 := clientConfig(pki, tls.VersionTLS13, nil)
	ccfg2.ClientSessionCache = cache2
	if _, _, err := p.ctrl.dial(t, ccfg2); err != nil {
		t.Fatal(err)
	}
	if cs, err := p.checkData(t, ccfg2); err != nil || !cs.DidResume {
		t.Fatalf("DataTLSConfig: first data connection: resumed=%v err=%v", cs.DidResume, err)
	}
	if _, err := p.checkData(t, ccfg2); !errors.Is(err, ErrDataReuse) {
		t.Fatalf("DataTLSConfig: second data connection of a one-use-ticket client: %v, want refused "+
			"(no ticket on data connections)", err)
	}
	if n := cache2.count(); n != 1 {
		t.Fatalf("DataTLSConfig: data connections sent %d tickets, want none", n-1)
	}
}

// TestDataTLSConfigForRefusalCompletesHandshake: a data connection that
// fails the reuse check completes its handshake; CheckData refuses it
// with ErrDataReuse and sends the close_notify (one TLS record after the
// handshake, before the connection is closed), and the client reads a
// clean end. No ticket goes out on it, and the refusal is logged in
// mod_tls's words.
func TestDataTLSConfigForRefusalCompletesHandshake(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, upload := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/upload=%v", versionName(version), upload), func(t *testing.T) {
				eng, log := dataEngine(t, pki, 0, false)
				ctlA, ctlB := eng.NewControl(nil), eng.NewControl(nil)
				ctrlA := startTLSServer(t, ctlA.TLSConfig)
				dataB := startEngine(t, ctlB)

				// Another control connection's session.
				ccfg := clientConfig(pki, version, nil)
				cache := newCountingCache()
				ccfg.ClientSessionCache = cache
				if _, _, err := ctrlA.dial(t, ccfg); err != nil {
					t.Fatal(err)
				}
				before, _ := cache.counts()
				resumed, cerr, r := dataB.transfer(t, ccfg, upload)
				if !resumed {
					t.Fatal("setup: the data connection did not resume the other control connection's session")
				}
				var de *DataError
				if !errors.As(r.verdict, &de) || !errors.Is(r.verdict, ErrDataReuse) {
					t.Fatalf("CheckData: %v, want a DataError matching ErrDataReuse", r.verdict)
				}
				if cerr != nil && !(upload && isResetOrPipe(cerr)) {
					t.Fatalf("the client's data connection ended with %v, want the server's close_notify (io.EOF)", cerr)
				}
				checkCloseNotify(t, r)
				if !log.has(msgNotFromControl) || !log.has(msgDataFailed) {
					t.Fatalf("TLSLog %q lacks the refusal", log.all())
				}
				if after, _ := cache.counts(); version == tls.VersionTLS13 && after != before {
					t.Fatalf("the refused TLS 1.3 data connection sent %d tickets, want none", after-before)
				}

				// A full handshake.
				fresh := clientConfig(pki, version, nil)
				fcache := newCountingCache()
				fresh.ClientSessionCache = fcache
				resumed, cerr, r = dataB.transfer(t, fresh, upload)
				if resumed || !errors.Is(r.verdict, ErrDataReuse) {
					t.Fatalf("full handshake: resumed=%v verdict %v, want refused with ErrDataReuse", resumed, r.verdict)
				}
				if cerr != nil && !(upload && isResetOrPipe(cerr)) {
					t.Fatalf("full handshake: the client's data connection ended with %v, want io.EOF", cerr)
				}
				checkCloseNotify(t, r)
				if !log.has(msgNotReused) {
					t.Fatalf("TLSLog %q lacks %q", log.all(), msgNotReused)
				}
				if n, _ := fcache.counts(); version == tls.VersionTLS13 && n != 0 {
					t.Fatalf("the refused full TLS 1.3 handshake sent %d tickets, want none", n)
				}
				if st := eng.EngineStats(); st.DataRefused != 2 {
					t.Fatalf("EngineStats: %d data connections refused, want 2", st.DataRefused)
				}
			})
		}
	}
}

// checkCloseNotify checks that a refused connection sent one alert
// record (a close_notify) after its handshake: a TLS 1.3 record of 24
// bytes, a TLS 1.2 one of 23 to 31 depending on the cipher.
func checkCloseNotify(t *testing.T, r dataResult) {
	t.Helper()
	if r.refusalBytes < 23 || r.refusalBytes > 31 {
		t.Fatalf("the refused connection sent %d bytes after its handshake, want one close_notify record (23-31 bytes)", r.refusalBytes)
	}
}

// isResetOrPipe reports a write that met the server's close of a refused
// connection: an upload client that wrote before reading may see the
// reset (the refused connection's unread bytes), as with ProFTPD.
func isResetOrPipe(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// TestDataTLSConfigForWithoutReuseRequired: with NoSessionReuseRequired
// nothing is refused; downloads send a ticket, also after a full
// handshake (as ProFTPD's would), uploads none.
func TestDataTLSConfigForWithoutReuseRequired(t *testing.T) {
	pki := newPKI(t)
	eng, _ := dataEngine(t, pki, OptNoSessionReuseRequired, false)
	ctl := eng.NewControl(nil)
	e := startEngine(t, ctl)
	for _, upload := range []bool{false, true} {
		ccfg := clientConfig(pki, tls.VersionTLS13, nil)
		cache := newCountingCache()
		ccfg.ClientSessionCache = cache
		resumed, cerr, r := e.transfer(t, ccfg, upload)
		if resumed || r.verdict != nil || cerr != nil || r.readErr != nil {
			t.Fatalf("upload=%v: resumed=%v verdict %v client %v server %v", upload, resumed, r.verdict, cerr, r.readErr)
		}
		want := 1
		if upload {
			want = 0
		}
		if n, _ := cache.counts(); n != want {
			t.Fatalf("upload=%v: a full-handshake data connection sent %d tickets, want %d", upload, n, want)
		}
	}
}

// TestDataTLSConfigForTLS12: on TLS 1.2 DataTLSConfigFor resumes as
// DataTLSConfig does (crypto/tls sends a ticket in every resumed
// handshake, whatever the direction), so a Go client resumes on every
// data connection, uploads included.
func TestDataTLSConfigForTLS12(t *testing.T) {
	pki := newPKI(t)
	eng, _ := dataEngine(t, pki, 0, false)
	ctl := eng.NewControl(nil)
	ctrl := startTLSServer(t, ctl.TLSConfig)
	e := startEngine(t, ctl)
	ccfg := clientConfig(pki, tls.VersionTLS12, nil)
	if _, _, err := ctrl.dial(t, ccfg); err != nil {
		t.Fatal(err)
	}
	for i, upload := range []bool{false, true, false, true} {
		resumed, cerr, r := e.transfer(t, ccfg, upload)
		if !resumed || r.verdict != nil || cerr != nil || r.readErr != nil {
			t.Fatalf("data connection %d (upload=%v): resumed=%v verdict %v client %v server %v", i+1, upload, resumed, r.verdict, cerr, r.readErr)
		}
		if upload && !bytes.Equal(r.received, payload) {
			t.Fatalf("upload %d: %d bytes arrived, want %d", i+1, len(r.received), len(payload))
		}
	}
}
