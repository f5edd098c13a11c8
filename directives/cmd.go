package directives

// Cmd is one directive occurrence, handed to its Handler.
type Cmd struct {
	Name    string   // the directive's canonical name
	Args    []string // the words after the name, after quoting and %{env:} expansion
	File    string   // the file it came from, as ProFTPD prints it
	Line    int      // the line on which the directive starts
	Context Context  // the context it appears in
	// Server is the server the directive configures: the main server, a
	// <VirtualHost>, or, inside <Global>, a scratch server whose commands
	// are replayed onto every server after the parse.
	Server *Server
	// Config is the configuration being built; handlers ask it which
	// modules are loaded (Config.ModuleLoaded).
	Config *Config

	warn func(string)
}

// Warnf records a non-fatal problem with this line. `ftpdtls check` prints
// warnings with the directive's file and line; the parse goes on.
func (c *Cmd) Warnf(format string, args ...any) {
	if c.warn != nil {
		c.warn(sprintf(format, args...))
	}
}
