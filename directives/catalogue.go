package directives

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

// catalogueTSV lists, for every module of the ProFTPD source, the
// directives in its configuration table (module<TAB>directive, one header
// row). It is the ProFTPD directive catalogue of the development head
// after 1.3.8, less the four directives that 1.3.8 does not know yet
// (ScoreboardOptions, IfSessionOptions, SFTPAuthPublicKeys,
// SFTPKeyFingerprints: each is an unknown directive to Debian's
// proftpd 1.3.8, checked one by one with `proftpd -t`), plus the opening
// tags of mod_ifsession's sections.
//
//go:embed catalogue.tsv
var catalogueTSV string

// DefaultModulePath is Debian's module directory (proftpd -V "Shared
// Module Directory").
const DefaultModulePath = "/usr/lib/proftpd"

// DebianCompiledIn lists the modules compiled into Debian 12's proftpd
// 1.3.8 (proftpd -l), in its order. It is the default of
// Options.CompiledIn.
var DebianCompiledIn = []string{
	"mod_core.c", "mod_xfer.c", "mod_rlimit.c", "mod_auth_unix.c", "mod_auth_file.c",
	"mod_auth.c", "mod_ls.c", "mod_log.c", "mod_site.c", "mod_delay.c", "mod_facts.c",
	"mod_dso.c", "mod_auth_pam.c", "mod_cap.c", "mod_ctrls.c", "mod_lang.c",
}

// DebianLoadable lists the modules that Debian 12's proftpd-core and
// proftpd-mod-crypto ship as shared objects in /usr/lib/proftpd and that
// LoadModule can load, each with the modules that must be loaded before
// it (found with `proftpd -t`: loading it earlier fails). mod_auth_otp.so
// and mod_dnsbl.so are shipped but fail to load on their own or after
// any module tried, so LoadModule treats them as missing.
//
// mod_tls_memcache and mod_tls_redis need only mod_tls: the memcache and
// Redis client code is in the daemon, so ProFTPD loads them without
// mod_memcache or mod_redis (a "redis:" cache then has no RedisServer and
// fails to open when the server starts). The Go module of mod_tls_redis
// has the same requirement.
var DebianLoadable = map[string][]string{
	"mod_ban.c":             nil,
	"mod_copy.c":            nil,
	"mod_ctrls_admin.c":     nil,
	"mod_deflate.c":         nil,
	"mod_digest.c":          nil,
	"mod_dynmasq.c":         nil,
	"mod_exec.c":            nil,
	"mod_facl.c":            nil,
	"mod_ident.c":           nil,
	"mod_ifsession.c":       nil,
	"mod_ifversion.c":       nil,
	"mod_load.c":            nil,
	"mod_log_forensic.c":    nil,
	"mod_memcache.c":        nil,
	"mod_qos.c":             nil,
	"mod_quotatab.c":        nil,
	"mod_quotatab_file.c":   {"mod_quotatab.c"},
	"mod_quotatab_radius.c": {"mod_quotatab.c"},
	"mod_quotatab_sql.c":    {"mod_quotatab.c"},
	"mod_radius.c":          nil,
	"mod_ratio.c":           nil,
	"mod_readme.c":          nil,
	"mod_redis.c":           nil,
	"mod_rewrite.c":         nil,
	"mod_sftp.c":            nil,
	"mod_sftp_pam.c":        {"mod_sftp.c"},
	"mod_sftp_sql.c":        {"mod_sftp.c"},
	"mod_shaper.c":          nil,
	"mod_site_misc.c":       nil,
	"mod_sql.c":             nil,
	"mod_sql_passwd.c":      {"mod_sql.c"},
	"mod_statcache.c":       nil,
	"mod_tls.c":             nil,
	"mod_tls_fscache.c":     {"mod_tls.c"},
	"mod_tls_memcache.c":    {"mod_tls.c"},
	"mod_tls_redis.c":       {"mod_tls.c"},
	"mod_tls_shmcache.c":    {"mod_tls.c"},
	"mod_unique_id.c":       nil,
	"mod_wrap2.c":           nil,
	"mod_wrap2_file.c":      {"mod_wrap2.c"},
	"mod_wrap2_redis.c":     {"mod_wrap2.c"},
	"mod_wrap2_sql.c":       {"mod_wrap2.c"},
}

// catalogue maps module names to their directive names, from catalogueTSV.
var catalogue = parseCatalogue(catalogueTSV)

func parseCatalogue(tsv string) map[string][]string {
	m := make(map[string][]string)
	for i, line := range strings.Split(tsv, "\n") {
		line = strings.TrimRight(line, "\r")
		if i == 0 || line == "" {
			continue
		}
		mod, dir, ok := strings.Cut(line, "\t")
		if !ok {
			panic(fmt.Sprintf("directives: catalogue line %d has no tab: %q", i+1, line))
		}
		m[mod] = append(m[mod], dir)
	}
	return m
}

// entry is one directive-table row of a loaded module.
type entry struct {
	module string
	dir    Directive
}

// moduleSet is the module table of one parse: which modules exist, which
// are loaded, and the directive table of the loaded ones.
type moduleSet struct {
	compiled []string
	table    map[string][]entry // lower-case name → rows, in load order
	all      []string           // directive names of loaded modules, in load order
}

func newModuleSet(compiledIn []string) (*moduleSet, error) {
	if compiledIn == nil {
		compiledIn = DebianCompiledIn
	}
	ms := &moduleSet{table: make(map[string][]entry)}
	seen := map[string]bool{"mod_core.c": true}
	ms.compiled = []string{"mod_core.c"}
	for _, name := range compiledIn {
		if !validModuleName(name) {
			return nil, fmt.Errorf("directives: compiled-in module %q: bad module name", name)
		}
		if !seen[name] {
			seen[name] = true
			ms.compiled = append(ms.compiled, name)
		}
	}
	for _, name := range ms.compiled {
		m := resolveModule(name)
		if m == nil {
			return nil, fmt.Errorf("directives: compiled-in module %s is neither registered nor in the catalogue", name)
		}
		for _, req := range m.Requires {
			if !seen[req] {
				return nil, fmt.Errorf("directives: compiled-in module %s requires %s, which is not compiled in", name, req)
			}
		}
		ms.add(m)
	}
	return ms, nil
}

// add puts a loaded module's directives into the table.
func (ms *moduleSet) add(m *Module) {
	for _, d := range m.Directives {
		key := strings.ToLower(d.Name)
		ms.table[key] = append(ms.table[key], entry{module: m.Name, dir: d})
		ms.all = append(ms.all, d.Name)
	}
}

// names returns every directive name of the loaded modules (for "Did you
// mean").
func (ms *moduleSet) names() []string { return ms.all }

// resolveModule returns the module that loading name would load: the
// registered one (with catalogue directives it does not define kept as
// accept-anything rows), the core's own tables, or a catalogue-only
// module whose directives are all accept-anything. It returns nil for a
// module nobody knows.
func resolveModule(name string) *Module {
	if m := lookupRegistered(name); m != nil {
		return withCatalogue(m)
	}
	if m := coreModules[name]; m != nil {
		return withCatalogue(m)
	}
	dirs, inCatalogue := catalogue[name]
	reqs, loadable := DebianLoadable[name]
	if !inCatalogue && !loadable && !isDebianCompiledIn(name) {
		return nil
	}
	m := &Module{Name: name, Requires: reqs}
	for _, d := range dirs {
		m.Directives = append(m.Directives, catalogueRow(name, d))
	}
	return m
}

// catalogueRow is the table row of a directive of a module ftpdtls does
// not implement: ProFTPD's checks of its arguments and context (see
// rules), or, for modules without them, a row that accepts anything
// anywhere.
func catalogueRow(module, directive string) Directive {
	if d, ok := rules[module][strings.ToLower(directive)]; ok {
		return d
	}
	return Directive{Name: directive, Contexts: AnyContext}
}

// loadable reports whether LoadModule can load the named module: it is
// registered by a linked Go package, or Debian ships it.
func loadable(name string) bool {
	if lookupRegistered(name) != nil {
		return true
	}
	_, ok := DebianLoadable[name]
	return ok || isDebianCompiledIn(name)
}

func isDebianCompiledIn(name string) bool {
	for _, n := range DebianCompiledIn {
		if n == name {
			return true
		}
	}
	return false
}

// withCatalogue returns m with a row added for each catalogue directive
// of the same module that m does not define, so that registering a module
// with handlers for a few directives does not make its other directives
// unknown.
func withCatalogue(m *Module) *Module {
	have := make(map[string]bool, len(m.Directives))
	for _, d := range m.Directives {
		have[strings.ToLower(d.Name)] = true
	}
	out := *m
	out.Directives = append([]Directive(nil), m.Directives...)
	if out.Requires == nil {
		out.Requires = DebianLoadable[m.Name]
	}
	for _, d := range catalogue[m.Name] {
		if !have[strings.ToLower(d)] {
			out.Directives = append(out.Directives, catalogueRow(m.Name, d))
		}
	}
	return &out
}

// Catalogue returns the modules of the embedded catalogue, sorted, and for
// each its directive names; for tools that list what ftpdtls knows.
func Catalogue() map[string][]string {
	out := make(map[string][]string, len(catalogue))
	for m, d := range catalogue {
		out[m] = append([]string(nil), d...)
	}
	return out
}

// similar returns up to four of names close to name, as ProFTPD's
// pr_str_get_similars ranks them: names starting with name first, then
// by Damerau-Levenshtein distance (swap 0, substitution 2, insertion 1,
// deletion 3) plus one, up to 7, ties in case-insensitive order.
func similar(name string, names []string) []string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	lname := strings.ToLower(name)
	for _, n := range names {
		ln := strings.ToLower(n)
		d := 0
		if !strings.HasPrefix(ln, lname) {
			d = editDistance(lname, ln) + 1
		}
		if d <= 7 {
			cs = append(cs, cand{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return strings.ToLower(cs[i].s) < strings.ToLower(cs[j].s)
	})
	if len(cs) > 4 {
		cs = cs[:4]
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.s
	}
	return out
}

// editDistance is ProFTPD's pr_str_levenshtein with the weights it uses
// for suggestions. Like ProFTPD it returns the value from the row two
// steps behind the last one computed, that is the distance of a without
// its last two bytes (0 when a is shorter than two bytes): its rows are
// rotated once more than git's original before the result is read. The
// suggestions ProFTPD prints depend on this, so it is kept.
func editDistance(a, b string) int {
	const swap, subst, ins, del = 0, 2, 1, 3
	row0 := make([]int, len(b)+1)
	row1 := make([]int, len(b)+1)
	row2 := make([]int, len(b)+1)
	for j := range row1 {
		row1[j] = j * ins
	}
	for i := 0; i < len(a); i++ {
		row2[0] = (i + 1) * del
		for j := 0; j < len(b); j++ {
			v := row1[j]
			if a[i] != b[j] {
				v += subst
			}
			row2[j+1] = v
			if i > 0 && j > 0 && a[i-1] == b[j] && a[i] == b[j-1] && row2[j+1] > row0[j-1]+swap {
				row2[j+1] = row0[j-1] + swap
			}
			if row2[j+1] > row1[j+1]+del {
				row2[j+1] = row1[j+1] + del
			}
			if row2[j+1] > row2[j]+ins {
				row2[j+1] = row2[j] + ins
			}
		}
		row0, row1, row2 = row1, row2, row0
	}
	return row2[len(b)]
}
