// Package trace is ProFTPD's Trace facility for Go: named channels with
// level ranges ("Trace tls.shmcache:20"), written to a TraceLog in
// ProFTPD's line format through logrus.
//
// A Tracer holds what the three directives configure: the channel table
// (Trace), the output (TraceLog) and the record options (TraceOptions).
// Code that traces keeps a *Channel handle and calls Msg; the handle follows
// later SetLevels calls, and a message is written only when a TraceLog is
// set and min <= level <= max for its channel:
//
//	t := trace.New()                       // no channel enabled, no output
//	t.SetLevels("tls.shmcache", 1, 20)     // what "Trace tls.shmcache:20" does
//	t.SetOutput(f)                         // f from trace.OpenLog("/var/log/proftpd/trace.log")
//	ch := t.Channel("tls.shmcache")        // a handle; cheap to keep in a struct
//	ch.Msg(9, "requested session cache file: %s", path)
//	if ch.Enabled(10) {                    // guard int (or other non-constant) arguments
//		ch.Msg(10, "existing shm size: %d bytes", n)
//	}
//
// A nil *Tracer and a nil *Channel are valid and trace nothing. A filtered
// Msg costs a few nanoseconds and allocates nothing as long as its
// arguments need no boxing (constants, or calls guarded by Enabled): Go
// boxes non-constant arguments into the ...any slice before Msg runs.
//
// # Levels
//
// "DEFAULT" stands for ProFTPD's 31 core channels (DefaultChannels); module
// channels such as "tls" and "tls.shmcache" must be named. Setting a channel
// again replaces its range. ParseLevels reads "N" (1..N; "0" silences) and
// "A-B", each number being a C int as in ProFTPD: "4294967296" wraps to 0
// and is accepted, "2147483648" wraps negative and is refused. Records are written for levels min..max only, so "DEFAULT:9-9"
// writes level 9 and nothing else.
//
// # Directive errors
//
// The errors of this package print the words ProFTPD users know, so the
// directives package can build ProFTPD's messages without rewording:
//
//   - ParseSetting: *FormatError prints "badly formatted parameter: '<arg>'";
//     *LevelError prints `error parsing level "<lv>" for channel '<ch>': Invalid argument`
//     (its fields Channel, Level and Err are there for other wordings).
//   - ParseLevels and SetLevels: ErrInvalidLevel, "Invalid argument".
//   - ParseOptions: *OptionError prints "bad TraceOption: '<arg>'" or
//     "unknown TraceOption: '<name>'" (errors.Is ErrBadOption / ErrUnknownOption).
//   - OpenLog and CheckLogPath return the bare reason, for
//     "error using TraceLog '<path>': <reason>": ErrUnsafeLogPath
//     ("directory is symlink or is world-writable"), ErrRelativeLogPath, or an
//     *Errno that prints like strerror ("Is a directory") and unwraps to its
//     syscall.Errno.
//
// # Records
//
// Formatter writes one record per line in local time:
//
//	2026-11-25 08:11:25,316 [16662] <tls.shmcache:9>: message     default
//	2026-11-25 08:15:02 [18307] <tls.shmcache:9>: message         -TimestampMillis
//	[14201] <tls.shmcache:9>: message                             -Timestamp
//	[14201] (client 1.2.3.4, server 5.6.7.8:21) <command:7>: msg  +ConnIPs after SetConn,
//	                                                                or from a WithConn handle
//
// Records are at most MaxRecord (8192) bytes; a longer one ends in "...."
// and, unlike ProFTPD's, still in a newline. Concurrent writers never
// interleave: each record reaches the writer in a single Write call, and a
// TraceLog from OpenLog is opened O_APPEND so processes sharing it do not
// tear each other's lines either.
package trace
