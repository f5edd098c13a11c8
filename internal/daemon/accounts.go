package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// userDB is the AuthUserFile (and AuthGroupFile) with the rules that
// decide whether a checked password opens a session, and where: the
// process that holds it (the master, or a single-process server) is the
// only one that reads password hashes.
type userDB struct {
	file      *authfile.File
	groups    *authfile.Groups // nil without AuthGroupFile
	rootLogin bool             // RootLogin on
	policy    *access.Policy   // DefaultRoot
	main      *directives.Server
	system    bool // names and groups also from the system's databases (no AuthOrder)
	id        identity
	log       logrus.FieldLogger

	// RequireValidShell and UseFtpUsers, on unless turned off: the
	// user's shell must be listed in the shells file, and the user not
	// in the ftpusers file, both read at every login as ProFTPD reads
	// them.
	requireValidShell, useFtpUsers bool
	shells, ftpUsers               string // /etc/shells, /etc/ftpusers
}

// The files a userDB reads at each login: ProFTPD's, which the tests of
// this package replace.
var (
	shellsPath   = authfile.ShellsPath
	ftpUsersPath = authfile.FtpUsersPath
)

// account is a user whose password was accepted, and the identity and
// root their session gets.
type account struct {
	User   string
	Cred   privsep.Credential
	Groups []string // names, primary first
	Home   string
	Root   string // real path of the session root
	Cwd    string // in the session's view
}

// loadUserDB reads the main server's AuthUserFile and AuthGroupFile.
func loadUserDB(dirs *directives.Config, policy *access.Policy, id identity, log logrus.FieldLogger) (*userDB, error) {
	main := dirs.Main
	nodes := main.Directives("AuthUserFile")
	if len(nodes) == 0 || len(nodes[0].Args) == 0 {
		return nil, errors.New("no users: ftpdtls serve needs an AuthUserFile (passwd format, $6$ SHA-512 crypt hashes)")
	}
	f, warnings, err := authfile.Load(nodes[0].Args[0])
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if f.Users() == 0 {
		return nil, fmt.Errorf("AuthUserFile %s: no usable users", f.Path)
	}
	db := &userDB{file: f, policy: policy, id: id, log: log, main: main, system: systemLookups(main),
		requireValidShell: true, useFtpUsers: true, shells: shellsPath, ftpUsers: ftpUsersPath}
	if nodes := main.Directives("AuthGroupFile"); len(nodes) > 0 && len(nodes[0].Args) > 0 {
		g, warnings, err := authfile.LoadGroups(nodes[0].Args[0])
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			log.Warn(w)
		}
		db.groups = g
	}
	for _, b := range []struct {
		name string
		v    *bool
	}{{"RootLogin", &db.rootLogin}, {"RequireValidShell", &db.requireValidShell}, {"UseFtpUsers", &db.useFtpUsers}} {
		if err := mainBool(main, b.name, b.v); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// mainBool sets *v from the Boolean argument of the main server's first
// directive called name; without one, *v keeps its default.
func mainBool(main *directives.Server, name string, v *bool) error {
	nodes := main.Directives(name)
	if len(nodes) == 0 || len(nodes[0].Args) == 0 {
		return nil
	}
	b, err := directives.ParseBool(nodes[0].Args[0])
	if err != nil {
		n := nodes[0]
		return &directives.Error{Directive: n.Name, File: n.File, Line: n.Line, Msg: "expected Boolean parameter"}
	}
	*v = b
	return nil
}

// directory is what the AuthUserFile and AuthGroupFile (and the system's
// databases, without AuthOrder) say of users and groups.
func (db *userDB) directory() *directory {
	return &directory{users: db.file.Names(), groups: db.groups.Names(), homes: db.file.Homes(), system: db.system}
}

// names are the owners' names listings show: the AuthUserFile's and
// AuthGroupFile's, then (without AuthOrder) the system's.
func (db *userDB) names() userfs.NameMap { return db.directory().names() }

// login checks a password and decides the session: ErrLoginIncorrect
// (wrapped) for what ProFTPD answers "530 Login incorrect.".
func (db *userDB) login(name, password string, remote net.Addr) (*account, error) {
	u, err := db.file.Check(name, password)
	if err != nil {
		if errors.Is(err, authfile.ErrLoginIncorrect) {
			return nil, fmt.Errorf("%w: %v", ftpd.ErrLoginIncorrect, err)
		}
		return nil, err
	}
	if u.Uid == 0 && !db.rootLogin {
		db.log.Warn("SECURITY VIOLATION: Root login attempted")
		return nil, fmt.Errorf("%w: user %s has uid 0 (RootLogin off)", ftpd.ErrLoginIncorrect, name)
	}
	if u.Uid == 0 {
		db.log.Warn("ROOT FTP login successful") // RootLogin on; ProFTPD's words
	}
	// ProFTPD's next checks, and its reasons for the log.
	if db.requireValidShell && !authfile.ValidShell(db.shells, u.Shell) {
		return nil, ftpd.LoginFailed(fmt.Sprintf("Invalid shell: '%s'", u.Shell))
	}
	if db.useFtpUsers && authfile.InFtpUsers(db.ftpUsers, u.Name) {
		return nil, ftpd.LoginFailed("User in " + authfile.FtpUsersPath) // ProFTPD's compiled-in name
	}
	if !db.id.Privileged && u.Uid != db.id.Self.Uid {
		return nil, fmt.Errorf("%w: user %s has uid %d, and ftpdtls serve, not started as root, serves every session as uid %d",
			ftpd.ErrLoginIncorrect, name, u.Uid, db.id.Self.Uid)
	}
	cred := privsep.Credential{Uid: u.Uid, Gid: u.Gid, Groups: append([]uint32{u.Gid}, db.groups.Of(u.Name, u.Gid)...)}
	if !db.id.Privileged {
		cred = db.id.Self
	}
	acct := &account{User: u.Name, Cred: cred, Home: u.Home}
	for _, gid := range cred.Groups {
		if n := db.groupName(gid); n != "" {
			acct.Groups = append(acct.Groups, n)
		}
	}
	who := access.Who{User: u.Name, Groups: acct.Groups, Addr: addrOf(remote), Home: u.Home}
	acct.Root, acct.Cwd = "/", u.Home
	if root, chroot := db.policy.DefaultRoot(who, u.Home); chroot {
		acct.Root, acct.Cwd = root, "/"
		if rest, ok := strings.CutPrefix(u.Home, root+"/"); ok {
			acct.Cwd = "/" + rest
		}
	}
	return acct, nil
}

func (db *userDB) groupName(gid uint32) string {
	if n := db.groups.Name(gid); n != "" || !db.system {
		return n
	}
	return userfs.SystemNames().GroupName(gid) // remembers its answers
}

func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// localAuth logs users in within this process (no privilege
// separation): every session acts as this process.
type localAuth struct {
	db    *userDB
	names userfs.Names
}

func (a *localAuth) Login(_ context.Context, req ftpd.LoginRequest) (*ftpd.Account, error) {
	acct, err := a.db.login(req.User, req.Password, req.Remote)
	if err != nil {
		return nil, err
	}
	return openLocal(acct, a.names, a.db.log, a.db.main)
}

// openLocal opens the session's file system in this process. A
// DefaultRoot that cannot be used is logged as ProFTPD logs it and ends
// the session (ftpd.ErrSessionRoot).
func openLocal(acct *account, names userfs.Names, log logrus.FieldLogger, main *directives.Server) (*ftpd.Account, error) {
	fsys, err := userfs.NewLocal(acct.Root, names)
	if err != nil {
		if acct.Root != "/" {
			return nil, sessionRootFailed(log, main, acct, err)
		}
		return nil, fmt.Errorf("session root: %w", err)
	}
	return acct.ftpd(fsys), nil
}

func (acct *account) ftpd(fsys userfs.FS) *ftpd.Account {
	return &ftpd.Account{User: acct.User, Uid: acct.Cred.Uid, Gid: acct.Cred.Gid, Groups: acct.Groups,
		Home: acct.Home, Root: acct.Root, Cwd: acct.Cwd, FS: fsys}
}
