package directives

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"syscall"
)

// mod_auth, mod_ls, mod_log, mod_dso and mod_ctrls: the directives
// ftpdtls does not act on, as those modules check them.

func init() {
	addRules("mod_auth.c",
		rule("AccessDenyMsg", anonish, ArgsAtLeast(1), nil),
		rule("AccessGrantMsg", anonish, ArgsAtLeast(1), nil),
		rule("AllowChrootSymlinks", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("AllowEmptyPasswords", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("AnonAllowRobots", Anonymous, ArgsAtLeast(1), boolAt(0)),
		rule("AnonRequirePassword", Anonymous, ArgsAtLeast(1), boolAt(0)),
		rule("AnonRejectPasswords", Anonymous, argsBad(1, 2), func(c *Cmd) error {
			if len(c.Args) == 2 {
				f := c.Args[1]
				if f == "" || f[0] != '[' || f[len(f)-1] != ']' {
					return fmt.Errorf(": badly formatted flags parameter: '%s'", f)
				}
				if f != "[NC]" && f != "[nocase]" {
					return fmt.Errorf(": unknown flags '%s'", f)
				}
			}
			if msg, ok := checkPCRE2(strings.TrimPrefix(c.Args[0], "!")); !ok {
				return fmt.Errorf("Unable to compile regex '%s': %s", c.Args[0], msg) //nolint:staticcheck // ProFTPD's words
			}
			return nil
		}),
		rule("AuthAliasOnly", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("AuthUsingAlias", Anonymous, ArgsAtLeast(1), boolAt(0)),
		rule("CreateHome", serverish, argsAtLeast1Wrong, checkCreateHome),
		rule("DefaultChdir", anonish, nil, func(c *Cmd) error {
			if len(c.Args) < 1 {
				return errors.New("syntax: DefaultChdir <directory> [<group-expression>]")
			}
			if strings.Contains(c.Args[0], "*") {
				return fmt.Errorf("(%s) wildcards not allowed in pathname", c.Args[0])
			}
			return nil
		}),
		rule("DefaultRoot", serverish, nil, func(c *Cmd) error {
			if len(c.Args) < 1 {
				return errors.New("syntax: DefaultRoot <directory> [<group-expression>]")
			}
			dir := c.Args[0]
			if !strings.HasPrefix(dir, "/") && !strings.HasPrefix(dir, "~") {
				return fmt.Errorf("(%s) absolute pathname required", dir)
			}
			if strings.Contains(dir, "*") {
				return fmt.Errorf("(%s) wildcards not allowed in pathname", dir)
			}
			return nil
		}),
		rule("DisplayLogin", anonish, ArgsAtLeast(1), nil),
		rule("MaxClients", anonish, ArgsBetween(1, 2), noneOrPositive(0, "parameter")),
		rule("MaxClientsPerClass", serverish, nil, func(c *Cmd) error {
			if len(c.Args) < 2 {
				// mod_auth reads the missing value (a NULL pointer) and
				// ProFTPD crashes; ftpdtls says what is wrong.
				return ErrWrongArgs
			}
			return noneOrPositive(1, "max")(c)
		}),
		rule("MaxClientsPerHost", anonish, ArgsBetween(1, 2), noneOrPositive(0, "parameter")),
		rule("MaxClientsPerUser", anonish, ArgsBetween(1, 2), noneOrPositive(0, "parameter")),
		rule("MaxConnectionsPerHost", serverish, ArgsBetween(1, 2), noneOrPositive(0, "parameter")),
		rule("MaxHostsPerUser", anonish, nil, func(c *Cmd) error {
			if len(c.Args) < 1 || len(c.Args) > 2 {
				return ErrWrongArgs
			}
			return noneOrPositive(0, "parameter")(c)
		}),
		rule("MaxLoginAttempts", serverish, ArgsAtLeast(1), noneOrPositive(0, "parameter")),
		rule("MaxPasswordSize", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if strings.HasPrefix(c.Args[0], "-") {
				return errors.New("badly formatted parameter")
			}
			if _, rest, _ := strtoul(c.Args[0]); rest != "" {
				return errors.New("badly formatted parameter")
			}
			return nil
		}),
		rule("RequireValidShell", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("RewriteHome", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("RootLogin", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("RootRevoke", anonish, ArgsAtLeast(1), func(c *Cmd) error {
			if _, err := ParseBool(c.Args[0]); err == nil {
				return nil
			}
			if !strings.EqualFold(c.Args[0], "UseNonCompliantActiveTransfer") && !strings.EqualFold(c.Args[0], "UseNonCompliantActiveTransfers") {
				return ErrBool
			}
			return nil
		}),
		rule("TimeoutLogin", serverish, ArgsAtLeast(1), durationAt(0)),
		rule("TimeoutSession", anonish, func(c *Cmd) error {
			if len(c.Args) != 1 && len(c.Args) != 3 {
				return ErrMissingArgs
			}
			return nil
		}, func(c *Cmd) error {
			d, err := ParseDuration(c.Args[0])
			if err != nil {
				return fmt.Errorf("error parsing timeout value '%s': %s", c.Args[0], Strerror(err))
			}
			if d == 0 {
				return nil
			}
			if len(c.Args) == 3 && !isClassifier(c.Args[1]) {
				return fmt.Errorf("%s: unknown classifier used: '%s'", c.Name, c.Args[1])
			}
			return nil
		}),
		rule("UseFtpUsers", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("UseLastlog", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("UserAlias", anonish, ArgsAtLeast(2), func(c *Cmd) error {
			if c.Args[0] == c.Args[1] {
				return errors.New("alias and real user names must differ")
			}
			return nil
		}),
		rule("UserDirRoot", Anonymous, ArgsAtLeast(1), boolAt(0)),
		rule("UserPassword", anonish, ArgsAtLeast(2), nil),
	)

	lsDirs := dirish | FTPAccess
	addRules("mod_ls.c",
		rule("DirFakeUser", lsDirs, nil, checkDirFake),
		rule("DirFakeGroup", lsDirs, nil, checkDirFake),
		rule("DirFakeMode", lsDirs, ArgsAtLeast(1), func(c *Cmd) error {
			if _, rest, _ := strtolBase(c.Args[0], 8); rest != "" {
				return errors.New("parameter must be an octal number")
			}
			return nil
		}),
		rule("ListOptions", lsDirs, argsAtLeast1Wrong, checkListOptions),
		rule("ListStyle", anonish, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "Unix") && !strings.EqualFold(c.Args[0], "Windows") {
				return fmt.Errorf(": unknown ListStyle: '%s'", c.Args[0])
			}
			return nil
		}),
		rule("ShowSymlinks", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("UseGlobbing", anonish, ArgsAtLeast(1), boolAt(0)),
	)

	addRules("mod_log.c",
		rule("AllowLogSymlinks", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("ExtendedLog", anonish, nil, checkExtendedLog),
		rule("LogFormat", Root|Global, ArgsAtLeast(2), func(c *Cmd) error {
			if c.Args[0] == "" {
				return errors.New("missing required name parameter")
			}
			return nil
		}),
		rule("LogOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, o := range c.Args {
				if o == "" || (o[0] != '+' && o[0] != '-') {
					return fmt.Errorf("bad LogOption: '%s'", o)
				}
				switch strings.ToLower(o[1:]) {
				case "timestamp", "hostname", "virtualhost", "rolebasedprocesslabels":
				default:
					return fmt.Errorf("unknown LogOption: '%s'", o[1:])
				}
			}
			return nil
		}),
		rule("ServerLog", serverish, ArgsAtLeast(1), nil),
		rule("SystemLog", Root|Global, ArgsAtLeast(1), nil),
	)

	addRules("mod_dso.c",
		rule("LoadFile", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return errors.New("must be an absolute path")
			}
			// ftpdtls loads no shared objects; it accepts what
			// lt_dlopenext could load: the name as given when it ends in
			// .so or .la, else the name plus .la or .so.
			if !dlopenextFinds(c.Args[0]) {
				c.Warnf("mod_dso/0.5: unable to open '%s': file not found", c.Args[0])
				return fmt.Errorf("error loading '%s': %s", c.Args[0], Strerror(syscall.EPERM))
			}
			return nil
		}),
		rule("ModuleControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "", "insmod", "lsmod", "rmmod")
		}),
		rule("ModuleOrder", Root, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, m := range c.Args {
				if !c.Config.ModuleLoaded(m) {
					return fmt.Errorf("no such module '%s' loaded", m)
				}
			}
			for i := range c.Args {
				for j := i + 1; j < len(c.Args); j++ {
					if c.Args[i] == c.Args[j] {
						return fmt.Errorf("duplicate module name '%s' as parameters %d and %d", c.Args[i], i+1, j+1)
					}
				}
			}
			return nil
		}),
	)

	addRules("mod_ctrls.c",
		rule("ControlsAuthFreshness", Root, ArgsAtLeast(1), positiveAtoi),
		rule("ControlsInterval", Root, ArgsAtLeast(1), positiveAtoi),
		rule("ControlsMaxClients", Root, ArgsAtLeast(1), positiveAtoi),
		rule("ControlsSocketACL", Root, ArgsAtLeast(3), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "allow") && !strings.EqualFold(c.Args[0], "deny") {
				return errors.New("first parameter must be either 'allow' or 'deny'")
			}
			if !strings.EqualFold(c.Args[1], "user") && !strings.EqualFold(c.Args[1], "group") {
				return errors.New("second parameter must be either 'user' or 'group'")
			}
			return nil
		}),
		rule("ControlsSocketOwner", Root, ArgsAtLeast(2), func(c *Cmd) error {
			// mod_ctrls logs names it cannot resolve, and goes on.
			if !c.p.userExists(c.Args[0]) {
				c.Warnf("%s: %s has UID of -1", c.Name, c.Args[0])
			}
			if !c.p.groupExists(c.Args[1]) {
				c.Warnf("%s: %s has GID of -1", c.Name, c.Args[1])
			}
			return nil
		}),
	)

	// mod_exec opens the main server's ExecLog after the parse; a log it
	// cannot open is only logged.
	postParseChecks["mod_exec.c"] = func(p *parser) error {
		n := p.cfg.Main.Directives("ExecLog")
		if len(n) == 0 || len(n[0].Args) == 0 || strings.EqualFold(n[0].Args[0], "none") {
			return nil
		}
		if chk := checkLogFile(n[0].Args[0]); chk.Notice != "" {
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: "ExecLog", Msg: chk.Notice})
		}
		return nil
	}
	// mod_lang scans its LangPath for translations after the parse.
	postParseChecks["mod_lang.c"] = func(p *parser) error {
		if n := p.cfg.Main.Directives("LangEngine"); len(n) > 0 && len(n[0].Args) > 0 {
			if on, err := ParseBool(n[0].Args[0]); err == nil && !on {
				return nil
			}
		}
		n := p.lastNode("LangPath")
		if n == nil || len(n.Args) == 0 {
			return nil
		}
		if _, err := os.ReadDir(n.Args[0]); err != nil {
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: "LangPath",
				Msg: fmt.Sprintf("mod_lang/1.1: unable to scan the localised files in '%s': %s", n.Args[0], Strerror(err))})
		}
		return nil
	}
}

// userExists and groupExists look names up as User and Group do.
func (p *parser) userExists(name string) bool {
	lookup := p.opts.LookupUser
	if lookup == nil {
		lookup = func(n string) error { _, err := user.Lookup(n); return err }
	}
	return name != "" && lookup(name) == nil
}

func (p *parser) groupExists(name string) bool {
	lookup := p.opts.LookupGroup
	if lookup == nil {
		lookup = func(n string) error { _, err := user.LookupGroup(n); return err }
	}
	return name != "" && lookup(name) == nil
}

// positiveAtoi is mod_ctrls's "must be a positive number" (atoi > 0).
func positiveAtoi(c *Cmd) error {
	if Atoi(c.Args[0]) <= 0 {
		return errors.New("must be a positive number")
	}
	return nil
}

// noneOrPositive checks argument i: "none" or a whole number above 0
// (read as a C int), else "<what> must be 'none' or a number greater
// than 0".
func noneOrPositive(i int, what string) Handler {
	return func(c *Cmd) error {
		a := c.Args[i]
		if strings.EqualFold(a, "none") {
			return nil
		}
		n, rest, _ := Strtol(a)
		if rest != "" || int32(n) < 1 {
			return fmt.Errorf("%s must be 'none' or a number greater than 0", what)
		}
		return nil
	}
}

func checkCreateHome(c *Cmd) error {
	on, err := ParseBool(c.Args[0])
	if err != nil {
		return err
	}
	if !on {
		return nil
	}
	args := c.Args
	start := 1
	if len(args) >= 2 && !strings.EqualFold(args[1], "dirmode") && !strings.EqualFold(args[1], "skel") {
		if _, rest, _ := strtolBase(args[1], 8); rest != "" {
			return fmt.Errorf(": bad mode parameter: '%s'", args[1])
		}
		start = 2
	}
	if len(args) <= 2 {
		return nil
	}
	value := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	for i := start; i < len(args); {
		switch strings.ToLower(args[i]) {
		case "skel":
			i++
			p := value(i)
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("skel path '%s' is not a full path", p)
			}
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("unable to stat '%s': %s", p, Strerror(err))
			}
			if !st.IsDir() {
				return fmt.Errorf("'%s' is not a directory", p)
			}
			if st.Mode().Perm()&0o002 != 0 {
				return fmt.Errorf("'%s' is world-writable", p)
			}
			i++
		case "dirmode":
			i++
			if _, rest, _ := strtolBase(value(i), 8); rest != "" {
				return fmt.Errorf("bad mode parameter: '%s'", value(i))
			}
			i++
		case "uid", "gid":
			kw := strings.ToUpper(args[i])
			i++
			if v := value(i); v != "~" {
				if _, rest, ok := Strtol(v); !ok || rest != "" {
					return fmt.Errorf("bad %s parameter: '%s'", kw, v)
				}
			}
			i++
		case "homegid":
			i++
			if _, rest, _ := Strtol(value(i)); rest != "" {
				return fmt.Errorf("bad GID parameter: '%s'", value(i))
			}
			i++
		case "norootprivs":
			i++
		default:
			return fmt.Errorf("unknown parameter: '%s'", args[i])
		}
	}
	return nil
}

func checkDirFake(c *Cmd) error {
	if len(c.Args) < 1 || len(c.Args) > 2 {
		return fmt.Errorf("syntax: %s on|off [<id to display>]", c.Name)
	}
	if _, err := ParseBool(c.Args[0]); err != nil {
		return errors.New("expected boolean argument")
	}
	return nil
}

func checkListOptions(c *Cmd) error {
	args := c.Args
	for i := 1; i < len(args); i++ {
		switch kw := strings.ToLower(args[i]); kw {
		case "strict", "listonly", "nlstonly", "noerrorifabsent", "adjustedsymlinks", "noadjustedsymlinks", "sortednlst":
		case "maxdepth", "maxfiles", "maxdirs":
			i++
			v := ""
			if i < len(args) {
				v = args[i]
			}
			if Atoi(v) < 1 {
				return fmt.Errorf(": %s must be greater than 0: '%s'", kw, v)
			}
		default:
			return fmt.Errorf(": unknown keyword: '%s'", args[i])
		}
	}
	return nil
}

func checkExtendedLog(c *Cmd) error {
	if len(c.Args) < 1 {
		return errors.New("Syntax: ExtendedLog file [<cmd-classes> [<name>]]") //nolint:staticcheck // ProFTPD's words
	}
	path := c.Args[0]
	if len(path) >= 7 && strings.EqualFold(path[:7], "syslog:") {
		if !isSyslogLevel(path[7:]) {
			return fmt.Errorf("unknown syslog level: '%s'", path[7:])
		}
	} else if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("relative paths not allowed: '%s'", path)
	}
	if len(c.Args) > 1 && !logClasses(c.Args[1]) {
		return fmt.Errorf("invalid log class in '%s': %s", c.Args[1], Strerror(errnoENOENT))
	}
	return nil
}

// logClasses checks a list of command classes (comma- or, if it holds one,
// pipe-separated; each may be negated with '!').
func logClasses(rules string) bool {
	delim := ","
	if strings.Contains(rules, "|") {
		delim = "|"
	}
	for _, name := range strings.Split(rules, delim) {
		if name == "" {
			continue
		}
		name = strings.TrimPrefix(name, "!")
		switch strings.ToUpper(name) {
		case "NONE", "ALL", "AUTH", "INFO", "DIRS", "READ", "WRITE", "MISC", "SEC", "SECURE", "CONNECT",
			"EXIT", "DISCONNECT", "SSH", "SFTP":
		default:
			return false
		}
	}
	return true
}

// dlopenextFinds reports whether libltdl's lt_dlopenext would find a
// loadable file for path.
func dlopenextFinds(path string) bool {
	if strings.HasSuffix(path, ".so") {
		return isELF(path)
	}
	if strings.HasSuffix(path, ".la") {
		_, err := os.Stat(path)
		return err == nil
	}
	if _, err := os.Stat(path + ".la"); err == nil {
		return true
	}
	return isELF(path + ".so")
}

// isELF reports whether path is a regular file that starts like an ELF
// object.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return false
	}
	return string(magic) == "\x7fELF"
}
