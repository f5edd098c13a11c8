package trace

// Tracer is a process's trace facility: a table of channel levels and a
// TraceLog. (Placeholder API for parallel development; the trace work
// replaces this file.)
type Tracer struct{}

// Channel is a handle on one named channel of a Tracer.
type Channel struct{}

func (t *Tracer) Channel(name string) *Channel               { return nil }
func (c *Channel) Enabled(level int) bool                    { return false }
func (c *Channel) Msg(level int, format string, args ...any) {}
