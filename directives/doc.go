// Package directives is ftpdtls's proftpd.conf parser and module table:
// the "core" of a ProFTPD-style server. It reads a configuration file the
// way ProFTPD 1.3.8 does (lines, continuations, comments, quoting,
// %{env:NAME}, sections and contexts, <IfModule>, <IfDefine>, Include,
// LoadModule) and hands each directive to the module that owns it.
//
// Modules register themselves, as database/sql drivers do: a package
// calls Register from its init function with its module name and
// directive table, and a program enables it by importing the package.
// A module is known to a parse only if it is compiled in
// (Options.CompiledIn, Debian's list by default) or loaded by a
// LoadModule line earlier in the file; the directives of any other
// module are "unknown configuration directive", exactly as in ProFTPD.
// For the ProFTPD modules ftpdtls does not implement, an embedded
// catalogue (every directive of every module of the ProFTPD source) keeps
// their directives known once the module is loaded, and kept in
// Config.Root. For every module Debian 12's proftpd compiles in and every
// module its stock /etc/proftpd/modules.conf loads, the arguments and the
// context of those directives are checked as their module's handler
// checks them, with its messages, and in its order (rules_*.go), as are
// the refusals those modules make once the file is read (an unusable
// SystemLog, a missing BanTable); directives of the other catalogue
// modules are accepted with any arguments.
//
// Options.ProFTPD asks for the answer of Debian's `proftpd -t`
// (`ftpdtls check -proftpd`); without it the parse is ftpdtls serve's,
// where the modules ftpdtls links count as compiled in (LoadModule of one
// is a silent no-op) and handlers refuse features of modules ftpdtls does
// not implement.
//
// The shortest use:
//
//	cfg, err := directives.ParseFile("/etc/proftpd/proftpd.conf", directives.Options{})
//	if err != nil {
//		log.Fatal(err) // fatal: Port: value must be between 0 and 65535 on line 3 of '...'
//	}
//	fmt.Println(cfg.Main.Port, cfg.ModuleLoaded("mod_tls.c"))
//
// Errors are *Error and print ProFTPD's words: "fatal: <Directive>:
// <message> on line <n> of '<file>'". A handler returns a plain error with
// ProFTPD's message ("expected Boolean parameter"); the parser adds the
// rest. Warnings (Config.Warnings, or Error.Warnings when the parse fails:
// ProFTPD prints them before the fatal line) keep ProFTPD's text too.
//
// # Deliberate differences from ProFTPD 1.3.8
//
//   - Module requirements: ProFTPD loads mod_tls_shmcache.c before
//     mod_tls.c (or without it) by failing to resolve mod_tls's symbols,
//     and then blames a missing file: "unable to load
//     'mod_tls_shmcache.c'; check to see if
//     '/usr/lib/proftpd/mod_tls_shmcache.la' exists" and "error loading
//     module 'mod_tls_shmcache.c': No such file or directory". ftpdtls
//     keeps the shape of both lines but names the real cause (Module.Requires):
//     "mod_dso/0.5: unable to load 'mod_tls_shmcache.c': requires
//     'mod_tls.c', which must be loaded first" and "fatal: LoadModule:
//     error loading module 'mod_tls_shmcache.c': requires 'mod_tls.c',
//     which must be loaded first on line N of 'FILE'".
//   - Errors in included files are fatal. ProFTPD 1.3.8 prints the fatal
//     line of an included file and then carries on ("unable to include
//     ...: Operation not permitted"), so `proftpd -t` accepts the file
//     (issue #1721); ftpdtls stops there, with the included file's name
//     and line.
//   - ModulePath only changes the directory LoadModule's messages name:
//     modules are linked in, so a LoadModule after "ModulePath /other"
//     loads a linked module where ProFTPD, finding no file there, fails.
//   - Include reads regular files only; a device or FIFO (which could feed
//     the parser forever) is "Invalid argument".
//   - Nothing is opened or created while parsing: TraceLog, ControlsLog
//     and ScoreboardFile are checked the way ProFTPD checks them, but not
//     opened (ProFTPD's -t creates the TraceLog file).
//   - A %{env:} reference whose value refers to itself makes ProFTPD loop
//     forever; ftpdtls stops substituting after 64 references. Include
//     nesting deeper than 64 levels (a file including itself) is a fatal
//     error instead of running out of file descriptors.
//   - A few handlers read an argument that is not there (MaxClientsPerClass
//     with fewer than two, RLimitCPU session alone): ProFTPD crashes;
//     ftpdtls says "wrong number of parameters".
//   - Notices that depend on the machine, not on the file, are not
//     repeated: the languages mod_lang finds installed (LangDefault) and
//     the module order ModuleOrder logs.
//   - Regular expressions are checked, not compiled: PCRE2's errors for
//     the common mistakes (parentheses, brackets, quantifiers, {} counts,
//     ranges, (? groups, POSIX classes, verbs), with its messages and, for
//     the POSIX API, its offsets.
//
// # Behaviours worth knowing (ProFTPD's, reproduced)
//
//   - The line number in messages is the number of newlines read so far:
//     a directive continued over several lines is reported on its last
//     line, and a last line without a newline on the line before it.
//   - A %{env:} value is never split into several words, even if it holds
//     spaces.
//   - An unclosed <IfModule> whose condition held is accepted at end of
//     file; a skipped one is "unclosed <IfModule> context".
//   - <Global> bodies are checked once, against a scratch server, where
//     they appear, and applied to the main server and every
//     <VirtualHost> after the parse (Cmd.Replay is set then).
package directives
