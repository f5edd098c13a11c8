package bench

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// BenchmarkResumedHandshake compares the ways a server can resume TLS
// sessions, over TCP on 127.0.0.1 with client and server in this process
// (a handshake counts both sides' work): Go's own stateless tickets (a
// plain crypto/tls server), modtls with TLSSessionTickets on, and modtls
// with TLSSessionCache internal: and shm: (the ticket is a 32-byte id,
// the session is stored in the cache); "full" is the shm server with a
// client that keeps no sessions. Each reports ns/op (wall) and cpu-us/op,
// the CPU time this process used per handshake, which does not drop when
// other programs take the CPUs:
//
//	go test -run '^$' -bench ResumedHandshake ./bench/
func BenchmarkResumedHandshake(b *testing.B) {
	ca := testpki.NewCA()
	info := "/file=" + filepath.Join(b.TempDir(), "sessions")
	for _, v := range []struct {
		name string
		v    uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		for _, kind := range []testpki.KeyType{testpki.ECDSA, testpki.RSA} {
			cert := ca.Server(kind)
			for _, m := range []struct {
				name   string
				resume bool
				lines  []string // nil: plain crypto/tls
			}{
				{"full", false, []string{"TLSSessionCache shm:" + info + " 1800"}},
				{"gotickets", true, nil},
				{"modtlstickets", true, []string{"TLSSessionTickets on"}},
				{"internal", true, []string{"TLSSessionCache internal: 1800"}},
				{"shm", true, []string{"TLSSessionCache shm:" + info + " 1800"}},
			} {
				b.Run(v.name+"/"+kind.String()+"/"+m.name, func(b *testing.B) {
					cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
					if m.lines != nil {
						eng := openModTLS(b, cert.TLS, m.lines...)
						defer eng.Close()
						cfg = eng.TLSConfig(nil)
					}
					srv := startTLSServer(b, cfg)
					defer srv.close()
					client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: v.v, MaxVersion: v.v}
					if m.resume {
						client.ClientSessionCache = tls.NewLRUClientSessionCache(8)
						if _, err := dialTLS(srv.addr(), client); err != nil {
							b.Fatal(err)
						}
					}
					cpu0 := cpuTime()
					for b.Loop() {
						resumed, err := dialTLS(srv.addr(), client)
						if err != nil {
							b.Fatal(err)
						}
						if resumed != m.resume {
							b.Fatalf("resumed %v, want %v", resumed, m.resume)
						}
					}
					b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
				})
			}
		}
	}
	b.Cleanup(func() { modtlsshm.RemoveSessionCache(info) })
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tlsServer serves TLS on 127.0.0.1: each connection is handshaken,
// sent one byte, and read until the client closes.
type tlsServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startTLSServer(b testing.TB, cfg *tls.Config) *tlsServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &tlsServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				tc.Write([]byte{'x'})
				io.Copy(io.Discard, tc)
			}()
		}
	}()
	return s
}

func (s *tlsServer) addr() string { return s.ln.Addr().String() }

func (s *tlsServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

// dialTLS makes one connection, reads the server's byte (so that a TLS
// 1.3 client takes in its ticket) and reports whether it resumed.
func dialTLS(addr string, cfg *tls.Config) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return false, err
	}
	var one [1]byte
	if _, err := io.ReadFull(tc, one[:]); err != nil {
		return false, err
	}
	return tc.ConnectionState().DidResume, nil
}
