// Package access is the access control of `ftpdtls serve`: ProFTPD
// 1.3.8's <Limit>, <Directory>, DefaultRoot, Umask, AllowOverwrite and
// related directives, compiled from a parsed proftpd.conf into a Policy
// that answers the questions ProFTPD asks while serving: may this client
// connect, may this user log in, may this command act on this path, which
// umask and upload rules apply here, where is this session confined.
//
// The answers are ProFTPD's, including its precedence rules and quirks:
// the package rebuilds ProFTPD's configuration records with the same list
// order (sections in reverse file order, <Global> bodies appended to every
// server, <Directory> sections nested under their closest parent path,
// mergeable directives copied down), then runs transcriptions of
// dir_match_path, dir_check_limits, check_limit and login_check_limits.
// A test runs the real ProFTPD over a grid of configurations, users,
// client addresses, commands and paths and requires the same decisions.
//
// The shortest use:
//
//	pol, errs := access.Compile(cfg, cfg.Main) // errs: what serve refuses (file, line)
//	who := access.Who{User: "alice", Groups: []string{"staff"}, Addr: addr, Home: "/home/alice"}
//	if !pol.ConnectAllowed(addr) { close the connection }
//	if !pol.LoginAllowed(who) { reply "530 Login incorrect." }
//	root, chroot := pol.DefaultRoot(who, who.Home)
//	if !pol.Allowed("STOR", "/home/alice/up/file", who) { reply 550 }
//	umask := pol.Dir("/home/alice/up/file", who).Umask
//
// Check(cfg) returns every refusal of a configuration (all servers, each
// once); Handles(name) tells the daemon's checks which directive names are
// this package's.
//
// # What is applied
//
//	Construct                             Applied as ProFTPD 1.3.8 does
//	<Limit cmd|group ...>                 server, <VirtualHost>, <Global>, <Directory>; groups READ, WRITE,
//	                                      DIRS, ALL, LOGIN; single commands (see Group); comma lists;
//	                                      CDUP/XCUP, MKD/XMKD, PWD/XPWD, RMD/XRMD name each other
//	AllowUser, DenyUser                   names, comma lists, "!" negation, OR over the names (also "OR")
//	AllowGroup, DenyGroup                 names, comma lists, "!" negation, AND over the names (also "OR")
//	Allow from, Deny from                 all, none, addresses, address/prefix, "10.1.2." prefixes,
//	                                      IP globs (10.1.*, 10.0.0.[12]); several entries and lines
//	AllowAll, DenyAll (in <Limit>)        yes
//	Order allow,deny | deny,allow         yes (default allow,deny)
//	<Directory path>                      absolute paths, "/*" suffix, globs ('*' also matches '/'),
//	                                      "~", "~/sub", "~name/sub", "%u"; the closest parent path wins,
//	                                      sections inherit their parents' limits and settings; paths are
//	                                      real paths (a chrooted session's paths with the root prepended)
//	DefaultRoot dir [group-expr]          "/", absolute paths, "~", "~/sub", "%u", group expressions (AND)
//	Umask file [dir]                      server and <Directory>; default 022
//	AllowOverwrite                        server and <Directory>; default off
//	AllowStoreRestart                     server and <Directory>; default off
//	AllowRetrieveRestart                  server and <Directory>; default on
//	HiddenStores on|off|prefix [suffix]   server and <Directory>
//	DeleteAbortedStores                   server and <Directory>
//	AllowForeignAddress on|off            server; default off
//	AllowOverride off                     server and <Directory> (.ftpaccess files are never read)
//
// # What is refused
//
// Each with its file and line and "not supported by ftpdtls serve (why)",
// an *directives.Error wrapping ErrNotSupported: <Anonymous>, <Class>,
// AllowClass, DenyClass, AllowFilter, DenyFilter, IgnoreHidden; host
// names and DNS patterns in Allow/Deny (they need reverse DNS);
// the AND and regex forms of AllowUser & co (ProFTPD
// 1.3.8 builds the AND list wrongly); <Limit> naming a command ProFTPD
// never checks (SYST, TYPE, REST, ...), an unknown command, OPTS_*, or
// LOGIN inside <Directory> (never consulted); AllowAll or DenyAll
// directly in <Directory>; any other directive inside <Directory> or
// <Limit>; the "%u[n]" path form; "~name" in DefaultRoot; %P in
// HiddenStores; a <Class> name in AllowForeignAddress; AllowOverride on. Values ProFTPD
// itself rejects (a bad umask, a bad Order, a bad address) get ProFTPD's
// message, and access directives in a context ProFTPD does not allow
// them in get "directive not allowed in <ctx> context".
//
// # Where the engine asks (ProFTPD 1.3.8's command handlers)
//
//	Command                              path given to Allowed               group
//	CWD XCWD CDUP XCUP                   the new directory                    DIRS
//	LIST NLST MLSD STAT(arg) MLST        the path listed; also each entry     DIRS
//	                                     (entries not allowed are left out;
//	                                     LIST and NLST hide dot files)
//	STAT (no arg) PWD XPWD               the current directory               DIRS
//	MDTM                                 the file                            DIRS
//	RETR SIZE                            the file                            READ
//	STOR APPE STOU DELE MFMT MFF         the file                            WRITE
//	MKD XMKD RMD XRMD                    the directory made or removed       WRITE
//	RNFR / RNTO                          the source / the destination        WRITE
//	SITE_CHMOD SITE_CHGRP                the file                            WRITE
//	NOOP FEAT HELP PASV EPSV PORT EPRT   the current directory ("/" before   none
//	PROT CCC LANG HOST RANG SSCN         login)
//	SITE_HELP                            the current directory               none
//
// ALL applies to all of them but EPRT, EPSV, PASV, PORT, PROT and
// SITE_HELP. Commands not in this table (USER, PASS, SYST, TYPE, REST,
// ABOR, QUIT, ...) never consult <Limit>.
//
// # ProFTPD's replies
//
// What ProFTPD 1.3.8 answers (the differential test checks each of these;
// <arg> is the command's argument as the client sent it):
//
//	Refused by                  Reply
//	<Limit> RETR STOR APPE      550 <arg>: Operation not permitted
//	  DELE RNFR RNTO SIZE MDTM
//	<Limit> MKD XMKD RMD XRMD   550 <arg>: Permission denied
//	<Limit> CWD                 550 <arg>: No such file or directory
//	<Limit> LIST                226, with an empty listing (no refusal)
//	<Limit> STAT <path>         212 (213 for a file), with an empty listing
//	<Limit> NLST                450 <arg>: No such file or directory
//	<Limit> MLSD MLST           550 Unable to handle command
//	<Limit> SITE_CHMOD          550 CHMOD <mode> <path>: Permission denied
//	<Limit> PWD                 550 PWD: Permission denied
//	<Limit> NOOP                550 Operation not permitted
//	<Limit> FEAT                550 FEAT: Operation not permitted
//	<Limit> HELP                501 HELP: Permission denied
//	<Limit> STAT (no argument)  500 STAT: Operation not permitted
//	<Limit> PASV EPSV           501 PASV: Operation not permitted (EPSV: ...)
//	<Limit LOGIN> at login      530 Login incorrect.
//	<Limit LOGIN> at connection the connection is closed, no greeting
//	AllowOverwrite off          550 <arg>: Overwrite permission denied (STOR on an existing file,
//	                            also after REST)
//	AllowStoreRestart off       451 <arg>: Append/Restart not permitted, try again (REST+STOR or
//	                            APPE on an existing file; checked after AllowOverwrite)
//	HiddenStores with REST      501 REST not compatible with server configuration (checked last)
//	AllowRetrieveRestart off    451 <arg>: Restart not permitted, try again (REST+RETR)
//	ABOR during an upload       426 Transfer aborted. Data connection closed.
//	                            226 Abort successful
//	                            (then DeleteAbortedStores on removes the partial file; a
//	                            HiddenStores temporary file is removed unless
//	                            "DeleteAbortedStores off" is set: see DirSettings)
//
// # Precedence, as ProFTPD 1.3.8 has it
//
// For a command on a path, the <Directory> that applies is found first
// (the closest parent path: sections are nested by path when the server
// starts, and a nested one is looked for inside its parent). Then the
// <Limit>s for the command itself, for its group, and for ALL are tried
// in turn, each from that <Directory> outwards to the server; the first
// <Limit> that allows or denies decides. Within one level, sections are
// kept in reverse file order: of two <Limit>s for the same command, the
// one written last is tried first; of two sibling <Directory> sections
// that both match (globs), the one written last wins. <Directory ~...>
// and "%u" sections are only resolved at login and never nested: they are
// tried in that same reverse order among the top-level sections, so a
// <Directory ~> written before a <Directory /home> is never used below
// /home. For a chrooted session (DefaultRoot), <Directory> paths are
// matched against the full real path: a section written as the session
// sees it ("/upload") never matches. <Global> bodies come after a
// server's own directives and sections.
//
// ProFTPD's Order is not Apache's: with "Order deny,allow" a matching Deny
// (DenyAll, DenyUser, Deny from ...) decides and the Allow lines are not
// looked at; with "allow,deny" (the default) a matching Allow decides.
// When neither matches, an "allow,deny" section makes no decision and the
// search goes on outwards, while a "deny,allow" section denies. An entry
// with "!" ("Allow from !10.0.0.1") makes ProFTPD 1.3.8 answer "no match"
// for all the Allow (or Deny) lines of its <Limit>, whatever the address
// and whatever the other lines say: it is applied so.
//
// # Differences from ProFTPD
//
//   - .ftpaccess files are not read (ProFTPD reads them unless
//     "AllowOverride off"; "AllowOverride on" is refused).
//   - Paths of <Directory ~...> sections are resolved textually from
//     Who.Home (which must be a real path); ProFTPD also resolves symbolic
//     links below the home directory.
package access
