package trace

import (
	"errors"
	"strings"
)

// Options are the TraceOptions flags.
type Options struct {
	// ConnIPs adds "(client IP, server IP:port) " to records written while
	// a connection is set (see Tracer.SetConn).
	ConnIPs bool
	// Timestamp starts each record with the local date and time.
	Timestamp bool
	// TimestampMillis adds ",mmm" milliseconds to the timestamp.
	TimestampMillis bool
}

// DefaultOptions returns ProFTPD's defaults: +Timestamp +TimestampMillis
// -ConnIPs.
func DefaultOptions() Options {
	return Options{Timestamp: true, TimestampMillis: true}
}

// ErrBadOption and ErrUnknownOption classify an *OptionError.
var (
	ErrBadOption     = errors.New("bad TraceOption")
	ErrUnknownOption = errors.New("unknown TraceOption")
)

// OptionError reports a TraceOptions argument ProFTPD rejects. Its text is
// ProFTPD's directive message: "bad TraceOption: '<arg>'" for an argument
// without a leading '+' or '-' (Option is the whole argument), or
// "unknown TraceOption: '<name>'" (Option is the name without its sign).
type OptionError struct {
	Option string
	Err    error // ErrBadOption or ErrUnknownOption
}

func (e *OptionError) Error() string {
	return e.Err.Error() + ": '" + e.Option + "'"
}

func (e *OptionError) Unwrap() error { return e.Err }

// ParseOptions applies TraceOptions arguments ("+ConnIPs", "-Timestamp", ...)
// in order to base and returns the result. Names are case-insensitive. The
// directive starts from DefaultOptions, as ProFTPD does.
func ParseOptions(base Options, args []string) (Options, error) {
	opts := base
	for _, arg := range args {
		if arg == "" || (arg[0] != '+' && arg[0] != '-') {
			return base, &OptionError{Option: arg, Err: ErrBadOption}
		}
		on, name := arg[0] == '+', arg[1:]
		switch {
		case strings.EqualFold(name, "ConnIPs"):
			opts.ConnIPs = on
		case strings.EqualFold(name, "Timestamp"):
			opts.Timestamp = on
		case strings.EqualFold(name, "TimestampMillis"):
			opts.TimestampMillis = on
		default:
			return base, &OptionError{Option: name, Err: ErrUnknownOption}
		}
	}
	return opts, nil
}
