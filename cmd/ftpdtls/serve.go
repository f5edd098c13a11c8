package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ftpdtls/ftpdtls/internal/daemon"
	_ "github.com/ftpdtls/ftpdtls/internal/proxyprotocol" // mod_proxy_protocol.c
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the FTPS daemon: serve [-c proftpd.conf] [-workers N]",
		run:     runServe,
	})
}

const serveUsage = `usage: ftpdtls serve [-c proftpd.conf] [-workers N] [-print-default]

Runs an FTPS daemon with mod_tls's session and OCSP caches.

Without -c it runs a built-in configuration (see -print-default) that works
at once: 127.0.0.1:2121, explicit FTPS required, a throwaway certificate,
shm session and OCSP caches, and one user with a random password serving
a temporary directory. It writes the effective configuration to
proftpd.conf in that directory and prints the credentials, curl and lftp
command lines, and the command that shows the session cache while it runs
(ftpdtls sesscache info -v -c DIR/proftpd.conf). Everything it made, the
directory and the cache segments, is removed when it stops.

With -c it serves that proftpd.conf: Port, DefaultAddress, PassivePorts,
MasqueradeAddress, ServerName, the TLS* directives, Trace/TraceLog/
TraceOptions, AuthUserFile (passwd format with $6$ SHA-512 crypt hashes;
the home field is the user's root) and mod_proxy_protocol's ProxyProtocol*
directives, plus ProxyProtocolTrustedSources (required with
ProxyProtocolEngine on). Modules ftpdtls links count as compiled in, so
LoadModule lines are optional.

-workers N runs N worker processes that share the listening socket under
a master that restarts them; 0 serves in this process.

Signals: SIGINT/SIGTERM stop (sessions get 10 s to finish; cache segments
stay, so sessions survive a restart); SIGHUP re-reads the configuration
and keeps the old one if the new one does not load.

Flags:
`

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	conf := fs.String("c", "", "the proftpd.conf to serve (default: the built-in configuration)")
	workers := fs.Int("workers", 0, "worker processes sharing the listener (0: serve in this process)")
	printDefault := fs.Bool("print-default", false, "print the built-in configuration and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ftpdtls serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *printDefault {
		io.WriteString(os.Stdout, daemon.DefaultConf())
		return 0
	}
	if *workers < 0 {
		fmt.Fprintln(os.Stderr, "ftpdtls serve: -workers must be 0 or more")
		return 2
	}
	err := daemon.Run(context.Background(), daemon.Options{ConfigPath: *conf, Workers: *workers})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
		return 1
	}
	return 0
}
