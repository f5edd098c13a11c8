package access

import (
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// This file rebuilds, from the parsed configuration, the configuration
// records ProFTPD keeps for a server (its config_rec sets) with the same
// list operations, because ProFTPD's answers depend on the order of those
// lists: a section (<Directory>, <Limit>, <Global>) is inserted at the
// head of its set, so sections are kept in reverse file order, while
// directives are appended; <Global> bodies are copied to the end of every
// server's set; <Directory> sections are then moved under the section of
// their closest parent path, and the mergeable directives are copied down
// into every <Directory> that does not set them itself. Lookups then
// take the first record of a name in a set, as ProFTPD's find_config.

type recType int

const (
	recParam recType = iota
	recDir
	recLimit
	recGlobal
)

// rec is one configuration record.
type rec struct {
	typ  recType
	name string // directive name (recParam) or configured path (recDir)
	node *directives.Node

	parent *rec
	subset []*rec

	mergeDown bool // copied into <Directory> sections that do not set it
	// deferred marks a <Directory> whose path is only known per session
	// ("~", "~name", "%u"): ProFTPD resolves it at login and never moves
	// it under another section.
	deferred bool

	flag   bool     // booleans; HiddenStores enabled
	mode   uint32   // Umask, DirUmask
	prefix string   // HiddenStores
	suffix string   // HiddenStores
	cmds   []string // <Limit>: command names, upper case
	order  int      // Order
	ex     *expr    // AllowUser, DenyUser, AllowGroup, DenyGroup
	ip     ipRule   // Allow, Deny
	root   string   // DefaultRoot path (with the trailing '/')
	groups *expr    // DefaultRoot group expression, nil if none
}

const (
	orderAllowDeny = iota
	orderDenyAllow
)

func insertHead(set *[]*rec, r *rec) { *set = append([]*rec{r}, *set...) }
func insertEnd(set *[]*rec, r *rec)  { *set = append(*set, r) }

func remove(set *[]*rec, r *rec) {
	for i, c := range *set {
		if c == r {
			*set = append((*set)[:i:i], (*set)[i+1:]...)
			return
		}
	}
}

// findParam returns the first directive record named name in set (not
// looking into sections), as find_config(set, CONF_PARAM, name, FALSE).
func findParam(set []*rec, name string) *rec {
	for _, c := range set {
		if c.typ == recParam && c.name == name {
			return c
		}
	}
	return nil
}

// copyRec copies a record and its subset (copy_recur), appending the
// copy's children in order.
func copyRec(c *rec, parent *rec) *rec {
	n := *c
	n.parent = parent
	n.subset = nil
	for _, s := range c.subset {
		n.subset = append(n.subset, copyRec(s, &n))
	}
	return &n
}

// fixupGlobals copies every <Global> body to the end of every server's
// set, server by server and <Global> by <Global> in list order, and
// removes the <Global> records (fixup_globals).
func fixupGlobals(servers []*[]*rec) {
	for _, s := range servers {
		for _, c := range append([]*rec(nil), *s...) {
			if c.typ != recGlobal {
				continue
			}
			for _, g := range c.subset {
				for _, t := range servers {
					insertEnd(t, copyRec(g, nil))
				}
			}
			remove(s, c)
		}
	}
}

// strmatch is the length of the common prefix of a and b.
func strmatch(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// findBestDir finds the section a <Directory> for path (the record self)
// moves under (find_best_dir).
func findBestDir(set []*rec, self *rec, path string) (*rec, int) {
	var res *rec
	matchlen := 0
	if len(set) == 0 {
		return nil, 0
	}
	pathlen := len(path)
	for _, c := range set {
		if c.typ != recDir || c == self {
			continue
		}
		l := len(c.name)
		for l > 0 && (c.name[l-1] == '*' || c.name[l-1] == '/') {
			l--
		}
		if pathlen > l && path[l] != '/' {
			continue
		}
		if l < pathlen && c.name[:l] == path[:l] {
			rres, imatchlen := findBestDir(c.subset, self, path)
			tmatchlen := strmatch(path, c.name)
			if rres == nil && tmatchlen > matchlen {
				res, matchlen = c, tmatchlen
			} else if imatchlen > matchlen {
				res, matchlen = rres, imatchlen
			}
		}
	}
	return res, matchlen
}

// reorderDirs moves each <Directory> under the section of its closest
// parent path (reorder_dirs, as run at start-up: sections whose path is
// only known per session stay where they are), then does the same inside
// each section.
func reorderDirs(set *[]*rec) {
	for _, c := range append([]*rec(nil), *set...) {
		if c.typ != recDir || c.deferred {
			continue
		}
		if np, _ := findBestDir(*set, c, c.name); np != nil {
			remove(set, c) // only the record being visited ever moves
			insertHead(&np.subset, c)
			c.parent = np
		}
	}
	for _, c := range *set {
		if c.typ == recDir {
			reorderDirs(&c.subset)
		}
	}
}

// mergeDown copies each mergeable directive of a set into every
// <Directory> of that set that has no record of that name, then does the
// same inside each <Directory> (pr_config_merge_down).
func mergeDown(set []*rec) {
	for _, c := range set {
		if !c.mergeDown {
			continue
		}
		for _, dst := range set {
			if dst.typ != recDir {
				continue
			}
			if findAny(dst.subset, c.name) {
				continue
			}
			cp := copyRec(c, dst)
			insertEnd(&dst.subset, cp)
		}
	}
	for _, c := range set {
		if c.typ == recDir {
			mergeDown(c.subset)
		}
	}
}

// findAny reports whether set holds a directive record named name.
func findAny(set []*rec, name string) bool { return findParam(set, name) != nil }

// canonical returns the directive's canonical name when it is one this
// package knows, and "" otherwise.
func canonical(name string) string {
	for _, k := range knownNames {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}
