// Package privsep is the privilege separation of `ftpdtls serve`: the
// channels between its processes, the broker that does a user's file
// operations with the user's identity, and the dropping of privileges.
//
// # Processes
//
//	master (root)  ── master channel ──  worker (User/Group, e.g. nobody)
//	     │                                    │
//	broker channel                      session channel (one per session)
//	     │                                    │
//	broker (uid/gid/groups of an AuthUserFile entry) ──┘
//
// The master never reads what clients send: it accepts connections and
// passes each to a worker (NewConn, with the socket), answers the
// worker's Login (it holds the password hashes) and Admit requests (it
// counts the limits across workers), and starts one broker per
// credential (Brokers). For a login it asks the user's broker for a
// session rooted at the session root (OpenSession, with one end of a new
// session channel) and passes the other end to the worker with the
// LoginReply. From then on the worker talks to the broker directly: one
// FSRequest/FSReply exchange per file operation (Client implements
// userfs.FS over it); Open and Create return the descriptor the broker
// opened, so the data never goes through the broker.
//
// A broker serves each session with a userfs.Local, which resolves every
// path from the session root itself: whatever a worker asks, a session
// reaches only files under its root, with the user's permissions (and,
// as with the kernel's own path walk, needs only search permission on the
// directories it passes). Brokers are started from
// /proc/self/exe with exec.Cmd's Credential (setgroups, setgid, setuid
// before the program runs), an environment of their own and
// PR_SET_NO_NEW_PRIVS; a broker refuses to run as root unless the master
// allows it (ProFTPD's RootLogin on).
//
// Workers are started by the daemon as root; they load what needs root
// (certificates, keys, logs, cache segments) and then call Drop, which
// changes the groups, gid and uid of every thread for good and checks the
// result in /proc/self/task/*/status.
//
// # Wire format
//
// Every channel is an AF_UNIX SOCK_SEQPACKET socket pair: each record is
// one datagram, so record boundaries are the kernel's, and a descriptor
// (SCM_RIGHTS) arrives with the record it belongs to. Records are
// versioned and length-prefixed, and every field has a maximum (see
// wire.go for the header, master.go and brokerproto.go for the messages,
// each documented at its type). A record that breaks the format is an
// error matching ErrProtocol; the master kills a worker that sends one, a
// broker ends the session.
//
// The trust runs one way: the master trusts nothing a worker or broker
// says beyond the bounded fields of their records; a worker trusts its
// master; a broker trusts its master for the session roots and serves a
// worker only what the user could do anyway.
package privsep
