package directives

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// This file and the rules_*.go files hold ProFTPD 1.3.8's checks of the
// directives of modules ftpdtls does not implement: for each directive,
// the contexts its handler allows, the argument checks it makes and the
// order it makes them in, with ProFTPD's messages. ftpdtls keeps these
// directives in the parsed tree without acting on them, so that `ftpdtls
// check -proftpd` gives proftpd -t's verdict on them (and `ftpdtls serve`
// can refuse them knowingly, not because of a typo in their arguments).
// They cover every module that Debian 12's proftpd compiles in or that
// its stock /etc/proftpd/modules.conf loads.

// rules maps module → lower-case directive name → its row, built from
// the tables the rules_*.go files register.
var rules = map[string]map[string]Directive{}

// addRules registers rows for a module's directives.
func addRules(module string, rows ...Directive) {
	m := rules[module]
	if m == nil {
		m = make(map[string]Directive)
		rules[module] = m
	}
	for _, d := range rows {
		key := strings.ToLower(d.Name)
		if _, dup := m[key]; dup {
			panic(fmt.Sprintf("directives: two rules for %s %s", module, d.Name))
		}
		m[key] = d
	}
}

// rule is a row whose argument check (if any) comes before the context
// check, as with ProFTPD's CHECK_ARGS before CHECK_CONF.
func rule(name string, ctx Context, args func(*Cmd) error, check Handler) Directive {
	return Directive{Name: name, Contexts: ctx, Args: args, Check: check}
}

// plainError is a handler message that ProFTPD prints as it is, without
// the "Directive: " prefix (a handler that returns PR_ERROR_MSG itself).
type plainError struct{ msg string }

func (e *plainError) Error() string { return e.msg }

func plainErrorf(format string, args ...any) error {
	return &plainError{fmt.Sprintf(format, args...)}
}

var (
	errnoEINVAL = &Errno{syscall.EINVAL}
	errnoERANGE = &Errno{syscall.ERANGE}
	errnoENOENT = &Errno{syscall.ENOENT}
)

// setEnv is SetEnv and UnsetEnv in "server config": ProFTPD changes its
// environment while it parses, so later %{env:NAME} references see it.
func (p *parser) setEnv(name, value string, set bool) {
	if p.env == nil {
		p.env = make(map[string]*string)
	}
	if set {
		p.env[name] = &value
	} else {
		p.env[name] = nil
	}
}

// seenOnServer reports whether a directive of this name was already given
// at the top level of the server c configures (ProFTPD's find_config on
// the server's own list), and records this one when it is at that level.
func (p *parser) seenOnServer(c *Cmd, name string) bool {
	if p.seen == nil {
		p.seen = make(map[*Server]map[string]bool)
	}
	m := p.seen[p.server]
	if m == nil {
		m = make(map[string]bool)
		p.seen[p.server] = m
	}
	key := strings.ToLower(name)
	if m[key] {
		return true
	}
	if c.Context == Root || c.Context == VirtualHost {
		m[key] = true
	}
	return false
}

// ctrlsList splits a Controls list as ctrls_argsep does (mod_xfer splits
// its command lists the same way): words separated
// by commas or white space, a word may be double-quoted; an empty word
// between two commas is kept.
func ctrlsList(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\n\r\v\f")
		if s == "" {
			return out
		}
		var w strings.Builder
		quote := false
		if s[0] == '"' {
			quote = true
			s = s[1:]
		}
		for s != "" && s[0] != ',' && ((quote && s[0] != '"') || (!quote && !isSpace(s[0]))) {
			if s[0] == '\\' && quote && len(s) > 1 {
				s = s[1:]
			}
			w.WriteByte(s[0])
			s = s[1:]
		}
		if s != "" {
			s = s[1:]
		}
		out = append(out, w.String())
	}
}

// checkModuleACLs is the usual <Module>ControlsACLs handler: actions
// allow|deny user|group list; the actions must be "all" or the module's
// own (acts), else ": unknown <what> action: '<action>'".
func checkModuleACLs(c *Cmd, what string, acts ...string) error {
	actions := ctrlsList(c.Args[0])
	if c.Args[1] != "allow" && c.Args[1] != "deny" {
		return errors.New("second parameter must be 'allow' or 'deny'")
	}
	if c.Args[2] != "user" && c.Args[2] != "group" {
		return errors.New("third parameter must be 'user' or 'group'")
	}
	return checkActions(what, actions, acts)
}

// checkActions checks Controls actions against a module's action table.
func checkActions(what string, actions, acts []string) error {
	for _, a := range actions {
		if strings.EqualFold(a, "all") {
			continue
		}
		ok := false
		for _, k := range acts {
			ok = ok || a == k
		}
		if !ok {
			if what == "" {
				return fmt.Errorf(": unknown action: '%s'", a)
			}
			return fmt.Errorf(": unknown %s action: '%s'", what, a)
		}
	}
	return nil
}

// postParseChecks are the checks a module makes once the whole
// configuration is read (its "postparse" event listener), run for the
// modules loaded, in load order. An error stops ProFTPD before it starts
// (an *Error with Plain set, printed as ProFTPD prints it).
var postParseChecks = map[string]func(p *parser) error{}

// walkNodes calls f for every directive of the parsed tree, in file
// order (skipped sections have no children).
func walkNodes(n *Node, f func(*Node)) {
	for _, c := range n.Children {
		f(c)
		walkNodes(c, f)
	}
}

// lastNode returns the last directive of that name in the tree, or nil.
func (p *parser) lastNode(name string) *Node {
	var last *Node
	walkNodes(p.cfg.Root, func(n *Node) {
		if strings.EqualFold(n.Name, name) {
			last = n
		}
	})
	return last
}

// openRWCreate reports why open(path, O_RDWR|O_CREAT) would fail, without
// creating anything.
func openRWCreate(path string) error {
	st, err := os.Stat(path)
	if err == nil {
		if st.IsDir() {
			return syscall.EISDIR
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.Close()
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := "/"
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		dir = path[:i]
	} else if i < 0 {
		dir = "."
	}
	dst, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !dst.IsDir() {
		return syscall.ENOTDIR
	}
	return nil
}
