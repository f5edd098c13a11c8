package modtlsshm_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm" // also LoadModule mod_tls_shmcache.c
)

// Open the "shm" session cache the way TLSSessionCache does, store a
// session, find it again, and destroy the cache.
func Example() {
	dir, _ := os.MkdirTemp("", "shmcache")
	defer os.RemoveAll(dir)

	p, err := modtls.LookupSessionCache("shm")
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, err := p.Open("/file="+filepath.Join(dir, "sess_cache"), 1800*time.Second, modtls.Env{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Remove() // IPC_RMID and unlink; Close would keep the sessions

	id := []byte("0123456789abcdef0123456789abcdef")
	if err := cache.Add(id, time.Now().Add(30*time.Minute), []byte("session state")); err != nil {
		fmt.Println(err)
		return
	}
	state, _, err := cache.Get(id)
	fmt.Printf("%s %v\n", state, err)
	n, _ := cache.Clear()
	fmt.Println("cleared", n)
	// Output:
	// session state <nil>
	// cleared 1
}

// Open a session cache from Go: every process that opens the same file
// (with the same size) shares the sessions, across restarts. Give it to
// modtls.Resumable, modtls.Config.SessionCache or TLS.Wrap.
func ExampleOpenSessionCache() {
	dir, _ := os.MkdirTemp("", "shmcache")
	defer os.RemoveAll(dir)

	cache, err := modtlsshm.OpenSessionCache(modtlsshm.Options{
		File: filepath.Join(dir, "sessions"), // absolute; created if missing
		Size: 4 << 20,                        // bytes; 0: DefaultSize
	}, 30*time.Minute)
	if err != nil {
		fmt.Println(err) // strict: no cache, no fallback
		return
	}
	defer cache.Remove() // a server would Close it: the sessions stay for the next process

	base := &tls.Config{GetCertificate: yourCertificates} // or Certificates, as usual
	config, err := modtls.Resumable(base, cache, 30*time.Minute)
	fmt.Println(config != nil, err)

	id := []byte("0123456789abcdef0123456789abcdef")
	cache.Add(id, time.Now().Add(30*time.Minute), []byte("session state"))
	st, _ := cache.Stats() // modtls.StatsReporter
	fmt.Println("entries:", st.Entries)

	_, err = modtlsshm.OpenSessionCache(modtlsshm.Options{File: "relative/sessions"}, 30*time.Minute)
	fmt.Println(err, errors.Is(err, modtlsshm.ErrBadInfo))
	_, err = modtlsshm.OpenSessionCache(modtlsshm.Options{File: filepath.Join(dir, "missing", "sessions")}, 30*time.Minute)
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "DIR"), errors.Is(err, fs.ErrNotExist))
	// Output:
	// true <nil>
	// entries: 1
	// file 'relative/sessions' not an absolute path true
	// unable to open file 'DIR/missing/sessions': No such file or directory true
}

// Open the cache of OCSP responses for stapling; keys are certificate
// fingerprints, and modtls decides when a response is stale.
func ExampleOpenOCSPCache() {
	dir, _ := os.MkdirTemp("", "shmcache")
	defer os.RemoveAll(dir)

	cache, err := modtlsshm.OpenOCSPCache(modtlsshm.Options{File: filepath.Join(dir, "ocsp")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Remove()
	var _ modtls.OCSPCache = cache // modtls.Config{OCSPCache: cache}

	cache.Add("5f3c...", []byte("DER response"), time.Now())
	der, _, err := cache.Get("5f3c...")
	fmt.Printf("%s %v\n", der, err)
	// Output:
	// DER response <nil>
}

// yourCertificates stands for the program's certificates (autocert's
// GetCertificate, say).
func yourCertificates(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return nil, errors.New("no certificate in this example")
}
