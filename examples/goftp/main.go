// Command goftp is goftp.io/server/v2 with ftpdtls: explicit FTPS (TLS
// required), TLS sessions in a shared-memory cache that every process
// started with the same -cache file uses, and the data-channel session
// reuse check as far as goftp lets it run (see README.md).
//
//	go run . -listen 127.0.0.1:2121 -root /srv/ftp -user alice -password secret \
//	    -cache /var/tmp/goftp.sessions -cert cert.pem -key key.pem
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"net"
	"strconv"

	"goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:2121", "control connection address")
	root := flag.String("root", ".", "directory served")
	user, password := flag.String("user", "ftp", "user name"), flag.String("password", "", "password")
	cacheFile := flag.String("cache", "/var/tmp/goftp.sessions", "TLS session cache file, the same for every process")
	certFile, keyFile := flag.String("cert", "cert.pem", "certificate (PEM)"), flag.String("key", "key.pem", "key (PEM)")
	flag.Parse()

	host, portText, err := net.SplitHostPort(*listen)
	check(err)
	port, err := strconv.Atoi(portText)
	check(err)
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	check(err)
	driver, err := file.NewDriver(*root)
	check(err)

	// The ftpdtls part: a session cache shared by the processes, and one
	// tls.Config for goftp that checks data connections (modtls.Shared).
	cache, err := modtlsshm.OpenSessionCache(modtlsshm.Options{File: *cacheFile}, 0)
	check(err)
	eng, err := modtls.New(modtls.Config{ServerConfig: modtls.ServerConfig{Certificates: []tls.Certificate{cert}}, SessionCache: cache})
	check(err)
	shared := eng.NewShared(nil, port)

	srv, err := server.NewServer(&server.Options{
		Name: "goftp with ftpdtls", Hostname: host, Port: port,
		Driver: driver, Perm: server.NewSimplePerm("ftp", "ftp"),
		Auth: &server.SimpleAuth{Name: *user, Password: *password},
		TLS:  true, ExplicitFTPS: true, ForceTLS: true, TLSConfig: shared.TLSConfig(),
	})
	check(err)
	srv.RegisterNotifer(expectData{shared: shared}) // the full check for file transfers
	log.Printf("listening on %s", *listen)
	check(srv.ListenAndServe()) // not Serve: it never sets goftp's TLS configuration
}

// expectData tells modtls, before each file transfer's data handshake,
// which control connection the data connection belongs to.
type expectData struct {
	server.NullNotifier
	shared *modtls.Shared
}

func (e expectData) BeforePutFile(ctx *server.Context, _ string)      { e.expect(ctx) }
func (e expectData) BeforeDownloadFile(ctx *server.Context, _ string) { e.expect(ctx) }

func (e expectData) expect(ctx *server.Context) {
	if dc := ctx.Sess.DataConn(); dc != nil {
		e.shared.ExpectData(ctx.Sess.RemoteAddr(), dc.Port())
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
