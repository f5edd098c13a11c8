package modtls

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// levelLog records each entry with its level.
type levelLog struct {
	mu      sync.Mutex
	entries []string // "LEVEL message"
}

func (l *levelLog) Levels() []logrus.Level { return logrus.AllLevels }
func (l *levelLog) Fire(e *logrus.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e.Level.String()+" "+e.Message)
	return nil
}

func (l *levelLog) logger() *logrus.Logger {
	lg := logrus.New()
	lg.SetOutput(io.Discard)
	lg.SetLevel(logrus.TraceLevel)
	lg.AddHook(l)
	return lg
}

// at returns the messages logged at level.
func (l *levelLog) at(level logrus.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if m, ok := strings.CutPrefix(e, level.String()+" "); ok {
			out = append(out, m)
		}
	}
	return out
}

type failingOCSPProvider struct{ err error }

func (failingOCSPProvider) Module() string                        { return "" }
func (p failingOCSPProvider) Open(string, Env) (OCSPCache, error) { return nil, p.err }

// TestFallbackNoticeWording: the reason in the fallback notice reads as
// ProFTPD's strerror ("No such file or directory"), not as Go's error
// text, and the error still matches the provider's with errors.Is.
func TestFallbackNoticeWording(t *testing.T) {
	ca := testpki.NewCA()
	seq := providerSeq.Add(1)
	sess, ocsp := fmt.Sprintf("enoent%d", seq), fmt.Sprintf("eacces%d", seq)
	registerSessionCache(t, sess, &funcProvider{open: func(string, time.Duration, Env) (SessionCache, error) {
		return nil, syscall.ENOENT
	}})
	if err := RegisterOCSPCache(ocsp, failingOCSPProvider{fmt.Errorf("wrapped: %w", syscall.EACCES)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnregisterOCSPCache(ocsp) })
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: sess, Timeout: 600 * time.Second}
	st.StaplingCache = CacheSpec{Configured: true, Provider: ocsp}
	var log levelLog
	eng, err := Open(testConfig(st, 0), Env{Log: log.logger()}, WithCertificates(nil, ca.Server(testpki.ECDSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	want := []string{
		"mod_tls/2.9.2: error opening '" + sess + "' TLSSessionCache: No such file or directory",
		// A reason that says more than its errno keeps its own words.
		"mod_tls/2.9.2: error opening '" + ocsp + "' TLSStaplingCache: wrapped: permission denied",
	}
	if got := log.at(logrus.WarnLevel); !slices.Equal(got, want) {
		t.Errorf("notices %q, want %q", got, want)
	}
	if got := eng.FallbackNotices(); !slices.Equal(got, want) {
		t.Errorf("FallbackNotices %q, want %q", got, want)
	}
	sf := eng.SessionCacheFallback()
	var coe *CacheOpenError
	if !errors.Is(sf, syscall.ENOENT) || !errors.Is(sf, fs.ErrNotExist) || !errors.As(sf, &coe) ||
		coe.Directive != "TLSSessionCache" || coe.Provider != sess {
		t.Errorf("SessionCacheFallback %#v does not match ENOENT as a *CacheOpenError", sf)
	}
	if of := eng.OCSPCacheFallback(); !errors.Is(of, os.ErrPermission) {
		t.Errorf("OCSPCacheFallback %v does not match EACCES", of)
	}
}

// TestFallbackNoticesLeftToCaller: with WithFallbackNotices(false), Open
// logs the fallback at debug level only and the caller gets the notice
// lines to log once (as a daemon's master does for all its workers).
func TestFallbackNoticesLeftToCaller(t *testing.T) {
	ca := testpki.NewCA()
	name := fmt.Sprintf("einval%d", providerSeq.Add(1))
	registerSessionCache(t, name, &funcProvider{open: func(string, time.Duration, Env) (SessionCache, error) {
		return nil, syscall.EINVAL
	}})
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: name, Timeout: 600 * time.Second}
	notice := "mod_tls/2.9.2: error opening '" + name + "' TLSSessionCache: Invalid argument"
	for _, loud := range []bool{true, false} {
		var log levelLog
		eng, err := Open(testConfig(st, 0), Env{Log: log.logger()},
			WithCertificates(nil, ca.Server(testpki.ECDSA).TLS), WithFallbackNotices(loud))
		if err != nil {
			t.Fatal(err)
		}
		warned := slices.Contains(log.at(logrus.WarnLevel), notice)
		debugged := slices.ContainsFunc(log.at(logrus.DebugLevel), func(m string) bool { return strings.HasPrefix(m, notice) })
		if warned != loud || debugged == loud {
			t.Errorf("WithFallbackNotices(%v): notice logged %v, at debug level %v: %q", loud, warned, debugged, log.entries)
		}
		if got := eng.FallbackNotices(); !slices.Equal(got, []string{notice}) {
			t.Errorf("WithFallbackNotices(%v): FallbackNotices %q", loud, got)
		}
		if _, n := eng.SessionCache(); n != InternalCache {
			t.Errorf("WithFallbackNotices(%v): cache %q, want the in-process one", loud, n)
		}
		eng.Close()
	}
}

// TestNoFallbackNoNotice: a cache in use gives no notice.
func TestNoFallbackNoNotice(t *testing.T) {
	ca := testpki.NewCA()
	eng, err := Open(testConfig(DefaultSettings(), 0), Env{}, WithCertificates(nil, ca.Server(testpki.ECDSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if n := eng.FallbackNotices(); n != nil {
		t.Fatalf("FallbackNotices %q", n)
	}
}
