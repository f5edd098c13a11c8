package directives

import "fmt"

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Server is the configuration of one server: the main server or a
// <VirtualHost>. Modules keep their typed settings in it under a key of
// their own (see Value and SetValue), as ProFTPD modules keep config
// records in a server_rec.
type Server struct {
	Name  string   // ServerName
	Addrs []string // <VirtualHost> addresses; DefaultAddress for the main server
	Port  int      // Port (default 21)
	// IsMain is true for the main server ("server config").
	IsMain bool

	values map[any]any
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

// Error is a fatal configuration error, printed as ProFTPD prints it.
type Error struct {
	Directive string // empty for errors not tied to one directive
	Msg       string
	File      string
	Line      int
}

func (e *Error) Error() string {
	if e.Directive == "" {
		return fmt.Sprintf("fatal: %s on line %d of '%s'", e.Msg, e.Line, e.File)
	}
	return fmt.Sprintf("fatal: %s: %s on line %d of '%s'", e.Directive, e.Msg, e.Line, e.File)
}

// Warning is a non-fatal message about a line.
type Warning struct {
	Directive string
	Msg       string
	File      string
	Line      int
}

// Config is a parsed configuration. (Contract only; the parser fills it.)
type Config struct {
	Main         *Server
	VirtualHosts []*Server
	loaded       map[string]bool
}

// ModuleLoaded reports whether the named module ("mod_tls_shmcache.c") is
// compiled in or was loaded by a LoadModule line read so far.
func (c *Config) ModuleLoaded(name string) bool { return c.loaded[name] }
