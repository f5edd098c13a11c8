package daemon

import (
	"errors"
	"fmt"
	"os/user"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
	"github.com/ftpdtls/ftpdtls/internal/privsep"
	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// directory is what serve knows of users and groups besides logins: the
// names listings show, the homes of <Directory ~name> sections and the
// group names SITE CHGRP takes. It comes from the AuthUserFile and
// AuthGroupFile (in workers, from the master, which reads them) and, as
// ProFTPD asks every authentication module in turn, from the system's
// databases too, unless AuthOrder limits ProFTPD to mod_auth_file.c.
type directory struct {
	users  map[uint32]string // uid -> name
	groups map[uint32]string // gid -> name
	homes  map[string]string // name -> home
	system bool              // ask the system's databases after the files
}

// systemLookups reports whether ProFTPD, configured as main is, would
// look users and groups up in the system's databases: without AuthOrder
// it asks every authentication module (mod_auth_unix among them);
// ftpdtls serve accepts no AuthOrder but mod_auth_file.c.
func systemLookups(main *directives.Server) bool {
	return len(main.Directives("AuthOrder")) == 0
}

// names are the owners' names listings show.
func (d *directory) names() userfs.NameMap {
	m := userfs.NameMap{Users: d.users, Groups: d.groups}
	if d.system {
		m.Next = userfs.SystemNames()
	}
	return m
}

// homeOf is the home directory of a user, for <Directory ~name>.
func (d *directory) homeOf(name string) (string, bool) {
	if h, ok := d.homes[name]; ok {
		return h, h != ""
	}
	if !d.system {
		return "", false
	}
	u, err := user.Lookup(name)
	if err != nil || u.HomeDir == "" {
		return "", false
	}
	return u.HomeDir, true
}

// groupID is the id of a group name, for SITE CHGRP: the AuthGroupFile's
// (its first line of a name), then the system's.
func (d *directory) groupID(name string) (uint32, bool) {
	found, best := false, uint32(0)
	for gid, n := range d.groups {
		if n == name && (!found || gid < best) {
			found, best = true, gid
		}
	}
	if found || !d.system {
		return best, found
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, false
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(id), err == nil
}

// apply gives the directory to the access policy and the FTP engine of a
// configuration.
func (d *directory) apply(c *Config) {
	c.Policy.HomeOf = d.homeOf
	c.FTP.GroupID = d.groupID
}

// sessionRootFailed logs, in ProFTPD's words, that a session's DefaultRoot
// cannot be used (it does not exist, is not a directory, or the user may
// not reach it), and returns the error the engine answers with "530 Login
// incorrect." and the end of the connection, as ProFTPD does:
//
//	notice: unable to use DefaultRoot '~/missing/' [resolved to '/home/u/missing/']: No such file or directory
//	chroot to '~/missing/' failed for user 'u': No such file or directory
//	error: unable to set DefaultRoot directory
func sessionRootFailed(log logrus.FieldLogger, main *directives.Server, acct *account, err error) error {
	expr := defaultRootExpr(main, acct)
	resolved := expr
	if strings.HasPrefix(expr, "~") {
		resolved = acct.Home + expr[1:]
	}
	why := errnoText(err)
	log.Infof("notice: unable to use DefaultRoot '%s' [resolved to '%s']: %s", expr, resolved, why)
	log.Errorf("chroot to '%s' failed for user '%s': %s", expr, acct.User, why)
	log.Infof("%s", "error: "+ftpd.ErrSessionRoot.Error())
	return fmt.Errorf("%w: %s: %v", ftpd.ErrSessionRoot, acct.Root, err)
}

// defaultRootExpr is the DefaultRoot line that gave acct its root, as
// ProFTPD shows it in its log: %u replaced, with a trailing slash.
func defaultRootExpr(main *directives.Server, acct *account) string {
	expr := acct.Root
	if main != nil {
		for _, n := range main.Directives("DefaultRoot") {
			if len(n.Args) == 0 {
				continue
			}
			e := strings.ReplaceAll(n.Args[0], "%u", acct.User)
			dir := e
			if strings.HasPrefix(dir, "~") {
				dir = acct.Home + dir[1:]
			}
			if path.Clean(dir) == acct.Root {
				expr = e
				break
			}
		}
	}
	if !strings.HasSuffix(expr, "/") {
		expr += "/"
	}
	return expr
}

// errnoText is strerror's text for the errno in err (glibc's words are
// Go's, capitalised), or err's own text.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		msg := en.Error()
		return strings.ToUpper(msg[:1]) + msg[1:]
	}
	return err.Error()
}

// rootUnusable reports whether a broker's refusal to open a session root
// is the root's own fault (missing, not a directory, out of the user's
// reach), not the broker's.
func rootUnusable(err error) bool {
	var se *privsep.SessionError
	return errors.As(err, &se) && se.Errno != 0
}
