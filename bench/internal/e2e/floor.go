package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
)

// The CPU floor of a session is what no FTPS server can avoid: the server
// side of a full TLS handshake (the control connection), of a resumed one
// (the data connection) and one SHA-512-crypt password check, measured
// here, in this process, with crypto/tls and ftpdtls's crypt: a TLS server
// on 127.0.0.1 whose connection goroutines are locked to their threads and
// timed with the thread's CPU clock around the handshake (the client
// runs in other goroutines, on other threads, and is not counted).
//
// The key exchange is the client's choice, so there are two floors:
// OpenSSL- and GnuTLS-based clients (curl, lftp) offer X25519, crypto/tls
// (the driver) X25519MLKEM768, which costs more.

// Floor is the measured floor, per session.
type Floor struct {
	Name            string
	Full, Resumed   time.Duration // median server CPU per handshake
	Hash            time.Duration // median CPU of one password check
	Session         time.Duration // Full + Resumed + Hash
	Version, Cipher string        // what the handshakes negotiated
	Group           string        // the key exchange
	// The samples, and how many sessions they come from.
	FullS, ResumedS, HashS []time.Duration
	SessionsMeasured       int
}

// threadCPU is the CPU time of the calling thread, in nanoseconds
// (clock_gettime(CLOCK_THREAD_CPUTIME_ID) reads the scheduler's exact
// count; getrusage(RUSAGE_THREAD) can be tick-sampled, which makes a
// millisecond-long password check read as 0 or a whole tick).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// measureFloor runs n sessions' worth of handshakes (a full one, then a
// resumed one) with a client offering only curves (nil: crypto/tls's
// default), and n password checks.
func measureFloor(ctx context.Context, s *setup, name string, curves []tls.CurveID, n int) (Floor, error) {
	f := Floor{Name: name}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{s.cert.TLS}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return f, err
	}
	defer ln.Close()
	type sample struct {
		cpu     time.Duration
		resumed bool
		err     error
	}
	samples := make(chan sample, 2*n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				before := threadCPU()
				tc := tls.Server(c, srvCfg)
				err := tc.Handshake()
				if err == nil {
					// The client reads one byte, so that a TLS 1.3
					// client takes in its ticket, as FTP clients do.
					_, err = tc.Write([]byte{'x'})
				}
				cpu := threadCPU() - before
				samples <- sample{cpu, tc.ConnectionState().DidResume, err}
				io.Copy(io.Discard, tc)
			}()
		}
	}()
	dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			return tls.ConnectionState{}, err
		}
		var b [1]byte
		if _, err := io.ReadFull(tc, b[:]); err != nil {
			return tls.ConnectionState{}, err
		}
		return tc.ConnectionState(), nil
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		cfg := s.clientTLS()
		cfg.CurvePreferences = curves
		cs, err := dial(cfg)
		if err != nil {
			return f, fmt.Errorf("floor full handshake: %w", err)
		}
		f.Version, f.Cipher = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
		f.Group = cs.CurveID.String()
		if cs, err = dial(cfg); err != nil {
			return f, fmt.Errorf("floor resumed handshake: %w", err)
		}
		if !cs.DidResume {
			return f, fmt.Errorf("floor: the second handshake did not resume")
		}
		for range 2 {
			sm := <-samples
			if sm.err != nil {
				return f, fmt.Errorf("floor server: %w", sm.err)
			}
			if sm.resumed {
				f.ResumedS = append(f.ResumedS, sm.cpu)
			} else {
				f.FullS = append(f.FullS, sm.cpu)
			}
		}
	}
	ln.Close()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return f, err
	}
	// The password check, on a locked thread too.
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := 0; i < n; i++ {
			before := threadCPU()
			ok, err := authfile.CheckPassword(s.hash, s.pass)
			cpu := threadCPU() - before
			if err != nil || !ok {
				done <- fmt.Errorf("floor: password check failed: %v", err)
				return
			}
			f.HashS = append(f.HashS, cpu)
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		return f, err
	}
	f.Full, f.Resumed, f.Hash = medianDur(f.FullS), medianDur(f.ResumedS), medianDur(f.HashS)
	f.Session = f.Full + f.Resumed + f.Hash
	f.SessionsMeasured = n
	return f, nil
}

func medianDur(xs []time.Duration) time.Duration {
	fs := make([]float64, len(xs))
	for i, x := range xs {
		fs[i] = float64(x)
	}
	return time.Duration(median(fs))
}
