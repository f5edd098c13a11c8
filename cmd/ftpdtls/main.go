// Command ftpdtls is ProFTPD's mod_tls session and OCSP caching in Go,
// driven by an unchanged proftpd.conf.
//
//	ftpdtls check -c /etc/proftpd/proftpd.conf            # for ftpdtls serve
//	ftpdtls check -proftpd -c /etc/proftpd/proftpd.conf   # exactly like proftpd -t
//	ftpdtls version                                       # ftpdtls, Go and ProFTPD versions
//	ftpdtls help                                          # lists every command
//
// Each command lives in its own file and adds itself to the command table
// from an init function, so a new command never touches this file.
//
// Linking a module package below is the Go spelling of shipping its .so
// in /usr/lib/proftpd: a configuration may then load it with LoadModule,
// exactly as with Debian's proftpd.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	// The modules ftpdtls ships, as Debian ships mod_tls.so,
	// mod_tls_shmcache.so, mod_redis.so and mod_tls_redis.so: loadable by
	// name with LoadModule.
	_ "github.com/ftpdtls/ftpdtls/modtls"
	_ "github.com/ftpdtls/ftpdtls/modtlsredis"
	_ "github.com/ftpdtls/ftpdtls/modtlsshm"
)

// command is one ftpdtls subcommand.
type command struct {
	name    string
	summary string // one line, shown by "ftpdtls help"
	// run executes the command with the arguments after its name and
	// returns the process exit status.
	run func(args []string) int
}

// commands is the command table, filled by register calls from init
// functions. It is only written before main runs.
var commands = map[string]*command{}

// register adds c to the command table. Two commands with one name is a
// programming error, caught on the first run of the binary.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("ftpdtls: command " + c.name + " registered twice")
	}
	commands[c.name] = c
}

func init() {
	register(&command{
		name:    "help",
		summary: "show the commands, or the usage of one: help [COMMAND]",
		run: func(args []string) int {
			if len(args) == 0 {
				usage(os.Stdout)
				return 0
			}
			c, ok := commands[args[0]]
			if !ok {
				fmt.Fprintf(os.Stderr, "ftpdtls: unknown command %q\n", args[0])
				usage(os.Stderr)
				return 2
			}
			// By convention every command prints its usage for -h.
			return c.run([]string{"-h"})
		},
	})
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

// dispatch runs the command named by args[0] and returns the exit status:
// 2 for a usage error, as the flag package does.
func dispatch(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "ftpdtls: unknown command %q\n", name)
		usage(os.Stderr)
		return 2
	}
	return c.run(args[1:])
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: ftpdtls COMMAND [ARGUMENTS]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun \"ftpdtls COMMAND -h\" for the usage of one command.\n")
}
