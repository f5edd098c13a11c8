package modtls

import (
	"crypto/tls"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ftpsPair is one FTP session's TLS side: a control listener and a data
// listener, both using the same Control.
type ftpsPair struct {
	ctl        *Control
	ctrl, data *tlsServer
}

func newPair(t *testing.T, eng *TLS) *ftpsPair {
	ctl := eng.NewControl(nil)
	return &ftpsPair{
		ctl:  ctl,
		ctrl: startTLSServer(t, ctl.TLSConfig),
		data: startTLSServer(t, ctl.DataTLSConfig),
	}
}

// checkData opens a data connection with the client config and returns
// the server's verdict: the data handshake's error (the in-handshake
// check), or CheckData's.
func (p *ftpsPair) checkData(t *testing.T, ccfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	cs, sc, err := p.data.dial(t, ccfg)
	if err != nil {
		var de *DataError
		if !errors.As(err, &de) {
			t.Fatalf("data handshake failed, not with a DataError: %v", err)
		}
		return cs, err
	}
	return cs, p.ctl.CheckData(sc)
}

func dataEngine(t *testing.T, pki *testPKI, opts Options, mtls bool) (*TLS, *captureLog) {
	t.Helper()
	st := DefaultSettings()
	st.Options = opts
	st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
	if mtls {
		st.VerifyClient = VerifyClientOn
		st.CACertificateFile = caFile(t, pki)
	}
	var tlsLog captureLog
	eng, err := Open(testConfig(st, 0), Env{TLSLog: tlsLog.logger()}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, &tlsLog
}

func wantRejected(t *testing.T, err error, kind error, log *captureLog, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("data connection accepted, want rejected")
	}
	var de *DataError
	if !errors.As(err, &de) || !errors.Is(err, ErrDataRejected) || !errors.Is(err, kind) || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("error %v does not match DataError/ErrDataRejected/%v/EPERM", err, kind)
	}
	if !strings.HasSuffix(err.Error(), "Operation not permitted") {
		t.Fatalf("error text %q", err)
	}
	if !log.has(msg) {
		t.Fatalf("TLSLog lacks %q; has %q", msg, log.all())
	}
}

func TestDataChannelReuse(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			t.Run("resumed from this control", func(t *testing.T) {
				eng, log := dataEngine(t, pki, 0, false)
				p := newPair(t, eng)
				ccfg := clientConfig(pki, version, nil)
				if _, _, err := p.ctrl.dial(t, ccfg); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ { // later ones resume the previous data session
					cs, err := p.checkData(t, ccfg)
					if err != nil || !cs.DidResume {
						t.Fatalf("data connection %d: resumed=%v err=%v", i+1, cs.DidResume, err)
					}
				}
				if !log.has(msgReused) {
					t.Fatalf("TLSLog lacks %q", msgReused)
				}
			})
			t.Run("session of another control connection", func(t *testing.T) {
				eng, log := dataEngine(t, pki, 0, false)
				p1, p2 := newPair(t, eng), newPair(t, eng)
				ccfg := clientConfig(pki, version, nil)
				if _, _, err := p1.ctrl.dial(t, ccfg); err != nil {
					t.Fatal(err)
				}
				_, err := p2.checkData(t, ccfg)
				wantRejected(t, err, ErrDataReuse, log, msgNotFromControl)
				if !log.has(msgReused) {
					t.Fatal("setup: the data connection did not even resume")
				}
				// Refused, it got no session of its own to come back with.
				_, err = p2.checkData(t, ccfg)
				wantRejected(t, err, ErrDataReuse, log, msgNotFromControl)
			})
			t.Run("full handshake", func(t *testing.T) {
				eng, log := dataEngine(t, pki, 0, false)
				p := newPair(t, eng)
				ctrlClient := clientConfig(pki, version, nil)
				if _, _, err := p.ctrl.dial(t, ctrlClient); err != nil {
					t.Fatal(err)
				}
				fresh := clientConfig(pki, version, nil)
				fresh.ClientSessionCache = nil
				_, err := p.checkData(t, fresh)
				wantRejected(t, err, ErrDataReuse, log, msgNotReused)
				// A refused data connection issues no session that a
				// later one could resume.
				fresh.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				_, err = p.checkData(t, fresh)
				wantRejected(t, err, ErrDataReuse, log, msgNotReused)
				_, err = p.checkData(t, fresh)
				wantRejected(t, err, ErrDataReuse, log, msgNotReused)
			})
			t.Run("NoSessionReuseRequired", func(t *testing.T) {
				eng, _ := dataEngine(t, pki, OptNoSessionReuseRequired, false)
				p1, p2 := newPair(t, eng), newPair(t, eng)
				if p1.ctl.ReuseRequired() {
					t.Fatal("ReuseRequired with NoSessionReuseRequired")
				}
				ccfg := clientConfig(pki, version, nil)
				p1.ctrl.dial(t, ccfg)
				if _, err := p2.checkData(t, ccfg); err != nil {
					t.Fatalf("other control's session refused: %v", err)
				}
				fresh := clientConfig(pki, version, nil)
				fresh.ClientSessionCache = nil
				if _, err := p1.checkData(t, fresh); err != nil {
					t.Fatalf("full handshake refused: %v", err)
				}
			})
			t.Run("client certificate mismatch", func(t *testing.T) {
				eng, log := dataEngine(t, pki, OptNoSessionReuseRequired, true)
				p := newPair(t, eng)
				certA := pki.issue(t, "ecdsa", certOpts{client: true})
				certB := pki.issue(t, "ecdsa", certOpts{client: true})
				if _, _, err := p.ctrl.dial(t, clientConfig(pki, version, &certA)); err != nil {
					t.Fatal(err)
				}
				_, err := p.checkData(t, clientConfig(pki, version, &certB))
				wantRejected(t, err, ErrDataCertMismatch, log, msgCertMismatch)
				if _, err := p.checkData(t, clientConfig(pki, version, &certA)); err != nil {
					t.Fatalf("same certificate refused: %v", err)
				}
			})
		})
	}
}

func TestDataChannelCacheOffNoReuseCheck(t *testing.T) {
	pki := newPKI(t)
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Off: true, Timeout: DefaultSessionCacheTimeout}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	p := newPair(t, eng)
	ccfg := clientConfig(pki, tls.VersionTLS13, nil)
	p.ctrl.dial(t, ccfg)
	if _, err := p.checkData(t, ccfg); err != nil {
		t.Fatalf("TLSSessionCache off still checks reuse: %v", err)
	}
}
