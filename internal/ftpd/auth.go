package ftpd

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// LoginRequest is what a client sent to log in (USER and PASS), and
// where from.
type LoginRequest struct {
	User, Password string
	// Remote is the client (as the PROXY protocol reported it, if used);
	// Local is our address.
	Remote, Local net.Addr
}

// Account is a logged-in user: who they are and the file system their
// session works in.
type Account struct {
	User     string
	Uid, Gid uint32
	// Groups are the user's group names, primary first, for <Limit>
	// AllowGroup and DenyGroup.
	Groups []string
	// Home is the real path of the home directory; Root the real path of
	// the session root ("/" without DefaultRoot).
	Home, Root string
	// Cwd is the initial directory in the session's view: the home, or
	// "/" when Root is Home.
	Cwd string
	// FS is the session's file system, rooted at Root. The session
	// closes it when it ends.
	FS userfs.FS
}

// Authenticator checks logins.
type Authenticator interface {
	// Login checks the password and opens the session's file system.
	// ErrLoginIncorrect means "530 Login incorrect."; other errors are
	// logged and also answered 530.
	Login(ctx context.Context, req LoginRequest) (*Account, error)
}

// ErrLoginIncorrect is what an Authenticator returns for an unknown user
// or a wrong password; the client is told "530 Login incorrect.".
var ErrLoginIncorrect = errors.New("login incorrect")

// LoginFailed is ErrLoginIncorrect with the reason the log gives, in
// ProFTPD's words: the session logs "USER alice (Login failed): " and
// the reason (for example "Invalid shell: '/bin/false'"), which is all
// its Error says.
type LoginFailed string

func (e LoginFailed) Error() string { return string(e) }

// Is makes errors.Is(e, ErrLoginIncorrect) true.
func (e LoginFailed) Is(target error) bool { return target == ErrLoginIncorrect }

// ErrSessionRoot is what an Authenticator returns (wrapped) when the
// password was right but the session's root (DefaultRoot) cannot be
// used: the client is told "530 Login incorrect." and the connection
// ends, as ProFTPD ends the session. The Authenticator has logged why, in
// ProFTPD's words.
var ErrSessionRoot = errors.New("unable to set DefaultRoot directory")

// LocalAuth is an Authenticator that works in the calling process: Check
// verifies the password and returns the user's home directory, which
// becomes the session root (as with "DefaultRoot ~"); the session acts
// with the process's own uid and gid.
type LocalAuth struct {
	Check func(user, password string) (home string, err error)
	// Names turns owners into the names listings show; nil uses the
	// system's.
	Names userfs.Names
}

func (a LocalAuth) Login(_ context.Context, req LoginRequest) (*Account, error) {
	home, err := a.Check(req.User, req.Password)
	if err != nil {
		return nil, err
	}
	return LocalAccount(req.User, home, a.Names)
}

// LocalAccount is the account of user confined to home, acting as this
// process.
func LocalAccount(name, home string, names userfs.Names) (*Account, error) {
	if names == nil {
		names = userfs.SystemNames()
	}
	fsys, err := userfs.NewLocal(home, names)
	if err != nil {
		return nil, fmt.Errorf("home directory: %w", err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var groups []string
	if g := names.GroupName(gid); g != "" {
		groups = append(groups, g)
	} else if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		groups = append(groups, g.Name)
	}
	return &Account{User: name, Uid: uid, Gid: gid, Groups: groups, Home: home, Root: home, Cwd: "/", FS: fsys}, nil
}

// StaticUser is an Authenticator for exactly one user, confined to home.
func StaticUser(user, password, home string) Authenticator {
	return LocalAuth{Check: func(u, p string) (string, error) {
		ok := subtle.ConstantTimeCompare([]byte(u), []byte(user)) &
			subtle.ConstantTimeCompare([]byte(p), []byte(password))
		if ok != 1 {
			return "", ErrLoginIncorrect
		}
		return home, nil
	}}
}
