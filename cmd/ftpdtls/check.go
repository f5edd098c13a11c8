package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/daemon"
)

// defaultConfigFile is where Debian's proftpd reads its configuration;
// ftpdtls check looks there too unless -c says otherwise.
const defaultConfigFile = "/etc/proftpd/proftpd.conf"

func init() {
	register(&command{
		name:    "check",
		summary: "check a proftpd.conf for ftpdtls serve; -proftpd: answer exactly like proftpd -t",
		run:     runCheck,
	})
}

const checkUsage = `usage: ftpdtls check [-c FILE] [-plain] [-proftpd [-compiled-in MODULES]]

Checks a ProFTPD configuration file, in one of two modes.

By default it answers for "ftpdtls serve -c FILE": the file is parsed
exactly as serve parses it (Debian's compiled-in modules plus every module
ftpdtls links, so LoadModule lines for them are optional), then checked
for what serve refuses or warns about: directives serve does not support
(with their file and line), files it cannot read, caches it cannot open.
A file this mode accepts is not refused by serve for its syntax or its
modules, and a file serve refuses for those reasons is refused here.

With -proftpd it answers exactly like "proftpd -t" on Debian 12 (proftpd
1.3.8), for a file that a real ProFTPD is to run: only Debian's
compiled-in modules are known until LoadModule loads one (mod_tls.c,
mod_tls_shmcache.c, ...), and directives of modules ftpdtls does not
implement get ProFTPD's verdict. -compiled-in adds modules to Debian's
compiled-in set, as for a proftpd built with --with-modules.

Prints "Checking syntax of configuration file" and, if the file is
accepted, "Syntax check complete." on standard output, and exits 0. Fatal
errors are printed on standard error with ProFTPD's words, as
"fatal: DIRECTIVE: MESSAGE on line N of 'FILE'", and the exit status is 1.

Beyond "proftpd -t", problems that ProFTPD only reports when the server
starts (a relative or unusable cache file, an ignored cache size, a cache
that cannot be opened) are printed as warnings with their line; warnings do
not change the exit status. Unlike "proftpd -t", the check never creates
cache files or shared memory segments.

Messages start with ProFTPD's log prefix ("2006-01-02 15:04:05,000 HOST
ftpdtls[PID]: ") unless -plain is given. A relative FILE is taken from the
current directory and printed as an absolute path (proftpd -t refuses
relative paths).

Flags:
`

func runCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	file := fs.String("c", defaultConfigFile, "the configuration `FILE` to check")
	plain := fs.Bool("plain", false, "print messages without ProFTPD's log prefix (date, host, process)")
	asProFTPD := fs.Bool("proftpd", false,
		"answer exactly like Debian's proftpd -t (its module set, ProFTPD's verdicts), not for ftpdtls serve")
	compiledIn := fs.String("compiled-in", "",
		"with -proftpd: comma-separated `MODULES` that count as compiled in besides Debian's, as in a proftpd\n"+
			"built with --with-modules; \"linked\" names every module ftpdtls links (then no LoadModule is needed)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ftpdtls check: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *compiledIn != "" && !*asProFTPD {
		fmt.Fprintln(os.Stderr, "ftpdtls check: -compiled-in applies to -proftpd (ftpdtls serve counts every module it links as compiled in)")
		return 2
	}
	path, err := filepath.Abs(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpdtls check: %v\n", err)
		return 2
	}
	prefix := logPrefix
	if *plain {
		prefix = func() string { return "" }
	}
	if *asProFTPD {
		opts := directives.Options{CompiledIn: compiledInModules(*compiledIn), ProFTPD: true}
		return check(path, opts, os.Stdout, os.Stderr, prefix)
	}
	return checkForServe(path, os.Stdout, os.Stderr, prefix)
}

// compiledInModules returns the Options.CompiledIn for the -compiled-in
// flag: nil (Debian's set) when it is empty, else Debian's set plus the
// named modules.
func compiledInModules(flagValue string) []string {
	if flagValue == "" {
		return nil
	}
	mods := append([]string(nil), directives.DebianCompiledIn...)
	for _, m := range strings.Split(flagValue, ",") {
		switch m = strings.TrimSpace(m); m {
		case "":
		case "linked":
			mods = append(mods, directives.Registered()...)
		default:
			mods = append(mods, m)
		}
	}
	return mods
}

// check parses path with opts and reports like proftpd -t: the banner and
// the success line on stdout, warnings and the fatal error on stderr, each
// line after prefix(). It returns the exit status. It is the -proftpd
// mode when opts.ProFTPD is set.
func check(path string, opts directives.Options, stdout, stderr io.Writer, prefix func() string) int {
	fmt.Fprintln(stdout, "Checking syntax of configuration file")
	cfg, ok := parseForCheck(path, stderr, prefix, func() (*directives.Config, error) { return directives.ParseFile(path, opts) })
	if !ok {
		return 1
	}
	printWarnings(stderr, prefix, cfg.Warnings)
	fmt.Fprintln(stdout, "Syntax check complete.")
	return 0
}

// checkForServe is check's default mode: path parsed as `ftpdtls serve`
// parses it (daemon.Parse), then daemon.CheckServe's errors and warnings,
// the warnings first, as ProFTPD prints notices before the fatal line.
// Every error is printed, not only the first.
func checkForServe(path string, stdout, stderr io.Writer, prefix func() string) int {
	fmt.Fprintln(stdout, "Checking syntax of configuration file")
	cfg, ok := parseForCheck(path, stderr, prefix, func() (*directives.Config, error) { return daemon.Parse(path, "") })
	if !ok {
		return 1
	}
	errs, warnings := daemon.CheckServe(cfg)
	printWarnings(stderr, prefix, cfg.Warnings)
	printWarnings(stderr, prefix, warnings)
	for _, e := range errs {
		for _, line := range errorLines(e) {
			fmt.Fprintf(stderr, "%s%s\n", prefix(), line)
		}
	}
	if len(errs) > 0 {
		return 1
	}
	fmt.Fprintln(stdout, "Syntax check complete.")
	return 0
}

// parseForCheck reads the file with parse and prints a failure (the
// warnings up to the fatal line, then the fatal line and its
// suggestions); ok is false then.
func parseForCheck(path string, stderr io.Writer, prefix func() string, parse func() (*directives.Config, error)) (cfg *directives.Config, ok bool) {
	if err := readable(path); err != nil {
		fmt.Fprintf(stderr, "%sfatal: unable to read configuration file '%s': %s\n", prefix(), path, err)
		return nil, false
	}
	cfg, err := parse()
	if err != nil {
		var cerr *directives.Error
		if !errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "%sfatal: %v\n", prefix(), err)
			return nil, false
		}
		// The parse returns no Config then; the warnings up to the fatal
		// line come with the error, and ProFTPD prints them first.
		printWarnings(stderr, prefix, cerr.Warnings)
		for _, line := range errorLines(cerr) {
			fmt.Fprintf(stderr, "%s%s\n", prefix(), line)
		}
		return nil, false
	}
	return cfg, true
}

// errorLines is e.Lines(), without the place for an error that names
// none (CheckServe's errors about the whole configuration).
func errorLines(e *directives.Error) []string {
	if e.File == "" && !e.NoLine {
		n := *e
		n.NoLine = true
		return n.Lines()
	}
	return e.Lines()
}

func printWarnings(w io.Writer, prefix func() string, warnings []directives.Warning) {
	for _, warning := range warnings {
		fmt.Fprintf(w, "%s%s\n", prefix(), warningLine(warning))
	}
}

// warningLine is a warning as check prints it: ProFTPD's text, followed by
// the place in ProFTPD's words when the text does not already say it.
func warningLine(w directives.Warning) string {
	if w.File == "" || w.Line == 0 || strings.Contains(w.Msg, " of '"+w.File+"'") {
		return w.Msg
	}
	return fmt.Sprintf("%s on line %d of '%s'", w.Msg, w.Line, w.File)
}

// readable reports why path cannot be read as a configuration file, in
// the words of strerror(3) as ProFTPD prints them ("No such file or
// directory", "Is a directory").
func readable(path string) error {
	f, err := os.Open(path)
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.IsDir() {
			err = syscall.EISDIR
		}
		f.Close()
	}
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	msg := errno.Error()
	return errors.New(strings.ToUpper(msg[:1]) + msg[1:])
}

// logPrefix returns ProFTPD's log line prefix with this process's name:
// "2026-11-25 07:57:32,062 HOST ftpdtls[PID]: ".
func logPrefix() string {
	host, err := os.Hostname()
	if err != nil {
		host = "-"
	}
	host, _, _ = strings.Cut(host, ".")
	return fmt.Sprintf("%s %s ftpdtls[%d]: ", time.Now().Format("2006-01-02 15:04:05,000"), host, os.Getpid())
}
