// Package ftpd is the FTP and FTPS server engine of `ftpdtls serve`: it
// speaks what ProFTPD 1.3.8 speaks, with ProFTPD's replies, and never
// loses data.
//
// It speaks RFC 959 (login, navigation, transfers in TYPE A and I,
// STOU, STAT, HELP, the X forms of RFC 775), RFC 2428 (EPSV), RFC 3659
// (MLSD, MLST with OPTS MLST, SIZE, MDTM, REST STREAM), MFMT
// (draft-somers-ftp-mfxx), RFC 4217 (AUTH TLS, PBSZ, PROT) and mod_site's
// SITE HELP, SITE CHMOD and SITE CHGRP. Only passive data connections
// are offered.
//
// What the engine is given:
//
//   - an Authenticator, whose Login returns the Account of a user: who
//     they are and their session's userfs.FS, through which every file
//     operation goes (in this process, LocalAuth; in the daemon, a broker
//     process with the user's uid);
//   - a Policy (access.Policy): <Limit>, <Directory>, Umask,
//     AllowOverwrite, AllowStoreRestart, HiddenStores, ...;
//   - an Admission: MaxInstances, MaxClients and the other limits
//     (Limits counts in one process; the daemon counts across processes);
//   - a TLS, per control connection, which is how ProFTPD's mod_tls sees
//     an FTP session: one configuration for the control connection, one
//     for its data connections, and a check, run after every data
//     handshake, that the data connection resumed the control
//     connection's TLS session ("425 Unable to build data connection:
//     Operation not permitted" otherwise);
//   - ProFTPD's timeouts (TimeoutLogin, TimeoutIdle, TimeoutNoTransfer,
//     TimeoutStalled, TLSTimeoutHandshake), MaxLoginAttempts and a
//     TransferLog; Configure reads them from a configuration.
//
// Data safety. Every check of an upload (login, <Limit>, AllowOverwrite,
// restart rules, PROT, PASV) comes before anything on disk is touched;
// the bytes go to a new file that replaces the old one only when every
// byte has arrived (the end of the stream, or TLS's close_notify) and is
// on disk, so a refused, failed or aborted upload leaves an existing file
// as it was (see userfs.Upload). How a client closes after sending
// everything never turns a complete upload into a 426. Data connections
// we finish sending on are closed with a TLS close_notify, a TCP
// half-close and a lingering drain, so that our close never resets a
// client that still has bytes to read.
//
// Robustness. A connection to a passive port from an address other than
// the client's is dropped and logged ("SECURITY VIOLATION") while the
// wait for the client goes on. Connections that have not logged in are
// bounded (MaxPreLogin): a flood closes the oldest of them, never a
// logged-in session, which also gets descriptors back from them when the
// process runs out. Shutdown aborts transfers (426) and closes sessions
// (421) without waiting on any peer or file.
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
