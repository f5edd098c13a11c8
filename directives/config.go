package directives

import (
	"fmt"
	"strings"
)

// Options control a parse.
type Options struct {
	// CompiledIn names the modules that count as compiled in: always
	// known, and "already loaded" for LoadModule. Nil means Debian 12's
	// proftpd 1.3.8 (DebianCompiledIn). A program that links module
	// packages may list them here so that configs need no LoadModule.
	CompiledIn []string
	// ModulePath is where LoadModule looks for modules (only used in its
	// messages); "" means "/usr/lib/proftpd". A ModulePath directive
	// overrides it for the lines that follow.
	ModulePath string
	// LookupEnv resolves %{env:NAME}; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// LookupHost checks that a DefaultAddress or <VirtualHost> address
	// resolves; nil means IP literals pass and names are resolved with
	// net.LookupHost.
	LookupHost func(host string) error
	// LookupUser and LookupGroup check that the User and Group
	// directives name existing accounts; nil means os/user (which reads
	// /etc/passwd and /etc/group in a cgo-free build).
	LookupUser  func(name string) error
	LookupGroup func(name string) error
	// ProFTPD asks for the verdict of Debian's `proftpd -t` (what
	// `ftpdtls check -proftpd` prints) where ftpdtls's own would differ
	// only because it lacks a module's code: a handler meeting a feature
	// of a module that is loaded but that ftpdtls does not implement (a
	// "memcache:" TLSSessionCache after LoadModule mod_tls_memcache.c)
	// accepts it as ProFTPD does, with ProFTPD's notices. Without it, as
	// for `ftpdtls serve`, the handler refuses such a line, naming the
	// module ("mod_tls_memcache.c is not available in ftpdtls"). Handlers
	// read it with Cmd.ProFTPD.
	ProFTPD bool

	// includeRoot, when set (by this package's tests), confines Include
	// to files under it; anything else is treated as missing.
	includeRoot string
}

// PortRange is an inclusive range of TCP ports (PassivePorts).
type PortRange struct{ Min, Max int }

// Server is the configuration of one server: the main server or a
// <VirtualHost>. Modules keep their typed settings in it under a key of
// their own (see Value and SetValue), as ProFTPD modules keep config
// records in a server_rec.
//
// Settings ProFTPD only allows in "server config" (ServerType, PidFile,
// ScoreboardFile, SocketBindTight, UseIPv6, MaxInstances) are set on the
// main server only.
type Server struct {
	Name  string   // ServerName ("ProFTPD" by default for the main server, "" for a <VirtualHost>)
	Addrs []string // <VirtualHost> addresses; DefaultAddress for the main server
	Port  int      // Port (default 21; 0 disables the server)
	// IsMain is true for the main server ("server config").
	IsMain bool

	ServerType        string    // "standalone" (default) or "inetd"
	ServerIdent       []string  // ServerIdent arguments as written, nil if unset
	User, Group       string    // User and Group, "" if unset
	PassivePorts      PortRange // zero if unset
	MasqueradeAddress string
	PidFile           string // "" means the daemon's default
	ScoreboardFile    string // "" means the daemon's default
	SocketBindTight   bool
	UseIPv6           bool // default true
	UseReverseDNS     bool // default true
	DefaultServer     bool
	MaxInstances      int // 0 means unlimited
	// Trace is the session-level trace configuration (Trace session,
	// TraceOptions).
	Trace ServerTrace

	File string // where the server starts (its <VirtualHost> line; the config file for the main server)
	Line int

	nodes  []*Node // own directives, then the <Global> ones
	global int     // how many of nodes came from <Global>
	values map[any]any
}

func newServer(isMain bool) *Server {
	return &Server{Port: 21, IsMain: isMain, ServerType: "standalone", UseIPv6: true, UseReverseDNS: true}
}

// Value returns what a module stored under key, or nil.
func (s *Server) Value(key any) any { return s.values[key] }

// SetValue stores a module's typed settings under key, a value of a type
// the module owns (as with context.WithValue).
func (s *Server) SetValue(key, v any) {
	if s.values == nil {
		s.values = make(map[any]any)
	}
	s.values[key] = v
}

// Directives returns the directives named name (case-insensitive) that
// configure this server directly, in file order: those in its own body
// (including taken <IfModule> bodies and included files) followed by the
// <Global> ones, which apply to every server. Directives nested in
// <Anonymous>, <Directory>, <Limit> or <Class> are not included; walk
// Config.Root for those.
func (s *Server) Directives(name string) []*Node {
	var out []*Node
	for _, n := range s.nodes {
		if strings.EqualFold(n.Name, name) {
			out = append(out, n)
		}
	}
	return out
}

// SetInBody reports whether the server's own body (not <Global>) has a
// directive of that name. Handlers replaying a <Global> line (Cmd.Replay)
// use it to let a server's own setting win over the global one.
func (s *Server) SetInBody(name string) bool {
	for _, n := range s.nodes[:len(s.nodes)-s.global] {
		if strings.EqualFold(n.Name, name) {
			return true
		}
	}
	return false
}

// Node is one directive or section of the parsed file. Sections
// (<VirtualHost>, <Global>, <IfModule>, ...) and Include lines hold the
// directives inside them as Children.
type Node struct {
	Name    string   // canonical name if known ("TLSSessionCache", "<VirtualHost>"), else as written
	Args    []string // after quoting and %{env:} expansion; section tags without the closing '>'
	File    string
	Line    int
	Context Context // the context the line appears in
	Module  string  // the module owning the directive, e.g. "mod_core.c"
	// Skipped is true for an <IfModule> whose condition was false; its
	// body was not parsed and it has no children.
	Skipped  bool
	Children []*Node
}

// Error is a fatal configuration error, printed as ProFTPD prints it.
type Error struct {
	Directive string // as written in the file; empty for errors not tied to one directive
	Msg       string
	File      string
	Line      int
	// NoLine is set for errors about a whole file (an unclosed section),
	// which ProFTPD prints without " on line N of 'FILE'".
	NoLine bool
	// DidYouMean lists up to four known directives close to an unknown
	// one; ProFTPD prints them after the fatal line (see Lines).
	DidYouMean []string
	// Malformed is set for an unknown directive name with non-ASCII bytes,
	// for which ProFTPD prints a "malformed directive name" line instead.
	Malformed bool
	// Name is the unknown directive's name as written.
	Name string
	// Plain is set for an error ProFTPD finds after the parse (an
	// unusable SystemLog) and prints as Msg alone, without "fatal: " or
	// a place, before it exits.
	Plain bool
	// Err is the underlying error a handler returned, for errors.Is/As.
	Err error
	// Warnings are the warnings of the parse up to the failure, which
	// ProFTPD prints before the fatal line.
	Warnings []Warning
}

func (e *Error) Error() string {
	if e.Plain {
		return e.Msg
	}
	var b strings.Builder
	b.WriteString("fatal: ")
	if e.Directive != "" {
		b.WriteString(e.Directive)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if !e.NoLine {
		fmt.Fprintf(&b, " on line %d of '%s'", e.Line, e.File)
	}
	return b.String()
}

// Unwrap returns the handler's error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Lines returns every line ProFTPD prints for this error: the fatal line,
// then, for an unknown directive with near matches, the "Did you mean"
// line.
func (e *Error) Lines() []string {
	lines := []string{e.Error()}
	switch {
	case e.Malformed:
		lines = append(lines, fmt.Sprintf("fatal: malformed directive name '%s' (contains non-ASCII characters)", e.Name))
	case len(e.DidYouMean) == 1:
		lines = append(lines, "fatal: Did you mean: "+e.DidYouMean[0])
	case len(e.DidYouMean) > 1:
		// One message with embedded newlines, as ProFTPD logs it.
		lines = append(lines, "fatal: Did you mean:")
		for _, s := range e.DidYouMean {
			lines = append(lines, "  "+s)
		}
	}
	return lines
}

// Warning is a non-fatal message about a line.
type Warning struct {
	Directive string // the directive that caused it, if any
	Msg       string // ProFTPD's text
	File      string // "" when not tied to a line
	Line      int
}

// String returns the warning exactly as ProFTPD prints it (which does not
// always name the line; File and Line do).
func (w Warning) String() string { return w.Msg }

// Config is a parsed configuration.
type Config struct {
	Main         *Server
	VirtualHosts []*Server
	// Root is the whole parsed tree: every directive and section, with
	// the file and line it came from, including directives of modules
	// that ftpdtls does not act on.
	Root *Node
	// Warnings are the non-fatal lines of the parse, in order.
	Warnings []Warning
	// Trace holds the Trace, TraceLog and TraceOptions settings.
	Trace TraceConfig

	loaded     map[string]bool
	loadOrder  []string
	modulePath string
}

// ModuleLoaded reports whether the named module ("mod_tls_shmcache.c") is
// compiled in or was loaded by a LoadModule line read so far.
func (c *Config) ModuleLoaded(name string) bool { return c.loaded[name] }

// LoadedModules returns the loaded modules in load order: the compiled-in
// ones first, then those of LoadModule lines.
func (c *Config) LoadedModules() []string { return append([]string(nil), c.loadOrder...) }

// ModulePath returns the module directory in effect at the end of the
// parse (Options.ModulePath or the last ModulePath directive).
func (c *Config) ModulePath() string { return c.modulePath }

// Servers returns the main server followed by the virtual hosts.
func (c *Config) Servers() []*Server {
	return append([]*Server{c.Main}, c.VirtualHosts...)
}
