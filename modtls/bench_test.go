package modtls

import (
	"crypto/tls"
	"testing"
	"time"
)

// BenchmarkWrapUnwrap measures what modtls adds to a resumed handshake:
// storing a session (WrapSession) and finding it again (UnwrapSession)
// through the internal cache.
func BenchmarkWrapUnwrap(b *testing.B) {
	pki := newPKI(b)
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{}, WithCertificates(nil, pki.issue(b, "ecdsa", certOpts{})))
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	srv := startTLSServer(b, func() *tls.Config { return eng.TLSConfig(nil) })
	if _, _, err := srv.dial(b, clientConfig(pki, tls.VersionTLS13, nil)); err != nil {
		b.Fatal(err)
	}
	cache, _ := eng.SessionCache()
	ic := cache.(*MemoryCache)
	state := ic.order.Front().Value.(*memoryEntry).state
	st0 := eng.servers[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ss, err := tls.ParseSessionState(state)
		if err != nil {
			b.Fatal(err)
		}
		ss.Extra = nil
		id, _ := eng.wrap(st0, tls.ConnectionState{}, ss, nil, nil)
		if eng.unwrap(st0, id, tls.ConnectionState{}, nil) == nil {
			b.Fatal("session not found")
		}
	}
}

// BenchmarkHandshake compares full and resumed handshakes over loopback
// TCP through the internal cache.
func BenchmarkHandshake(b *testing.B) {
	pki := newPKI(b)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, kind := range []string{"ecdsa", "rsa"} {
			for _, resume := range []bool{false, true} {
				name := versionName(version) + "/" + kind + "/full"
				if resume {
					name = versionName(version) + "/" + kind + "/resumed"
				}
				b.Run(name, func(b *testing.B) {
					eng, err := Open(testConfig(nil, 0), Env{}, WithCertificates(nil, pki.issue(b, kind, certOpts{})))
					if err != nil {
						b.Fatal(err)
					}
					defer eng.Close()
					srv := startTLSServer(b, func() *tls.Config { return eng.TLSConfig(nil) })
					ccfg := clientConfig(pki, version, nil)
					if !resume {
						ccfg.ClientSessionCache = nil
					} else {
						srv.dial(b, ccfg)
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						cs, _, err := srv.dial(b, ccfg)
						if err != nil {
							b.Fatal(err)
						}
						if cs.DidResume != resume {
							b.Fatalf("DidResume=%v", cs.DidResume)
						}
					}
				})
			}
		}
	}
}
