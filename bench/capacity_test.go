package bench

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// BenchmarkCapacity fills shm segments with real values until the first
// eviction, then adds half as many again, and reports how many entries
// each holds: TLS 1.3, TLS 1.2 and mutual-TLS session states exactly as
// modtls stores them after real handshakes, and OCSP responses signed by
// an ECDSA CA, an RSA CA and an RSA delegated responder. Sizes come from
// FTPDTLS_BENCH_SIZES (bytes, comma-separated; default ProFTPD's
// 1,574,912 and 256 MiB). One iteration is one fill:
//
//	go test -run '^$' -bench Capacity -benchtime 1x ./bench/
func BenchmarkCapacity(b *testing.B) {
	values := capacityValues(b)
	sizes := []int64{1574912, 256 << 20}
	if s := os.Getenv("FTPDTLS_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatalf("FTPDTLS_BENCH_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		for _, k := range capacityKinds {
			b.Run(fmt.Sprintf("size=%d/%s", size, k.id), func(b *testing.B) {
				var res fillResult
				for b.Loop() {
					res = fill(b, size, k.ocsp, values[k.id])
				}
				b.ReportMetric(float64(res.first), "first-eviction")
				b.ReportMetric(float64(res.steady), "when-full")
				b.ReportMetric(float64(res.segment), "segment-B")
				b.ReportMetric(100*res.logUsed, "log-used-%")
				b.ReportMetric(100*res.slotsUsed, "slots-used-%")
				b.ReportMetric(meanLen(values[k.id]), "value-B")
			})
		}
	}
}

// capacityKind is one kind of cached value.
type capacityKind struct {
	id   string
	ocsp bool
}

var capacityKinds = []capacityKind{
	{"tls13", false}, {"tls12", false}, {"mtls", false},
	{"ocsp-ecdsa", true}, {"ocsp-rsa", true}, {"ocsp-rsa-delegated", true},
}

func meanLen(vs [][]byte) float64 {
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	return float64(n) / float64(len(vs))
}

// fillResult is what filling a segment showed.
type fillResult struct {
	first, steady      uint64 // entries at the first eviction; after half as many again
	segment            uint64 // the segment's size
	logUsed, slotsUsed float64
}

// fill adds values to a fresh segment of size until the first eviction,
// then half as many again.
func fill(b *testing.B, size int64, ocsp bool, values [][]byte) fillResult {
	info := fmt.Sprintf("/file=%s&size=%d", filepath.Join(b.TempDir(), "cache"), size)
	var add func(i uint64) error
	var stats func() (modtlsshm.Stats, error)
	if ocsp {
		c, err := modtlsshm.NewOCSPProvider().Open(info, modtls.Env{})
		if err != nil {
			b.Fatal(err)
		}
		oc := c.(*modtlsshm.OCSPCache)
		defer oc.Remove()
		now := time.Now()
		add = func(i uint64) error { return oc.Add(fingerprint(i), values[i%uint64(len(values))], now) }
		stats = oc.SegmentStats
	} else {
		c, err := modtlsshm.NewSessionProvider().Open(info, time.Hour, modtls.Env{})
		if err != nil {
			b.Fatal(err)
		}
		sc := c.(*modtlsshm.SessionCache)
		defer sc.Remove()
		exp := time.Now().Add(time.Hour)
		id := make([]byte, 32)
		add = func(i uint64) error { return sc.Add(sessionID(id, i), exp, values[i%uint64(len(values))]) }
		stats = sc.SegmentStats
	}
	var res fillResult
	var i uint64
	for ; ; i++ {
		if i > uint64(size) {
			b.Fatalf("no eviction after %d entries", i)
		}
		before, err := stats()
		if err != nil {
			b.Fatal(err)
		}
		if err := add(i); err != nil {
			b.Fatal(err)
		}
		after, err := stats()
		if err != nil {
			b.Fatal(err)
		}
		if after.Evicted > 0 {
			res.first = before.Current
			res.logUsed = float64(before.UsedBytes) / float64(before.DataBytes)
			res.slotsUsed = float64(before.Current) / float64(before.IndexSlots)
			break
		}
	}
	for end := i + i/2; i < end; i++ {
		if err := add(i); err != nil {
			b.Fatal(err)
		}
	}
	st, err := stats()
	if err != nil {
		b.Fatal(err)
	}
	res.steady = st.Current
	res.segment = uint64(pageRound(size))
	return res
}

func pageRound(n int64) int64 { return (n + 4095) &^ 4095 }

// sessionID is the i-th synthetic 32-byte session id (modtls's ids are 32
// random bytes; these spread as well through any hash).
func sessionID(dst []byte, i uint64) []byte {
	x := i*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	for j := 0; j < 4; j++ {
		x ^= x >> 31
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 29
		binary.LittleEndian.PutUint64(dst[8*j:], x)
	}
	binary.LittleEndian.PutUint64(dst[24:], i)
	return dst
}

// fingerprint is an OCSP cache key: the hex SHA-1 of something unique to
// i, as modtls keys responses by certificate.
func fingerprint(i uint64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	sum := sha1.Sum(b[:])
	return hex.EncodeToString(sum[:])
}

// capacityValues makes eight values of every kind: session states from
// real handshakes with modtls storing into an shm cache (read back from
// it), and OCSP responses.
func capacityValues(b *testing.B) map[string][][]byte {
	const n = 8
	values := map[string][][]byte{}
	ca := testpki.NewCA()
	dir := b.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	info := "/file=" + filepath.Join(dir, "sessions")
	sc, err := modtlsshm.NewSessionProvider().Open(info, time.Hour, modtls.Env{})
	if err != nil {
		b.Fatal(err)
	}
	cache := sc.(*modtlsshm.SessionCache)
	defer cache.Remove()
	server, client := ca.Server(testpki.ECDSA), ca.Client(testpki.ECDSA)
	for _, k := range []struct {
		id      string
		version uint16
		lines   []string
	}{
		{"tls13", tls.VersionTLS13, nil},
		{"tls12", tls.VersionTLS12, nil},
		{"mtls", tls.VersionTLS13, []string{"TLSVerifyClient on", "TLSCACertificateFile " + caFile}},
	} {
		eng := openModTLS(b, server.TLS, append(k.lines, "TLSSessionCache shm:"+info+" 3600")...)
		srv := startTLSServer(b, eng.TLSConfig(nil))
		capture := &ticketCapture{}
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: k.version, MaxVersion: k.version,
			ClientSessionCache: capture}
		if k.id == "mtls" {
			cfg.Certificates = []tls.Certificate{client.TLS}
		}
		for i := 0; i < n; i++ {
			if _, err := dialTLS(srv.addr(), cfg); err != nil {
				b.Fatalf("%s handshake: %v", k.id, err)
			}
		}
		srv.close()
		eng.Close()
		for _, id := range capture.take() {
			state, _, err := cache.Get(id)
			if err != nil {
				b.Fatalf("%s: the session modtls stored is not in the cache: %v", k.id, err)
			}
			values[k.id] = append(values[k.id], state)
		}
		if len(values[k.id]) == 0 {
			b.Fatalf("%s: no session stored", k.id)
		}
	}
	for _, k := range []struct {
		id        string
		key       testpki.KeyType
		delegated bool
	}{{"ocsp-ecdsa", testpki.ECDSA, false}, {"ocsp-rsa", testpki.RSA, false}, {"ocsp-rsa-delegated", testpki.RSA, true}} {
		ocspCA := testpki.NewCA(testpki.WithKey(testpki.NewKey(k.key)))
		var o testpki.OCSP
		o.NextUpdate = time.Now().Add(7 * 24 * time.Hour)
		if k.delegated {
			o.Responder = ocspCA.OCSPResponder(k.key)
		}
		for i := 0; i < n; i++ {
			values[k.id] = append(values[k.id], ocspCA.OCSPResponse(big.NewInt(int64(1000+i)), o))
		}
	}
	return values
}

// openModTLS builds mod_tls from configuration lines with cert as the
// main server's certificate.
func openModTLS(b testing.TB, cert tls.Certificate, lines ...string) *modtls.TLS {
	text := "TLSEngine on\nTLSProtocol TLSv1.2 TLSv1.3\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := directives.Parse(strings.NewReader(text), "bench.conf", daemon.ParseOptions(""))
	if err != nil {
		b.Fatalf("bench configuration: %v", err)
	}
	eng, err := modtls.Open(cfg, modtls.Env{Config: cfg}, modtls.WithCertificates(nil, cert))
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// ticketCapture is a client session cache that keeps the tickets (for
// modtls with a session cache: the session ids) and offers none back.
type ticketCapture struct {
	mu      sync.Mutex
	tickets [][]byte
}

func (t *ticketCapture) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (t *ticketCapture) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	if ticket, _, err := cs.ResumptionState(); err == nil && len(ticket) > 0 {
		t.mu.Lock()
		t.tickets = append(t.tickets, ticket)
		t.mu.Unlock()
	}
}

func (t *ticketCapture) take() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.tickets
	t.tickets = nil
	return out
}
