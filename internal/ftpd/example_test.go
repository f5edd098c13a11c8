package ftpd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftpdtls/ftpdtls/internal/ftpd"
)

// A plain FTP server for one user, and a client listing its directory.
// With Server.TLS set (the daemon passes modtls), the same server speaks
// FTPS.
func ExampleServer() {
	dir, err := os.MkdirTemp("", "ftpd-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)

	srv := &ftpd.Server{Auth: ftpd.StaticUser("alice", "secret", dir)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	c, err := ftp.Dial(ln.Addr().String(), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	if err := c.Login("alice", "secret"); err != nil {
		panic(err)
	}
	names, err := c.NameList("/")
	fmt.Println(names, err)
	c.Quit()
	// Output: [/hello.txt] <nil>
}
