package modtls

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// tlsLogLine strips a TLSLog line's time and process id.
var tlsLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} mod_tls/2\.9\.2\[\d+\]: (.*)$`)

// cipherPart is the cipher of an "accepted" line. crypto/tls chooses
// ciphers by its own preference (AES-128 first), where OpenSSL followed
// the client's (AES-256): the comparison keeps the shape, and the names
// are checked to be OpenSSL's.
var cipherPart = regexp.MustCompile(`using cipher (\S+) \((\d+) bits`)

func tlsLogMessages(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		m := tlsLogLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("not a TLSLog line: %q", sc.Text())
		}
		out = append(out, m[1])
	}
	return out
}

// TestTLSLogMatchesProFTPD replays the recorded ProFTPD 1.3.8 exchange
// (testdata/proftpd-1.3.8-tls.log: curl listing, uploading and listing
// again, then openssl s_client saving and reusing a TLS 1.2 and a TLS 1.3
// session) against modtls with the same settings (RSA certificate,
// TLSRequired on, session cache 600 s) and compares the TLSLog line by
// line.
func TestTLSLogMatchesProFTPD(t *testing.T) {
	curl := testpeers.Need(t, "curl")
	openssl := testpeers.Need(t, "openssl")
	recorded, err := os.ReadFile("testdata/proftpd-1.3.8-tls.log")
	if err != nil {
		t.Fatal(err)
	}
	want := tlsLogMessages(t, string(recorded))

	ca := testpki.NewCA()
	var out syncbuf.Buffer
	st := DefaultSettings()
	st.SessionCache = CacheSpec{Configured: true, Provider: InternalCache, Timeout: 600 * time.Second}
	eng, err := Open(testConfig(st, 0), Env{TLSLog: NewTLSLog(&out)}, WithCertificates(nil, ca.Server(testpki.RSA).TLS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	r := startFTPS(t, eng)
	url := "ftp://u:p@" + r.addr + "/"

	dir := t.TempDir()
	upload := filepath.Join(dir, "upload.txt")
	if err := os.WriteFile(upload, []byte("uploaded over FTPS\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = bytes.NewReader(nil)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, b)
		}
	}
	run(curl, "-s", "-k", "--ssl-reqd", "--tls-max", "1.3", url)
	run(curl, "-s", "-k", "--ssl-reqd", "-T", upload, url)
	run(curl, "-s", "-k", "--ssl-reqd", url)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(dir, "sess"+v)
		sclient := []string{"s_client", "-starttls", "ftp", "-connect", r.addr, v, "-servername", "localhost"}
		run(openssl, append(sclient, "-sess_out", sess)...)
		run(openssl, append(sclient, "-sess_in", sess)...)
	}
	eng.Close() // flushes nothing, but no line may come after

	got := tlsLogMessages(t, out.String())
	for _, l := range got {
		m := cipherPart.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if strings.HasPrefix(l, "TLSv1.2") && !regexp.MustCompile(`^ECDHE-RSA-AES(128|256)-GCM-SHA(256|384)$|^ECDHE-RSA-CHACHA20-POLY1305$`).MatchString(m[1]) {
			t.Errorf("TLS 1.2 cipher %q is not OpenSSL's name of an ECDHE-RSA suite", m[1])
		}
		if strings.HasPrefix(l, "TLSv1.3") && !strings.HasPrefix(m[1], "TLS_") {
			t.Errorf("TLS 1.3 cipher %q is not its IANA name", m[1])
		}
		if k := regexp.MustCompile(`AES_?(128|256)`).FindStringSubmatch(m[1]); k != nil && k[1] != m[2] {
			t.Errorf("cipher %s shown with %s bits", m[1], m[2])
		}
	}
	norm := func(lines []string) []string {
		var n []string
		for _, l := range lines {
			n = append(n, cipherPart.ReplaceAllString(l, "using cipher CIPHER (BITS bits"))
		}
		return n
	}
	g, w := norm(got), norm(want)
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("TLSLog line %d:\nftpdtls: %q\nProFTPD: %q\n\nftpdtls wrote:\n%s", i+1, gl, wl, strings.Join(got, "\n"))
		}
	}
}
