package trace_test

import (
	"fmt"
	"os"

	"github.com/ftpdtls/ftpdtls/trace"
)

// The equivalent of
//
//	Trace tls.shmcache:20 DEFAULT:0
//	TraceOptions -Timestamp
//
// writing to standard output instead of a TraceLog file.
func ExampleTracer() {
	t := trace.New()
	t.SetPID(4242)
	for _, arg := range []string{"tls.shmcache:20", "DEFAULT:0"} {
		s, err := trace.ParseSetting(arg)
		if err != nil {
			fmt.Println(err)
			return
		}
		t.SetLevels(s.Channel, s.Min, s.Max)
	}
	opts, _ := trace.ParseOptions(trace.DefaultOptions(), []string{"-Timestamp"})
	t.SetOptions(opts)
	t.SetOutput(os.Stdout)

	ch := t.Channel("tls.shmcache")
	ch.Msg(9, "requested session cache file: %s", "/var/lib/proftpd/shmcache")
	if id := 32769; ch.Enabled(9) {
		ch.Msg(9, "using shm ID %d for sesscache path '%s' (%d sessions)", id, "/var/lib/proftpd/shmcache", 150)
	}
	ch.Msg(21, "above the range: not written")
	t.Channel("command").Msg(7, "silenced by DEFAULT:0")

	_, err := trace.ParseSetting("tls.shmcache:5-1")
	fmt.Println(err)
	// Output:
	// [4242] <tls.shmcache:9>: requested session cache file: /var/lib/proftpd/shmcache
	// [4242] <tls.shmcache:9>: using shm ID 32769 for sesscache path '/var/lib/proftpd/shmcache' (150 sessions)
	// error parsing level "5-1" for channel 'tls.shmcache': Invalid argument
}

// OpenLog is what the TraceLog directive uses.
func ExampleOpenLog() {
	dir, _ := os.MkdirTemp("", "trace")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777) // world-writable, like /tmp
	_, err := trace.OpenLog(dir + "/trace.log")
	fmt.Printf("error using TraceLog '%s': %v\n", "<dir>/trace.log", err)
	_, err = trace.OpenLog("/")
	fmt.Printf("error using TraceLog '/': %v\n", err)
	// Output:
	// error using TraceLog '<dir>/trace.log': directory is symlink or is world-writable
	// error using TraceLog '/': Is a directory
}
