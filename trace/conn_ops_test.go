package trace

import (
	"strings"
	"sync"
	"testing"
)

// TestWithConnShowsTheConnection: +ConnIPs shows the connection of a
// WithConn handle on its records only; the handle follows the channel's
// levels; -ConnIPs (the default) shows none; concurrent connections in one
// process each get their own.
func TestWithConnShowsTheConnection(t *testing.T) {
	tr, buf := newTestTracer(t)
	if err := tr.SetLevels("tls", 1, 9); err != nil {
		t.Fatal(err)
	}
	ch := tr.Channel("tls")
	a := ch.WithConn("192.0.2.1", "127.0.0.1:21")
	b := ch.WithConn("", "")

	a.Msg(5, "default options")
	tr.SetOptions(Options{Timestamp: true, TimestampMillis: true, ConnIPs: true})
	a.Msg(5, "from a")
	b.Msg(5, "from b")
	ch.Msg(5, "daemon")
	a.Msg(10, "above the range")
	tr.SetLevels("tls", 1, 10)
	a.Msg(10, "range widened")
	tr.SetLevels("tls", 0, 0)
	a.Msg(1, "silenced")

	want := strings.Join([]string{
		"2026-11-25 08:11:25,316 [4242] <tls:5>: default options",
		"2026-11-25 08:11:25,316 [4242] (client 192.0.2.1, server 127.0.0.1:21) <tls:5>: from a",
		"2026-11-25 08:11:25,316 [4242] (client none, server none) <tls:5>: from b",
		"2026-11-25 08:11:25,316 [4242] <tls:5>: daemon",
		"2026-11-25 08:11:25,316 [4242] (client 192.0.2.1, server 127.0.0.1:21) <tls:10>: range widened",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Errorf("records:\n%s\nwant:\n%s", buf, want)
	}
	var nilCh *Channel
	if nilCh.WithConn("x", "y") != nil {
		t.Error("a nil channel's WithConn is not nil")
	}

	// Many connections at once: each record carries its own.
	buf.Reset()
	tr.SetLevels("tls", 1, 9)
	var wg sync.WaitGroup
	for i := range 8 {
		c := ch.WithConn("192.0.2."+string(rune('1'+i)), "127.0.0.1:21")
		wg.Go(func() {
			for range 50 {
				c.Msg(5, "conn "+string(rune('1'+i)))
			}
		})
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		i := strings.Index(l, "(client 192.0.2.")
		if i < 0 || !strings.HasSuffix(l, "conn "+l[i+len("(client 192.0.2."):i+len("(client 192.0.2.")+1]) {
			t.Fatalf("record of another connection: %q", l)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != 400 {
		t.Errorf("%d records, want 400", n)
	}
}
