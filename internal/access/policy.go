package access

import (
	"net/netip"
	"os/user"
	"path"
	"sort"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Who is the client a decision is about.
type Who struct {
	// User is the login name; "" before login (ProFTPD then treats any
	// AllowUser or AllowGroup line as allowing, and skips DenyUser and
	// DenyGroup).
	User string
	// Groups are the user's group names, primary group first.
	Groups []string
	// Addr is the client's address (after the PROXY protocol, if any).
	Addr netip.Addr
	// Home is the real path of the user's home directory (symbolic links
	// resolved): what "~" means in <Directory> and DefaultRoot.
	Home string
}

// Policy is the access control of one server (the main server or a
// <VirtualHost>), compiled from the configuration. It is safe for
// concurrent use.
type Policy struct {
	conf []*rec // the server's records after <Global>, reordering and merging

	// HomeOf returns a user's home directory (real path), for
	// <Directory ~name> sections. ProFTPD looks the name up with its
	// authentication modules (the AuthUserFile, then the system's), so
	// the daemon should answer from the same user database as logins.
	// Nil means the system's user database only (os/user). Set it before
	// the Policy is used.
	HomeOf func(user string) (home string, ok bool)
}

// Compile builds the access policy of srv, a server of cfg, and returns
// every error for what `ftpdtls serve` cannot apply in it (including the
// <Global> sections, which apply to every server). The Policy is usable
// (with the refused constructs left out) even when there are errors, but
// serve must not start then.
func Compile(cfg *directives.Config, srv *directives.Server) (*Policy, []*directives.Error) {
	sets, errs := build(cfg)
	idx := 0
	for i, s := range cfg.Servers() {
		if s == srv {
			idx = i
		}
	}
	p := &Policy{}
	if idx < len(sets) {
		p.conf = sets[idx].conf
	}
	var out []*directives.Error
	for _, e := range errs {
		if e.server == idx || e.server < 0 {
			out = append(out, e.err)
		}
	}
	return p, out
}

// Check returns every error Compile would report for any server of cfg,
// each once, in file order: what `ftpdtls serve` refuses among the
// access-control directives and sections.
func Check(cfg *directives.Config) []*directives.Error {
	_, errs := build(cfg)
	out := make([]*directives.Error, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.err)
	}
	// Files in the order they first appear, lines in order within each.
	rank := map[string]int{}
	for _, e := range out {
		if _, ok := rank[e.File]; !ok {
			rank[e.File] = len(rank)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank[out[i].File], rank[out[j].File]; ri != rj {
			return ri < rj
		}
		return out[i].Line < out[j].Line
	})
	return out
}

type serverSet struct{ conf []*rec }

type taggedError struct {
	server int // index in cfg.Servers(); -1 for <Global> bodies
	err    *directives.Error
}

// build reads every server of cfg, applies the <Global> sections to all
// of them, and orders and merges each server's <Directory> sections as
// ProFTPD does at start-up.
func build(cfg *directives.Config) ([]*serverSet, []taggedError) {
	if cfg == nil || cfg.Root == nil {
		return nil, nil
	}
	var vhostNodes []*directives.Node
	each(cfg.Root.Children, func(n *directives.Node) {
		if strings.EqualFold(n.Name, "<VirtualHost>") {
			vhostNodes = append(vhostNodes, n)
		}
	})
	servers := cfg.Servers()
	sets := make([]*serverSet, len(servers))
	var errs []taggedError
	seen := map[string]bool{}
	collect := func(idx int, b *builder) {
		for _, e := range b.errs {
			key := e.File + "\x00" + itoa(e.Line) + "\x00" + e.Msg
			if seen[key] {
				continue
			}
			seen[key] = true
			errs = append(errs, taggedError{server: idx, err: e})
		}
	}
	for i, s := range servers {
		sets[i] = &serverSet{}
		var body []*directives.Node
		if s.IsMain {
			body = cfg.Root.Children
		} else {
			for _, n := range vhostNodes {
				if n.File == s.File && n.Line == s.Line {
					body = n.Children
					break
				}
			}
		}
		b := &builder{}
		b.server(&sets[i].conf, body, false)
		// Errors inside <Global> bodies concern every server.
		var own, global []*directives.Error
		for _, e := range b.errs {
			if inGlobal(body, e) {
				global = append(global, e)
			} else {
				own = append(own, e)
			}
		}
		collect(i, &builder{errs: own})
		collect(-1, &builder{errs: global})
	}
	ptrs := make([]*[]*rec, len(sets))
	for i := range sets {
		ptrs[i] = &sets[i].conf
	}
	fixupGlobals(ptrs)
	for _, s := range sets {
		reorderDirs(&s.conf)
		mergeDown(s.conf)
	}
	return sets, errs
}

// inGlobal reports whether the error's line is inside a <Global> section
// of body.
func inGlobal(body []*directives.Node, e *directives.Error) bool {
	found := false
	var walk func(nodes []*directives.Node, g bool)
	walk = func(nodes []*directives.Node, g bool) {
		for _, n := range nodes {
			if found {
				return
			}
			if g && n.File == e.File && n.Line == e.Line {
				found = true
				return
			}
			walk(n.Children, g || strings.EqualFold(n.Name, "<Global>"))
		}
	}
	walk(body, false)
	return found
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// ConnectAllowed reports whether a client from addr may connect at all:
// ProFTPD checks the server's <Limit LOGIN> sections when the connection
// arrives, before any command, with no user known yet (any AllowUser or
// AllowGroup counts as allowing, DenyUser and DenyGroup are skipped), and
// allows if any of them allows (or none decides). A refused client is
// disconnected without a reply.
func (p *Policy) ConnectAllowed(addr netip.Addr) bool {
	return p.loginCheck(Who{Addr: addr}, false)
}

// LoginAllowed reports whether who may log in: after USER and PASS name
// an existing user (before the password is checked), ProFTPD checks the
// server's <Limit LOGIN> sections again, all of which must allow or not
// decide. A refusal is answered "530 Login incorrect.".
func (p *Policy) LoginAllowed(who Who) bool {
	return p.loginCheck(who, true)
}

// loginCheck is login_check_limits on the server's top level (no
// <Anonymous>, which ftpdtls refuses).
func (p *Policy) loginCheck(who Who, and bool) bool {
	if p == nil || len(p.conf) == 0 {
		return true
	}
	res := and
	found := 0
	for _, c := range p.conf {
		if c.typ != recLimit || !hasCmd(c, GroupLogin) {
			continue
		}
		r := checkLimit(c, who)
		if and {
			switch r {
			case 1:
				found++
			case -1, -2:
				res = false
				found++
			}
			if !res {
				break
			}
		} else {
			switch r {
			case 1:
				res = true
				found++
			case -1, -2:
				found++
			}
		}
	}
	if found == 0 && !and {
		return true
	}
	return res
}

func hasCmd(c *rec, name string) bool {
	for _, n := range c.cmds {
		if n == name {
			return true
		}
	}
	return false
}

// Allowed reports whether the FTP command cmd (upper or lower case; SITE
// subcommands as "SITE_CHMOD") may act on path for who, by the <Limit>
// sections of the server and of the <Directory> sections that apply to
// path, exactly as ProFTPD 1.3.8's dir_check: the limits for the command
// itself, then for its group (READ, WRITE, DIRS), then for ALL, each
// searched from the most specific <Directory> outwards to the server; the
// first <Limit> that explicitly allows or denies decides. Commands
// ProFTPD never checks (see Group) are always allowed.
//
// path is the real absolute path the command acts on, as ProFTPD passes
// it to dir_check: for a chrooted session the session root joined with
// the path in the session's view, with symbolic links resolved.
func (p *Policy) Allowed(cmd, path string, who Who) bool {
	if p == nil {
		return true
	}
	cmd = strings.ToUpper(cmd)
	info, ok := commands[cmd]
	if !ok {
		return true
	}
	c := p.matchDir(path, who)
	res := p.dirCheckLimits(c, cmd, who)
	if res == 1 && info.group != "" {
		res = p.dirCheckLimits(c, info.group, who)
	}
	if res == 1 && info.all {
		res = p.dirCheckLimits(c, GroupAll, who)
	}
	return res != 0
}

// dirCheckLimits walks from the matched <Directory> up through its
// parents, then the server, until a level decides (dir_check_limits).
// 1 means no decision, 0 denied, more than 1 explicitly allowed.
func (p *Policy) dirCheckLimits(c *rec, name string, who Who) int {
	res := 1
	for ; c != nil && res == 1; c = c.parent {
		res = checkLimits(c.subset, name, who)
	}
	if c == nil && res == 1 {
		res = checkLimits(p.conf, name, who)
	}
	return res
}

// checkLimits tries the <Limit> sections of one set that name the
// command, in list order, until one explicitly allows (2) or denies (0).
func checkLimits(set []*rec, name string, who Who) int {
	res := 1
	for _, lc := range set {
		if res != 1 {
			break
		}
		if lc.typ != recLimit || !hasCmd(lc, name) {
			continue
		}
		switch checkLimit(lc, who) {
		case 1:
			res++
		case -1, -2:
			res = 0
		}
	}
	return res
}

// checkLimit is ProFTPD's check_limit: 1 explicitly allowed, 0 implicitly
// allowed, -1 implicitly denied, -2 explicitly denied.
func checkLimit(c *rec, who Who) int {
	order := orderAllowDeny
	if o := findParam(c.subset, dOrder); o != nil {
		order = o.order
	}
	if order == orderDenyAllow {
		if limitDeny(c, who) {
			return -2
		}
		if limitAllow(c, who) {
			return 1
		}
		return -1
	}
	if limitAllow(c, who) {
		return 1
	}
	if limitDeny(c, who) {
		return -2
	}
	return 0
}

func limitAllow(c *rec, who Who) bool {
	if who.User == "" {
		if findParam(c.subset, dAllowUser) != nil || findParam(c.subset, dAllowGroup) != nil {
			return true
		}
	} else if userAccess(c.subset, dAllowUser, who) || groupAccess(c.subset, dAllowGroup, who) {
		return true
	}
	if ipAccess(c.subset, dAllow, who.Addr) {
		return true
	}
	if a := findParam(c.subset, dAllowAll); a != nil && a.flag {
		return true
	}
	return false
}

func limitDeny(c *rec, who Who) bool {
	if d := findParam(c.subset, dDenyAll); d != nil && d.flag {
		return true
	}
	if who.User != "" && (userAccess(c.subset, dDenyUser, who) || groupAccess(c.subset, dDenyGroup, who)) {
		return true
	}
	return ipAccess(c.subset, dDeny, who.Addr)
}

func userAccess(set []*rec, name string, who Who) bool {
	for _, c := range set {
		if c.typ == recParam && c.name == name && c.ex.evalUsers(who.User, who.User != "") {
			return true
		}
	}
	return false
}

func groupAccess(set []*rec, name string, who Who) bool {
	if len(who.Groups) == 0 {
		return false // ProFTPD: no primary group name, no group checks
	}
	for _, c := range set {
		if c.typ == recParam && c.name == name && c.ex.evalGroups(who.Groups) {
			return true
		}
	}
	return false
}

// ipAccess is check_ip_access: every Allow (or Deny) line is tried in
// order; a line with a negated entry ("!addr") ends the search with
// false, because ProFTPD 1.3.8's negative check fails for any negated
// entry, matched or not; otherwise a line with a matching entry (before
// any "none") makes the answer true.
func ipAccess(set []*rec, name string, addr netip.Addr) bool {
	res := false
	for _, c := range set {
		if c.typ != recParam || c.name != name {
			continue
		}
		for _, a := range c.ip {
			if a.negated && a.match(addr) != 0 {
				return false
			}
		}
		for _, a := range c.ip {
			if a.negated {
				continue
			}
			m := a.match(addr)
			if m == 1 {
				res = true
				break
			}
			if m == -1 {
				break
			}
		}
	}
	return res
}

// matchDir finds the <Directory> that applies to path (dir_match_path).
func (p *Policy) matchDir(path string, who Who) *rec {
	if path == "" {
		return nil
	}
	if len(path) > 0 && path[len(path)-1] == '*' {
		path = path[:len(path)-1]
	}
	if len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "" {
		return nil
	}
	return p.recurMatchPath(p.conf, path, who)
}

// recurMatchPath returns the first <Directory> of set whose path equals
// path or, as a glob with "/*" added, matches it; then looks for a closer
// one among its own <Directory> sections (recur_match_path).
func (p *Policy) recurMatchPath(set []*rec, path string, who Who) *rec {
	for _, c := range set {
		if c.typ != recDir {
			continue
		}
		tmp := c.name
		if c.deferred {
			tmp = p.resolve(c.name, who)
		}
		if tmp == path {
			return c
		}
		n := len(tmp)
		suffixed := ""
		if n >= 2 && !(tmp[n-2] == '/' && tmp[n-1] == '*') {
			if tmp[n-1] == '/' {
				tmp = tmp[:n-1]
				if tmp == path {
					return c
				}
			}
			suffixed = tmp + "/*"
		} else if n == 1 {
			suffixed = tmp + "*"
		}
		if suffixed == "" {
			suffixed = tmp
		}
		if fnmatch(suffixed, path, 0) || (isFnmatch(tmp) && fnmatch(tmp, path, 0)) {
			if res := p.recurMatchPath(c.subset, path, who); res != nil {
				return res
			}
			return c
		}
	}
	return nil
}

// resolve turns a <Directory> path known only per session into the
// session's path, as ProFTPD does at login: "%u" becomes the user name,
// "~" the user's home and "~name" that user's home; the result is
// cleaned. An unknown user leaves the path as it is (it then matches
// nothing).
func (p *Policy) resolve(dir string, who Who) string {
	if who.User != "" {
		dir = strings.ReplaceAll(dir, "%u", who.User)
	}
	if !strings.HasPrefix(dir, "~") {
		return cleanDir(dir)
	}
	name, rest, _ := strings.Cut(dir[1:], "/")
	var home string
	switch {
	case name == "" || name == who.User:
		if who.User == "" || who.Home == "" {
			return dir
		}
		home = who.Home
	default:
		h, ok := p.homeOf(name)
		if !ok {
			return dir
		}
		home = h
	}
	if rest == "" {
		return cleanDir(home)
	}
	return cleanDir(home + "/" + rest)
}

func (p *Policy) homeOf(name string) (string, bool) {
	if p.HomeOf != nil {
		return p.HomeOf(name)
	}
	u, err := user.Lookup(name)
	if err != nil || u.HomeDir == "" {
		return "", false
	}
	return u.HomeDir, true
}

// cleanDir is the canonical form ProFTPD gives a resolved <Directory>
// path (dir_best_path): cleaned, without a trailing slash, glob
// characters kept.
func cleanDir(dir string) string {
	if !strings.HasPrefix(dir, "/") {
		return dir
	}
	return path.Clean(dir)
}

// DirSettings are the per-directory settings in effect for a path.
type DirSettings struct {
	// Umask applies to files created (STOR, APPE, STOU); ProFTPD's
	// default is 022.
	Umask uint32
	// DirUmask applies to directories created (MKD): Umask's second
	// argument, or Umask when there is none.
	DirUmask uint32
	// AllowOverwrite: STOR (and STOU, and a restarted STOR) may replace
	// an existing file. ProFTPD's default is off: "550 <name>: Overwrite
	// permission denied". APPE does not need it.
	AllowOverwrite bool
	// AllowStoreRestart: REST before STOR, and APPE, on an existing file.
	// Off by default: "451 <name>: Append/Restart not permitted, try
	// again".
	AllowStoreRestart bool
	// AllowRetrieveRestart: REST before RETR. On by default.
	AllowRetrieveRestart bool
	// HiddenStores: uploads (STOR and STOU, not APPE) are written to
	// HiddenPrefix + name + HiddenSuffix in the same directory and renamed
	// into place when complete; REST with it is refused ("501 REST not
	// compatible with server configuration").
	HiddenStores bool
	HiddenPrefix string
	HiddenSuffix string
	// DeleteAbortedStores (ProFTPD's default is off): a failed or aborted
	// upload that is not a HiddenStores one is removed.
	DeleteAbortedStores bool
	// DeleteAbortedHidden: a failed or aborted HiddenStores upload's
	// temporary file is removed; true unless "DeleteAbortedStores off" is
	// configured explicitly.
	DeleteAbortedHidden bool
}

// Dir returns the settings in effect for path, a real absolute path as
// for Allowed (for STOR the file, for MKD the new directory): those of
// the <Directory> section that applies to it (directives it does not set
// come from the enclosing sections and the server), or the server's.
// It needs who because <Directory ~> paths depend on the user.
func (p *Policy) Dir(path string, who Who) DirSettings {
	s := DirSettings{Umask: 0o022, AllowRetrieveRestart: true, DeleteAbortedHidden: true}
	if p == nil {
		s.DirUmask = s.Umask
		return s
	}
	set := p.conf
	if c := p.matchDir(path, who); c != nil {
		set = c.subset
	}
	dirUmask := -1
	if r := findParam(set, dDirUmask); r != nil {
		dirUmask = int(r.mode)
	}
	if r := findParam(set, dUmask); r != nil {
		s.Umask = r.mode
	}
	s.DirUmask = s.Umask
	if dirUmask >= 0 {
		s.DirUmask = uint32(dirUmask)
	}
	if r := findParam(set, dAllowOverwrite); r != nil {
		s.AllowOverwrite = r.flag
	}
	if r := findParam(set, dAllowStoreRestart); r != nil {
		s.AllowStoreRestart = r.flag
	}
	if r := findParam(set, dAllowRetrieveRestart); r != nil {
		s.AllowRetrieveRestart = r.flag
	}
	if r := findParam(set, dHiddenStores); r != nil && r.flag {
		s.HiddenStores, s.HiddenPrefix, s.HiddenSuffix = true, r.prefix, r.suffix
	}
	if r := findParam(set, dDeleteAbortedStores); r != nil {
		s.DeleteAbortedStores, s.DeleteAbortedHidden = r.flag, r.flag
	}
	return s
}

// DefaultRoot returns the directory a session of who is confined to: the
// first DefaultRoot line whose group expression (if any) holds for who.
// chroot is false when there is none, or it is "/". "~" is who.Home,
// "%u" the user name; root is cleaned but not checked: ProFTPD resolves
// it (realpath) as the user and refuses the login ("530 Login
// incorrect.") when that fails.
func (p *Policy) DefaultRoot(who Who, home string) (root string, chroot bool) {
	if p == nil {
		return "", false
	}
	var dir string
	found := false
	for _, c := range p.conf {
		if c.typ != recParam || c.name != dDefaultRoot {
			continue
		}
		if c.groups == nil || c.groups.evalGroups(who.Groups) {
			dir, found = c.root, true
			break
		}
	}
	if !found {
		return "", false
	}
	if who.User != "" {
		dir = strings.ReplaceAll(dir, "%u", who.User)
	}
	if dir == "/" {
		return "", false
	}
	if strings.HasPrefix(dir, "~") {
		dir = home + dir[1:]
	}
	return path.Clean(dir), true
}

// AllowForeignAddress reports whether a data connection may come from
// (PASV) or go to (PORT) an address other than the client's: the first
// AllowForeignAddress of the server, off by default.
func (p *Policy) AllowForeignAddress() bool {
	if p == nil {
		return false
	}
	if r := findParam(p.conf, dAllowForeignAddress); r != nil {
		return r.flag
	}
	return false
}
