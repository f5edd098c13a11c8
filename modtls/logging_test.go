package modtls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/trace"
	"io"
)

func TestTraceAndTLSLogLines(t *testing.T) {
	pki := newPKI(t)
	provider, cache := testCacheProvider(t, time.Now)
	tracer := trace.New()
	if err := tracer.SetLevels("tls", 1, 20); err != nil {
		t.Fatal(err)
	}
	var traceOut syncbuf.Buffer
	tracer.SetOutput(&traceOut)

	logPath := filepath.Join(t.TempDir(), "tls.log")
	st := DefaultSettings()
	st.Log = logPath
	st.SessionCache = CacheSpec{Configured: true, Provider: provider, Timeout: 600 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{Trace: tracer}, WithCertificates(nil, pki.issue(t, "ecdsa", certOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(nil) })
	ccfg := clientConfig(pki, tls.VersionTLS12, nil)
	srv.dial(t, ccfg)
	cache().set(errors.New("Invalid argument"), errors.New("Invalid argument"))
	srv.dial(t, ccfg)
	eng.Close()

	tr := traceOut.String()
	for _, want := range []string{
		fmt.Sprintf("<tls:9>: adding new SSL session to '%s' cache\n", provider),
		fmt.Sprintf("<tls:9>: getting SSL session from '%s' cache\n", provider),
		fmt.Sprintf("<tls:5>: error retrieving session from '%s' cache: Invalid argument\n", provider),
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("TraceLog lacks %q:\n%s", want, tr)
		}
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	line := `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} mod_tls/2\.9\.2\[\d+\]: `
	for _, msg := range []string{
		fmt.Sprintf("error retrieving session from '%s' cache: Invalid argument", provider),
		fmt.Sprintf("error adding session to '%s' cache: Invalid argument", provider),
	} {
		if !regexp.MustCompile(`(?m)^` + line + regexp.QuoteMeta(msg) + `$`).Match(b) {
			t.Errorf("TLSLog lacks %q:\n%s", msg, b)
		}
	}
}

func TestTLSLogFormatter(t *testing.T) {
	var out bytes.Buffer
	l := NewTLSLog(&out)
	l.SetFormatter(&TLSLogFormatter{PID: 17096, Location: time.UTC})
	e := logrus.NewEntry(l)
	e.Time = time.Date(2026, 11, 25, 8, 12, 11, 471_900_000, time.UTC)
	e.Info("TLSv1.3 connection accepted\n")
	want := "2026-11-25 08:12:11,471 mod_tls/2.9.2[17096]: TLSv1.3 connection accepted\n"
	if out.String() != want {
		t.Fatalf("got %q want %q", out.String(), want)
	}
}

// TestTLSLogHandshakeFailure: a failed control handshake is logged as
// mod_tls logs it.
func TestTLSLogHandshakeFailure(t *testing.T) {
	ca := testpki.NewCA()
	var log captureLog
	eng, err := New(Config{ServerConfig: ServerConfig{Certificates: []tls.Certificate{ca.Server(testpki.ECDSA).TLS}}, TLSLog: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, tc := range []struct {
		mech string
		err  error
		want []string
	}{
		{"TLS", io.EOF, []string{
			"TLS/TLS-C requested, starting TLS handshake",
			"unable to accept TLS connection: received EOF that violates protocol",
			"unable to accept TLS connection: usually this indicates an FTP-aware router, NAT, or firewall interfering with the TLS handshake",
			"TLS/TLS-C negotiation failed on control channel",
		}},
		{"TLS-P", errors.New("tls: client offered only unsupported versions: [301]"), []string{
			"SSL/TLS-P requested, starting TLS handshake",
			"unable to accept TLS connection: protocol error: tls: client offered only unsupported versions: [301]",
			"SSL/TLS-P negotiation failed on control channel",
		}},
	} {
		log.mu.Lock()
		log.msgs = nil
		log.mu.Unlock()
		ctl := eng.NewControl(nil)
		ctl.AuthRequested(tc.mech)
		ctl.ControlHandshakeDone(nil, tc.err)
		if got := log.all(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: TLSLog\n%s\nwant\n%s", tc.mech, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	ctl := eng.NewControl(nil)
	ctl.ProtectionSet("Clear")
	if !log.has("Protection set to Clear") {
		t.Fatalf("TLSLog %q", log.all())
	}
	if s := eng.EngineStats(); s.HandshakeFailures != 2 {
		t.Fatalf("handshake failures counted: %d", s.HandshakeFailures)
	}
}
