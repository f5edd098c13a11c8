package modtls

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// countingCache is a client session cache that counts what crypto/tls
// stores in it: one Put per session ticket the client receives.
type countingCache struct {
	tls.ClientSessionCache
	mu      sync.Mutex
	puts    int
	empties int // Puts of a session whose ticket is empty
}

func newCountingCache() *countingCache {
	return &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	c.puts++
	if cs != nil {
		if ticket, _, err := cs.ResumptionState(); err == nil && len(ticket) == 0 {
			c.empties++
		}
	}
	c.mu.Unlock()
	c.ClientSessionCache.Put(key, cs)
}

func (c *countingCache) counts() (puts, empties int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts, c.empties
}

// rawServer serves TLS handshakes with configs from cfg; each connection
// writes one byte, so that the client has read everything the server sent
// after its handshake (TLS 1.3 tickets) when it has read that byte.
func rawServer(t *testing.T, cfg func() *tls.Config) *tlsServer { return startTLSServer(t, cfg) }

// mapStore is the smallest server-side session store.
type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapStore) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	b, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	id := randomBytes(16)
	s.mu.Lock()
	s.m[string(id)] = b
	s.mu.Unlock()
	return id, nil
}

func (s *mapStore) unwrap(id []byte) *tls.SessionState {
	s.mu.Lock()
	b := s.m[string(id)]
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	ss, err := tls.ParseSessionState(b)
	if err != nil {
		return nil
	}
	return ss
}

// TestCryptoTLSReadsTicketSwitchAfterResumption pins the crypto/tls
// behaviour modtls relies on to send no session ticket on TLS 1.3 data
// connections: a per-connection configuration (from GetConfigForClient)
// may set SessionTicketsDisabled from inside UnwrapSession (resumed
// handshakes) or GetCertificate (full handshakes), and crypto/tls reads it
// again before it sends the NewSessionTicket
// (handshake_server_tls13.go, shouldSendSessionTickets).
func TestCryptoTLSReadsTicketSwitchAfterResumption(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	store := &mapStore{m: map[string][]byte{}}
	var mu sync.Mutex
	quiet := false // the next handshakes must send no ticket
	srv := rawServer(t, func() *tls.Config {
		base := &tls.Config{Certificates: []tls.Certificate{cert}}
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.GetConfigForClient = nil
			mu.Lock()
			off := quiet
			mu.Unlock()
			c.WrapSession = store.wrap
			c.UnwrapSession = func(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
				ss := store.unwrap(id)
				if ss != nil && off {
					c.SessionTicketsDisabled = true
				}
				return ss, nil
			}
			c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				if off {
					c.SessionTicketsDisabled = true
				}
				return &cert, nil
			}
			return c, nil
		}
		return base
	})
	cache := newCountingCache()
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	ccfg.ClientSessionCache = cache
	if _, _, err := srv.dial(t, ccfg); err != nil {
		t.Fatal(err)
	}
	if puts, _ := cache.counts(); puts != 1 {
		t.Fatalf("setup: the first handshake stored %d tickets, want 1", puts)
	}
	mu.Lock()
	quiet = true
	mu.Unlock()
	cs, _, err := srv.dial(t, ccfg)
	if err != nil || !cs.DidResume {
		t.Fatalf("setup: resumed=%v err=%v", cs.DidResume, err)
	}
	if puts, _ := cache.counts(); puts != 1 {
		t.Fatal("crypto/tls sent a NewSessionTicket on a resumed TLS 1.3 handshake although UnwrapSession " +
			"set SessionTicketsDisabled on the per-connection configuration: it no longer reads the switch after " +
			"resumption is decided (handshake_server_tls13.go shouldSendSessionTickets). FTPS data connections " +
			"would then send tickets, which write-then-close clients (netkit ftp-ssl, Ruby net/ftp) leave unread, " +
			"so their kernel resets the connection and the upload's tail is lost (426). Find another way to keep " +
			"data connections quiet before upgrading Go.")
	}
	full := clientConfig(pki, tls.VersionTLS13, nil)
	full.ClientSessionCache = newCountingCache()
	if _, _, err := srv.dial(t, full); err != nil {
		t.Fatal(err)
	}
	if puts, _ := full.ClientSessionCache.(*countingCache).counts(); puts != 0 {
		t.Fatal("crypto/tls sent a NewSessionTicket on a full TLS 1.3 handshake although GetCertificate set " +
			"SessionTicketsDisabled on the per-connection configuration; modtls's full-handshake data " +
			"connections would send tickets again (see the resumed case above for why that matters)")
	}
}

// TestCryptoTLSSendsTicketBeforeVerifyConnection pins why modtls decides
// in UnwrapSession whether a resumed TLS 1.3 data connection sends a
// ticket instead of in its data check: without client certificates,
// crypto/tls sends the ticket with its Finished, before VerifyConnection
// runs (handshake_server_tls13.go sendServerFinished), so the switch set
// there comes too late, and a refused connection would have sent one.
func TestCryptoTLSSendsTicketBeforeVerifyConnection(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	store := &mapStore{m: map[string][]byte{}}
	srv := rawServer(t, func() *tls.Config {
		base := &tls.Config{Certificates: []tls.Certificate{cert}}
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.GetConfigForClient = nil
			c.WrapSession = store.wrap
			c.UnwrapSession = func(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) { return store.unwrap(id), nil }
			c.VerifyConnection = func(tls.ConnectionState) error {
				c.SessionTicketsDisabled = true
				return nil
			}
			return c, nil
		}
		return base
	})
	cache := newCountingCache()
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	ccfg.ClientSessionCache = cache
	for i := 0; i < 2; i++ {
		if _, _, err := srv.dial(t, ccfg); err != nil {
			t.Fatal(err)
		}
	}
	if puts, _ := cache.counts(); puts != 2 {
		t.Fatalf("setting SessionTicketsDisabled in VerifyConnection suppressed the TLS 1.3 ticket (%d of 2 "+
			"handshakes sent one): crypto/tls now sends tickets after VerifyConnection. modtls's reason for deciding "+
			"in UnwrapSession (connState.dataTicket) is out of date; the decision could move into the data check", puts)
	}
}

// TestCryptoTLSResumedTLS12AlwaysSendsTicket pins the crypto/tls
// behaviour behind TLS12DataTicket: a resumed TLS 1.2 handshake always
// sends a NewSessionTicket (handshake_server.go doResumeHandshake sets
// ticketSupported unconditionally; SessionTicketsDisabled is not read
// after resumption), so WrapSession can only choose its content, and an
// empty one is sent as an empty ticket, which Go clients store as their
// session.
func TestCryptoTLSResumedTLS12AlwaysSendsTicket(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "ecdsa", certOpts{})
	store := &mapStore{m: map[string][]byte{}}
	var mu sync.Mutex
	empty := false
	var wrapsResumed int
	srv := rawServer(t, func() *tls.Config {
		base := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.GetConfigForClient = nil
			c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
				mu.Lock()
				defer mu.Unlock()
				if cs.DidResume {
					wrapsResumed++
					if empty {
						return []byte{}, nil
					}
				}
				return store.wrap(cs, ss)
			}
			c.UnwrapSession = func(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
				ss := store.unwrap(id)
				if ss != nil {
					c.SessionTicketsDisabled = true // has no effect in TLS 1.2
				}
				return ss, nil
			}
			return c, nil
		}
		return base
	})
	cache := newCountingCache()
	ccfg := clientConfig(pki, tls.VersionTLS12, nil)
	ccfg.ClientSessionCache = cache
	srv.dial(t, ccfg)
	cs, _, err := srv.dial(t, ccfg)
	if err != nil || !cs.DidResume {
		t.Fatalf("setup: resumed=%v err=%v", cs.DidResume, err)
	}
	mu.Lock()
	n := wrapsResumed
	mu.Unlock()
	if puts, _ := cache.counts(); n != 1 || puts != 2 {
		t.Fatalf("crypto/tls no longer sends a new ticket on every resumed TLS 1.2 handshake (wraps on "+
			"resumption %d, tickets stored by the client %d; want 1 and 2): ServerConfig.TLS12DataTicket and "+
			"the TLS 1.2 section of docs/EMBEDDING.md describe a behaviour that changed", n, puts)
	}
	mu.Lock()
	empty = true
	mu.Unlock()
	if cs, _, err := srv.dial(t, ccfg); err != nil || !cs.DidResume {
		t.Fatalf("setup: resumed=%v err=%v", cs.DidResume, err)
	}
	if _, empties := cache.counts(); empties != 1 {
		t.Fatal("an empty WrapSession result no longer reaches a Go client as an empty ticket that it " +
			"stores: EmptyDataTicket's documentation (Go clients cannot resume after it) is out of date")
	}
	if cs, _, err := srv.dial(t, ccfg); err != nil || cs.DidResume {
		t.Fatalf("a Go client resumed after storing an empty ticket (resumed=%v err=%v): update "+
			"EmptyDataTicket's documentation, Go clients now keep their session", cs.DidResume, err)
	}
}

// TestDataConnectionsSendNoTicket checks modtls's use of the behaviour
// pinned above: TLS 1.3 data connections made with DataTLSConfig (the
// direction unknown), resumed or not, send no ticket; control
// connections do. DataTLSConfigFor's choice is TestDataTLSConfigForTickets.
func TestDataConnectionsSendNoTicket(t *testing.T) {
	pki := newPKI(t)
	for _, opts := range []Options{0, OptNoSessionReuseRequired} {
		eng, _ := dataEngine(t, pki, opts, false)
		p := newPair(t, eng)
		cache := newCountingCache()
		ccfg := clientConfig(pki, tls.VersionTLS13, nil)
		ccfg.ClientSessionCache = cache
		if _, _, err := p.ctrl.dial(t, ccfg); err != nil {
			t.Fatal(err)
		}
		if puts, _ := cache.counts(); puts != 1 {
			t.Fatalf("the control connection sent %d tickets, want 1", puts)
		}
		for i := 0; i < 3; i++ {
			cs, err := p.checkData(t, ccfg)
			if err != nil || !cs.DidResume {
				t.Fatalf("data connection %d: resumed=%v err=%v", i, cs.DidResume, err)
			}
		}
		if puts, _ := cache.counts(); puts != 1 {
			t.Fatalf("resumed data connections sent %d tickets, want none", puts-1)
		}
		if opts&OptNoSessionReuseRequired != 0 {
			fresh := newCountingCache()
			fcfg := clientConfig(pki, tls.VersionTLS13, nil)
			fcfg.ClientSessionCache = fresh
			if cs, err := p.checkData(t, fcfg); err != nil || cs.DidResume {
				t.Fatalf("full-handshake data connection: resumed=%v err=%v", cs.DidResume, err)
			}
			if puts, _ := fresh.counts(); puts != 0 {
				t.Fatalf("a full-handshake data connection sent %d tickets, want none", puts)
			}
		}
	}
}

// TestTLS12DataTicket checks both choices on resumed TLS 1.2 data
// connections with a Go client: a renewed ticket keeps it resuming, an
// empty one makes it lose its session (the price of EmptyDataTicket,
// which OpenSSL clients need; see TestTLS12DataTicketRealClients).
func TestTLS12DataTicket(t *testing.T) {
	pki := newPKI(t)
	for _, policy := range []TLS12DataTicket{RenewDataTicket, EmptyDataTicket} {
		st := DefaultSettings()
		st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
		st.MaxVersion = tls.VersionTLS12
		eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})), WithTLS12DataTicket(policy))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		p := newPair(t, eng)
		ccfg := clientConfig(pki, tls.VersionTLS12, nil)
		if _, _, err := p.ctrl.dial(t, ccfg); err != nil {
			t.Fatal(err)
		}
		if _, err := p.checkData(t, ccfg); err != nil {
			t.Fatalf("policy %d: first data connection: %v", policy, err)
		}
		_, err = p.checkData(t, ccfg)
		switch {
		case policy == RenewDataTicket && err != nil:
			t.Fatalf("renewed tickets: second data connection refused: %v", err)
		case policy == EmptyDataTicket && !errors.Is(err, ErrDataReuse):
			t.Fatalf("empty tickets: a Go client's second data connection: %v, want it refused for not resuming", err)
		}
	}
}

// TestDataRefusedInsideHandshake is the in-handshake data-channel check
// as an FTP library that runs the data handshake itself meets it: it
// only uses Control.DataTLSConfig (here through tls.NewListener, as
// goftp.io/server does) and never calls CheckData. A data connection
// presenting another control connection's session fails its handshake
// with a *DataError that maps to the 425 reply.
func TestDataRefusedInsideHandshake(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			eng, log := dataEngine(t, pki, 0, false)
			ctlA, ctlB := eng.NewControl(nil), eng.NewControl(nil)
			ctrlA := startTLSServer(t, ctlA.TLSConfig)
			ccfg := clientConfig(pki, version, nil)
			if _, _, err := ctrlA.dial(t, ccfg); err != nil {
				t.Fatal(err)
			}
			// The client's session is good on A's own data port.
			pA := &ftpsPair{ctl: ctlA, data: startTLSServer(t, ctlA.DataTLSConfig)}
			if cs, err := pA.checkData(t, ccfg); err != nil || !cs.DidResume {
				t.Fatalf("own data connection: resumed=%v err=%v", cs.DidResume, err)
			}

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dataB := tls.NewListener(ln, ctlB.DataTLSConfig()) // B's passive port
			t.Cleanup(func() { dataB.Close() })
			serverErr := make(chan error, 1)
			go func() {
				c, err := dataB.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = c.Write([]byte("x")) // the library's first write runs the handshake
				serverErr <- err
			}()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), ccfg)
			if err == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = io.ReadAll(c)
				c.Close()
			}
			if err == nil {
				t.Fatal("the client's data connection was not refused")
			}
			var serr error
			select {
			case serr = <-serverErr:
			case <-time.After(20 * time.Second):
				t.Fatal("the server's data handshake did not end")
			}
			var de *DataError
			if !errors.As(serr, &de) || !errors.Is(serr, ErrDataRejected) || !errors.Is(serr, ErrDataReuse) {
				t.Fatalf("server data handshake error %v, want a DataError (ErrDataRejected, ErrDataReuse)", serr)
			}
			if !log.has(msgReused) || !log.has(msgNotFromControl) || !log.has(msgDataFailed) {
				t.Fatalf("TLSLog %q lacks the refusal's lines", log.all())
			}
		})
	}
}
