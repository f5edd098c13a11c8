package directives

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// This file is the Include directive: a file, a directory (every entry,
// dot-files included), or a pattern whose last component, or whose
// directory components, hold wildcards (dot-files excluded), parsed in
// strcmp order, as in ProFTPD 1.3.8's src/parser.c. One deliberate
// difference: an error inside an included file is fatal here, whereas
// ProFTPD 1.3.8 prints its fatal line and carries on (issue #1721).

// includeOptions are the IncludeOptions flags.
type includeOptions struct {
	allowSymlinks, ignoreTempFiles, ignoreWildcards bool
}

// maxIncludeDepth bounds Include nesting and wildcard directory levels
// (PR_PARSER_INCLUDE_MAX_DEPTH).
const maxIncludeDepth = 64

func setIncludeOptions(c *Cmd) error {
	var o includeOptions
	for _, a := range c.Args {
		switch a {
		case "AllowSymlinks":
			o.allowSymlinks = true
		case "IgnoreTempFiles":
			o.ignoreTempFiles = true
		case "IgnoreWildcards":
			o.ignoreWildcards = true
		default:
			return fmt.Errorf("unknown IncludeOption '%s'", a)
		}
	}
	c.p.includeOpts = o
	return nil
}

// includeFailure is a reason an Include did not happen, with the errno
// ProFTPD reports for it. Non-fatal unless errno is EINVAL.
type includeFailure struct{ errno syscall.Errno }

func (e *includeFailure) Error() string { return Strerror(e.errno) }

func include(c *Cmd) error {
	p := c.p
	target := c.Args[0]
	if !strings.HasPrefix(target, "/") {
		return fmt.Errorf("unable to use path for configuration file '%s'", target)
	}
	if p.includeHops >= maxIncludeDepth {
		return fmt.Errorf("error including '%s': Include nesting deeper than %d levels", target, maxIncludeDepth)
	}
	p.includeHops++
	defer func() { p.includeHops-- }()
	var err error
	if root := p.opts.includeRoot; root != "" && !strings.HasPrefix(path.Clean(target)+"/", root+"/") {
		err = &includeFailure{syscall.ENOENT}
	} else {
		err = p.includePath(c, target, 0)
	}
	var fail *includeFailure
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fail) && fail.errno == syscall.EINVAL:
		return fmt.Errorf("error including '%s': %s", target, fail)
	case errors.As(err, &fail):
		p.warn(c, fmt.Sprintf("warning: unable to include '%s': %s", target, fail))
		return nil
	}
	return err // a fatal *Error from inside an included file
}

// warn records a warning that ProFTPD prints without a line number.
func (p *parser) warn(c *Cmd, msg string) {
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{Directive: c.Name, Msg: msg, File: c.File, Line: c.Line})
}

// includePath is parse_config_path2.
func (p *parser) includePath(c *Cmd, target string, depth int) error {
	if depth > maxIncludeDepth {
		return &includeFailure{syscall.EINVAL}
	}
	glob := isGlob(target)
	if !glob {
		st, err := os.Lstat(target)
		if err != nil {
			return &includeFailure{errnoOf(err)}
		}
		if st.Mode()&fs.ModeSymlink != 0 || !st.IsDir() {
			return p.includeFile(c, target)
		}
		return p.includeDir(c, target, "")
	}
	dir, pattern := path.Split(target)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "/"
	}
	if isGlob(dir) {
		if p.includeOpts.ignoreWildcards {
			p.warn(c, fmt.Sprintf("error: wildcard patterns not allowed in configuration directory name '%s'", dir))
			return &includeFailure{syscall.EINVAL}
		}
		return p.includeWildcardDirs(c, target, depth)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		p.warn(c, fmt.Sprintf("error: failed to check configuration path '%s': %s", dir, Strerror(err)))
		return &includeFailure{errnoOf(err)}
	}
	if st.Mode()&fs.ModeSymlink != 0 && !p.includeOpts.allowSymlinks {
		p.warn(c, fmt.Sprintf("error: cannot read configuration path '%s': Symbolic link", target))
		return &includeFailure{syscall.ENOTDIR}
	}
	return p.includeDir(c, dir, pattern)
}

// includeDir parses the entries of dir (those matching pattern, if any)
// in strcmp order. Entries that cannot be parsed as files (directories)
// are reported and skipped.
func (p *parser) includeDir(c *Cmd, dir, pattern string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		p.warn(c, fmt.Sprintf("error: unable to open configuration directory '%s': %s", dir, Strerror(err)))
		return &includeFailure{syscall.EINVAL}
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if p.includeOpts.ignoreTempFiles && isTempFile(name) {
			continue
		}
		if pattern != "" && !fnmatch(pattern, name) {
			continue
		}
		files = append(files, path.Join(dir, name))
	}
	sort.Strings(files)
	for _, f := range files {
		if err := p.includeFile(c, f); err != nil {
			var fail *includeFailure
			if !errors.As(err, &fail) {
				return err
			}
			p.warn(c, fmt.Sprintf("error: unable to open parse file '%s': %s", f, fail))
		}
	}
	return nil
}

// includeWildcardDirs expands the first wildcard directory component of
// target and includes the rest of the path under every match.
func (p *parser) includeWildcardDirs(c *Cmd, target string, depth int) error {
	parts := strings.Split(strings.TrimPrefix(target, "/"), "/")
	parent := "/"
	for i, comp := range parts {
		if !isGlob(comp) {
			parent = path.Join(parent, comp)
			continue
		}
		suffix := strings.Join(parts[i+1:], "/")
		st, err := os.Lstat(parent)
		if err != nil {
			p.warn(c, fmt.Sprintf("error: failed to check configuration path '%s': %s", parent, Strerror(err)))
			return &includeFailure{errnoOf(err)}
		}
		if st.Mode()&fs.ModeSymlink != 0 && !p.includeOpts.allowSymlinks {
			p.warn(c, fmt.Sprintf("error: cannot read configuration path '%s': Symbolic link", parent))
			return &includeFailure{syscall.ENOTDIR}
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			p.warn(c, fmt.Sprintf("error: unable to open configuration directory '%s': %s", parent, Strerror(err)))
			return &includeFailure{syscall.EINVAL}
		}
		var matches []string
		for _, e := range entries {
			if p.includeOpts.ignoreTempFiles && isTempFile(e.Name()) {
				continue
			}
			if fnmatch(comp, e.Name()) {
				matches = append(matches, path.Join(parent, e.Name(), suffix))
			}
		}
		if len(matches) == 0 {
			p.warn(c, fmt.Sprintf("error: no matches found for wildcard directory '%s'", target))
			return &includeFailure{syscall.ENOENT}
		}
		sort.Strings(matches)
		for _, m := range matches {
			if err := p.includePath(c, m, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return &includeFailure{syscall.ENOENT}
}

// includeFile parses one included file in the current context, under an
// Include node of its own.
func (p *parser) includeFile(c *Cmd, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return &includeFailure{errnoOf(err)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &includeFailure{errnoOf(err)}
	}
	if st.IsDir() {
		return &includeFailure{syscall.EISDIR}
	}
	if !st.Mode().IsRegular() {
		// A device or FIFO could feed the parser forever.
		return &includeFailure{syscall.EINVAL}
	}
	if st.Mode().Perm()&0o002 != 0 {
		p.warn(c, fmt.Sprintf("warning: config file '%s' is world-writable", name))
	}
	holder := &Node{Name: "Include", Args: []string{name}, File: c.File, Line: c.Line, Context: c.Context, Module: "mod_core.c"}
	c.Node.Children = append(c.Node.Children, holder)
	return p.parseStream(f, name, holder)
}

// errnoOf returns the errno inside err, or EIO.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EIO
}

// isGlob is pr_str_is_fnmatch: '*' or '?', or '[' with a later ']',
// outside backslash escapes.
func isGlob(s string) bool {
	bracket := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?':
			return true
		case '[':
			bracket = true
		case ']':
			if bracket {
				return true
			}
		case '\\':
			i++
		}
	}
	return false
}

// fnmatch is fnmatch(3) with FNM_PERIOD: a leading '.' must be matched
// literally.
func fnmatch(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	pattern = strings.ReplaceAll(pattern, "[!", "[^")
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// isTempFile reports editor leftovers skipped by IgnoreTempFiles.
func isTempFile(name string) bool {
	return fnmatch("*~", name) || fnmatch("*.sw?", name)
}
