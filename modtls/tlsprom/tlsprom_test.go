package tlsprom_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtls/tlsprom"
)

// TestScrape resumes a session through an engine and scrapes /metrics.
func TestScrape(t *testing.T) {
	ca := testpki.NewCA()
	eng, err := modtls.New(modtls.Config{ServerConfig: modtls.ServerConfig{Certificates: []tls.Certificate{ca.Server(testpki.ECDSA).TLS}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", eng.TLSConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(2)}
	for i := 0; i < 2; i++ {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), client)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(c)
		c.Close()
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tlsprom.NewCollector(func() *modtls.TLS { return eng }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ftpdtls_tls_cache_hits_total{cache="session",provider="internal"} 1`,
		`ftpdtls_tls_cache_stored_total{cache="session",provider="internal"} 2`,
		`ftpdtls_tls_cache_entries{cache="session",provider="internal"} 2`,
		`ftpdtls_tls_cache_capacity{cache="session",provider="internal"} 20480`,
		`ftpdtls_tls_sessions_resumed_total 1`,
		`ftpdtls_tls_data_connections_total{verdict="refused"} 0`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
}
