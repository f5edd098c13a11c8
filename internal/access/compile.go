package access

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// ErrNotSupported is wrapped by every error for a construct that ProFTPD
// accepts and `ftpdtls serve` does not apply.
var ErrNotSupported = errors.New("not supported by ftpdtls serve")

// Directive names this package applies.
const (
	dUmask                = "Umask"
	dDirUmask             = "DirUmask" // Umask's second argument, a record of its own in ProFTPD
	dAllowOverwrite       = "AllowOverwrite"
	dAllowStoreRestart    = "AllowStoreRestart"
	dAllowRetrieveRestart = "AllowRetrieveRestart"
	dHiddenStores         = "HiddenStores"
	dDeleteAbortedStores  = "DeleteAbortedStores"
	dAllowForeignAddress  = "AllowForeignAddress"
	dDefaultRoot          = "DefaultRoot"
	dOrder                = "Order"
	dAllowUser            = "AllowUser"
	dDenyUser             = "DenyUser"
	dAllowGroup           = "AllowGroup"
	dDenyGroup            = "DenyGroup"
	dAllow                = "Allow"
	dDeny                 = "Deny"
	dAllowAll             = "AllowAll"
	dDenyAll              = "DenyAll"
	dAllowOverride        = "AllowOverride"
)

// limitDirectives may appear in <Limit> and are applied there.
var limitDirectives = []string{dOrder, dAllowUser, dDenyUser, dAllowGroup, dDenyGroup, dAllow, dDeny, dAllowAll, dDenyAll}

// limitRefused are ProFTPD's other <Limit> directives, refused.
var limitRefused = map[string]string{
	"AllowClass":   "Class-based rules",
	"DenyClass":    "Class-based rules",
	"AllowFilter":  "command argument filters",
	"DenyFilter":   "command argument filters",
	"IgnoreHidden": "IgnoreHidden",
}

// dirDirectives are applied in <Directory> (and at server level).
var dirDirectives = []string{dUmask, dAllowOverwrite, dAllowStoreRestart, dAllowRetrieveRestart, dHiddenStores, dDeleteAbortedStores, dAllowOverride}

// serverOnly are applied at server level only.
var serverOnly = []string{dDefaultRoot, dAllowForeignAddress}

// knownNames is every directive name this package applies or refuses.
var knownNames = func() []string {
	var out []string
	out = append(out, limitDirectives...)
	out = append(out, dirDirectives...)
	out = append(out, serverOnly...)
	for k := range limitRefused {
		out = append(out, k)
	}
	return out
}()

// Handles reports whether the directive or section named name is this
// package's to apply or refuse wherever it appears: the access-control
// directives, <Limit>, <Directory>, <Anonymous> and <Class> (and
// everything inside them). `ftpdtls serve`'s other checks leave these
// to Check.
func Handles(name string) bool {
	switch strings.ToLower(name) {
	case "<limit>", "<directory>", "<anonymous>", "<class>":
		return true
	}
	return canonical(name) != ""
}

// builder turns parsed nodes into records, collecting errors.
type builder struct {
	errs []*directives.Error
}

func (b *builder) fail(n *directives.Node, err error) {
	b.errs = append(b.errs, &directives.Error{Directive: n.Name, Msg: err.Error(), File: n.File, Line: n.Line, Err: err})
}

// refuse reports a construct ftpdtls serve does not apply.
func (b *builder) refuse(n *directives.Node, why string) {
	err := fmt.Errorf("%w (%s)", ErrNotSupported, why)
	b.fail(n, err)
}

// contextError is ProFTPD's message for a directive in a context it is
// not allowed in.
func (b *builder) contextError(n *directives.Node) {
	b.fail(n, &directives.ContextError{Context: n.Context})
}

// each calls fn for every directive or section in nodes, looking through
// Include files and the bodies of true <IfModule>/<IfDefine> sections.
func each(nodes []*directives.Node, fn func(*directives.Node)) {
	for _, n := range nodes {
		switch {
		case strings.HasPrefix(n.Name, "</"):
		case strings.EqualFold(n.Name, "Include"), strings.EqualFold(n.Name, "<IfModule>"), strings.EqualFold(n.Name, "<IfDefine>"):
			if !n.Skipped {
				each(n.Children, fn)
			}
		default:
			fn(n)
		}
	}
}

// server reads the directives of a server body (or a <Global> body) into
// set.
func (b *builder) server(set *[]*rec, nodes []*directives.Node, inGlobal bool) {
	each(nodes, func(n *directives.Node) {
		switch strings.ToLower(n.Name) {
		case "<virtualhost>":
			// Built as a server of its own.
		case "<global>":
			if inGlobal {
				return // the parser refuses this
			}
			g := &rec{typ: recGlobal, name: "<Global>", node: n}
			b.server(&g.subset, n.Children, true)
			if len(g.subset) > 0 {
				insertHead(set, g)
			}
		case "<directory>":
			if d := b.directory(n); d != nil {
				insertHead(set, d)
			}
		case "<limit>":
			if l := b.limit(n, false); l != nil {
				insertHead(set, l)
			}
		case "<anonymous>":
			b.refuse(n, "<Anonymous> (anonymous logins)")
		case "<class>":
			b.refuse(n, "<Class> (Class-based rules)")
		default:
			name := canonical(n.Name)
			switch {
			case name == "":
				// Not an access-control directive: the daemon's checks.
			case isOneOf(name, dirDirectives) || isOneOf(name, serverOnly):
				b.param(set, n, name, nil)
			default:
				b.contextError(n)
			}
		}
	})
}

func isOneOf(name string, list []string) bool {
	for _, k := range list {
		if k == name {
			return true
		}
	}
	return false
}

// directory reads a <Directory> section; nil if it is empty or refused.
func (b *builder) directory(n *directives.Node) *rec {
	if len(n.Args) == 0 {
		return nil
	}
	path := n.Args[0]
	d := &rec{typ: recDir, name: path, node: n}
	switch {
	case strings.Contains(path, "%u["):
		b.refuse(n, "the %u[n] form of a <Directory> path")
		return nil
	case strings.HasPrefix(path, "~") || strings.Contains(path, "%u"):
		d.deferred = true
	}
	each(n.Children, func(c *directives.Node) {
		switch strings.ToLower(c.Name) {
		case "<limit>":
			if l := b.limit(c, true); l != nil {
				insertHead(&d.subset, l)
			}
		case "<directory>", "<anonymous>", "<global>", "<virtualhost>", "<class>":
			// The parser refuses these here.
		default:
			name := canonical(c.Name)
			switch {
			case isOneOf(name, dirDirectives):
				b.param(&d.subset, c, name, d)
			case name == dAllowAll || name == dDenyAll:
				b.refuse(c, name+" directly in <Directory> (put it in a <Limit>)")
			case isOneOf(name, serverOnly) || isOneOf(name, limitDirectives):
				b.contextError(c)
			default:
				b.refuse(c, c.Name+" in <Directory>")
			}
		}
	})
	if len(d.subset) == 0 {
		return nil
	}
	return d
}

// limit reads a <Limit> section; nil if it is empty or refused.
func (b *builder) limit(n *directives.Node, inDir bool) *rec {
	l := &rec{typ: recLimit, name: "Limit", node: n}
	cmds, err := limitCommands(n.Args, inDir)
	if err != nil {
		b.fail(n, err)
		return nil
	}
	l.cmds = cmds
	each(n.Children, func(c *directives.Node) {
		if why, ok := limitRefused[canonical(c.Name)]; ok {
			b.refuse(c, why)
			return
		}
		name := canonical(c.Name)
		switch {
		case isOneOf(name, limitDirectives):
			b.param(&l.subset, c, name, l)
		case name != "":
			b.contextError(c)
		case strings.HasPrefix(c.Name, "<"):
			// The parser refuses sections here.
		default:
			b.refuse(c, c.Name+" in <Limit>")
		}
	})
	if len(l.subset) == 0 {
		return nil
	}
	return l
}

// param reads one directive into set, with ProFTPD's checks and messages.
func (b *builder) param(set *[]*rec, n *directives.Node, name string, parent *rec) {
	args := n.Args
	add := func(r *rec) {
		r.typ, r.node, r.parent = recParam, n, parent
		if r.name == "" {
			r.name = name
		}
		insertEnd(set, r)
	}
	boolArg := func(msg string) (bool, bool) {
		if len(args) < 1 {
			b.fail(n, directives.ErrMissingArgs)
			return false, false
		}
		v, err := directives.ParseBool(args[0])
		if err != nil {
			b.fail(n, errors.New(msg))
			return false, false
		}
		return v, true
	}
	switch name {
	case dUmask:
		if len(args) < 1 || len(args) > 2 {
			b.fail(n, directives.ErrMissingArgs)
			return
		}
		var masks []uint32
		for _, a := range args {
			m, ok := strtolOctal(a)
			if !ok {
				b.fail(n, fmt.Errorf("'%s' is not a valid umask", a))
				return
			}
			masks = append(masks, m)
		}
		add(&rec{mode: masks[0], mergeDown: true})
		if len(masks) == 2 {
			add(&rec{name: dDirUmask, mode: masks[1], mergeDown: true})
		}
	case dAllowOverwrite, dAllowStoreRestart, dAllowRetrieveRestart:
		if v, ok := boolArg("expected boolean parameter"); ok {
			add(&rec{flag: v, mergeDown: true})
		}
	case dDeleteAbortedStores:
		if v, ok := boolArg("expected Boolean parameter"); ok {
			add(&rec{flag: v, mergeDown: true})
		}
	case dAllowOverride:
		// ftpdtls never reads .ftpaccess files: "off" is what it does.
		if v, ok := boolArg("expected Boolean parameter"); ok {
			if v || len(args) > 1 {
				b.refuse(n, "AllowOverride on: .ftpaccess files are not read")
				return
			}
			add(&rec{})
		}
	case dHiddenStores:
		if len(args) < 1 {
			b.fail(n, directives.ErrMissingArgs)
			return
		}
		// set_hiddenstores: a value that begins and ends with a period is
		// a prefix as it is; another non-Boolean value is a prefix that
		// gets the periods added, unless a suffix follows (exactly two
		// arguments). "on" means ".in." and ".".
		r := &rec{mergeDown: true}
		p := args[0]
		addPeriods := true
		enabled := -1
		if p != "" && p[0] == '.' && p[len(p)-1] == '.' {
			addPeriods = false
		} else if v, err := directives.ParseBool(p); err == nil {
			enabled = 0
			if v {
				enabled = 1
			}
		}
		if len(args) == 2 {
			addPeriods = false
		}
		switch enabled {
		case -1:
			r.flag, r.prefix, r.suffix = true, p, "."
			if addPeriods {
				r.prefix = "." + p + "."
			}
			if len(args) == 2 {
				r.suffix = args[1]
			}
		case 1:
			r.flag, r.prefix, r.suffix = true, ".in.", "."
		}
		if strings.Contains(r.prefix+r.suffix, "%P") {
			b.refuse(n, "%P (the process id) in HiddenStores")
			return
		}
		add(r)
	case dAllowForeignAddress:
		if len(args) < 1 {
			b.fail(n, directives.ErrMissingArgs)
			return
		}
		v, err := directives.ParseBool(args[0])
		if err != nil {
			b.refuse(n, "a <Class> name in AllowForeignAddress")
			return
		}
		add(&rec{flag: v, mergeDown: true})
	case dDefaultRoot:
		if len(args) < 1 {
			b.fail(n, errors.New("syntax: DefaultRoot <directory> [<group-expression>]"))
			return
		}
		dir := args[0]
		switch {
		case !strings.HasPrefix(dir, "/") && !strings.HasPrefix(dir, "~"):
			b.fail(n, fmt.Errorf("(%s) absolute pathname required", dir))
			return
		case strings.Contains(dir, "*"):
			b.fail(n, fmt.Errorf("(%s) wildcards not allowed in pathname", dir))
			return
		case strings.HasPrefix(dir, "~") && len(dir) > 1 && dir[1] != '/':
			b.refuse(n, "the ~user form of DefaultRoot")
			return
		case strings.Contains(dir, "%u["):
			b.refuse(n, "the %u[n] form of DefaultRoot")
			return
		}
		if !strings.HasSuffix(dir, "/") {
			dir += "/"
		}
		r := &rec{root: dir}
		if len(args) > 1 {
			r.groups = &expr{eval: evalAnd, entries: splitExpr(args[1:])}
		}
		add(r)
	case dOrder:
		if len(args) != 1 && len(args) != 2 {
			b.fail(n, directives.ErrWrongArgs)
			return
		}
		arg := strings.Join(args, "")
		switch strings.ToLower(arg) {
		case "allow,deny":
			add(&rec{order: orderAllowDeny})
		case "deny,allow":
			add(&rec{order: orderDenyAllow})
		default:
			b.fail(n, fmt.Errorf("'%s': invalid argument", arg))
		}
	case dAllowUser, dDenyUser, dAllowGroup, dDenyGroup:
		if len(args) < 1 {
			b.fail(n, directives.ErrWrongArgs)
			return
		}
		eval := evalOr
		if name == dAllowGroup || name == dDenyGroup {
			eval = evalAnd
		}
		words := args
		if len(args) > 1 {
			switch strings.ToLower(args[0]) {
			case "or":
				eval, words = evalOr, args[1:]
			case "and":
				// ProFTPD 1.3.8 builds this list wrongly (it keeps the
				// word AND as a name and drops the last name).
				b.refuse(n, "the AND keyword, which ProFTPD 1.3.8 evaluates wrongly; write the names without it for AllowGroup/DenyGroup, or use separate lines")
				return
			case "regex":
				b.refuse(n, "regular expressions")
				return
			}
		}
		add(&rec{ex: &expr{eval: eval, entries: splitExpr(words)}})
	case dAllow, dDeny:
		rule, err := parseIPRule(name, args)
		if errors.Is(err, errHostname) {
			b.refuse(n, "host names and DNS patterns, which need reverse DNS; use addresses or address/prefix")
			return
		}
		if err != nil {
			b.fail(n, err)
			return
		}
		add(&rec{ip: rule})
	case dAllowAll, dDenyAll:
		if len(args) > 0 {
			b.fail(n, directives.ErrWrongArgs)
			return
		}
		add(&rec{flag: true})
	}
}

// strtolOctal reads a umask as ProFTPD does (strtol base 8, nothing may
// follow); the kernel uses its permission bits.
func strtolOctal(s string) (uint32, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	var v uint64
	digits := 0
	for digits < len(t) && t[digits] >= '0' && t[digits] <= '7' {
		v = v*8 + uint64(t[digits]-'0')
		if v > 1<<40 {
			v = 1 << 40
		}
		digits++
	}
	if digits == 0 {
		// No digits: strtol leaves the whole string, which is then "not a
		// valid umask" unless it is empty.
		return 0, s == ""
	}
	if digits < len(t) {
		return 0, false
	}
	if neg {
		v = -v
	}
	return uint32(v) & 0o777, true
}
