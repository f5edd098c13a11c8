// Package ftpd is a compact FTP and FTPS server engine: the reference for
// embedding modtls in a daemon.
//
// It speaks RFC 959 (login, navigation, transfers), RFC 2428 (EPSV),
// RFC 3659 (MLSD, MLST, SIZE, MDTM) and RFC 4217 (AUTH TLS, PBSZ, PROT).
// Only passive data connections are offered. Each user is confined to a
// directory through os.Root, so neither ".." nor a symbolic link can reach
// outside it.
//
// TLS is supplied per control connection through the TLS interface, which
// is how ProFTPD's mod_tls sees an FTP session: one configuration for the
// control connection, one for its data connections, and a check, run after
// every data handshake, that the data connection resumed the control
// connection's TLS session. A failed check is answered, as ProFTPD answers
// it, with "425 Unable to build data connection: Operation not permitted".
//
// The shortest working use:
//
//	srv := &ftpd.Server{
//		Auth: ftpd.StaticUser("alice", "secret", "/srv/ftp"),
//		TLS:  myTLS, // nil: plain FTP only
//	}
//	ln, _ := net.Listen("tcp", "127.0.0.1:2121")
//	go srv.Serve(ln)
//	...
//	srv.Shutdown(ctx)
//
// No package in ftpdtls imports ftpd except the daemon; it is internal so
// that its API can follow the daemon's needs.
package ftpd
