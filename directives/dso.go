package directives

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// This file is mod_dso: LoadModule and ModulePath. Loading a module here
// means making its directive table part of the parse from this line on,
// which is what dlopen plus the module's init do in ProFTPD. A module can
// be loaded if a linked Go package registered it (Register) or Debian
// ships it (DebianLoadable).

const dsoVersion = "mod_dso/0.5"

var dsoDirectives = []Directive{
	{Name: "LoadModule", Contexts: Root, Args: ArgsAtLeast(1), Handler: loadModule},
	{Name: "ModulePath", Contexts: Root, Args: ArgsAtLeast(1), Handler: setModulePath},
}

// RequiresError is the cause of a LoadModule failure when a module that
// must be loaded first is not. ProFTPD blames a missing .la file here (the
// real cause is an unresolved symbol); ftpdtls names the module instead.
type RequiresError struct {
	Module, Requires string
}

func (e *RequiresError) Error() string {
	return fmt.Sprintf("requires '%s', which must be loaded first", e.Requires)
}

func loadModule(c *Cmd) error {
	name := c.Args[0]
	failf := func(cause error) error {
		return &loadError{name: name, cause: cause}
	}
	if !validModuleName(name) {
		return failf(&Errno{syscall.EINVAL})
	}
	if c.Config.ModuleLoaded(name) {
		if !c.p.loadedByDSO(name) && !c.ProFTPD() && !isDebianCompiledIn(name) && Implemented(name) {
			// A module ftpdtls links, counted as compiled in (ftpdtls
			// serve's parse): the line is a harmless no-op there, and
			// ProFTPD's notices for a static module would mislead.
			return nil
		}
		if !c.p.loadedByDSO(name) {
			// A static module: dlopen fails first, then the module is
			// found in the executable itself.
			c.Warnf("%s: unable to load '%s'; check to see if '%s' exists", dsoVersion, name, laPath(c.Config.modulePath, name))
		}
		c.Warnf("%s: module '%s' already loaded", dsoVersion, name)
		return nil
	}
	var m *Module
	if loadable(name) {
		m = resolveModule(name)
	}
	if m == nil {
		c.Warnf("%s: unable to load '%s'; check to see if '%s' exists", dsoVersion, name, laPath(c.Config.modulePath, name))
		return failf(&Errno{syscall.ENOENT})
	}
	for _, req := range m.Requires {
		if !c.Config.ModuleLoaded(req) {
			cause := &RequiresError{Module: name, Requires: req}
			c.Warnf("%s: unable to load '%s': %v", dsoVersion, name, cause)
			return failf(cause)
		}
	}
	c.Config.loaded[name] = true
	c.Config.loadOrder = append(c.Config.loadOrder, name)
	c.p.dsoLoaded = append(c.p.dsoLoaded, name)
	c.p.mods.add(m)
	return nil
}

// loadError is "error loading module '<name>': <cause>".
type loadError struct {
	name  string
	cause error
}

func (e *loadError) Error() string {
	return fmt.Sprintf("error loading module '%s': %v", e.name, e.cause)
}

func (e *loadError) Unwrap() error { return e.cause }

func (p *parser) loadedByDSO(name string) bool {
	for _, n := range p.dsoLoaded {
		if n == name {
			return true
		}
	}
	return false
}

// laPath is the libtool file mod_dso says to look for: the module name
// without its .c or .cpp suffix, plus .la, in the module directory.
func laPath(dir, name string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".cpp"), ".c")
	return dir + "/" + base + ".la"
}

// setModulePath checks the directory as mod_dso does and records it for
// LoadModule's messages. Modules are linked into the program, so it is
// not where they are looked for: a LoadModule after "ModulePath /other"
// loads a linked module where ProFTPD, finding no file there, fails (a
// documented difference).
func setModulePath(c *Cmd) error {
	path := c.Args[0]
	if !strings.HasPrefix(path, "/") {
		return errors.New("must be an absolute path")
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("error checking '%s': %s", path, Strerror(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	if st.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("%s is world-writable", path)
	}
	c.Config.modulePath = path
	return nil
}
