package directives

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
)

// Handler checks one occurrence of a directive and records its effect.
// A non-nil error becomes "fatal: <Directive>: <err> on line N of 'FILE'"
// and stops the parse.
type Handler func(cmd *Cmd) error

// Directive is one row of a module's directive table.
type Directive struct {
	Name     string  // canonical spelling, e.g. "TLSSessionCache"
	Contexts Context // where it may appear
	// Handler validates and applies the directive. A nil Handler accepts
	// any arguments and only keeps the directive in the parsed tree, for
	// directives of ProFTPD modules that ftpdtls does not act on.
	Handler Handler
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
}
