package directives

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The directives of the modules Debian's stock modules.conf loads, part
// 2: mod_rewrite, mod_ban, mod_wrap2, mod_exec, mod_shaper, mod_ratio,
// mod_ifversion, mod_memcache and mod_ifsession.

func init() {
	addRules("mod_rewrite.c",
		rule("RewriteCondition", dirish, argsBad(2, 3), checkRewriteCondition),
		rule("RewriteEngine", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if _, err := ParseBool(c.Args[0]); err != nil {
				return errors.New("expecting boolean argument")
			}
			if c.p.seenOnServer(c, c.Name) {
				return fmt.Errorf("%s: multiple instances not allowed for same server", c.Name)
			}
			return nil
		}),
		rule("RewriteLock", serverish, ArgsAtLeast(1), absolutePathRequired),
		rule("RewriteMaxReplace", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if Atoi(c.Args[0]) <= 0 {
				return errors.New("count must be greater than zero")
			}
			return nil
		}),
		rule("RewriteLog", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if strings.EqualFold(c.Args[0], "none") {
				return nil
			}
			return absolutePathRequired(c)
		}),
		rule("RewriteMap", serverish, ArgsAtLeast(2), checkRewriteMap),
		rule("RewriteRule", dirish, argsBad(2, 3), func(c *Cmd) error {
			if len(c.Args) == 3 {
				if f := c.Args[2]; f == "" || f[0] != '[' || f[len(f)-1] != ']' {
					return fmt.Errorf(": badly formatted flags parameter: '%s'", f)
				}
			}
			pat := strings.TrimPrefix(c.Args[0], "!")
			if msg, ok := checkPCRE2(pat); !ok {
				return fmt.Errorf("unable to compile '%s' regex: %s", pat, msg)
			}
			return nil
		}),
	)

	addRules("mod_ban.c",
		rule("BanCache", serverish, ArgsBetween(1, 3), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "memcache") && !strings.EqualFold(c.Args[0], "redis") {
				return fmt.Errorf("unsupported BanCache driver '%s'", c.Args[0])
			}
			return nil
		}),
		rule("BanCacheOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "MatchServer" && a != "UseJSON" {
					return fmt.Errorf("unknown BanCacheOption '%s'", a)
				}
			}
			return nil
		}),
		rule("BanControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "", "ban", "permit")
		}),
		// mod_ban checks the Boolean before the context.
		rule("BanEngine", serverish, func(c *Cmd) error {
			if err := c.RequireArgs(1); err != nil {
				return err
			}
			_, err := ParseBool(c.Args[0])
			return err
		}, nil),
		rule("BanLog", Root|Global, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "none") && !strings.HasPrefix(c.Args[0], "/") {
				return errMustBeAbsolute
			}
			return nil
		}),
		rule("BanMessage", Root|Global, ArgsAtLeast(1), nil),
		rule("BanOnEvent", Root|Global, ArgsAtLeast(3), checkBanOnEvent),
		rule("BanOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if !strings.EqualFold(a, "MatchAnyServer") {
					return fmt.Errorf(": unknown BanOption '%s'", a)
				}
			}
			return nil
		}),
		rule("BanTable", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return errMustBeAbsolute
			}
			return nil
		}),
	)

	postParseChecks["mod_ban.c"] = func(p *parser) error {
		on := false
		walkNodes(p.cfg.Root, func(n *Node) {
			if strings.EqualFold(n.Name, "BanEngine") && len(n.Args) > 0 {
				if v, err := ParseBool(n.Args[0]); err == nil && v {
					on = true
				}
			}
		})
		if !on {
			return nil
		}
		t := p.lastNode("BanTable")
		if t == nil || len(t.Args) == 0 {
			return &Error{Msg: "mod_ban/0.8: missing required BanTable configuration", Plain: true}
		}
		if err := openRWCreate(t.Args[0]); err != nil {
			return &Error{Msg: fmt.Sprintf("mod_ban/0.8: unable to open BanTable '%s': %s", t.Args[0], Strerror(err)), Plain: true}
		}
		return nil
	}

	addRules("mod_wrap2.c",
		rule("WrapAllowMsg", anonish, ArgsAtLeast(1), nil),
		rule("WrapDenyMsg", anonish, ArgsAtLeast(1), nil),
		rule("WrapEngine", serverish, ArgsAtLeast(1), boolAtMsg(0, "expecting Boolean parameter")),
		rule("WrapGroupTables", anonish, ArgsAtLeast(3), func(c *Cmd) error { return checkWrapTables(c, 1) }),
		rule("WrapLog", serverish, ArgsAtLeast(1), nil),
		rule("WrapOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "CheckOnConnect" && a != "CheckAllNames" {
					return fmt.Errorf(": unknown WrapOption '%s'", a)
				}
			}
			return nil
		}),
		rule("WrapServiceName", serverish, ArgsAtLeast(1), nil),
		rule("WrapTables", anonish, ArgsAtLeast(2), func(c *Cmd) error { return checkWrapTables(c, 0) }),
		rule("WrapUserTables", anonish, ArgsAtLeast(3), func(c *Cmd) error { return checkWrapTables(c, 1) }),
	)

	execDirs := dirish
	fullPath := func(i int) Handler {
		return func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[i], "/") {
				return errors.New("path to program must be a full path")
			}
			return nil
		}
	}
	atLeastWrong := func(n int) func(*Cmd) error {
		return func(c *Cmd) error {
			if len(c.Args) < n {
				return ErrWrongArgs
			}
			return nil
		}
	}
	addRules("mod_exec.c",
		rule("ExecBeforeCommand", execDirs, atLeastWrong(2), fullPath(1)),
		rule("ExecEnable", Anonymous|Directory|FTPAccess, ArgsAtLeast(1), boolAt(0)),
		rule("ExecEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("ExecEnviron", serverish, ArgsAtLeast(2), nil),
		rule("ExecLog", serverish, ArgsAtLeast(1), nil),
		rule("ExecOnCommand", execDirs, atLeastWrong(2), fullPath(1)),
		rule("ExecOnConnect", serverish, atLeastWrong(1), fullPath(0)),
		rule("ExecOnError", execDirs, atLeastWrong(2), fullPath(1)),
		rule("ExecOnEvent", serverish, atLeastWrong(2), fullPath(1)),
		rule("ExecOnExit", serverish, atLeastWrong(1), fullPath(0)),
		rule("ExecOnRestart", serverish, atLeastWrong(1), fullPath(0)),
		rule("ExecOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch a {
				case "logStdout", "logStderr", "sendStdout", "useStdin":
				default:
					return fmt.Errorf(": unknown ExecOption: '%s'", a)
				}
			}
			return nil
		}),
		rule("ExecTimeout", serverish, ArgsAtLeast(1), durationAt(0)),
	)

	addRules("mod_shaper.c",
		rule("ShaperAll", Root, shaperArgs(14), checkShaperAll),
		rule("ShaperControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "shaper", "info", "sess")
		}),
		rule("ShaperEngine", anonish, ArgsAtLeast(1), boolAt(0)),
		// mod_shaper compares "none" with the directive's own name, so
		// only an absolute path passes.
		rule("ShaperLog", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return errMustBeAbsolute
			}
			return nil
		}),
		rule("ShaperSession", anonish, shaperArgs(8), checkShaperSession),
		rule("ShaperTable", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return errMustBeAbsolute
			}
			return nil
		}),
	)

	postParseChecks["mod_shaper.c"] = func(p *parser) error {
		// The ShaperLog is opened first; a failure is only logged.
		if l := p.lastNode("ShaperLog"); l != nil && len(l.Args) > 0 && !strings.EqualFold(l.Args[0], "none") {
			if chk := checkLogFile(l.Args[0]); chk.Notice != "" {
				p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: "ShaperLog", Msg: chk.Notice})
			}
		}
		t := p.lastNode("ShaperTable")
		if t == nil || len(t.Args) == 0 {
			return nil
		}
		if err := openRWCreate(t.Args[0]); err != nil {
			return &Error{Msg: fmt.Sprintf("mod_shaper/0.6.6: error opening ShaperTable '%s': %s", t.Args[0], Strerror(err)), Plain: true}
		}
		return nil
	}

	ratioCtx := dirish
	addRules("mod_ratio.c",
		rule("UserRatio", ratioCtx, ArgsAtLeast(5), nil),
		rule("GroupRatio", ratioCtx, ArgsAtLeast(5), nil),
		rule("AnonRatio", ratioCtx, ArgsAtLeast(5), nil),
		rule("HostRatio", ratioCtx, ArgsAtLeast(5), nil),
		rule("Ratios", ratioCtx, ArgsAtLeast(1), boolAt(0)),
		rule("FileRatioErrMsg", ratioCtx, ArgsAtLeast(1), nil),
		rule("ByteRatioErrMsg", ratioCtx, ArgsAtLeast(1), nil),
		rule("LeechRatioMsg", ratioCtx, ArgsAtLeast(1), nil),
		rule("CwdRatioMsg", ratioCtx, ArgsAtLeast(1), nil),
		rule("SaveRatios", ratioCtx, ArgsAtLeast(1), boolAtMsg(0, "requires a boolean value")),
		rule("RatioFile", ratioCtx, ArgsAtLeast(1), nil),
		rule("RatioTempFile", ratioCtx, ArgsAtLeast(1), nil),
	)

	addRules("mod_ifversion.c",
		Directive{Name: "<IfVersion>", Contexts: AnyContext, Handler: openIfVersion},
		// mod_ifversion's closing tag does nothing (it checks nothing).
		Directive{Name: "</IfVersion>", Contexts: AnyContext, Handler: func(c *Cmd) error {
			c.p.closeConditional("<IfVersion>")
			return nil
		}},
	)

	addRules("mod_memcache.c",
		rule("MemcacheConnectFailures", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if _, rest, _ := strtoul(c.Args[0]); rest != "" {
				return fmt.Errorf("bad connect failures parameter: %s", c.Args[0])
			}
			return nil
		}),
		rule("MemcacheEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("MemcacheLog", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "none") && !strings.HasPrefix(c.Args[0], "/") {
				return errMustBeAbsolute
			}
			return nil
		}),
		rule("MemcacheOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "NoBinaryProtocol" && a != "NoRandomReplicaReads" {
					return fmt.Errorf(": unknown MemcacheOption '%s'", a)
				}
			}
			return nil
		}),
		rule("MemcacheReplicas", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if _, rest, _ := strtoul(c.Args[0]); rest != "" {
				return fmt.Errorf("bad replica parameter: %s", c.Args[0])
			}
			return nil
		}),
		rule("MemcacheServers", serverish, argsAtLeast1Wrong, nil),
		rule("MemcacheTimeouts", serverish, ArgsBetween(3, 4), func(c *Cmd) error {
			for i, what := range []string{"connect", "read", "write", "retry"} {
				if i >= len(c.Args) {
					break
				}
				if _, rest, _ := strtoul(c.Args[i]); rest != "" {
					return fmt.Errorf("badly formatted %s timeout value: %s", what, c.Args[i])
				}
			}
			return nil
		}),
	)

	ifsess := func(name string, noArgs bool) Directive {
		return rule(name, serverish, nil, func(c *Cmd) error {
			if noArgs {
				if len(c.Args) > 0 {
					return ErrWrongArgs
				}
				return nil
			}
			if len(c.Args) < 1 {
				return ErrWrongArgs
			}
			if len(c.Args) > 1 && c.Args[0] == "regex" {
				if len(c.Args) != 2 {
					return ErrWrongArgs
				}
				if msg, ok := checkPCRE2(c.Args[1]); !ok {
					return fmt.Errorf(": '%s' failed regex compilation: %s", c.Args[1], msg)
				}
			}
			return nil
		})
	}
	addRules("mod_ifsession.c",
		ifsess("<IfAuthenticated>", true),
		ifsess("<IfClass>", false),
		ifsess("<IfGroup>", false),
		ifsess("<IfUser>", false),
	)
}

var errMustBeAbsolute = errors.New("must be an absolute path")

func absolutePathRequired(c *Cmd) error {
	if !strings.HasPrefix(c.Args[0], "/") {
		return errors.New("absolute path required")
	}
	return nil
}

var rewriteVars = map[string]bool{
	"%a": true, "%c": true, "%F": true, "%f": true, "%G": true, "%g": true, "%h": true, "%m": true, "%P": true,
	"%p": true, "%t": true, "%U": true, "%u": true, "%v": true, "%w": true, "%{TIME}": true, "%{TIME_YEAR}": true,
	"%{TIME_MON}": true, "%{TIME_DAY}": true, "%{TIME_WDAY}": true, "%{TIME_HOUR}": true, "%{TIME_MIN}": true,
	"%{TIME_SEC}": true,
}

func checkRewriteCondition(c *Cmd) error {
	if strings.Contains(c.Args[1], "%P") || strings.Contains(c.Args[1], "%t") {
		return errors.New("illegal RewriteCondition variable used")
	}
	if len(c.Args) == 3 {
		f := c.Args[2]
		if f == "" || f[0] != '[' || f[len(f)-1] != ']' {
			return fmt.Errorf(": badly formatted flags parameter: '%s'", f)
		}
		known := false
		for _, o := range ctrlsList(f[1 : len(f)-1]) {
			switch o {
			case "nocase", "NC", "ornext", "OR":
				known = true
			}
		}
		if !known {
			return fmt.Errorf(": unknown RewriteCondition flags '%s'", f)
		}
	}
	pat := strings.TrimPrefix(c.Args[1], "!")
	switch {
	case strings.HasPrefix(pat, ">"), strings.HasPrefix(pat, "<"), strings.HasPrefix(pat, "="),
		pat == "-d", pat == "-f", pat == "-l", pat == "-s":
	default:
		if msg, ok := checkPCRE2(pat); !ok {
			return fmt.Errorf("unable to compile '%s' regex: %s", pat, msg)
		}
	}
	// The variables of the condition's text: notices, not errors.
	if v := c.Args[0]; !strings.HasPrefix(v, "%{ENV:") {
		for {
			i := strings.IndexByte(v, '%')
			if i < 0 {
				break
			}
			v = v[i:]
			if len(v) <= 1 || (v[1] >= '0' && v[1] <= '9') {
				break
			}
			if !rewriteVars[v] {
				c.Warnf("invalid RewriteCondition variable '%s' used", v)
			}
			v = v[2:]
		}
	}
	return nil
}

func checkRewriteMap(c *Cmd) error {
	typ, src, ok := strings.Cut(c.Args[1], ":")
	if !ok {
		return fmt.Errorf("invalid RewriteMap parameter: '%s'", c.Args[1])
	}
	switch typ {
	case "int":
		switch src {
		case "replaceall", "tolower", "toupper", "unescape", "utf8trans", "idnatrans":
			return nil
		}
		return fmt.Errorf("unknown internal map function requested: '%s'", src)
	case "fifo":
		if !strings.HasPrefix(src, "/") {
			return fmt.Errorf("%s: fifo: absolute path required", c.Name)
		}
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("%s: fifo: error stat'ing '%s': %s", c.Name, src, Strerror(err))
		}
		if st.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("%s: fifo: error: '%s' is not a FIFO", c.Name, src)
		}
		return nil
	case "txt":
		if !strings.HasPrefix(src, "/") {
			return fmt.Errorf("%s: txt: absolute path required", c.Name)
		}
		return nil
	}
	return fmt.Errorf("invalid RewriteMap map type: '%s'", typ)
}

func checkBanOnEvent(c *Cmd) error {
	freq := c.Args[1]
	count, window, ok := strings.Cut(freq, "/")
	if !ok {
		return fmt.Errorf("badly formatted freq parameter: '%s'", freq)
	}
	if Atoi(count) < 1 {
		return errors.New("freq occurrences must be greater than 0")
	}
	w, ok := banTimestr(window)
	if !ok {
		// The frequency was cut at its '/' by then.
		return fmt.Errorf("badly formatted freq parameter: '%s'", count)
	}
	if w == 0 {
		return errors.New("freq parameter cannot be '00:00:00'")
	}
	d, ok := banTimestr(c.Args[2])
	if !ok {
		return fmt.Errorf("badly formatted duration parameter: '%s'", count)
	}
	if d == 0 {
		return errors.New("duration parameter cannot be '00:00:00'")
	}
	return nil
}

// banTimestr is mod_ban's "%2u:%2u:%2u" time.
func banTimestr(s string) (int64, bool) {
	h, m, sec, ok := scanHMS(s)
	if !ok {
		return 0, false
	}
	return uint32Wrap(h)*3600 + uint32Wrap(m)*60 + uint32Wrap(sec), true
}

func uint32Wrap(n int64) int64 { return int64(uint32(n)) }

// checkWrapTables checks the table arguments of WrapTables (from 0) and
// WrapUserTables/WrapGroupTables (from 1, the first being the users or
// groups): each but the last must be "type:info" with a registered type:
// "builtin", or that of a loaded mod_wrap2_file, _sql or _redis.
func checkWrapTables(c *Cmd, first int) error {
	registered := false
	for _, t := range c.Args[first : len(c.Args)-1] {
		typ, _, ok := strings.Cut(t, ":")
		if !ok {
			return fmt.Errorf("bad table parameter: '%s'", t)
		}
		switch typ {
		case "builtin":
			registered = true
		case "file", "sql", "redis":
			registered = registered || c.Config.ModuleLoaded("mod_wrap2_"+typ+".c")
		}
		if !registered {
			return fmt.Errorf("unsupported table source type: '%s'", typ)
		}
	}
	return nil
}

// shaperArgs is an even count from 2 to max ("wrong number of
// parameters").
func shaperArgs(max int) func(*Cmd) error {
	return func(c *Cmd) error {
		if n := len(c.Args); n < 2 || n > max || n%2 != 0 {
			return ErrWrongArgs
		}
		return nil
	}
}

func checkShaperAll(c *Cmd) error {
	for i := 0; i < len(c.Args); i += 2 {
		k, v := c.Args[i], c.Args[i+1]
		switch k {
		case "downrate", "rate", "uprate":
			r, rest := strtod(v)
			if rest != "" {
				return fmt.Errorf("invalid %s parameter", k)
			}
			if r < 0 {
				return fmt.Errorf("%s must be greater than 0", k)
			}
		case "downshares", "shares", "upshares":
			if Atoi(v) < 1 {
				return fmt.Errorf("%s must be greater than 1", k)
			}
		case "priority":
			if Atoi(v) < 0 {
				return errors.New("priority must be greater than 0")
			}
		default:
			return fmt.Errorf("unknown option: '%s'", k)
		}
	}
	return nil
}

func checkShaperSession(c *Cmd) error {
	for i := 0; i < len(c.Args); i += 2 {
		k, v := c.Args[i], c.Args[i+1]
		switch k {
		case "downshares", "shares", "upshares":
			if v == "" || (v[0] != '+' && v[0] != '-') {
				return fmt.Errorf("%s parameter must start with '+' or '-'", k)
			}
		case "priority":
			if Atoi(v) < 0 {
				return errors.New("priority must be greater than 0")
			}
		default:
			return fmt.Errorf("unknown option: '%s'", k)
		}
	}
	return nil
}

// serverVersion is the ProFTPD release <IfVersion> compares with.
const serverVersion = "1.3.8"

// openIfVersion is mod_ifversion's <IfVersion [!]op version|regex>: the
// section is read when the comparison holds, and skipped, unparsed,
// when it does not.
func openIfVersion(c *Cmd) error {
	if len(c.Args) == 0 || len(c.Args) > 2 {
		return ErrWrongArgs
	}
	op, version, negated := "=", c.Args[0], false
	if len(c.Args) == 2 {
		op, version = c.Args[0], c.Args[1]
		if strings.HasPrefix(op, "!") && len(op) > 1 {
			negated, op = true, op[1:]
		}
	}
	matched := false
	switch op[0] {
	case '=':
		if !strings.HasPrefix(version, "/") {
			cmp, err := compareVersion(version)
			if err != nil {
				return err
			}
			matched = cmp == 0
			break
		}
		if !strings.HasSuffix(version, "/") {
			return errors.New("Missing terminating '/' of regular expression") //nolint:staticcheck // ProFTPD's words
		}
		version = version[1 : len(version)-1]
		fallthrough
	case '~':
		if msg, ok := checkPCRE2(version); !ok {
			return fmt.Errorf("unable to compile pattern '%s': %s", version, msg)
		}
		re, err := regexp.Compile("(?i)" + version)
		if err != nil || !re.MatchString(serverVersion) {
			return fmt.Errorf("server version '%s' failed to match pattern '%s'", serverVersion, version)
		}
		matched = true
	case '<', '>':
		cmp, err := compareVersion(version)
		if err != nil {
			return err
		}
		want := -1
		if op[0] == '>' {
			want = 1
		}
		matched = cmp == want || (len(op) == 2 && cmp == 0)
	default:
		return fmt.Errorf("unknown comparison operator '%s'", op)
	}
	if matched != negated {
		c.p.parents = append(c.p.parents, c.Node)
		return nil
	}
	c.Node.Skipped = true
	depth := 1
	for depth > 0 {
		text, lineno, ok := c.p.src.lr.next(c.p.warnTruncated)
		if !ok {
			return &Error{Directive: c.Name, Msg: "unclosed <IfVersion> section", File: c.p.src.name, Line: lineno}
		}
		if len(text) >= 10 && strings.EqualFold(text[:10], "<IfVersion") {
			depth++
		}
		if strings.EqualFold(text, "</IfVersion>") {
			depth--
		}
	}
	return nil
}

// compareVersion compares the server's version with a configured one as
// mod_ifversion does: major[.minor[.revision[suffix]]], the suffix a
// letter (a maintenance release) or "rc" and digits.
func compareVersion(v string) (int, error) {
	cv, ok := parseVersion(v)
	if !ok {
		return 0, fmt.Errorf("badly formatted configured version '%s'", v)
	}
	sv, _ := parseVersion(serverVersion)
	for i := range cv {
		switch {
		case sv[i] > cv[i]:
			return 1, nil
		case sv[i] < cv[i]:
			return -1, nil
		}
	}
	return 0, nil
}

// parseVersion returns major, minor, revision and status (stable 300, a
// maintenance letter above it, an RC below it).
func parseVersion(v string) ([4]uint32, bool) {
	const stable, rc = 300, 100
	var out [4]uint32
	if v == "" || v[0] < '0' || v[0] > '9' {
		return out, false
	}
	parts := strings.SplitN(v, ".", 3)
	for i, p := range parts[:len(parts)-1] {
		n, rest, _ := strtoul(p)
		if rest != "" {
			return out, false
		}
		out[i] = uint32(n)
	}
	last := parts[len(parts)-1]
	if last == "" {
		return out, false // nothing after a '.'
	}
	if len(parts) < 3 {
		n, rest, _ := strtoul(last)
		if rest != "" {
			return out, false
		}
		out[len(parts)-1] = uint32(n)
		return out, true
	}
	i := 0
	for i < len(last) && last[i] >= '0' && last[i] <= '9' {
		i++
	}
	if i == 0 {
		return out, false
	}
	n, _, _ := strtoul(last[:i])
	out[2] = uint32(n)
	suffix := last[i:]
	switch {
	case suffix == "":
		out[3] = stable
	case len(suffix) == 1:
		c := suffix[0]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return out, false
		}
		out[3] = stable + uint32(c&^0x20-'A')
	case strings.EqualFold(suffix[:2], "rc"):
		out[3] = rc
		digits := suffix[2:]
		for j := 0; j < len(digits); j++ {
			if digits[j] < '0' || digits[j] > '9' {
				return out, false
			}
		}
		if digits != "" {
			m, _, _ := strtoul(digits)
			out[3] += uint32(m)
		}
	default:
		return out, false
	}
	return out, true
}
