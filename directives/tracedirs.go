package directives

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/ftpdtls/ftpdtls/trace"
)

// This file is the core's Trace, TraceLog and TraceOptions directives
// (ProFTPD's mod_core), built on the trace package's parsers.

// TraceConfig is what the Trace directives configure for the daemon
// process. Session-level settings are per server (Server.Trace).
type TraceConfig struct {
	// Log is the TraceLog path, "" when there is none. The parser only
	// checks it (trace.CheckLogPath); the daemon opens it (trace.OpenLog).
	Log string
	// Levels are the daemon's channel settings from server-config Trace
	// lines without "session", in order (a later setting of a channel
	// replaces an earlier one, as trace.Tracer.SetLevels does).
	Levels []trace.Setting
	// Options are the daemon's record options: trace.DefaultOptions
	// changed by the last server-config TraceOptions line.
	Options trace.Options
}

// ServerTrace is the session-level trace configuration of one server.
type ServerTrace struct {
	// Settings are the "channel:levels" arguments of "Trace session ..."
	// lines, and of every Trace line in <VirtualHost> or <Global>. Only
	// the ':' is checked at parse time; a session applies them when it
	// starts and again after login, skipping bad ones (ProFTPD logs those
	// at debug level 6).
	Settings []string
	// Options are the TraceOptions for sessions of this server, nil when
	// no TraceOptions line applies to it.
	Options *trace.Options
}

var traceDirectives = []Directive{
	{Name: "Trace", Contexts: Root | VirtualHost | Global, Args: ArgsBetween(1, -1), Handler: setTrace},
	{Name: "TraceLog", Contexts: Root | Global, Args: ArgsExactly(1), Handler: setTraceLog},
	{Name: "TraceOptions", Contexts: Root | VirtualHost | Global, Args: ArgsBetween(1, -1), Handler: setTraceOptions},
}

func setTrace(c *Cmd) error {
	args := c.Args
	session := false
	if len(args) > 0 && strings.EqualFold(args[0], "session") {
		session, args = true, args[1:]
	}
	if len(args) == 0 {
		return ErrWrongArgs
	}
	if c.Context != Root {
		session = true
	}
	if session {
		for _, a := range args {
			if !strings.Contains(a, ":") {
				return &trace.FormatError{Arg: a}
			}
		}
		c.Server.Trace.Settings = append(c.Server.Trace.Settings, args...)
		return nil
	}
	settings := make([]trace.Setting, 0, len(args))
	for _, a := range args {
		s, err := trace.ParseSetting(a)
		if err != nil {
			return err
		}
		settings = append(settings, s)
	}
	c.Config.Trace.Levels = append(c.Config.Trace.Levels, settings...)
	return nil
}

func setTraceLog(c *Cmd) error {
	path := c.Args[0]
	if err := trace.CheckLogPath(path); err != nil {
		if errors.Is(err, trace.ErrRelativeLogPath) {
			return err
		}
		// ProFTPD opens the log here (pr_log_openfile); its notice about
		// the directory comes before the fatal line. It checks the path
		// itself, not "/", for a file directly under "/".
		chk := checkLogFile(path)
		if chk.Notice != "" {
			c.Warnf("%s", chk.Notice)
		}
		switch {
		case chk.WorldWritable || chk.Symlink:
			return fmt.Errorf("error using TraceLog '%s': directory is symlink or is world-writable", path)
		case chk.Err != nil:
			var errno syscall.Errno
			if errors.As(chk.Err, &errno) {
				return fmt.Errorf("error using TraceLog '%s': %w", path, &Errno{errno})
			}
			return fmt.Errorf("error using TraceLog '%s': %w", path, chk.Err)
		}
		return fmt.Errorf("error using TraceLog '%s': %w", path, err)
	}
	c.Config.Trace.Log = path
	return nil
}

func setTraceOptions(c *Cmd) error {
	if len(c.Args) == 0 {
		return ErrWrongArgs
	}
	opts, err := trace.ParseOptions(trace.DefaultOptions(), c.Args)
	if err != nil {
		return err
	}
	if c.Context == Root {
		c.Config.Trace.Options = opts
	}
	if c.Server.Trace.Options == nil {
		c.Server.Trace.Options = &opts
	}
	return nil
}
