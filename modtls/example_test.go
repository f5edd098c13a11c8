package modtls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// Example shows the TLS side of one FTPS session: the control connection
// handshake, a data connection that resumes the control connection's
// session (accepted), and one that does not (refused with 425).
func Example() {
	conf := "LoadModule mod_tls.c\nTLSEngine on\nTLSSessionCache internal: 600\n"
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

	// One Control per FTP control connection.
	ctl := eng.NewControl(cfg.Main)
	ctrlLn, _ := net.Listen("tcp", "127.0.0.1:0")
	dataLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ctrlLn.Close()
	defer dataLn.Close()
	go func() { // the daemon's control connection: AUTH TLS
		c, err := ctrlLn.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, ctl.TLSConfig())
		tc.Write([]byte("234 AUTH TLS successful\r\n"))
		io.Copy(io.Discard, tc)
	}()
	dataResults := make(chan error)
	go func() { // the daemon's data connections
		for {
			c, err := dataLn.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, ctl.DataTLSConfig())
			err = ctl.CheckData(tc) // handshakes, then checks session reuse
			if err == nil {
				tc.Write([]byte("data"))
			}
			tc.Close()
			dataResults <- err
		}
	}()

	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	ctrl, err := tls.Dial("tcp", ctrlLn.Addr().String(), client)
	if err != nil {
		log.Fatal(err)
	}
	defer ctrl.Close()
	line := make([]byte, 25)
	io.ReadFull(ctrl, line) // also reads the session ticket
	fmt.Println("control:", strings.TrimSpace(string(line)))

	data, err := tls.Dial("tcp", dataLn.Addr().String(), client)
	if err != nil {
		log.Fatal(err)
	}
	io.ReadAll(data)
	fmt.Println("data connection resumed:", data.ConnectionState().DidResume, "check:", <-dataResults)
	data.Close()

	stranger := &tls.Config{RootCAs: roots, ServerName: "localhost"} // no session cache
	if data, err := tls.Dial("tcp", dataLn.Addr().String(), stranger); err == nil {
		io.ReadAll(data)
		data.Close()
	}
	if err := <-dataResults; err != nil {
		fmt.Println("refused:", modtls.ReplyDataRejected)
	}
	// Output:
	// control: 234 AUTH TLS successful
	// data connection resumed: true check: <nil>
	// refused: 425 Unable to build data connection: Operation not permitted
}

// selfSigned returns a certificate for "localhost" and a pool trusting it.
func selfSigned() (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
