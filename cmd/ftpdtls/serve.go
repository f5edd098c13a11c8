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
		summary: "run the FTPS daemon: serve [-c proftpd.conf] [-workers N] [-grace D]",
		run:     runServe,
	})
}

const serveUsage = `usage: ftpdtls serve [-c proftpd.conf] [-workers N] [-grace D] [-metrics ADDR] [-print-default]

Runs an FTPS daemon with mod_tls's session and OCSP caches.

Without -c it runs a built-in configuration (see -print-default) that works
at once: 127.0.0.1:2121, explicit FTPS required, a throwaway certificate,
shm session and OCSP caches, and one user with a random password serving
a temporary directory. It writes the effective configuration to
proftpd.conf in that directory and prints the credentials, curl and lftp
command lines, and the command that shows the session cache while it runs
(ftpdtls sesscache info -v -c DIR/proftpd.conf). Everything it made, the
directory and the cache segments, is removed when it stops.

With -c it serves that proftpd.conf. Every directive it accepts is applied
with ProFTPD's meaning; every other one is refused at start with its file,
its line and "not supported by ftpdtls serve" (ftpdtls check -c FILE prints
the same). docs/SERVE.md lists what serve applies. Modules ftpdtls links
count as compiled in, so LoadModule lines for them are optional; LoadModule
of a module ftpdtls does not implement is refused.

Processes: started as root, a master process stays root, never reads
what clients send, validates the whole configuration before it starts
anything, accepts connections and hands them to worker processes, checks
passwords and counts MaxInstances, MaxClients, MaxClientsPerHost,
MaxClientsPerUser and MaxHostsPerUser across the workers. Workers load
certificates, keys, logs and caches as root, then run as User/Group for
good (nobody/nogroup when not configured; root is refused). Each user's
files are handled by a process with the uid, gid and groups of the user's
AuthUserFile (and AuthGroupFile) entry. -workers N (default 1 as root)
sets the number of workers. Not started as root, every session acts as
the invoking user and users whose uid differs are refused at login;
-workers 0 then serves in this one process.

Supervision: a worker that fails while starting stops serve with its
error (exit status 1). Workers that die later are restarted after a
growing delay; after 5 restarts within a minute serve gives up and exits
with status 1. Connections are accepted only while a worker can serve
them.

Signals: SIGINT/SIGTERM stop: no new connections, transfers are aborted
(426), sessions closed, and whatever still runs after the grace period
(-grace, 10 s) is cut; cache segments stay, so sessions survive a
restart. SIGHUP re-reads the configuration: if it is good, new workers
run it and the old ones finish their sessions; if not, it is refused and
logged, and workers replaced later run the last good configuration.

-metrics ADDR serves Prometheus's /metrics there: the TLS caches' figures
(from their shared storage) and, in a single process, the TLS engine's
counters. docs/SERVE.md lists what serve applies of a proftpd.conf and
maps ProFTPD's log lines to ftpdtls's.

Flags:
`

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	conf := fs.String("c", "", "the proftpd.conf to serve (default: the built-in configuration)")
	workers := fs.Int("workers", 0, "worker processes (0: one as root; none, serving in this process, otherwise)")
	grace := fs.Duration("grace", daemon.ShutdownGrace, "how long a shutdown may take before what still runs is cut")
	printDefault := fs.Bool("print-default", false, "print the built-in configuration and exit")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (host:port, e.g. 127.0.0.1:9121)")
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
	if *grace <= 0 {
		fmt.Fprintln(os.Stderr, "ftpdtls serve: -grace must be positive")
		return 2
	}
	err := daemon.Run(context.Background(), daemon.Options{ConfigPath: *conf, Workers: *workers, Grace: *grace, Metrics: *metrics})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
		return 1
	}
	return 0
}
