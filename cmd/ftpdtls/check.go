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
)

// defaultConfigFile is where Debian's proftpd reads its configuration;
// ftpdtls check looks there too unless -c says otherwise.
const defaultConfigFile = "/etc/proftpd/proftpd.conf"

func init() {
	register(&command{
		name:    "check",
		summary: "check the syntax of a proftpd.conf, like proftpd -t",
		run:     runCheck,
	})
}

const checkUsage = `usage: ftpdtls check [-c FILE] [-plain] [-compiled-in MODULES]

Checks the syntax of a ProFTPD configuration file the way "proftpd -t" does
on Debian 12 (proftpd 1.3.8): modules other than Debian's compiled-in ones,
such as mod_tls.c and mod_tls_shmcache.c, must be loaded with LoadModule.

Prints "Checking syntax of configuration file" and, if the file is
accepted, "Syntax check complete." on standard output, and exits 0. A fatal
error is printed on standard error with ProFTPD's words, as
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
	compiledIn := fs.String("compiled-in", "",
		"comma-separated `MODULES` that count as compiled in besides Debian's, as in a proftpd built\n"+
			"with --with-modules; \"linked\" names every module ftpdtls links (then no LoadModule is needed)")
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
	path, err := filepath.Abs(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpdtls check: %v\n", err)
		return 2
	}
	opts := directives.Options{CompiledIn: compiledInModules(*compiledIn)}
	prefix := logPrefix
	if *plain {
		prefix = func() string { return "" }
	}
	return check(path, opts, os.Stdout, os.Stderr, prefix)
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

// check parses path and reports like proftpd -t: the banner and the
// success line on stdout, warnings and the fatal error on stderr, each
// line after prefix(). It returns the exit status.
func check(path string, opts directives.Options, stdout, stderr io.Writer, prefix func() string) int {
	fmt.Fprintln(stdout, "Checking syntax of configuration file")
	if err := readable(path); err != nil {
		fmt.Fprintf(stderr, "%sfatal: unable to read configuration file '%s': %s\n", prefix(), path, err)
		return 1
	}
	cfg, err := directives.ParseFile(path, opts)
	if err != nil {
		var cerr *directives.Error
		if !errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "%sfatal: %v\n", prefix(), err)
			return 1
		}
		// The parse returns no Config then; the warnings up to the fatal
		// line come with the error, and ProFTPD prints them first.
		printWarnings(stderr, prefix, cerr.Warnings)
		for _, line := range cerr.Lines() {
			fmt.Fprintf(stderr, "%s%s\n", prefix(), line)
		}
		return 1
	}
	printWarnings(stderr, prefix, cfg.Warnings)
	fmt.Fprintln(stdout, "Syntax check complete.")
	return 0
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
