package directives

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/ftpdtls/ftpdtls/trace"
)

// ParseFile parses the configuration file at path. The path is used as
// given in messages, as ProFTPD prints the -c argument.
func ParseFile(path string, opts Options) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open configuration file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open configuration file: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open configuration file %s: %w", path, &Errno{syscall.EISDIR})
	}
	p, err := newParser(opts)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o002 != 0 {
		p.cfg.Warnings = append(p.cfg.Warnings, Warning{Msg: fmt.Sprintf("warning: config file '%s' is world-writable", path), File: path})
	}
	return p.run(f, path)
}

// Parse parses a configuration read from r; filename is the name used in
// messages. The first fatal error stops the parse and is returned as an
// *Error (with the warnings up to it); nothing half-parsed is returned.
// An error about Options (CompiledIn) is a plain error.
func Parse(r io.Reader, filename string, opts Options) (*Config, error) {
	p, err := newParser(opts)
	if err != nil {
		return nil, err
	}
	return p.run(r, filename)
}

// run parses the top-level file and finishes the configuration.
func (p *parser) run(r io.Reader, filename string) (*Config, error) {
	p.cfg.Main.File = filename
	err := p.parseStream(r, filename, p.cfg.Root)
	if err == nil {
		err = p.finish(filename)
	}
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Warnings = p.cfg.Warnings
		}
		return nil, err
	}
	return p.cfg, nil
}

// frame is an open configuration section (ProFTPD's config_rec stack):
// <Global>, <Anonymous>, <Directory>, <Limit>, <Class>, or a section of a
// module ftpdtls only knows from the catalogue (<IfUser>, ...).
// <VirtualHost> is a server, not a frame, and <IfModule> creates no
// context.
type frame struct {
	ctx    Context
	name   string // the section tag, e.g. "<Directory>"
	node   *Node
	server *Server // where directives inside it are recorded
	empty  bool    // for <Class>: no From line with addresses yet
	// opaque marks a catalogue-only section: its directives keep the
	// enclosing context and are checked against a scratch server, since
	// only the module ftpdtls lacks knows when they apply.
	opaque bool
}

// parser is the state of one parse.
type parser struct {
	opts   Options
	cfg    *Config
	lookup func(string) (string, bool)
	mods   *moduleSet

	// Where directives go now.
	server  *Server  // main server or current <VirtualHost>
	vhost   *Node    // the open <VirtualHost> node, or nil
	frames  []*frame // open sections inside the server
	parents []*Node  // node stack: Root, sections, taken <IfModule>s, Includes

	global *Server // scratch server for <Global> bodies
	// dirs records the <Directory> paths configured so far, per server or
	// <Anonymous> frame (see directorySet).
	dirs       map[any]map[string]bool
	globalCmds []globalCmd // <Global> directives, replayed onto every server
	globalNode []*Node     // their nodes, added to every server's list

	includeOpts includeOptions
	includeHops int // nesting of Include while parsing

	defines   map[string]bool // Define names, for <IfDefine>
	dsoLoaded []string        // modules loaded by LoadModule, in order

	// env holds what SetEnv and UnsetEnv changed (nil: unset), which
	// %{env:NAME} sees before the environment.
	env map[string]*string
	// seen records directives that may appear once per server.
	seen map[*Server]map[string]bool
	// authFileInsecure: AuthFileOptions InsecurePerms was read.
	authFileInsecure bool

	src *source // the file being read
}

// globalCmd is a <Global> directive to replay, with the table row (of
// the module) that handled it.
type globalCmd struct {
	cmd *Cmd
	dir Directive
}

// source is one file being read, for handlers that read ahead (<IfModule>).
type source struct {
	name string
	lr   *lineReader
}

func newParser(opts Options) (*parser, error) {
	if opts.ModulePath == "" {
		opts.ModulePath = DefaultModulePath
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	main := newServer(true)
	main.Name = "ProFTPD"
	cfg := &Config{
		Trace:      TraceConfig{Options: trace.DefaultOptions()},
		Main:       main,
		Root:       &Node{Name: "server config", Context: Root},
		loaded:     make(map[string]bool),
		modulePath: opts.ModulePath,
	}
	p := &parser{
		opts:    opts,
		cfg:     cfg,
		server:  main,
		parents: []*Node{cfg.Root},
		global:  newServer(false),
		defines: make(map[string]bool),
	}
	p.lookup = func(name string) (string, bool) {
		if v, ok := p.env[name]; ok {
			if v == nil {
				return "", false
			}
			return *v, true
		}
		return lookup(name)
	}
	mods, err := newModuleSet(opts.CompiledIn)
	if err != nil {
		return nil, err
	}
	p.mods = mods
	for _, m := range mods.compiled {
		cfg.loaded[m] = true
		cfg.loadOrder = append(cfg.loadOrder, m)
	}
	return p, nil
}

// parseStream reads one file, dispatching each directive.
func (p *parser) parseStream(r io.Reader, name string, parent *Node) error {
	saved := p.src
	p.src = &source{name: name, lr: newLineReader(r)}
	defer func() { p.src = saved }()
	if parent != p.parent() {
		p.parents = append(p.parents, parent)
		defer p.removeParent(parent)
	}
	for {
		text, lineno, ok := p.src.lr.next(p.warnTruncated)
		if !ok {
			return nil
		}
		words := splitWords(text)
		if len(words) == 0 {
			continue
		}
		for i, w := range words {
			words[i] = expandEnv(w, p.lookup)
		}
		words = normaliseSection(words)
		if err := p.dispatch(words, lineno); err != nil {
			return err
		}
	}
}

func (p *parser) warnTruncated(lineno int) {
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{
		Msg:  fmt.Sprintf("warning: handling possibly truncated configuration data at line %d of '%s'", lineno, p.src.name),
		File: p.src.name,
		Line: lineno,
	})
}

func (p *parser) parent() *Node { return p.parents[len(p.parents)-1] }

// removeParent drops n from the parents, leaving any section opened
// after it (in an included file) open.
func (p *parser) removeParent(n *Node) {
	for i := len(p.parents) - 1; i > 0; i-- {
		if p.parents[i] == n {
			p.parents = append(p.parents[:i], p.parents[i+1:]...)
			return
		}
	}
}

// context returns the context a directive read now appears in.
func (p *parser) context() Context {
	if n := len(p.frames); n > 0 {
		return p.frames[n-1].ctx
	}
	if p.server.IsMain {
		return Root
	}
	return VirtualHost
}

// inGlobal reports whether a <Global> section is open.
func (p *parser) inGlobal() bool {
	for _, f := range p.frames {
		if f.ctx == Global && !f.opaque {
			return true
		}
	}
	return false
}

// inOpaque reports whether a catalogue-only section is open.
func (p *parser) inOpaque() bool {
	for _, f := range p.frames {
		if f.opaque {
			return true
		}
	}
	return false
}

// currentServer is the server directives read now are recorded in.
func (p *parser) currentServer() *Server {
	if n := len(p.frames); n > 0 {
		return p.frames[n-1].server
	}
	return p.server
}

// dispatch runs the handlers for one directive line.
func (p *parser) dispatch(words []string, lineno int) error {
	name := words[0]
	entries := p.mods.table[strings.ToLower(name)]
	if len(entries) == 0 {
		return p.unknown(name, lineno)
	}
	ctx := p.context()
	server := p.currentServer()
	node := &Node{
		Name:    entries[0].dir.Name,
		Args:    append([]string(nil), words[1:]...),
		File:    p.src.name,
		Line:    lineno,
		Context: ctx,
		Module:  entries[0].module,
	}
	p.parent().Children = append(p.parent().Children, node)
	if !isSection(node.Name) {
		switch {
		case len(p.frames) == 0:
			p.server.nodes = append(p.server.nodes, node)
		case len(p.frames) == 1 && p.frames[0].ctx == Global && !p.frames[0].opaque:
			p.globalNode = append(p.globalNode, node)
		}
	}
	for _, e := range entries {
		cmd := &Cmd{
			Name:    e.dir.Name,
			Args:    node.Args,
			File:    p.src.name,
			Line:    lineno,
			Context: ctx,
			Server:  server,
			Config:  p.cfg,
			Node:    node,
			p:       p,
		}
		cmd.warn = p.warner(cmd)
		if err := p.call(e.dir, cmd); err != nil {
			return err
		}
		if p.inGlobal() && !p.inOpaque() && e.dir.Handler != nil && !isSection(e.dir.Name) {
			p.globalCmds = append(p.globalCmds, globalCmd{cmd, e.dir})
		}
	}
	if isSection(node.Name) && !hasHandler(entries) {
		p.opaqueSection(node)
	}
	return nil
}

func hasHandler(entries []entry) bool {
	for _, e := range entries {
		if e.dir.Handler != nil {
			return true
		}
	}
	return false
}

// opaqueSection opens or closes a section tag that only the catalogue
// knows: its body is parsed (ProFTPD's module would parse it too) and
// kept under the tag's node.
func (p *parser) opaqueSection(node *Node) {
	if !strings.HasPrefix(node.Name, "</") {
		p.frames = append(p.frames, &frame{ctx: p.context(), name: node.Name, node: node, server: newServer(false), opaque: true})
		p.parents = append(p.parents, node)
		return
	}
	n := len(p.frames)
	if n > 0 && p.frames[n-1].opaque && strings.EqualFold(p.frames[n-1].name, "<"+node.Name[2:]) {
		f := p.frames[n-1]
		p.frames = p.frames[:n-1]
		p.popParent(f.node)
	}
}

// call checks a directive's argument count and context, then calls its
// handler.
func (p *parser) call(d Directive, cmd *Cmd) error {
	fail := func(err error) error {
		var pe *plainError
		if errors.As(err, &pe) {
			return &Error{Msg: err.Error(), File: cmd.File, Line: cmd.Line, Err: err}
		}
		return &Error{Directive: d.Name, Msg: err.Error(), File: cmd.File, Line: cmd.Line, Err: err}
	}
	if d.Args != nil {
		if err := d.Args(cmd); err != nil {
			return fail(err)
		}
	}
	if d.Contexts&cmd.Context == 0 {
		return fail(&ContextError{Context: cmd.Context})
	}
	if d.Check != nil {
		if err := d.Check(cmd); err != nil {
			return fail(err)
		}
	}
	if d.Handler == nil {
		return nil
	}
	if err := d.Handler(cmd); err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return fe // already placed (an error inside an included file)
		}
		return fail(err)
	}
	return nil
}

// ContextError is "directive not allowed in <ctx> context".
type ContextError struct{ Context Context }

func (e *ContextError) Error() string {
	return fmt.Sprintf("directive not allowed in %s context", e.Context)
}

func (p *parser) warner(cmd *Cmd) func(string) {
	return func(msg string) {
		p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: cmd.Name, Msg: msg, File: cmd.File, Line: cmd.Line})
	}
}

// unknown builds ProFTPD's unknown-directive error.
func (p *parser) unknown(name string, lineno int) error {
	e := &Error{
		Msg:  fmt.Sprintf("unknown configuration directive '%s'", name),
		File: p.src.name,
		Line: lineno,
		Err:  ErrUnknownDirective,
		Name: name,
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			e.Malformed = true
			return e
		}
	}
	e.DidYouMean = similar(name, p.mods.names())
	return e
}

// ErrUnknownDirective is wrapped by the error for a directive no loaded
// module knows.
var ErrUnknownDirective = errors.New("unknown configuration directive")

// finish checks for unclosed sections and applies <Global>.
func (p *parser) finish(filename string) error {
	if len(p.frames) > 0 || !p.server.IsMain {
		return &Error{
			Msg:    fmt.Sprintf("error processing configuration file '%s': unclosed configuration section", filename),
			File:   filename,
			NoLine: true,
			Err:    ErrUnclosedSection,
		}
	}
	for _, s := range p.cfg.Servers() {
		for _, g := range p.globalCmds {
			rc := *g.cmd
			rc.Server = s
			rc.Replay = true
			rc.warn = nil
			if err := g.dir.Handler(&rc); err != nil {
				return &Error{Directive: rc.Name, Msg: err.Error(), File: rc.File, Line: rc.Line, Err: err}
			}
		}
		s.nodes = append(s.nodes, p.globalNode...)
		s.global = len(p.globalNode)
	}
	return p.postParse()
}

// postParse makes the checks ProFTPD's modules make once the whole file
// is read (their "postparse" event handlers).
func (p *parser) postParse() error {
	// The registered modules' listeners, last loaded first.
	for i := len(p.cfg.loadOrder) - 1; i >= 0; i-- {
		if m := lookupRegistered(p.cfg.loadOrder[i]); m != nil && m.PostParse != nil {
			if err := m.PostParse(p.cfg, p.opts.ProFTPD); err != nil {
				var e *Error
				if errors.As(err, &e) {
					return e
				}
				return &Error{Msg: err.Error(), NoLine: true, Plain: true, Err: err}
			}
		}
	}
	// mod_log opens the main server's SystemLog, and exits if it cannot.
	if n := p.cfg.Main.Directives("SystemLog"); len(n) > 0 && len(n[0].Args) > 0 && !strings.EqualFold(n[0].Args[0], "none") {
		path := n[0].Args[0]
		if !strings.HasPrefix(path, "/") {
			if wd, err := os.Getwd(); err == nil {
				path = strings.TrimSuffix(wd, "/") + "/" + path
			}
		}
		chk := checkLogFile(path)
		if chk.Notice != "" {
			p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: "SystemLog", Msg: chk.Notice})
		}
		msg := ""
		switch {
		case chk.WorldWritable:
			msg = fmt.Sprintf("unable to open SystemLog '%s': %s is a world-writable directory", path, path)
		case chk.Symlink:
			msg = fmt.Sprintf("unable to open SystemLog '%s': %s is a symbolic link", path, path)
		case chk.Err != nil:
			msg = fmt.Sprintf("unable to open SystemLog '%s': %s", path, Strerror(chk.Err))
		}
		if msg != "" {
			return &Error{Directive: "SystemLog", Msg: msg, File: n[0].File, Line: n[0].Line, Plain: true}
		}
	}
	for _, m := range p.cfg.loadOrder {
		if check := postParseChecks[m]; check != nil {
			if err := check(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrUnclosedSection is wrapped by the error for a section left open at
// the end of the file.
var ErrUnclosedSection = errors.New("unclosed configuration section")

func isSection(name string) bool { return strings.HasPrefix(name, "<") }
