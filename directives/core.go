package directives

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"syscall"
)

// coreModules are the directive tables ftpdtls implements itself, for
// modules compiled into ProFTPD. Their other catalogue directives are
// accepted and kept in the tree (see withCatalogue). It is filled in init
// because LoadModule's handler itself looks modules up in it.
var coreModules map[string]*Module

func init() { coreModules = buildCoreModules() }

func buildCoreModules() map[string]*Module {
	return map[string]*Module{
		"mod_core.c": {
			Name:       "mod_core.c",
			Version:    "mod_core/1.3.8",
			Directives: append(append(append([]Directive(nil), sectionDirectives...), coreDirectives...), traceDirectives...),
		},
		"mod_dso.c":   {Name: "mod_dso.c", Version: dsoVersion, Directives: dsoDirectives},
		"mod_delay.c": {Name: "mod_delay.c", Version: "mod_delay/0.7", Directives: []Directive{{Name: "DelayEngine", Contexts: Root | VirtualHost | Global, Args: ArgsAtLeast(1), Handler: checkBool}}},
		"mod_auth.c":  {Name: "mod_auth.c", Version: "mod_auth/1.3.8", Directives: []Directive{{Name: "WtmpLog", Contexts: Root | VirtualHost | Anonymous | Global, Args: ArgsAtLeast(1), Handler: setWtmpLog}}},
		"mod_ctrls.c": {Name: "mod_ctrls.c", Version: "mod_ctrls/0.9.5", Directives: ctrlsDirectives},
	}
}

// own wraps a handler of a single-valued setting so that, replayed from
// <Global>, it leaves a server that sets the directive itself alone.
func own(h Handler) Handler {
	return func(c *Cmd) error {
		if c.Replay && c.Server.SetInBody(c.Name) {
			return nil
		}
		return h(c)
	}
}

var coreDirectives = []Directive{
	{Name: "ServerType", Contexts: Root, Args: ArgsAtLeast(1), Handler: setServerType},
	{Name: "ServerName", Contexts: Root | VirtualHost, Args: ArgsAtLeast(1), Handler: func(c *Cmd) error { c.Server.Name = c.Args[0]; return nil }},
	{Name: "ServerIdent", Contexts: Root | VirtualHost | Global, Args: ArgsBetween(1, 2), Handler: own(setServerIdent)},
	{Name: "Port", Contexts: Root | VirtualHost | Global, Args: ArgsAtLeast(1), Handler: own(setPort)},
	{Name: "DefaultAddress", Contexts: Root, Args: ArgsBetween(1, -1), Handler: setDefaultAddress},
	{Name: "SocketBindTight", Contexts: Root, Args: ArgsAtLeast(1), Handler: boolSetter(func(s *Server, v bool) { s.SocketBindTight = v })},
	{Name: "UseIPv6", Contexts: Root, Args: ArgsAtLeast(1), Handler: boolSetter(func(s *Server, v bool) { s.UseIPv6 = v })},
	{Name: "UseReverseDNS", Contexts: Root, Args: ArgsAtLeast(1), Handler: boolSetter(func(s *Server, v bool) { s.UseReverseDNS = v })},
	{Name: "DefaultServer", Contexts: Root | VirtualHost, Args: ArgsAtLeast(1), Handler: setDefaultServer},
	{Name: "User", Contexts: Root | VirtualHost | Anonymous | Global, Args: ArgsAtLeast(1), Handler: own(setUser)},
	{Name: "Group", Contexts: Root | VirtualHost | Anonymous | Global, Args: ArgsAtLeast(1), Handler: own(setGroup)},
	{Name: "PassivePorts", Contexts: Root | VirtualHost | Global, Args: ArgsAtLeast(2), Handler: own(setPassivePorts)},
	{Name: "MasqueradeAddress", Contexts: Root | VirtualHost | Global, Args: ArgsAtLeast(1), Handler: own(func(c *Cmd) error { c.Server.MasqueradeAddress = c.Args[0]; return nil })},
	{Name: "PidFile", Contexts: Root, Args: ArgsAtLeast(1), Handler: setPidFile},
	{Name: "ScoreboardFile", Contexts: Root, Args: ArgsAtLeast(1), Handler: setScoreboardFile},
	{Name: "MaxInstances", Contexts: Root, Args: ArgsAtLeast(1), Handler: setMaxInstances},
	{Name: "Include", Contexts: Root | VirtualHost | Anonymous | Global | Directory | Limit, Args: ArgsAtLeast(1), Handler: include},
	{Name: "IncludeOptions", Contexts: Root, Args: ArgsBetween(1, -1), Handler: setIncludeOptions},
}

var ctrlsDirectives = []Directive{
	{Name: "ControlsEngine", Contexts: Root, Args: ArgsAtLeast(1), Handler: checkBool},
	{Name: "ControlsSocket", Contexts: Root, Args: ArgsAtLeast(1), Handler: checkAbsolute},
	{Name: "ControlsACLs", Contexts: Root, Args: ArgsAtLeast(4), Handler: checkControlsACLs},
	{Name: "ControlsLog", Contexts: Root, Args: ArgsAtLeast(1), Handler: checkControlsLog},
}

// boolSetter returns a handler reading one Boolean into a Server field.
func boolSetter(set func(*Server, bool)) Handler {
	return func(c *Cmd) error {
		v, err := ParseBool(c.Args[0])
		if err != nil {
			return err
		}
		set(c.Server, v)
		return nil
	}
}

// setDefaultServer handles DefaultServer: only one server of the
// configuration may say "on" ("DefaultServer has already been set").
func setDefaultServer(c *Cmd) error {
	v, err := ParseBool(c.Args[0])
	if err != nil || !v {
		return err
	}
	for _, s := range append([]*Server{c.Config.Main}, c.Config.VirtualHosts...) {
		if s.DefaultServer {
			return errors.New("DefaultServer has already been set")
		}
	}
	c.Server.DefaultServer = true
	return nil
}

// checkBool accepts a directive whose first argument is a Boolean.
func checkBool(c *Cmd) error {
	_, err := ParseBool(c.Args[0])
	return err
}

func checkAbsolute(c *Cmd) error {
	if !strings.HasPrefix(c.Args[0], "/") {
		return errors.New("must be an absolute path")
	}
	return nil
}

func setServerType(c *Cmd) error {
	switch t := strings.ToLower(c.Args[0]); t {
	case "inetd", "standalone":
		c.Server.ServerType = t
		return nil
	}
	return errors.New("type must be either 'inetd' or 'standalone'")
}

func setServerIdent(c *Cmd) error {
	if _, err := ParseBool(c.Args[0]); err != nil {
		return err
	}
	c.Server.ServerIdent = append([]string(nil), c.Args...)
	return nil
}

func setPort(c *Cmd) error {
	n := Atoi(c.Args[0])
	if n < 0 || n > 65535 {
		return errors.New("value must be between 0 and 65535")
	}
	c.Server.Port = n
	return nil
}

func setDefaultAddress(c *Cmd) error {
	for _, a := range c.Args {
		if err := c.p.resolve(a); err != nil {
			return fmt.Errorf("unable to resolve '%s'", a)
		}
	}
	c.Server.Addrs = append([]string(nil), c.Args...)
	return nil
}

func setUser(c *Cmd) error {
	name := c.Args[0]
	lookup := c.p.opts.LookupUser
	if lookup == nil {
		lookup = func(n string) error { _, err := user.Lookup(n); return err }
	}
	if c.Context == Anonymous {
		// There it names the anonymous login's account, which ProFTPD
		// looks up only at login.
		return nil
	}
	if name == "" || lookup(name) != nil {
		return fmt.Errorf("Unknown user '%s'", name) //nolint:staticcheck // ProFTPD's words
	}
	c.Server.User = name
	return nil
}

func setGroup(c *Cmd) error {
	name := c.Args[0]
	lookup := c.p.opts.LookupGroup
	if lookup == nil {
		lookup = func(n string) error { _, err := user.LookupGroup(n); return err }
	}
	if c.Context == Anonymous {
		return nil // looked up at login, as User
	}
	if name == "" || lookup(name) != nil {
		return fmt.Errorf("Unknown group '%s'", name) //nolint:staticcheck // ProFTPD's words
	}
	c.Server.Group = name
	return nil
}

func setPassivePorts(c *Cmd) error {
	lo, hi := Atoi(c.Args[0]), Atoi(c.Args[1])
	switch {
	case lo <= 0 || lo > 65535:
		return errors.New("min port must be allowable port number")
	case hi <= 0 || hi > 65535:
		return errors.New("max port must be allowable port number")
	case lo < 1024 || hi < 1024:
		return errors.New("port numbers must be above 1023")
	case lo >= hi:
		return errors.New("min port must be less than max port")
	}
	c.Server.PassivePorts = PortRange{Min: lo, Max: hi}
	return nil
}

func setPidFile(c *Cmd) error {
	if !strings.HasPrefix(c.Args[0], "/") {
		return fmt.Errorf("unable to set PidFile '%s': %s", c.Args[0], Strerror(syscall.EINVAL))
	}
	c.Server.PidFile = c.Args[0]
	return nil
}

// setScoreboardFile applies ProFTPD's checks on the scoreboard's
// directory: the path is absolute and not directly under "/", and the
// directory exists and is not world-writable. A false Boolean ("off"),
// "none" and "/dev/null" turn scoreboarding off.
func setScoreboardFile(c *Cmd) error {
	path := c.Args[0]
	if v, err := ParseBool(path); (err == nil && !v) || strings.EqualFold(path, "none") || path == "/dev/null" {
		c.Server.ScoreboardFile = path // scoreboarding off
		return nil
	}
	fail := func(errno syscall.Errno) error {
		return fmt.Errorf("unable to use '%s': %s", path, Strerror(errno))
	}
	i := strings.LastIndexByte(path, '/')
	if !strings.HasPrefix(path, "/") || i <= 0 {
		return fail(syscall.EINVAL)
	}
	st, err := os.Stat(path[:i])
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return fail(errno)
		}
		return fail(syscall.EINVAL)
	}
	if !st.IsDir() {
		return fail(syscall.ENOTDIR)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return fail(syscall.EPERM)
	}
	c.Server.ScoreboardFile = path
	return nil
}

func setMaxInstances(c *Cmd) error {
	if strings.EqualFold(c.Args[0], "none") {
		c.Server.MaxInstances = 0
		return nil
	}
	n, rest, ok := Strtol(c.Args[0])
	if !ok || rest != "" || n < 1 {
		return errors.New("argument must be 'none' or a number greater than 0")
	}
	c.Server.MaxInstances = int(n)
	return nil
}

func setWtmpLog(c *Cmd) error {
	if strings.EqualFold(c.Args[0], "none") {
		return nil
	}
	return checkBool(c)
}

// checkControlsACLs is mod_ctrls's ControlsACLs: the actions (its own,
// or "all"), then "allow" or "deny", then "user" or "group", checked in
// mod_ctrls's order.
func checkControlsACLs(c *Cmd) error {
	return checkModuleACLs(c, "", "help", "insctrl", "lsctrl", "rmctrl")
}

// checkControlsLog checks that mod_ctrls could open the log, with its
// notices and messages; mod_ctrls opens it at this point, ftpdtls only
// checks. Every failure but a world-writable directory is reported as
// ENOENT, and a symbolic link is only a notice (the file is not used).
func checkControlsLog(c *Cmd) error {
	path := c.Args[0]
	chk := checkLogFile(path)
	if chk.Notice != "" {
		c.Warnf("%s", chk.Notice)
	}
	notice := func(why string) {
		c.Warnf("mod_ctrls/0.9.5: unable to open ControlsLog '%s': %s", path, why)
	}
	switch {
	case chk.Err != nil:
		notice(Strerror(chk.Err))
		return fmt.Errorf("unable to open '%s': %s", path, Strerror(syscall.ENOENT))
	case chk.WorldWritable:
		notice("parent directory is world-writable")
		return errors.New("unable to log to a world-writable directory")
	case chk.Symlink:
		notice(path + " is a symbolic link")
	}
	return nil
}
