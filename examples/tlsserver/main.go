// Command tlsserver is the shortest crypto/tls server whose sessions
// resume across processes: every process started with the same -cache
// file shares one session cache in shared memory.
package main

import (
	"crypto/tls"
	"flag"
	"log"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to listen on")
	cacheFile := flag.String("cache", "/var/tmp/tlsserver.sessions", "session cache file, the same for every process")
	certFile, keyFile := flag.String("cert", "cert.pem", "certificate (PEM)"), flag.String("key", "key.pem", "key (PEM)")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	check(err)
	cache, err := modtlsshm.OpenSessionCache(modtlsshm.Options{File: *cacheFile}, 0) // shared memory
	check(err)
	config, err := modtls.Resumable(&tls.Config{Certificates: []tls.Certificate{cert}}, cache, 0)
	check(err)
	ln, err := tls.Listen("tcp", *listen, config)
	check(err)
	log.Printf("listening on %s", ln.Addr())
	for {
		conn, err := ln.Accept()
		check(err)
		go func() { defer conn.Close(); conn.Write([]byte("hello\n")) }()
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
