package directives

import (
	"errors"
	"fmt"
)

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
	// Node is the directive's node in the parsed tree.
	Node *Node

	// Replay is true when a <Global> directive is being applied to a real
	// server after the parse; its checks already ran once against the
	// scratch server, so handlers should only record the setting (and
	// should not open files or warn a second time).
	Replay bool

	warn func(string)
	p    *parser
}

// Warnf records a non-fatal problem with this line. `ftpdtls check` prints
// warnings with the directive's file and line; the parse goes on.
func (c *Cmd) Warnf(format string, args ...any) {
	if c.warn != nil {
		c.warn(fmt.Sprintf(format, args...))
	}
}

// ProFTPD reports whether the parse asks for `proftpd -t`'s verdict
// (Options.ProFTPD): a handler then accepts features of loaded modules
// that ftpdtls does not implement, as ProFTPD would; otherwise it refuses
// them with "<module> is not available in ftpdtls".
func (c *Cmd) ProFTPD() bool { return c.p != nil && c.p.opts.ProFTPD }

// Implemented reports whether a linked Go package implements the named
// module (it called Register), as opposed to a ProFTPD module that
// ftpdtls only knows the directives of.
func Implemented(module string) bool { return lookupRegistered(module) != nil }

// ErrWrongArgs and ErrMissingArgs are ProFTPD's two argument-count
// complaints. Handlers return them (possibly wrapped) as they are.
var (
	ErrWrongArgs   = errors.New("wrong number of parameters")
	ErrMissingArgs = errors.New("missing parameters")
)

// CheckArgs returns ErrWrongArgs unless the directive has between min and
// max arguments; max < 0 means no upper bound.
func (c *Cmd) CheckArgs(min, max int) error {
	n := len(c.Args)
	if n < min || (max >= 0 && n > max) {
		return ErrWrongArgs
	}
	return nil
}

// RequireArgs returns ErrMissingArgs if the directive has fewer than n
// arguments and accepts any extra ones, as ProFTPD's CHECK_ARGS does.
func (c *Cmd) RequireArgs(n int) error {
	if len(c.Args) < n {
		return ErrMissingArgs
	}
	return nil
}

// ArgsExactly is a Directive.Args check for exactly n arguments
// ("wrong number of parameters").
func ArgsExactly(n int) func(*Cmd) error {
	return func(c *Cmd) error { return c.CheckArgs(n, n) }
}

// ArgsBetween is a Directive.Args check for min..max arguments, max < 0
// meaning unbounded ("wrong number of parameters").
func ArgsBetween(min, max int) func(*Cmd) error {
	return func(c *Cmd) error { return c.CheckArgs(min, max) }
}

// ArgsAtLeast is a Directive.Args check in CHECK_ARGS style: fewer than n
// arguments is "missing parameters", extra arguments are ignored.
func ArgsAtLeast(n int) func(*Cmd) error {
	return func(c *Cmd) error { return c.RequireArgs(n) }
}
