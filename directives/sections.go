package directives

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// This file holds the handlers of the section tags (<VirtualHost>,
// <Global>, <Anonymous>, <Directory>, <Limit>, <Class>) and the
// conditional sections (<IfModule>, <IfDefine>), with the rules and
// messages of ProFTPD 1.3.8's mod_core.

var sectionDirectives = []Directive{
	{Name: "<VirtualHost>", Contexts: Root, Args: ArgsBetween(1, -1), Handler: openVirtualHost},
	{Name: "</VirtualHost>", Contexts: VirtualHost, Args: ArgsExactly(0), Handler: closeVirtualHost},
	{Name: "<Global>", Contexts: Root | VirtualHost, Args: noGlobalArgs, Handler: openGlobal},
	{Name: "</Global>", Contexts: Global, Args: ArgsExactly(0), Handler: closeFrame},
	{Name: "<Anonymous>", Contexts: Root | VirtualHost | Global, Args: ArgsAtLeast(1), Handler: openAnonymous},
	{Name: "</Anonymous>", Contexts: Anonymous, Args: ArgsExactly(0), Handler: closeFrame},
	{Name: "<Directory>", Contexts: Root | VirtualHost | Anonymous | Global, Args: ArgsAtLeast(1), Handler: openDirectory},
	{Name: "</Directory>", Contexts: Directory, Args: ArgsExactly(0), Handler: closeDirectory},
	{Name: "<Limit>", Contexts: Root | VirtualHost | Directory | Anonymous | Global | FTPAccess, Args: limitArgs, Handler: openLimit},
	{Name: "</Limit>", Contexts: Limit, Args: ArgsExactly(0), Handler: closeFrame},
	{Name: "<Class>", Contexts: Root | Global, Args: ArgsAtLeast(1), Handler: openClass},
	{Name: "</Class>", Contexts: Class, Args: ArgsExactly(0), Handler: closeClass},
	{Name: "<IfModule>", Contexts: AnyContext, Args: ArgsAtLeast(1), Handler: openIfModule},
	{Name: "</IfModule>", Contexts: AnyContext, Handler: closeIfModule},
	{Name: "<IfDefine>", Contexts: AnyContext, Args: ArgsAtLeast(1), Handler: openIfDefine},
	{Name: "</IfDefine>", Contexts: AnyContext, Handler: closeIfDefine},
	// Define may appear anywhere: mod_core's handler checks no context.
	{Name: "Define", Contexts: AnyContext, Args: ArgsAtLeast(1), Handler: setDefine},
	{Name: "From", Contexts: Class, Handler: addFrom},
}

// openFrame enters a configuration section.
func (p *parser) openFrame(cmd *Cmd, ctx Context) {
	server := p.currentServer()
	if ctx == Global {
		server = p.global
	}
	p.frames = append(p.frames, &frame{ctx: ctx, name: cmd.Name, node: cmd.Node, server: server, empty: true})
	p.parents = append(p.parents, cmd.Node)
}

// closeFrame leaves the innermost section the closing tag names (the
// context check guarantees there is one); catalogue-only sections left
// open inside it close with it, and its node stops being a parent, along
// with any <IfModule> left open inside it.
func closeFrame(cmd *Cmd) error {
	p := cmd.p
	if p.closeOpaque() {
		return nil
	}
	open := "<" + strings.TrimPrefix(cmd.Name, "</")
	for i := len(p.frames) - 1; i >= 0; i-- {
		if f := p.frames[i]; !f.opaque && f.name == open {
			p.frames = p.frames[:i]
			p.popParent(f.node)
			return nil
		}
	}
	return nil
}

// closeOpaque handles a closing tag met while a section of a module
// ftpdtls does not interpret (<IfUser>, ...) is the innermost one: ProFTPD
// closes whatever configuration section is open, so the tag closes that
// one, and the section the tag names stays open.
func (p *parser) closeOpaque() bool {
	n := len(p.frames)
	if n == 0 || !p.frames[n-1].opaque {
		return false
	}
	f := p.frames[n-1]
	p.frames = p.frames[:n-1]
	p.popParent(f.node)
	return true
}

// popParent removes n, and every node opened after it, from the parents.
func (p *parser) popParent(n *Node) {
	for i := len(p.parents) - 1; i > 0; i-- {
		if p.parents[i] == n {
			p.parents = p.parents[:i]
			return
		}
	}
}

func openVirtualHost(cmd *Cmd) error {
	p := cmd.p
	for _, a := range cmd.Args {
		if err := p.resolve(a); err != nil {
			// ProFTPD reports a name that does not resolve with ENOENT.
			return fmt.Errorf("error resolving '%s': %s", a, Strerror(syscall.ENOENT))
		}
	}
	s := newServer(false)
	s.Addrs = append([]string(nil), cmd.Args...)
	s.File, s.Line = cmd.File, cmd.Line
	p.cfg.VirtualHosts = append(p.cfg.VirtualHosts, s)
	p.server = s
	p.vhost = cmd.Node
	p.parents = append(p.parents, cmd.Node)
	return nil
}

func closeVirtualHost(cmd *Cmd) error {
	p := cmd.p
	if p.closeOpaque() {
		return nil
	}
	p.frames = nil
	p.popParent(p.vhost)
	p.server, p.vhost = p.cfg.Main, nil
	return nil
}

// resolve checks that an address names a host, as ProFTPD does when it
// reads DefaultAddress and <VirtualHost>.
func (p *parser) resolve(host string) error {
	if p.opts.LookupHost != nil {
		return p.opts.LookupHost(host)
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil || isInetAton(host) {
		return nil
	}
	_, err := net.LookupHost(host)
	return err
}

// noGlobalArgs and limitArgs are the argument checks of <Global> and
// <Limit>, which mod_core makes before the context check, with their own
// words: "<Global extra>" in <Directory> is "Too many parameters".
func noGlobalArgs(cmd *Cmd) error {
	if len(cmd.Args) > 0 {
		return errors.New("Too many parameters") //nolint:staticcheck // ProFTPD's capitalisation
	}
	return nil
}

func limitArgs(cmd *Cmd) error {
	if len(cmd.Args) == 0 {
		return errors.New("directive requires one or more commands")
	}
	return nil
}

func openGlobal(cmd *Cmd) error {
	cmd.p.openFrame(cmd, Global)
	return nil
}

func openAnonymous(cmd *Cmd) error {
	dir := cmd.Args[0]
	if !strings.HasPrefix(dir, "/") && !strings.HasPrefix(dir, "~") {
		return fmt.Errorf("(%s) absolute pathname required", dir)
	}
	if strings.ContainsAny(dir, "*?[") {
		return fmt.Errorf("(%s) wildcards not allowed in pathname", dir)
	}
	if dir == "/" {
		return errors.New("'/' not permitted for anonymous root directory")
	}
	cmd.p.openFrame(cmd, Anonymous)
	return nil
}

func openDirectory(cmd *Cmd) error {
	dir := cmd.Args[0]
	if !strings.HasPrefix(dir, "/") && !strings.HasPrefix(dir, "~") && cmd.Context != Anonymous {
		return errors.New("relative path not allowed in non-<Anonymous> sections")
	}
	set := cmd.p.directorySet()
	if cmd.p.dirs[set][dir] {
		return fmt.Errorf("<Directory> section already configured for '%s'", dir)
	}
	cmd.p.openFrame(cmd, Directory)
	return nil
}

// directorySet is what a <Directory> opened now belongs to: the innermost
// <Anonymous>, else the server (or the <Global> scratch server).
func (p *parser) directorySet() any {
	for i := len(p.frames) - 1; i >= 0; i-- {
		if f := p.frames[i]; f.ctx == Anonymous {
			return f
		}
	}
	for _, f := range p.frames {
		if f.ctx == Global {
			return p.global
		}
	}
	return p.server
}

// closeDirectory closes a <Directory> and remembers its path if it
// configured anything: ProFTPD drops empty sections, and refuses a second
// <Directory> for a path whose section is configured in the same server
// or <Anonymous> ("section already configured").
func closeDirectory(cmd *Cmd) error {
	p := cmd.p
	var open *frame
	for i := len(p.frames) - 1; i >= 0; i-- {
		if f := p.frames[i]; !f.opaque && f.ctx == Directory {
			open = f
			break
		}
	}
	if err := closeFrame(cmd); err != nil || open == nil || len(open.node.Args) == 0 || !hasContent(open.node) {
		return err
	}
	set := p.directorySet()
	if p.dirs == nil {
		p.dirs = make(map[any]map[string]bool)
	}
	if p.dirs[set] == nil {
		p.dirs[set] = make(map[string]bool)
	}
	p.dirs[set][open.node.Args[0]] = true
	return nil
}

// hasContent reports whether a section node holds a directive or a
// section, looking through taken <IfModule>s and Includes.
func hasContent(n *Node) bool {
	for _, c := range n.Children {
		switch {
		case strings.HasPrefix(c.Name, "</"):
		case strings.EqualFold(c.Name, "<IfModule>") || strings.EqualFold(c.Name, "Include"):
			if hasContent(c) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

func openLimit(cmd *Cmd) error {
	cmd.p.openFrame(cmd, Limit)
	return nil
}

func openClass(cmd *Cmd) error {
	cmd.p.openFrame(cmd, Class)
	return nil
}

// addFrom handles From inside <Class>. Only a From line with addresses
// makes the class non-empty for ProFTPD's "empty <Class> definition"
// (other directives, or a bare From, do not).
func addFrom(cmd *Cmd) error {
	frames := cmd.p.frames
	for i := len(frames) - 1; i >= 0 && len(cmd.Args) > 0; i-- {
		if f := frames[i]; f.name == "<Class>" && !f.opaque {
			f.empty = false
			break
		}
	}
	return nil
}

func closeClass(cmd *Cmd) error {
	p := cmd.p
	if f := p.frames[len(p.frames)-1]; f.name == "<Class>" && f.empty {
		p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: cmd.Name, Msg: "warning: empty <Class> definition", File: cmd.File, Line: cmd.Line})
	}
	return closeFrame(cmd)
}

// openIfModule parses the body in the enclosing context when the module
// test holds, and skips it unread otherwise.
func openIfModule(cmd *Cmd) error {
	name, negate := strings.CutPrefix(cmd.Args[0], "!")
	if cmd.Config.ModuleLoaded(name) != negate {
		cmd.p.parents = append(cmd.p.parents, cmd.Node)
		return nil
	}
	cmd.Node.Skipped = true
	return cmd.p.skipSection("<IfModule", "</IfModule>")
}

// closeIfModule accepts any </IfModule> without arguments, as ProFTPD
// does (it does not check that one is open).
func closeIfModule(cmd *Cmd) error {
	if len(cmd.Args) > 0 {
		return fmt.Errorf("wrong number of parameters: %s", strings.Join(cmd.Args, " "))
	}
	cmd.p.closeConditional("<IfModule>")
	return nil
}

func openIfDefine(cmd *Cmd) error {
	name, negate := strings.CutPrefix(cmd.Args[0], "!")
	if cmd.p.defines[name] != negate {
		cmd.p.parents = append(cmd.p.parents, cmd.Node)
		return nil
	}
	cmd.Node.Skipped = true
	return cmd.p.skipSection("<IfDefine", "</IfDefine>")
}

// closeIfDefine accepts any </IfDefine>, arguments or not, as ProFTPD does.
func closeIfDefine(cmd *Cmd) error {
	cmd.p.closeConditional("<IfDefine>")
	return nil
}

func setDefine(cmd *Cmd) error {
	for _, a := range cmd.Args {
		cmd.p.defines[a] = true
	}
	return nil
}

// closeConditional ends the innermost taken conditional section in the
// tree, if it is the current parent.
func (p *parser) closeConditional(name string) {
	if n := len(p.parents); n > 1 && p.parents[n-1].Name == name {
		p.parents = p.parents[:n-1]
	}
}

// skipSection reads lines without parsing them until the matching close
// tag, counting nested open tags (any line starting, case-insensitively,
// with open) and close tags (lines equal to close, case-insensitively).
// End of file first is "unclosed <X> context" on the last line.
func (p *parser) skipSection(open, close string) error {
	depth := 1
	for {
		text, lineno, ok := p.src.lr.next(p.warnTruncated)
		if !ok {
			tag := open + ">"
			return &Error{Directive: tag, Msg: fmt.Sprintf("unclosed %s context", tag), File: p.src.name, Line: lineno}
		}
		switch {
		case len(text) >= len(open) && strings.EqualFold(text[:len(open)], open):
			depth++
		case strings.EqualFold(text, close):
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}
