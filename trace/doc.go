// Package trace is ProFTPD's Trace facility for Go: named channels with
// level ranges ("Trace tls.shmcache:20"), written to a TraceLog in
// ProFTPD's line format through logrus.
//
// The exported API other packages build on (filled in by this package):
//
//	t := trace.New()                       // a Tracer with no channels enabled
//	t.SetLevels("tls.shmcache", 1, 20)     // what "Trace tls.shmcache:20" does
//	ch := t.Channel("tls.shmcache")        // a handle; cheap to keep in a struct
//	if ch.Enabled(9) { ... }               // under 20 ns, no allocation, when off
//	ch.Msg(9, "using shm ID %d", id)       // writes a record when 1..20 includes 9
//
// A nil *Tracer and a nil *Channel are valid and trace nothing.
package trace
