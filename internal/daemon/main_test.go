package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/privsep"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// Environment by which a test runs this test binary as `ftpdtls serve`.
const (
	testDaemonEnv     = "FTPDTLS_TEST_DAEMON"      // JSON testOptions: be the daemon
	testWorkerFailEnv = "FTPDTLS_TEST_WORKER_FAIL" // a worker that fails at start with this error
)

// testOptions are the Options a test gives a daemon process; the
// listener is its descriptor 3.
type testOptions struct {
	ConfigPath string
	Workers    int
	// InProcess serves as ftpdtls did before privilege separation: one
	// process, every session acting as the daemon's user (the
	// benchmarks' baseline).
	InProcess     bool
	GraceMillis   int64
	RestartBudget int
	RestartDelay  int64 // ms
	BrokerIdle    int64 // ms
	// Shells and FtpUsers replace /etc/shells and /etc/ftpusers, which
	// logins read (RequireValidShell, UseFtpUsers).
	Shells, FtpUsers string
}

// TestMain plays the daemon, the worker or the broker a test starts (this
// test binary is their program, as ftpdtls is in production), and
// otherwise fails the run if a test leaves a shm cache segment behind.
func TestMain(m *testing.M) {
	switch {
	case IsWorker() && os.Getenv(testWorkerFailEnv) != "":
		os.Exit(failingWorker(os.Getenv(testWorkerFailEnv)))
	case IsChild():
		if err := Run(context.Background(), Options{}); err != nil {
			fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(testDaemonEnv) != "":
		os.Exit(testDaemon(os.Getenv(testDaemonEnv)))
	}
	os.Exit(testpeers.CheckNoLeakedSegments(m))
}

// testDaemon is `ftpdtls serve` as cmd/ftpdtls runs it: Run, and exit
// status 1 with the error on stderr. It prints "ready ADDR" on stdout
// once serving.
func testDaemon(spec string) int {
	var to testOptions
	if err := json.Unmarshal([]byte(spec), &to); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if to.Shells != "" {
		shellsPath = to.Shells
	}
	if to.FtpUsers != "" {
		ftpUsersPath = to.FtpUsers
	}
	o := Options{ConfigPath: to.ConfigPath, Workers: to.Workers, Listener: ln, RestartBudget: to.RestartBudget,
		Grace: ms(to.GraceMillis), RestartDelay: ms(to.RestartDelay), BrokerIdle: ms(to.BrokerIdle),
		Ready: func(a net.Addr) { fmt.Printf("ready %s\n", a) }}
	if to.InProcess {
		err = runInProcess(o)
	} else {
		err = Run(context.Background(), o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpdtls serve: %v\n", err)
		return 1
	}
	return 0
}

// runInProcess serves o's configuration in this process whoever runs it.
func runInProcess(o Options) error {
	o.defaults()
	log := newSystemLog(o.Stderr)
	cfg, err := Load(o.ConfigPath, "", log)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	return serve(context.Background(), o, cfg, o.Listener, "", log, sigs)
}

// failingWorker is a worker whose start fails, as one fails when what it
// loads changed on disk since the master checked it: it tells the master
// why and exits.
func failingWorker(why string) int {
	f := os.NewFile(channelFD, "master")
	ch, err := privsep.FileConn(f)
	f.Close()
	if err != nil {
		return 2
	}
	ch.Send(0, &privsep.Fatal{Err: "worker " + os.Getenv(workerEnv) + ": " + why}, nil)
	ch.Close()
	fmt.Fprintf(os.Stderr, "ftpdtls serve: worker: %s\n", why)
	return 1
}
