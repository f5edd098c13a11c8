package modtls_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// mapProvider is a complete session cache provider: sessions in a map,
// for one process (MemoryCache, the reference, also bounds its size).
type mapProvider struct{}

func (mapProvider) Module() string { return "" } // always available, like "internal:"

func (mapProvider) Open(info string, timeout time.Duration, env modtls.Env) (modtls.SessionCache, error) {
	return &mapCache{m: map[string]mapEntry{}}, nil
}

type mapEntry struct {
	state   []byte
	expires time.Time
}

type mapCache struct {
	mu           sync.Mutex
	m            map[string]mapEntry
	hits, misses uint64
}

func (c *mapCache) Add(id []byte, expires time.Time, state []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[string(id)] = mapEntry{bytes.Clone(state), expires}
	return nil
}

func (c *mapCache) Get(id []byte) ([]byte, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(id)]
	if !ok || !time.Now().Before(e.expires) {
		c.misses++
		return nil, time.Time{}, modtls.ErrCacheMiss
	}
	c.hits++
	return bytes.Clone(e.state), e.expires, nil
}

func (c *mapCache) Delete(id []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, string(id))
	return nil
}
func (c *mapCache) Clear() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	clear(c.m)
	return n, nil
}
func (c *mapCache) Remove() error { _, err := c.Clear(); return err }
func (c *mapCache) Close() error  { return nil }
func (c *mapCache) Status(w io.Writer, verbose bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(w, "map session cache: %d sessions\n", len(c.m))
	return err
}
func (c *mapCache) Stats() (modtls.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return modtls.Stats{Hits: c.hits, Misses: c.misses, Entries: uint64(len(c.m))}, nil
}

// Registering from init is the Go spelling of LoadModule: a program that
// imports the provider's package can name it in TLSSessionCache.
func init() {
	if err := modtls.RegisterSessionCache("map", mapProvider{}); err != nil {
		panic(err)
	}
}

// Example_provider registers a map-backed session cache provider (above)
// and uses it from proftpd.conf: the second connection resumes the first
// one's session through it.
func Example_provider() {
	conf := "LoadModule mod_tls.c\nTLSEngine on\nTLSSessionCache map: 600\n"
	cfg, err := directives.Parse(strings.NewReader(conf), "/etc/proftpd/tls.conf", directives.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cert, roots := selfSigned()
	eng, err := modtls.Open(cfg, modtls.Env{}, modtls.WithCertificates(nil, cert))
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	ln := tls.NewListener(mustListen(), eng.TLSConfig(nil))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n")) // handshakes, and sends the TLS 1.3 ticket first
			c.Close()
		}
	}()
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := 0; i < 2; i++ {
		c, err := tls.Dial("tcp", ln.Addr().String(), client)
		if err != nil {
			log.Fatal(err)
		}
		io.ReadAll(c)
		fmt.Println("resumed:", c.ConnectionState().DidResume)
		c.Close()
	}
	stats, _ := eng.CacheStats()
	fmt.Printf("%s cache: %d hit\n", stats[0].Provider, stats[0].Hits)
	// Output:
	// resumed: false
	// resumed: true
	// map cache: 1 hit
}

func mustListen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

// ExampleNew is the Go-native route: a typed Config, no proftpd.conf. One
// Control per FTP control connection; its DataTLSConfig refuses, inside
// the handshake, a data connection that does not resume the control
// connection's session.
func ExampleNew() {
	cert, roots := selfSigned()
	eng, err := modtls.New(modtls.Config{
		ServerConfig:   modtls.ServerConfig{Certificates: []tls.Certificate{cert}},
		SessionTimeout: 10 * time.Minute, // SessionCache nil: in-process; use modtlsshm for several processes
	})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	ctl := eng.NewControl(nil)
	ctrlLn := tls.NewListener(mustListen(), ctl.TLSConfig())
	dataLn := tls.NewListener(mustListen(), ctl.DataTLSConfig())
	defer ctrlLn.Close()
	defer dataLn.Close()
	serve := func(ln net.Listener, results chan<- error) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, err = c.Write([]byte("ok\n")) // the first write runs the handshake, and the check
			c.Close()
			results <- err
		}
	}
	ctrlRes, dataRes := make(chan error, 4), make(chan error, 4)
	go serve(ctrlLn, ctrlRes)
	go serve(dataLn, dataRes)

	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for _, ln := range []net.Listener{ctrlLn, dataLn} {
		if c, err := tls.Dial("tcp", ln.Addr().String(), client); err == nil {
			io.ReadAll(c)
			c.Close()
		}
	}
	fmt.Println("control:", <-ctrlRes, "data:", <-dataRes)
	stranger := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if c, err := tls.Dial("tcp", dataLn.Addr().String(), stranger); err == nil {
		io.ReadAll(c)
		c.Close()
	}
	if err := <-dataRes; err != nil {
		fmt.Println("stranger:", modtls.ReplyDataRejected)
	}
	// Output:
	// control: <nil> data: <nil>
	// stranger: 425 Unable to build data connection: Operation not permitted
}
