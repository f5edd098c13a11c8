package modtls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDescribeSessionAndStatus(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(versionName(version), func(t *testing.T) {
			clock := newFakeClock()
			st := DefaultSettings()
			st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 300 * time.Second}
			cfg := testConfig(st, 1)
			eng, err := Open(cfg, Env{}, WithClock(clock.now),
				WithCertificates(cfg.Main, pki.issue(t, "ecdsa", certOpts{})),
				WithCertificates(cfg.VirtualHosts[0], pki.issue(t, "ecdsa", certOpts{})))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			srv := startTLSServer(t, func() *tls.Config { return eng.TLSConfig(cfg.VirtualHosts[0]) })
			if _, _, err := srv.dial(t, clientConfig(pki, version, nil)); err != nil {
				t.Fatal(err)
			}
			cache, _ := eng.SessionCache()
			ic := cache.(*MemoryCache)
			var state []byte
			var expires time.Time
			ic.mu.Lock()
			for el := ic.order.Front(); el != nil; el = el.Next() {
				e := el.Value.(*memoryEntry)
				state, expires = e.state, e.expires
			}
			ic.mu.Unlock()
			info, err := DescribeSession(state)
			if err != nil {
				t.Fatal(err)
			}
			if info.Version != version || info.VersionName != versionName(version) {
				t.Fatalf("version %x %q", info.Version, info.VersionName)
			}
			if info.Created.Unix() != clock.now().Unix() {
				t.Fatalf("created %v, want %v", info.Created, clock.now())
			}
			if !expires.Equal(info.Created.Add(300 * time.Second)) {
				t.Fatalf("expires %v, want created + 300s", expires)
			}
			if info.VHost != 2 {
				t.Fatalf("vhost id %d, want 2 (the first <VirtualHost>)", info.VHost)
			}

			var out bytes.Buffer
			if err := cache.Status(&out, true); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, want := range []string{
				"Internal (in-process) SSL session cache provided by mod_tls/2.9.2\n\n",
				"Max session cache size: 20480\nCurrent session cache size: 1\n\n",
				"Cache lifetime sessions stored: 1\n",
				"Cached sessions:\n  -----BEGIN SSL SESSION PARAMETERS-----\n    Protocol: " + versionName(version) + "\n",
				"    Started: " + info.Created.Local().Format(statusTime) + "\n",
				"(300 secs)\n  -----END SSL SESSION PARAMETERS-----\n\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("status lacks %q:\n%s", want, text)
				}
			}
			if !regexp.MustCompile(`Started: [A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d{4}`).MatchString(text) {
				t.Errorf("timestamp not in pr_strtime3 form:\n%s", text)
			}
		})
	}
}

func TestDescribeSessionMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      {3, 3, 1},
		"client":     {3, 4, 2, 0x13, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0},
		"truncated":  {3, 4, 1, 0x13, 1, 0, 0, 0, 0, 0, 0, 0, 1, 32, 0},
		"extra long": {3, 4, 1, 0x13, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7, 0, 0, 9},
	} {
		if _, err := DescribeSession(b); !errors.Is(err, ErrBadSession) {
			t.Errorf("%s: err %v, want ErrBadSession", name, err)
		}
	}
}

func TestEmptyStatus(t *testing.T) {
	var out bytes.Buffer
	NewMemoryCache(5, nil).Status(&out, true)
	want := "Internal (in-process) SSL session cache provided by mod_tls/2.9.2\n\n" +
		"Max session cache size: 5\nCurrent session cache size: 0\n\n" +
		"Cache lifetime hits: 0\nCache lifetime misses: 0\n\n" +
		"Cache lifetime sessions stored: 0\nCache lifetime sessions deleted: 0\nCache lifetime sessions expired: 0\nCache lifetime sessions evicted: 0\n\n" +
		"Cached sessions:\n  (none)\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}
