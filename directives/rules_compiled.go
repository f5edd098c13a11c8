package directives

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// The directives of the other modules compiled into Debian's proftpd
// (mod_xfer, mod_rlimit, mod_auth_unix, mod_auth_file, mod_delay,
// mod_facts, mod_auth_pam, mod_cap, mod_lang), as their handlers check
// them.

func init() {
	xferDirs := dirish | FTPAccess
	addRules("mod_xfer.c",
		rule("AllowOverwrite", xferDirs, ArgsAtLeast(1), boolAtMsg(0, "expected boolean parameter")),
		rule("AllowRetrieveRestart", xferDirs, ArgsAtLeast(1), boolAtMsg(0, "expected boolean parameter")),
		rule("AllowStoreRestart", xferDirs, ArgsAtLeast(1), boolAtMsg(0, "expected boolean parameter")),
		rule("DefaultTransferMode", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.EqualFold(c.Args[0], "ascii") && !strings.EqualFold(c.Args[0], "binary") {
				return errors.New("parameter must be 'ascii' or 'binary'")
			}
			return nil
		}),
		rule("DeleteAbortedStores", xferDirs, ArgsAtLeast(1), boolAt(0)),
		rule("DisplayFileTransfer", serverish, ArgsAtLeast(1), nil),
		rule("HiddenStores", dirish, ArgsAtLeast(1), nil),
		rule("MaxRetrieveFileSize", xferDirs, maxFileSizeArgs, checkMaxFileSize),
		rule("MaxStoreFileSize", xferDirs, maxFileSizeArgs, checkMaxFileSize),
		rule("MaxTransfersPerHost", xferDirs, argsBad(2, 3), checkMaxTransfers),
		rule("MaxTransfersPerUser", xferDirs, argsBad(2, 3), checkMaxTransfers),
		rule("StoreUniquePrefix", xferDirs, ArgsAtLeast(1), func(c *Cmd) error {
			if strings.Contains(c.Args[0], "/") {
				return fmt.Errorf("no slashes allowed in prefix: '%s'", c.Args[0])
			}
			return nil
		}),
		rule("TimeoutNoTransfer", anonish, ArgsAtLeast(1), durationAt(0)),
		rule("TimeoutStalled", anonish, ArgsAtLeast(1), durationAt(0)),
		rule("TransferOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch strings.ToLower(a) {
				case "ignoreascii", "allowsymlinkupload", "allowsymlinkuploads":
				default:
					return fmt.Errorf(": unknown TransferOption '%s'", a)
				}
			}
			return nil
		}),
		rule("TransferRate", xferDirs, func(c *Cmd) error {
			if len(c.Args) != 2 && len(c.Args) != 4 {
				return ErrWrongArgs
			}
			return nil
		}, checkTransferRate),
		rule("UseSendfile", xferDirs, nil, checkUseSendfile),
	)

	addRules("mod_rlimit.c",
		rule("RLimitChroot", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("RLimitCPU", AnyContext, ArgsBetween(1, 3), func(c *Cmd) error { return checkRLimit(c, rlimitNumber) }),
		rule("RLimitMemory", AnyContext, ArgsBetween(1, 3), func(c *Cmd) error { return checkRLimit(c, rlimitBytes) }),
		rule("RLimitOpenFiles", AnyContext, ArgsBetween(1, 3), func(c *Cmd) error { return checkRLimit(c, rlimitNumber) }),
	)

	addRules("mod_auth_unix.c",
		rule("AuthUnixOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch strings.ToLower(a) {
				case "aixnorlogin", "nogetgrouplist", "noinitgroups", "magictokenchroot", "aixnoauthenticate":
				default:
					return fmt.Errorf(": unknown AuthUnixOption '%s'", a)
				}
			}
			return nil
		}),
		rule("PersistentPasswd", serverish, ArgsAtLeast(1), boolAt(0)),
	)

	addRules("mod_auth_file.c",
		rule("AuthFileOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch a {
				case "InsecurePerms":
					c.p.authFileInsecure = true
				case "SyntaxCheck":
				default:
					return fmt.Errorf(": unknown AuthFileOption '%s'", a)
				}
			}
			return nil
		}),
		rule("AuthGroupFile", serverish, ArgsBetween(1, 5), func(c *Cmd) error { return checkAuthFile(c, true) }),
		rule("AuthUserFile", serverish, ArgsBetween(1, 7), func(c *Cmd) error { return checkAuthFile(c, false) }),
	)

	addRules("mod_delay.c",
		rule("DelayControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "delay", "info", "reset")
		}),
		rule("DelayOnEvent", serverish, ArgsAtLeast(2), func(c *Cmd) error {
			switch c.Args[0] {
			case "USER", "PASS", "FailedLogin":
			default:
				return fmt.Errorf("unknown/unsupported event: %s", c.Args[0])
			}
			if err := delayDurationMS(c.Args[1]); err != nil {
				return fmt.Errorf("error parsing delay parameter '%s': %s", c.Args[1], Strerror(err))
			}
			return nil
		}),
		rule("DelayTable", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") && !strings.EqualFold(c.Args[0], "none") {
				return errors.New("must be an absolute path")
			}
			return nil
		}),
	)

	addRules("mod_facts.c",
		rule("FactsAdvertise", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("FactsDefault", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch strings.ToLower(a) {
				case "modify", "perm", "size", "type", "unique", "unix.group", "unix.groupname", "unix.mode",
					"unix.owner", "unix.ownername", "media-type":
				default:
					return fmt.Errorf(": unknown fact '%s'", a)
				}
			}
			return nil
		}),
		rule("FactsOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch a {
				case "UseSlink", "AdjustedSymlinks", "NoAdjustedSymlinks", "NoNames":
				default:
					return fmt.Errorf(": unknown FactsOption '%s'", a)
				}
			}
			return nil
		}),
	)

	addRules("mod_auth_pam.c",
		rule("AuthPAM", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("AuthPAMConfig", serverish, ArgsAtLeast(1), nil),
		rule("AuthPAMOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if !strings.EqualFold(a, "NoTTY") {
					return fmt.Errorf(": unknown AuthPAMOption: '%s'", a)
				}
			}
			return nil
		}),
	)

	addRules("mod_cap.c",
		rule("CapabilitiesEngine", serverish, ArgsAtLeast(1), boolAtMsg(0, "expecting Boolean parameter")),
		rule("CapabilitiesRootRevoke", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("CapabilitiesSet", serverish, func(c *Cmd) error {
			if len(c.Args) < 1 {
				return errors.New("need at least one parameter")
			}
			return nil
		}, func(c *Cmd) error {
			for _, a := range c.Args {
				if a == "" || (a[0] != '+' && a[0] != '-') {
					return fmt.Errorf(": bad option: '%s'", a)
				}
				switch strings.ToUpper(a[1:]) {
				case "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID":
				default:
					return fmt.Errorf("unknown capability: '%s'", a[1:])
				}
			}
			return nil
		}),
	)

	addRules("mod_lang.c",
		rule("LangDefault", serverish, ArgsAtLeast(1), nil),
		rule("LangEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("LangOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "PreferServerEncoding" && a != "RequireValidEncoding" {
					return fmt.Errorf(": unknown LangOption '%s'", a)
				}
			}
			return nil
		}),
		rule("LangPath", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return fmt.Errorf("unable to use path '%s' for locale files", c.Args[0])
			}
			return nil
		}),
		rule("UseEncoding", serverish, nil, func(c *Cmd) error {
			switch len(c.Args) {
			case 1:
				return boolAt(0)(c)
			case 2:
				return nil
			case 3:
				if !strings.EqualFold(c.Args[2], "strict") {
					return fmt.Errorf("unknown UseEncoding keyword '%s'", c.Args[2])
				}
				return nil
			}
			return ErrWrongArgs
		}),
	)
}

// boolAtMsg is boolAt with a module's own wording of the complaint.
func boolAtMsg(i int, msg string) Handler {
	return func(c *Cmd) error {
		if _, err := ParseBool(c.Args[i]); err != nil {
			return errors.New(msg)
		}
		return nil
	}
}

// maxFileSizeArgs is MaxRetrieveFileSize's count: "*", or 2 or 4
// arguments ("incorrect number of parameters").
func maxFileSizeArgs(c *Cmd) error {
	switch n := len(c.Args); {
	case n == 1 && c.Args[0] == "*", n == 2, n == 4:
		return nil
	}
	return errors.New("incorrect number of parameters")
}

func checkMaxFileSize(c *Cmd) error {
	if len(c.Args) == 4 && !isClassifier(c.Args[2]) {
		return fmt.Errorf("unknown classifier used: '%s'", c.Args[2])
	}
	if len(c.Args) == 1 {
		return nil
	}
	n, err := getNbytes(c.Args[0], c.Args[1])
	if err != nil {
		return fmt.Errorf("unable to parse: %s %s: %s", c.Args[0], c.Args[1], Strerror(err))
	}
	if n == 0 {
		return errors.New("size must be greater than zero")
	}
	return nil
}

func isClassifier(s string) bool {
	return strings.EqualFold(s, "user") || strings.EqualFold(s, "group") || strings.EqualFold(s, "class")
}

func checkMaxTransfers(c *Cmd) error {
	if Atoi(c.Args[1]) < 1 {
		return fmt.Errorf("count must be greater than zero: '%s'", c.Args[1])
	}
	return checkXferCommandList(c)
}

// checkXferCommandList checks the command list of MaxTransfersPerHost,
// MaxTransfersPerUser and TransferRate, with mod_xfer's notice about the
// first bad command.
func checkXferCommandList(c *Cmd) error {
	if bad, ok := xferCommandList(c.Args[0]); !ok {
		c.Warnf("invalid %s command: %s", c.Name, bad)
		return errors.New("error with command list")
	}
	return nil
}

// xferCommandList checks mod_xfer's command list (APPE, RETR, STOR, STOU,
// separated by commas or blanks, split as ctrlsList splits; an empty
// entry is refused) and returns the first bad entry.
func xferCommandList(list string) (string, bool) {
	for _, tok := range ctrlsList(list) {
		switch strings.ToUpper(tok) {
		case "APPE", "RETR", "STOR", "STOU":
		default:
			return tok, false
		}
	}
	return "", true
}

func checkTransferRate(c *Cmd) error {
	if len(c.Args) == 4 && !isClassifier(c.Args[2]) {
		return fmt.Errorf("unknown classifier requested: '%s'", c.Args[2])
	}
	kbps, free, hasFree := strings.Cut(c.Args[1], ":")
	v, rest := strtod(kbps)
	if v < 0 {
		return errors.New("rate must be greater than zero")
	}
	if rest != "" {
		return fmt.Errorf("invalid number: '%s'", kbps)
	}
	if hasFree {
		if _, rest, _ := strtoul(free); rest != "" {
			return fmt.Errorf("invalid number: '%s'", free)
		}
	}
	return checkXferCommandList(c)
}

func checkUseSendfile(c *Cmd) error {
	switch len(c.Args) {
	case 1:
		a := c.Args[0]
		if _, err := ParseBool(a); err == nil {
			return nil
		}
		if len(a) > 1 && a[len(a)-1] == '%' {
			if _, rest := strtod(a[:len(a)-1]); rest != "" {
				return fmt.Errorf("bad percentage value '%s'", a)
			}
			return nil
		}
		return ErrBool
	case 2:
		if _, err := getNbytes(c.Args[0], c.Args[1]); err != nil {
			return fmt.Errorf("unable to parse: %s %s: %s", c.Args[0], c.Args[1], Strerror(err))
		}
		return nil
	}
	return ErrWrongArgs
}

type rlimitKind int

const (
	rlimitNumber rlimitKind = iota // strtol (strtoul for daemon/session CPU values)
	rlimitBytes                    // a size with an optional K, M or G
)

// checkRLimit is RLimitCPU, RLimitMemory and RLimitOpenFiles:
// [daemon|session] soft [hard], each "max", "unlimited" or a number. The
// context check depends on the first word.
func checkRLimit(c *Cmd, kind rlimitKind) error {
	ctx := serverish
	if strings.EqualFold(c.Args[0], "daemon") {
		ctx = Root
	}
	if ctx&c.Context == 0 {
		return &ContextError{Context: c.Context}
	}
	vals := c.Args
	if strings.EqualFold(c.Args[0], "daemon") || strings.EqualFold(c.Args[0], "session") {
		vals = c.Args[1:]
		if len(vals) == 0 {
			// mod_rlimit reads the missing value (a NULL pointer) and
			// ProFTPD crashes; ftpdtls says what is wrong.
			return ErrWrongArgs
		}
	} else if len(vals) > 2 {
		vals = vals[:2]
	}
	for _, v := range vals {
		if strings.EqualFold(v, "max") || strings.EqualFold(v, "unlimited") {
			continue
		}
		ok := true
		switch kind {
		case rlimitNumber:
			_, rest, _ := Strtol(v)
			ok = rest == ""
		case rlimitBytes:
			ok = rlimitNumBytes(v)
		}
		if !ok {
			return errors.New("badly formatted argument")
		}
	}
	return nil
}

// rlimitNumBytes is mod_rlimit's get_num_bytes, sscanf("%lu%c%c"): a
// number followed by nothing or by exactly one of G, M, K, B
// (case-insensitive).
func rlimitNumBytes(s string) bool {
	_, rest, ok := scanUnsigned(s)
	if !ok {
		return false
	}
	switch rest {
	case "", "G", "g", "M", "m", "K", "k", "B", "b":
		return true
	}
	return false
}

// scanUnsigned is sscanf's %lu: white space, an optional sign, digits.
func scanUnsigned(s string) (uint64, string, bool) {
	v, rest, ok := Strtol(s)
	return uint64(v), rest, ok
}

// checkAuthFile is AuthUserFile and AuthGroupFile: an absolute path to a
// file that is safe to use (unless AuthFileOptions InsecurePerms came
// before), then optional restrictions.
func checkAuthFile(c *Cmd, group bool) error {
	path := c.Args[0]
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("unable to use relative path for %s '%s'.", c.Name, path) //nolint:staticcheck // ProFTPD's words
	}
	if !c.p.authFileInsecure {
		errno, notes := authFileUsable(c.Name, path, group)
		for _, n := range notes {
			c.Warnf("%s", n)
		}
		if errno != 0 {
			return fmt.Errorf("unable to use %s: %s", path, Strerror(errno))
		}
	}
	args := c.Args[1:]
	for i := 0; i < len(args); i++ {
		switch kw := strings.ToLower(args[i]); {
		case kw == "id":
			i++
			v := ""
			if i < len(args) {
				v = args[i]
			}
			lo, hi, ok := strings.Cut(v, "-")
			if !ok {
				return errors.New("badly formatted ID restriction parameter")
			}
			min, rest, _ := Strtol(lo)
			if rest != "" {
				return errors.New("badly formatted minimum ID")
			}
			max, rest, _ := Strtol(hi)
			if rest != "" {
				return errors.New("badly formatted maximum ID")
			}
			if uint32(min) > uint32(max) {
				return errors.New("minimum cannot be larger than maximum")
			}
		case kw == "name" || (kw == "home" && !group):
			i++
			filter := ""
			if i < len(args) {
				filter = args[i]
			}
			filter = strings.TrimPrefix(filter, "!")
			if msg, ok := checkPCRE2(filter); !ok {
				return fmt.Errorf("'%s' failed regex compilation: %s", filter, msg)
			}
		default:
			return fmt.Errorf(": unknown restriction '%s'", args[i])
		}
	}
	return nil
}

// authFileUsable is mod_auth_file's af_check_file: the file exists (a
// symbolic link is followed, its directory checked), is not a directory,
// not world-writable (a user file not world-readable either) and is not
// in a world-writable directory. It returns 0 or the errno, with the
// notices mod_auth_file logs on the way.
func authFileUsable(name, path string, group bool) (syscall.Errno, []string) {
	const v = "mod_auth_file/1.0: "
	errnoOf := func(err error) syscall.Errno {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno
		}
		return syscall.EACCES
	}
	lst, err := os.Lstat(path)
	if err != nil {
		e := errnoOf(err)
		return e, []string{fmt.Sprintf(v+"unable to lstat %s '%s': %s", name, path, Strerror(e))}
	}
	st := lst
	target := path
	if lst.Mode()&os.ModeSymlink != 0 {
		if e, notes := parentDirUsable(name, path); e != 0 {
			return e, notes
		}
		if l, err := os.Readlink(path); err == nil && len(l) > 0 {
			if !strings.HasPrefix(l, "/") {
				l = "/" + l
			}
			target = l
		}
		if st, err = os.Stat(target); err != nil {
			e := errnoOf(err)
			return e, []string{fmt.Sprintf(v+"unable to stat %s '%s': %s", name, target, Strerror(e))}
		}
	}
	perms := uint32(st.Mode().Perm())
	if st.Mode()&os.ModeSetuid != 0 {
		perms |= 0o4000
	}
	if st.Mode()&os.ModeSetgid != 0 {
		perms |= 0o2000
	}
	if st.Mode()&os.ModeSticky != 0 {
		perms |= 0o1000
	}
	if st.IsDir() {
		return syscall.EISDIR, []string{fmt.Sprintf(v+"unable to use %s '%s': %s", name, target, Strerror(syscall.EISDIR))}
	}
	if perms&0o004 != 0 && !group {
		return syscall.EPERM, []string{fmt.Sprintf(v+"unable to use world-readable %s '%s' (perms %04o): %s", name, target, perms, Strerror(syscall.EPERM))}
	}
	if perms&0o002 != 0 {
		return syscall.EPERM, []string{fmt.Sprintf(v+"unable to use world-writable %s '%s' (perms %04o): %s", name, target, perms, Strerror(syscall.EPERM))}
	}
	var notes []string
	if !st.Mode().IsRegular() {
		notes = append(notes, fmt.Sprintf(v+"%s '%s' is not a regular file", name, target))
	}
	e, more := parentDirUsable(name, target)
	return e, append(notes, more...)
}

func parentDirUsable(name, path string) (syscall.Errno, []string) {
	const v = "mod_auth_file/1.0: "
	dir := "/"
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		dir = path[:i]
	}
	st, err := os.Stat(dir)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EACCES
		}
		return errno, []string{fmt.Sprintf(v+"unable to stat %s directory '%s': %s", name, dir, Strerror(errno))}
	}
	if st.Mode().Perm()&0o002 != 0 {
		perms := uint32(st.Mode().Perm())
		if st.Mode()&os.ModeSticky != 0 {
			perms |= 0o1000
		}
		return syscall.EPERM, []string{fmt.Sprintf(v+"unable to use %s from world-writable directory '%s' (perms %04o): %s",
			name, dir, perms, Strerror(syscall.EPERM))}
	}
	return 0, nil
}

// delayDurationMS is mod_delay's duration: "MM:SS.mmmm", a number with
// "ms", "s" or "sec", or a bare number of milliseconds.
func delayDurationMS(s string) error {
	if _, _, ok := scanMinSecMS(s); ok {
		return nil
	}
	if s == "" {
		return errnoEINVAL
	}
	l := strings.ToLower(s)
	if strings.HasSuffix(l, "ms") {
		n, _, ok := scanInt(s, 0)
		if !ok {
			return errnoEINVAL
		}
		if n > 1<<31-1 {
			return errnoERANGE
		}
		return nil
	}
	if strings.HasSuffix(l, "s") || strings.HasSuffix(l, "sec") {
		if _, _, ok := scanInt(s, 0); !ok {
			return errnoEINVAL
		}
		return nil
	}
	n, rest, _ := Strtol(s)
	if rest != "" {
		return errnoEINVAL
	}
	if n < 0 || n > 1<<31-1 {
		return errnoERANGE
	}
	return nil
}

// scanMinSecMS is sscanf(s, "%2u:%2u.%4lu") == 3.
func scanMinSecMS(s string) (int64, int64, bool) {
	m, rest, ok := scanInt(s, 2)
	if !ok || rest == "" || rest[0] != ':' {
		return 0, 0, false
	}
	sec, rest, ok := scanInt(rest[1:], 2)
	if !ok || rest == "" || rest[0] != '.' {
		return 0, 0, false
	}
	if _, _, ok := scanInt(rest[1:], 4); !ok {
		return 0, 0, false
	}
	return m, sec, true
}

// strtod is C's strtod: the longest prefix that reads as a number (after
// white space: a sign, digits with an optional point and exponent, a hex
// float, "inf", "infinity" or "nan"), and what follows it. No number at
// all gives 0 and s.
func strtod(s string) (float64, string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	neg := false
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		neg = s[j] == '-'
		j++
	}
	l := strings.ToLower(s[j:])
	switch {
	case strings.HasPrefix(l, "infinity"):
		return signed(neg, 1), s[j+8:]
	case strings.HasPrefix(l, "inf"):
		return signed(neg, 1), s[j+3:]
	case strings.HasPrefix(l, "nan"):
		return 0, s[j+3:]
	}
	k := j
	digits := 0
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
		digits++
	}
	if k < len(s) && s[k] == '.' {
		k++
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
			digits++
		}
	}
	if digits == 0 {
		return 0, s
	}
	if k < len(s) && (s[k] == 'e' || s[k] == 'E') {
		e := k + 1
		if e < len(s) && (s[e] == '+' || s[e] == '-') {
			e++
		}
		if e < len(s) && s[e] >= '0' && s[e] <= '9' {
			for e < len(s) && s[e] >= '0' && s[e] <= '9' {
				e++
			}
			k = e
		}
	}
	v := 1.0
	if allZero(s[j:k]) {
		v = 0
	}
	return signed(neg, v), s[k:]
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '1' && s[i] <= '9' {
			return false
		}
		if s[i] == 'e' || s[i] == 'E' {
			break
		}
	}
	return true
}

func signed(neg bool, v float64) float64 {
	if neg {
		return -v
	}
	return v
}
