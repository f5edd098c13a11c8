package modtlsshm

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// The Go route's caches are what the providers' interfaces need.
var (
	_ modtls.SessionCache  = (*SessionCache)(nil)
	_ modtls.OCSPCache     = (*OCSPCache)(nil)
	_ modtls.StatsReporter = (*SessionCache)(nil)
	_ modtls.StatsReporter = (*OCSPCache)(nil)
)

// TestOptionsOneRoute: a cache opened from Go with Options and the same
// cache named by an info string are one segment, and the info string's
// ProFTPD reading (an ignored size means the default) happens before
// the common constructor, which then finds the segment's size differs.
func TestOptionsOneRoute(t *testing.T) {
	path := cacheFile(t)
	const size = 200000
	sc, err := OpenSessionCache(Options{File: path, Size: size}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if d, err := shmStat(sc.c.shmid); err != nil || d.Segsz != roundSize(size) {
		t.Fatalf("segment %d bytes (%v), want %d", d.Segsz, err, roundSize(size))
	}
	id := bytes.Repeat([]byte{7}, 32)
	if err := sc.Add(id, time.Now().Add(time.Hour), []byte("state")); err != nil {
		t.Fatal(err)
	}

	env, _, _, _ := testEnv(t)
	viaInfo, err := NewSessionProvider().Open(info(path, size), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	defer viaInfo.Close()
	if got := viaInfo.(*SessionCache).c.shmid; got != sc.c.shmid {
		t.Fatalf("info string opened shm ID %d, Options %d", got, sc.c.shmid)
	}
	if v, _, err := viaInfo.Get(id); err != nil || string(v) != "state" {
		t.Fatalf("session added through Options, read through the info string: %q %v", v, err)
	}
	st, err := viaInfo.(modtls.StatsReporter).Stats()
	if err != nil || st.Stored != 1 || st.Hits != 1 || st.Entries != 1 {
		t.Fatalf("Stats %+v %v", st, err)
	}

	// "size=abc" is ignored (ProFTPD's reading): the default size is
	// asked for, which the segment does not have.
	_, err = NewSessionProvider().Open("/file="+path+"&size=abc", time.Hour, env)
	mustErr(t, err, ErrSizeMismatch)
	_, err = OpenSessionCache(Options{File: path}, time.Hour)
	mustErr(t, err, ErrSizeMismatch)

	// The OCSP cache of the same file is another segment.
	oc, err := OpenOCSPCache(Options{File: path, Size: MinOCSPSize})
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if oc.c.shmid == sc.c.shmid {
		t.Fatal("the OCSP cache shares the session cache's segment")
	}
	if err := oc.Add("ab12", []byte("der"), time.Now()); err != nil {
		t.Fatal(err)
	}
	ocInfo, err := NewOCSPProvider().Open(info(path, MinOCSPSize), env)
	if err != nil {
		t.Fatal(err)
	}
	defer ocInfo.Close()
	if v, _, err := ocInfo.Get("ab12"); err != nil || string(v) != "der" {
		t.Fatalf("OCSP response through the info string: %q %v", v, err)
	}
}

// TestOptionsStrict: from Go, every problem is an error that says what is
// wrong in ProFTPD's words (system errors as strerror spells them) and
// matches the cause, syscall.EINVAL (what ProFTPD's open reports) and, for
// bad options, ErrBadInfo. Nothing is created.
func TestOptionsStrict(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(cacheFile(t), link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		ocsp bool
		want string
		is   []error
	}{
		{"no file", Options{}, false, "file '' not an absolute path", []error{ErrBadInfo}},
		{"relative", Options{File: "sess"}, false, "file 'sess' not an absolute path", []error{ErrBadInfo}},
		{"negative size", Options{File: dir + "/a", Size: -1}, false, "requested size (-1 bytes) is negative (cache file '" + dir + "/a')", []error{ErrBadInfo}},
		{"small", Options{File: dir + "/a", Size: MinSessionSize - 1}, false,
			"requested size (10343 bytes) smaller than minimum size (10344 bytes) (cache file '" + dir + "/a')", []error{ErrBadInfo}},
		{"small OCSP", Options{File: dir + "/a", Size: MinOCSPSize - 1}, true,
			"requested size (4223 bytes) smaller than minimum size (4224 bytes) (cache file '" + dir + "/a')", []error{ErrBadInfo}},
		{"missing directory", Options{File: dir + "/no/sess"}, false,
			"unable to open file '" + dir + "/no/sess': No such file or directory", []error{syscall.ENOENT, fs.ErrNotExist}},
		{"directory", Options{File: dir}, false, "unable to open file '" + dir + "': Is a directory", []error{syscall.EISDIR}},
		{"symbolic link", Options{File: link}, true,
			"unable to open file '" + link + "': Too many levels of symbolic links", []error{syscall.ELOOP}},
		{"too large", Options{File: cacheFile(t), Size: 1 << 50}, false,
			"unable to allocate session shm: Cannot allocate memory (cache file '", []error{syscall.ENOMEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.ocsp {
				var c *OCSPCache
				c, err = OpenOCSPCache(tc.opts)
				if c != nil {
					t.Fatal("a cache and an error")
				}
			} else {
				var c *SessionCache
				c, err = OpenSessionCache(tc.opts, time.Hour)
				if c != nil {
					t.Fatal("a cache and an error")
				}
			}
			var oe *OpenError
			if err == nil || !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want an *OpenError %q", err, tc.want)
			}
			for _, target := range append(tc.is, syscall.EINVAL) {
				if !errors.Is(err, target) {
					t.Errorf("error %v does not match %v", err, target)
				}
			}
		})
	}
	if _, err := os.Stat(dir + "/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused open created its file: %v", err)
	}
}

// TestOptionsNotices: the notices go to Options.Log, the traces to
// Options.Trace, as the info string's do to Env.
func TestOptionsNotices(t *testing.T) {
	env, traces, log, _ := testEnv(t)
	_, err := OpenSessionCache(Options{File: "rel", Log: env.Log, Trace: env.Trace}, time.Hour)
	mustErr(t, err, ErrBadInfo)
	if !hasLine(log.String(), "mod_tls_shmcache/0.2: file 'rel' not an absolute path") {
		t.Errorf("log:\n%s", log)
	}
	path := cacheFile(t)
	sc, err := OpenSessionCache(Options{File: path, Log: env.Log, Trace: env.Trace}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for _, want := range []string{"<tls.shmcache:9>: opening shmcache session cache 0x", "<tls.shmcache:9>: requested session cache file: " + path} {
		if !strings.Contains(traces.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, traces)
		}
	}
}

// TestOptionsManyFiles: a Go program may open caches on several files at
// once; only the "shm" provider, like ProFTPD, refuses a second file
// while the first is open.
func TestOptionsManyFiles(t *testing.T) {
	a, b := cacheFile(t), cacheFile(t)
	ca, err := OpenSessionCache(Options{File: a}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := OpenSessionCache(Options{File: b}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	p := NewSessionProvider()
	pa, err := p.Open(info(a, 0), time.Hour, modtls.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	_, err = p.Open(info(b, 0), time.Hour, modtls.Env{})
	mustErr(t, err, ErrFileMismatch)
	if want := "file '" + b + "' does not match previously configured file '" + a + "'"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// TestFallbackNoticeStrerror: through modtls.Open (the proftpd.conf
// route), a cache that cannot be opened gives mod_tls's notice with the
// reason in strerror's words, and the fallback error still matches the
// system error.
func TestFallbackNoticeStrerror(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		line, notice string
		is           error
	}{
		{"TLSSessionCache shm:/file=" + dir + "/no/sess",
			"mod_tls/2.9.2: error opening 'shm' TLSSessionCache: unable to open file '" + dir + "/no/sess': No such file or directory", fs.ErrNotExist},
		{"TLSSessionCache shm:/file=" + dir,
			"mod_tls/2.9.2: error opening 'shm' TLSSessionCache: unable to open file '" + dir + "': Is a directory", syscall.EISDIR},
		{"TLSStaplingCache shm:/file=" + dir + "/no/ocsp",
			"mod_tls/2.9.2: error opening 'shm' TLSStaplingCache: unable to open file '" + dir + "/no/ocsp': No such file or directory", unix.ENOENT},
		{"TLSSessionCache shm:/file=" + dir + "/sess&size=99999999999999",
			"mod_tls/2.9.2: error opening 'shm' TLSSessionCache: unable to allocate session shm: Cannot allocate memory (cache file '" + dir + "/sess')", syscall.ENOMEM},
	} {
		cfg, err := directives.Parse(strings.NewReader("LoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\nTLSEngine on\n"+tc.line+"\n"), "test.conf", directives.Options{})
		if err != nil {
			t.Fatal(err)
		}
		env, _, log, _ := testEnv(t)
		eng, err := modtls.Open(cfg, modtls.Env{Log: env.Log}, modtls.WithCertificates(nil, testpki.SelfSigned(testpki.ECDSA).TLS))
		if err != nil {
			t.Fatal(err)
		}
		fb := eng.SessionCacheFallback()
		if strings.HasPrefix(tc.line, "TLSStaplingCache") {
			fb = eng.OCSPCacheFallback()
		}
		notices := eng.FallbackNotices()
		eng.Close()
		if !hasLine(log.String(), tc.notice) {
			t.Errorf("%s: log lacks %q:\n%s", tc.line, tc.notice, log)
		}
		if len(notices) != 1 || notices[0] != tc.notice {
			t.Errorf("%s: FallbackNotices %q", tc.line, notices)
		}
		if !errors.Is(fb, tc.is) || !errors.Is(fb, syscall.EINVAL) {
			t.Errorf("%s: fallback %v does not match %v and EINVAL", tc.line, fb, tc.is)
		}
	}
}
