package modtlsshm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
	_ "github.com/ftpdtls/ftpdtls/modtlsshm" // LoadModule mod_tls_shmcache.c
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
