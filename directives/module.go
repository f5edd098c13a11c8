package directives

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// This file is the contract between the parser (the "core") and the modules
// that own directives, in the way a ProFTPD module carries a conftable.

// Context is a configuration context, with ProFTPD's CONF_* bit values.
type Context uint16

const (
	Root        Context = 0x01 // "server config"
	Directory   Context = 0x02 // <Directory>
	Anonymous   Context = 0x04 // <Anonymous>
	Limit       Context = 0x08 // <Limit>
	VirtualHost Context = 0x10 // <VirtualHost>
	FTPAccess   Context = 0x20 // .ftpaccess
	Global      Context = 0x40 // <Global>
	Class       Context = 0x80 // <Class>

	// AnyContext allows a directive everywhere; catalogue-only directives
	// use it, since their real handler (which would check) is not linked.
	AnyContext Context = Root | Directory | Anonymous | Limit | VirtualHost | FTPAccess | Global | Class
)

// String returns the context's name as ProFTPD prints it in "directive not
// allowed in <ctx> context".
func (c Context) String() string {
	switch c {
	case Root:
		return "server config"
	case Directory:
		return "<Directory>"
	case Anonymous:
		return "<Anonymous>"
	case Limit:
		return "<Limit>"
	case VirtualHost:
		return "<VirtualHost>"
	case FTPAccess:
		return ".ftpaccess"
	case Global:
		return "<Global>"
	case Class:
		return "<Class>"
	}
	return fmt.Sprintf("Context(%#x)", uint16(c))
}

// Handler checks one occurrence of a directive and records its effect.
// A non-nil error becomes "fatal: <Directive>: <err> on line N of 'FILE'"
// and stops the parse.
type Handler func(cmd *Cmd) error

// Directive is one row of a module's directive table.
type Directive struct {
	Name     string  // canonical spelling, e.g. "TLSSessionCache"
	Contexts Context // where it may appear
	// Args, if set, checks the argument count before the context is
	// checked, which is the order most ProFTPD handlers use (CHECK_ARGS
	// before CHECK_CONF). Use ArgsExactly, ArgsBetween or ArgsAtLeast.
	// Without it the context is checked first and the Handler checks the
	// count itself (see Cmd.CheckArgs).
	Args func(cmd *Cmd) error
	// Handler validates and applies the directive. A nil Handler accepts
	// any arguments and only keeps the directive in the parsed tree, for
	// directives of ProFTPD modules that ftpdtls does not act on.
	Handler Handler
	// Check, for a directive ftpdtls does not act on, checks its
	// arguments as ProFTPD's handler does, after the context check; the
	// directive is only kept in the parsed tree. Unlike a Handler it is
	// not applied again to each server for <Global>, and a section tag
	// with only a Check stays a section ftpdtls does not interpret.
	Check Handler
}

// Module is what a package registers to own directives, ProFTPD's
// module struct reduced to what the parser needs.
type Module struct {
	Name    string // module file name, e.g. "mod_tls.c", as <IfModule> and LoadModule spell it
	Version string // e.g. "mod_tls/2.9.2", used as a message prefix
	// Requires lists modules that must be loaded before this one can be
	// (mod_tls_shmcache.c requires mod_tls.c).
	Requires   []string
	Directives []Directive
	// PostParse, when set, runs once the whole configuration is read, if
	// the module is loaded: ProFTPD's "core.postparse" event listener of
	// the module (mod_tls reads its key passphrases and PKCS#12 passwords
	// there). As in ProFTPD, the modules loaded last run first, before the
	// checks of the compiled-in modules (SystemLog's). proftpd is
	// Options.ProFTPD. An error stops the parse; an *Error with Plain set
	// is printed as it is, and a hook may append notices to cfg.Warnings
	// first.
	PostParse func(cfg *Config, proftpd bool) error
}

// registry holds the modules linked into the program (Register).
var registry = struct {
	sync.RWMutex
	m map[string]*Module
}{m: make(map[string]*Module)}

// Register makes a module known to the parser. A Go package calls it from
// its init function, which is the Go spelling of shipping a ProFTPD module:
// the module can then be loaded by name (LoadModule, or Options.CompiledIn)
// and its directives are handled by its own handlers. A registered module
// replaces the catalogue entry of the same name.
//
// Register panics if m is nil, has no name, or a module of the same name
// is already registered, as database/sql.Register does for drivers. It is
// safe for concurrent use.
func Register(m *Module) {
	if m == nil {
		panic("directives: Register of a nil module")
	}
	if !validModuleName(m.Name) {
		panic(fmt.Sprintf("directives: Register of module with bad name %q (want mod_<name>.c)", m.Name))
	}
	for _, d := range m.Directives {
		if d.Name == "" {
			panic(fmt.Sprintf("directives: module %s registers a directive with no name", m.Name))
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[m.Name]; dup {
		panic("directives: Register called twice for module " + m.Name)
	}
	registry.m[m.Name] = m
}

// Registered returns the names of the modules registered with Register,
// sorted.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RegisteredVersion returns the Version of the registered module of that
// name ("mod_tls/2.9.2"), or "" if none is registered.
func RegisteredVersion(name string) string {
	if m := lookupRegistered(name); m != nil {
		return m.Version
	}
	return ""
}

// lookupRegistered returns the registered module of that name, or nil.
func lookupRegistered(name string) *Module {
	registry.RLock()
	defer registry.RUnlock()
	return registry.m[name]
}

// validModuleName applies mod_dso's rule for LoadModule arguments: the
// name starts with "mod_", is at least 5 characters long and ends in ".c"
// or ".cpp".
func validModuleName(name string) bool {
	return len(name) >= 5 && strings.HasPrefix(name, "mod_") &&
		(strings.HasSuffix(name, ".c") || strings.HasSuffix(name, ".cpp"))
}
