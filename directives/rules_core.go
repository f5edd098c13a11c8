package directives

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The directives of mod_core that ftpdtls does not act on, as mod_core's
// handlers check them.

const (
	serverish = Root | VirtualHost | Global // CONF_ROOT|CONF_VIRTUAL|CONF_GLOBAL
	anonish   = serverish | Anonymous       // ... |CONF_ANON
	dirish    = anonish | Directory         // ... |CONF_DIR
)

func init() {
	addRules("mod_core.c",
		rule("Allow", Limit, nil, checkAllowDeny),
		rule("Deny", Limit, nil, checkAllowDeny),
		rule("AllowAll", Limit|Anonymous|Directory|FTPAccess, argsAtMost(0), nil),
		rule("DenyAll", Limit|Anonymous|Directory|FTPAccess, argsAtMost(0), nil),
		rule("AllowClass", Limit, nil, checkUserGroupClassACL),
		rule("AllowGroup", Limit, nil, checkUserGroupClassACL),
		rule("AllowUser", Limit, nil, checkUserGroupClassACL),
		rule("DenyClass", Limit, nil, checkUserGroupClassACL),
		rule("DenyGroup", Limit, nil, checkUserGroupClassACL),
		rule("DenyUser", Limit, nil, checkUserGroupClassACL),
		rule("AllowFilter", dirish|FTPAccess|Limit, argsBad(1, 2), checkFilterRegex),
		rule("DenyFilter", dirish|FTPAccess|Limit, argsBad(1, 2), checkFilterRegex),
		rule("PathAllowFilter", dirish|FTPAccess, argsBad(1, 2), checkFilterRegex),
		rule("PathDenyFilter", dirish|FTPAccess, argsBad(1, 2), checkFilterRegex),
		rule("AllowForeignAddress", anonish, ArgsAtLeast(1), nil),
		rule("AllowOverride", dirish, func(c *Cmd) error {
			if len(c.Args) == 3 {
				return errors.New("Please use mod_ifsession for per-user/group/class conditional configuration") //nolint:staticcheck // ProFTPD's words
			}
			return c.RequireArgs(1)
		}, boolAt(0)),
		rule("AuthOrder", serverish, ArgsAtLeast(1), checkAuthOrder),
		rule("CDPath", anonish, ArgsAtLeast(1), nil),
		rule("CommandBufferSize", serverish, ArgsBetween(1, 2), checkCommandBufferSize),
		rule("DebugLevel", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			n, rest, _ := Strtol(c.Args[0])
			if rest != "" {
				return errors.New("not a valid number")
			}
			if n = int64(int32(n)); n < 0 || n > 10 {
				return errors.New("invalid debug level configured")
			}
			return nil
		}),
		rule("DeferWelcome", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("DisplayChdir", dirish, ArgsBetween(1, 2), func(c *Cmd) error {
			if len(c.Args) == 2 {
				return boolAt(1)(c)
			}
			return nil
		}),
		rule("DisplayConnect", serverish, ArgsAtLeast(1), nil),
		rule("DisplayQuit", anonish, ArgsAtLeast(1), nil),
		// No context check: mod_core's handler has none.
		rule("FSCachePolicy", AnyContext, func(c *Cmd) error {
			if len(c.Args) != 1 && len(c.Args) != 4 {
				return ErrWrongArgs
			}
			return nil
		}, checkFSCachePolicy),
		rule("FSOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "IgnoreExtendedAttributes" {
					return fmt.Errorf(": unknown FSOption '%s'", a)
				}
			}
			return nil
		}),
		rule("GroupOwner", Anonymous|Directory|FTPAccess, ArgsAtLeast(1), nil),
		rule("UserOwner", Anonymous|Directory, ArgsAtLeast(1), nil),
		rule("HideFiles", Directory|FTPAccess, func(c *Cmd) error {
			if len(c.Args) != 1 && len(c.Args) != 3 {
				return ErrWrongArgs
			}
			return nil
		}, checkHideFiles),
		rule("HideGroup", Anonymous|Directory, ArgsAtLeast(1), nil),
		rule("HideUser", Anonymous|Directory, ArgsAtLeast(1), nil),
		rule("HideNoAccess", Anonymous|Directory, ArgsAtLeast(1), boolAt(0)),
		rule("IgnoreHidden", Limit, ArgsAtLeast(1), boolAt(0)),
		rule("MaxCommandRate", serverish, ArgsBetween(1, 2), func(c *Cmd) error {
			return checkRate(c, "command")
		}),
		rule("MaxConnectionRate", Root, ArgsBetween(1, 2), func(c *Cmd) error {
			return checkRate(c, "connection")
		}),
		rule("MultilineRFC2228", AnyContext, nil, func(c *Cmd) error {
			c.Warnf("the %s directive has been deprecated, and will be removed in a future release.  Please remove it from your config file.", c.Name)
			return nil
		}),
		rule("Order", Limit, ArgsBetween(1, 2), func(c *Cmd) error {
			arg := strings.Join(c.Args, "")
			if !strings.EqualFold(arg, "allow,deny") && !strings.EqualFold(arg, "deny,allow") {
				return fmt.Errorf("'%s': invalid argument", arg)
			}
			return nil
		}),
		rule("ProcessTitles", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "terse") && !strings.EqualFold(c.Args[0], "verbose") {
				return errors.New("unknown parameter")
			}
			return nil
		}),
		rule("Protocols", serverish, nil, argsAtLeast1Wrong),
		rule("RegexOptions", serverish, func(c *Cmd) error {
			if len(c.Args) < 2 || len(c.Args)%2 != 0 {
				return errors.New("Wrong number of parameters") //nolint:staticcheck // ProFTPD's capitalisation
			}
			return nil
		}, checkRegexOptions),
		rule("Satisfy", Class, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "any") && !strings.EqualFold(c.Args[0], "all") {
				return fmt.Errorf("invalid parameter: '%s'", c.Args[0])
			}
			return nil
		}),
		rule("ScoreboardMutex", Root, ArgsAtLeast(1), nil),
		rule("ScoreboardScrub", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if _, err := ParseBool(c.Args[0]); err == nil {
				return nil
			}
			if Atoi(c.Args[0]) <= 0 {
				return errors.New("number must be greater than zero")
			}
			return nil
		}),
		rule("ServerAdmin", Root|VirtualHost, ArgsAtLeast(1), nil),
		rule("ServerAlias", Root|VirtualHost, argsAtLeast1Wrong, nil),
		rule("SetEnv", serverish, ArgsAtLeast(2), func(c *Cmd) error {
			if c.Context == Root {
				c.p.setEnv(c.Args[0], c.Args[1], true)
			}
			return nil
		}),
		rule("UnsetEnv", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if c.Context == Root {
				c.p.setEnv(c.Args[0], "", false)
			}
			return nil
		}),
		rule("SocketOptions", Root|VirtualHost, func(c *Cmd) error {
			if len(c.Args)%2 != 0 {
				return errors.New("bad number of parameters")
			}
			return nil
		}, checkSocketOptions),
		rule("SyslogFacility", Root, ArgsAtLeast(1), func(c *Cmd) error {
			switch strings.ToUpper(c.Args[0]) {
			case "AUTH", "AUTHPRIV", "FTP", "CRON", "DAEMON", "KERN", "LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3",
				"LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7", "LPR", "MAIL", "NEWS", "USER", "UUCP":
				return nil
			}
			return errors.New("argument must be a valid syslog facility")
		}),
		rule("SyslogLevel", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if !isSyslogLevel(c.Args[0]) {
				return errors.New("SyslogLevel requires level keyword: one of emerg/alert/crit/error/warn/notice/info/debug")
			}
			return nil
		}),
		rule("TCPBackLog", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if n := Atoi(c.Args[0]); n < 1 || n > 255 {
				return errors.New("parameter must be a number between 1 and 255")
			}
			return nil
		}),
		rule("TCPNoDelay", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("TimeoutIdle", anonish, ArgsAtLeast(1), durationAt(0)),
		rule("TimeoutLinger", serverish, ArgsAtLeast(1), durationAt(0)),
		rule("TimesGMT", anonish, ArgsAtLeast(1), boolAt(0)),
		rule("TransferLog", anonish, ArgsAtLeast(1), nil),
		rule("Umask", dirish|FTPAccess, argsVar(1, 2), func(c *Cmd) error {
			for _, a := range c.Args {
				if _, rest, _ := strtolBase(a, 8); rest != "" {
					return fmt.Errorf("'%s' is not a valid umask", a)
				}
			}
			return nil
		}),
	)
}

// checkAllowDeny is mod_core's Allow/Deny: [from] all|none|ACL[,ACL...].
func checkAllowDeny(c *Cmd) error {
	args := c.Args
	n := 0
	for len(args) > 0 {
		a := args[0]
		if strings.EqualFold(a, "from") {
			args = args[1:]
			continue
		}
		if strings.EqualFold(a, "!all") || strings.EqualFold(a, "!none") {
			return errors.New("the ! negation operator cannot be used with ALL/NONE")
		}
		if strings.EqualFold(a, "all") || strings.EqualFold(a, "none") {
			return nil // the rest is ignored
		}
		break
	}
	for _, a := range args {
		for _, ent := range strings.Split(a, ",") {
			if ent == "" {
				continue
			}
			if strings.EqualFold(ent, "all") || strings.EqualFold(ent, "none") {
				if n == 0 {
					n = -1 // the list is emptied: the syntax message
				}
				goto done
			}
			if err := c.p.checkNetACL(ent); err != nil {
				var ae *aclError
				if errors.As(err, &ae) {
					ent = ae.entry
				}
				return fmt.Errorf("bad ACL definition '%s': %s", ent, Strerror(err))
			}
			n++
		}
	}
done:
	if n <= 0 {
		return fmt.Errorf("syntax: %s [from] [all|none]|host|network[,...]", c.Name)
	}
	return nil
}

// checkUserGroupClassACL is AllowUser, DenyGroup, ...: a list, or
// "regex PATTERN" (compiled with the POSIX API).
func checkUserGroupClassACL(c *Cmd) error {
	if len(c.Args) < 1 {
		return ErrWrongArgs
	}
	if len(c.Args) > 1 && strings.EqualFold(c.Args[0], "regex") {
		if len(c.Args) != 2 {
			return ErrWrongArgs
		}
		if msg, ok := checkPOSIXRegex(c.Args[1]); !ok {
			return fmt.Errorf("'%s' failed regex compilation: %s", c.Args[1], msg)
		}
	}
	return nil
}

// checkFilterRegex is AllowFilter, DenyFilter, PathAllowFilter and
// PathDenyFilter: a PCRE2 pattern and optional flags ("[NC]").
func checkFilterRegex(c *Cmd) error {
	if len(c.Args) == 2 {
		f := c.Args[1]
		if f == "" || f[0] != '[' || f[len(f)-1] != ']' {
			return fmt.Errorf("badly formatted flags parameter: '%s'", f)
		}
		if f != "[NC]" && f != "[nocase]" {
			return fmt.Errorf("unknown filter flags '%s'", f)
		}
	}
	if msg, ok := checkPCRE2(c.Args[0]); !ok {
		return fmt.Errorf("'%s' failed regex compilation: %s", c.Args[0], msg)
	}
	return nil
}

func checkHideFiles(c *Cmd) error {
	pat := c.Args[0]
	none := false
	if strings.HasPrefix(pat, "!") {
		pat = pat[1:]
	} else if strings.EqualFold(pat, "none") {
		none = true
	}
	if !none {
		if msg, ok := checkPCRE2(pat); !ok {
			return fmt.Errorf("'%s' failed regex compilation: %s", pat, msg)
		}
	}
	if len(c.Args) == 3 {
		switch strings.ToLower(c.Args[1]) {
		case "user", "group", "class":
		default:
			return plainErrorf("%sunknown classifier used: '%s'", c.Name, c.Args[1])
		}
	}
	return nil
}

// checkAuthOrder refuses a second AuthOrder at the top level of a server.
func checkAuthOrder(c *Cmd) error {
	if c.p.seenOnServer(c, "AuthOrder") {
		return errors.New("AuthOrder has already been configured")
	}
	return nil
}

func checkCommandBufferSize(c *Cmd) error {
	units := ""
	if len(c.Args) == 2 {
		units = c.Args[1]
	}
	n, err := getNbytes(c.Args[0], units)
	if err != nil {
		return fmt.Errorf("unable to parse: %s %s: %s", c.Args[0], units, Strerror(err))
	}
	const max = 512 * 1024
	if n > max {
		return fmt.Errorf("size %s%sexceeds max size %d", c.Args[0], units, max)
	}
	return nil
}

func checkFSCachePolicy(c *Cmd) error {
	if len(c.Args) == 1 {
		return boolAt(0)(c)
	}
	for i := 0; i < len(c.Args); i++ {
		switch {
		case strings.EqualFold(c.Args[i], "size"):
			i++
			if Atoi(c.Args[i]) < 1 {
				return errors.New("size parameter must be greater than 1")
			}
		case strings.EqualFold(c.Args[i], "maxAge"):
			i++
			if Atoi(c.Args[i]) < 1 {
				return errors.New("maxAge parameter must be greater than 1")
			}
		default:
			return fmt.Errorf("unknown FSCachePolicy: %s", c.Args[i])
		}
	}
	return nil
}

// checkRate is MaxCommandRate and MaxConnectionRate: a rate, then an
// optional interval read with atoi into an unsigned int (so only 0 is
// refused).
func checkRate(c *Cmd, what string) error {
	n, rest, _ := Strtol(c.Args[0])
	if rest != "" {
		return fmt.Errorf("invalid %s rate", what)
	}
	if n < 0 {
		return fmt.Errorf("%s rate must be positive", what)
	}
	if len(c.Args) == 2 && Atoi(c.Args[1]) == 0 {
		return errors.New("interval must be greater than zero")
	}
	return nil
}

// checkRegexOptions reproduces mod_core's loop, which steps over three
// words after each option it knows (the option, its value and one more).
func checkRegexOptions(c *Cmd) error {
	args := c.Args
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "Engine":
			e := ""
			if i+1 < len(args) {
				e = args[i+1]
			}
			if !strings.EqualFold(e, "POSIX") && !strings.EqualFold(e, "PCRE") && !strings.EqualFold(e, "PCRE2") {
				return fmt.Errorf("bad Engine value: %s", e)
			}
			i += 2
		case "MatchLimit", "MatchLimitRecursion":
			v := ""
			if i+1 < len(args) {
				v = args[i+1]
			}
			if _, rest, _ := strtoul(v); rest != "" {
				return fmt.Errorf("bad %s value: %s", args[i], v)
			}
			i += 2
		default:
			return fmt.Errorf(": unknown RegexOptions option: '%s'", args[i])
		}
	}
	return nil
}

func checkSocketOptions(c *Cmd) error {
	for i := 0; i < len(c.Args); i += 2 {
		opt, val := c.Args[i], c.Args[i+1]
		switch strings.ToLower(opt) {
		case "maxseg":
			if Atoi(val) < 0 {
				return errors.New("maxseg size must be greater than 0")
			}
		case "rcvbuf", "sndbuf":
			if Atoi(val) < 1024 {
				return fmt.Errorf("%s size must be greater than or equal to 1024", strings.ToLower(opt))
			}
		case "keepalive":
			if _, err := ParseBool(val); err == nil {
				continue
			}
			idle, rest, ok := strings.Cut(val, ":")
			if !ok {
				return fmt.Errorf("badly formatted TCP keepalive spec '%s'", val)
			}
			count, intvl, ok := strings.Cut(rest, ":")
			if !ok {
				return fmt.Errorf("badly formatted TCP keepalive spec '%s'", val)
			}
			for _, p := range []struct {
				v    string
				what string
			}{{idle, "idle time"}, {count, "count"}, {intvl, "interval time"}} {
				if n := Atoi(p.v); n < 1 {
					return fmt.Errorf("badly formatted TCP keepalive spec: %s '%d' cannot be less than 1", p.what, n)
				}
			}
		case "reuseport":
			if _, err := ParseBool(val); err != nil {
				return errors.New("reuseport must have Boolean parameter")
			}
		default:
			return fmt.Errorf(": unknown socket option: '%s'", opt)
		}
	}
	return nil
}

func isSyslogLevel(s string) bool {
	switch strings.ToLower(s) {
	case "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug":
		return true
	}
	return false
}

// argsAtLeast1Wrong is "wrong number of parameters" without arguments.
func argsAtLeast1Wrong(c *Cmd) error {
	if len(c.Args) == 0 {
		return ErrWrongArgs
	}
	return nil
}

// argsAtMost is "wrong number of parameters" for more than n arguments.
func argsAtMost(n int) func(*Cmd) error {
	return func(c *Cmd) error {
		if len(c.Args) > n {
			return ErrWrongArgs
		}
		return nil
	}
}

// argsBad is min..max arguments, else "bad number of parameters".
func argsBad(min, max int) func(*Cmd) error {
	return func(c *Cmd) error {
		if len(c.Args) < min || len(c.Args) > max {
			return errors.New("bad number of parameters")
		}
		return nil
	}
}

// argsVar is ProFTPD's CHECK_VARARGS: min..max arguments, else "missing
// parameters" (even for too many).
func argsVar(min, max int) func(*Cmd) error {
	return func(c *Cmd) error {
		if len(c.Args) < min || len(c.Args) > max {
			return ErrMissingArgs
		}
		return nil
	}
}

// boolAt checks that argument i is a Boolean.
func boolAt(i int) Handler {
	return func(c *Cmd) error {
		_, err := ParseBool(c.Args[i])
		return err
	}
}

// durationAt checks argument i as pr_str_get_duration does, with
// mod_core's message.
func durationAt(i int) Handler {
	return func(c *Cmd) error {
		if _, err := ParseDuration(c.Args[i]); err != nil {
			return fmt.Errorf("error parsing timeout value '%s': %s", c.Args[i], Strerror(err))
		}
		return nil
	}
}

// strtolBase is Strtol in another base (8 or 16), for umasks and modes.
func strtolBase(s string, base int) (n int64, rest string, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	if base == 16 && j+1 < len(s) && s[j] == '0' && (s[j+1] == 'x' || s[j+1] == 'X') {
		if k := j + 2; k < len(s) && digitVal(s[k]) < 16 {
			j = k
		}
	}
	k := j
	for k < len(s) && digitVal(s[k]) < base {
		k++
	}
	if k == j {
		return 0, s, false
	}
	v, err := strconv.ParseInt(s[i:k], 0, 64)
	if err != nil && base != 10 {
		v, _ = strconv.ParseInt(strings.TrimPrefix(s[i:k], "+"), base, 64)
	}
	if base == 8 || base == 16 {
		u := strings.TrimPrefix(strings.TrimPrefix(s[i:k], "+"), "-")
		u = strings.TrimPrefix(strings.TrimPrefix(u, "0x"), "0X")
		w, _ := strconv.ParseInt(u, base, 64)
		v = w
		if s[i] == '-' {
			v = -w
		}
	}
	return v, s[k:], true
}

func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// strtoul is C's strtoul(s, &end, 10): like Strtol, and a negative
// number wraps.
func strtoul(s string) (n uint64, rest string, ok bool) {
	v, rest, ok := Strtol(s)
	return uint64(v), rest, ok
}

// getNbytes is pr_str_get_nbytes: a decimal size (no sign, no trailing
// text) times the unit (B, KB, MB, GB, TB, case-insensitive, or none).
func getNbytes(s, units string) (uint64, error) {
	if strings.HasPrefix(s, "-") {
		return 0, errnoEINVAL
	}
	var factor uint64
	switch strings.ToUpper(units) {
	case "":
		factor = 1
	case "KB":
		factor = 1 << 10
	case "MB":
		factor = 1 << 20
	case "GB":
		factor = 1 << 30
	case "TB":
		factor = 1 << 40
	case "B":
		factor = 1
	default:
		return 0, errnoEINVAL
	}
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	k := j
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	if k < len(s) {
		return 0, errnoEINVAL
	}
	if k == j {
		return 0, nil // strtoull of no digits: 0, and nothing left over
	}
	v, err := strconv.ParseUint(s[j:k], 10, 64)
	if err != nil {
		return 0, errnoERANGE
	}
	if s[i] == '-' {
		v = -v
	}
	if v > ^uint64(0)/factor {
		return 0, errnoERANGE
	}
	return v * factor, nil
}
