package trace

import (
	"io"
	"testing"
)

var benchPath = "/var/lib/proftpd/shmcache" // not a constant: boxing it allocates

// A disabled Msg with a constant format and a constant string argument.
func BenchmarkDisabled(b *testing.B) {
	tr := New()
	tr.SetOutput(io.Discard)
	tr.SetLevels("tls.shmcache", 1, 5)
	ch := tr.Channel("tls.shmcache")
	b.ReportAllocs()
	for b.Loop() {
		ch.Msg(9, "requested session cache file: %s", "/var/lib/proftpd/shmcache")
	}
}

// The Enabled guard keeps a disabled call with int (or any non-constant)
// arguments free of allocations.
func BenchmarkDisabledGuardedInt(b *testing.B) {
	tr := New()
	tr.SetOutput(io.Discard)
	tr.SetLevels("tls.shmcache", 1, 5)
	ch := tr.Channel("tls.shmcache")
	id := 32769
	b.ReportAllocs()
	for b.Loop() {
		if ch.Enabled(9) {
			ch.Msg(9, "using shm ID %d", id)
		}
	}
}

// Without the guard a non-constant argument is boxed before Msg runs: this
// is the cost the guard avoids.
func BenchmarkDisabledUnguardedVar(b *testing.B) {
	tr := New()
	tr.SetOutput(io.Discard)
	tr.SetLevels("tls.shmcache", 1, 5)
	ch := tr.Channel("tls.shmcache")
	b.ReportAllocs()
	for b.Loop() {
		ch.Msg(9, "requested session cache file: %s", benchPath)
	}
}

// A nil Channel (tracing not configured at all).
func BenchmarkNilChannel(b *testing.B) {
	var ch *Channel
	b.ReportAllocs()
	for b.Loop() {
		ch.Msg(9, "requested session cache file: %s", "/var/lib/proftpd/shmcache")
	}
}

// An enabled Msg through logrus and the Formatter.
func BenchmarkEnabled(b *testing.B) {
	tr := New()
	tr.SetOutput(io.Discard)
	tr.SetLevels("tls.shmcache", 1, 20)
	ch := tr.Channel("tls.shmcache")
	b.ReportAllocs()
	for b.Loop() {
		ch.Msg(9, "requested session cache file: %s", benchPath)
	}
}
