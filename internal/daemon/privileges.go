package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
)

// Defaults for User and Group when the daemon is started as root and the
// configuration sets neither: the least privileged accounts Debian has.
const (
	defaultUser  = "nobody"
	defaultGroup = "nogroup"
)

// identity is what the configuration says about the processes that
// serve clients.
type identity struct {
	// Privileged: started as root. Workers drop to Worker; each user's
	// files are handled by a broker with the user's uid.
	Privileged bool
	// Worker is User/Group resolved (Privileged only).
	Worker privsep.Credential
	// UserName and GroupName are what was resolved, for the log.
	UserName, GroupName string
	// Defaulted is set when User or Group was not configured.
	Defaulted bool
	// Self is the invoking user's uid and gid (not Privileged): every
	// session acts as them.
	Self privsep.Credential
}

// resolveIdentity reads User and Group for a daemon whose effective uid
// is euid. As root, an unset User means nobody and an unset Group
// nogroup (or the User's primary group where nogroup does not exist);
// User or Group root is refused: workers parse what clients send. Not as
// root, the daemon cannot change identity: a User or Group naming another
// account is refused, like ProFTPD, which fails to switch to it.
func resolveIdentity(main *directives.Server, euid int) (identity, error) {
	id := identity{Privileged: euid == 0}
	if !id.Privileged {
		id.Self = privsep.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
		for _, c := range []struct{ name, value string }{{"User", main.User}, {"Group", main.Group}} {
			if c.value == "" {
				continue
			}
			var n uint32
			var err error
			if c.name == "User" {
				n, _, err = lookupUser(c.value)
			} else {
				n, err = lookupGroup(c.value)
			}
			self := id.Self.Uid
			if c.name == "Group" {
				self = id.Self.Gid
			}
			if err != nil {
				return id, fmt.Errorf("%s %s: %w", c.name, c.value, err)
			}
			if n != self {
				// ProFTPD's words when it cannot switch.
				what := "UID"
				if c.name == "Group" {
					what = "GID"
				}
				return id, fmt.Errorf("unable to set %s to %s, current %s: %d (ftpdtls serve was not started as root; start it as root or remove %s)",
					what, c.value, what, self, c.name)
			}
		}
		return id, nil
	}
	userName, groupName := main.User, main.Group
	if userName == "" || groupName == "" {
		id.Defaulted = true
	}
	if userName == "" {
		userName = defaultUser
	}
	uid, primary, err := lookupUser(userName)
	if err != nil {
		return id, fmt.Errorf("User %s: %w", userName, err)
	}
	if uid == 0 {
		return id, fmt.Errorf("User %s: ftpdtls serve does not serve clients as root (its workers parse what clients send); name an unprivileged account", userName)
	}
	var gid uint32
	switch {
	case groupName != "":
		if gid, err = lookupGroup(groupName); err != nil {
			return id, fmt.Errorf("Group %s: %w", groupName, err)
		}
	default:
		groupName = defaultGroup
		if gid, err = lookupGroup(defaultGroup); err != nil {
			gid, groupName = primary, strconv.FormatUint(uint64(primary), 10)
		}
	}
	if gid == 0 {
		return id, fmt.Errorf("Group %s: ftpdtls serve does not serve clients with group root; name an unprivileged group", groupName)
	}
	id.Worker = privsep.Credential{Uid: uid, Gid: gid, Groups: []uint32{gid}}
	id.UserName, id.GroupName = userName, groupName
	return id, nil
}

// lookupUser resolves a user name (or a number) to its uid and primary
// gid.
func lookupUser(name string) (uid, gid uint32, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if n, nerr := strconv.ParseUint(name, 10, 32); nerr == nil && errors.As(err, &unknown) {
			if u, err = user.LookupId(name); err != nil {
				return uint32(n), uint32(n), nil
			}
		} else {
			return 0, 0, fmt.Errorf("no such user: %w", err)
		}
	}
	uid64, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid64, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("user %s has uid %q gid %q", name, u.Uid, u.Gid)
	}
	return uint32(uid64), uint32(gid64), nil
}

// lookupGroup resolves a group name (or a number) to its gid.
func lookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if n, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			return uint32(n), nil
		}
		return 0, fmt.Errorf("no such group: %w", err)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %s has gid %q", name, g.Gid)
	}
	return uint32(n), nil
}
