package trace

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedTime is 2026-11-25 08:11:25.316789 UTC.
var fixedTime = time.Date(2026, 11, 25, 8, 11, 25, 316789000, time.UTC)

// newTestTracer returns a Tracer writing to a buffer with a fixed clock,
// pid 4242 and UTC timestamps.
func newTestTracer(t *testing.T) (*Tracer, *bytes.Buffer) {
	t.Helper()
	tr := New()
	tr.now = func() time.Time { return fixedTime }
	tr.mu.Lock()
	tr.loc = time.UTC
	tr.mu.Unlock()
	tr.SetPID(4242)
	var buf bytes.Buffer
	tr.SetOutput(&buf)
	return tr, &buf
}

func TestDefaultChannels(t *testing.T) {
	want := strings.Fields(`auth binding command config ctrls data delay directory dns dso
		encode event facl fsio ident inet lock log module netacl netio pam pool regexp
		response scoreboard signal site timer var xfer`)
	got := DefaultChannels()
	if len(got) != 31 || !slices.Equal(got, want) {
		t.Fatalf("DefaultChannels() = %v (%d); want the 31 core channels %v", got, len(got), want)
	}
	got[0] = "changed"
	if DefaultChannels()[0] != "auth" {
		t.Fatal("DefaultChannels returns the package's own array")
	}
}

func TestSetLevelsDefault(t *testing.T) {
	tr := New()
	if err := tr.SetLevels(Default, 1, 10); err != nil {
		t.Fatal(err)
	}
	for _, ch := range DefaultChannels() {
		if min, max, ok := tr.Levels(ch); !ok || min != 1 || max != 10 {
			t.Errorf("Levels(%q) = %d, %d, %v; want 1, 10, true", ch, min, max, ok)
		}
	}
	for _, ch := range []string{"tls", "tls.shmcache", "tls.redis", "DEFAULT", "Auth"} {
		if _, _, ok := tr.Levels(ch); ok {
			t.Errorf("Levels(%q) is set by DEFAULT", ch)
		}
	}
	tr.mu.Lock()
	n := len(tr.channels)
	tr.mu.Unlock()
	if n != 31 {
		t.Errorf("DEFAULT created %d channels; want 31", n)
	}
}

func TestSetLevelsReplacesAndRemoves(t *testing.T) {
	tr := New()
	for _, step := range []struct {
		min, max         int
		wantMin, wantMax int
		wantOK           bool
	}{
		{1, 20, 1, 20, true},
		{9, 9, 9, 9, true},
		{0, 0, 0, 0, true},
		{-1, -1, 0, 0, false},
		{3, 5, 3, 5, true},
	} {
		if err := tr.SetLevels("tls.shmcache", step.min, step.max); err != nil {
			t.Fatalf("SetLevels(%d, %d): %v", step.min, step.max, err)
		}
		min, max, ok := tr.Levels("tls.shmcache")
		if ok != step.wantOK || (ok && (min != step.wantMin || max != step.wantMax)) {
			t.Fatalf("after SetLevels(%d, %d): Levels = %d, %d, %v", step.min, step.max, min, max, ok)
		}
	}
	for _, bad := range [][2]int{{5, 1}, {0, -1}, {1, 1 << 40}} {
		if err := tr.SetLevels("tls", bad[0], bad[1]); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("SetLevels(tls, %d, %d) = %v; want ErrInvalidLevel", bad[0], bad[1], err)
		}
	}
	if _, _, ok := tr.Levels("tls"); ok {
		t.Error("a refused SetLevels configured the channel")
	}
}

func TestRangeFiltering(t *testing.T) {
	tests := []struct {
		setting string
		channel string
		written []int // of levels 1..25
	}{
		{"tls.shmcache:20", "tls.shmcache", seq(1, 20)},
		{"DEFAULT:9-9", "lock", []int{9}},
		{"DEFAULT:9-9", "tls", nil},
		{"DEFAULT:0", "command", nil},
		{"tls:0", "tls", nil},
		{"tls:3-5", "tls", []int{3, 4, 5}},
		{"tls:0-2", "tls", []int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.setting+"/"+tc.channel, func(t *testing.T) {
			tr, buf := newTestTracer(t)
			tr.SetOptions(Options{})
			s, err := ParseSetting(tc.setting)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.SetLevels(s.Channel, s.Min, s.Max); err != nil {
				t.Fatal(err)
			}
			ch := tr.Channel(tc.channel)
			var enabled []int
			for lv := -1; lv <= 25; lv++ {
				if ch.Enabled(lv) {
					enabled = append(enabled, lv)
				}
				ch.Msg(lv, "m")
			}
			var want strings.Builder
			for _, lv := range tc.written {
				fmt.Fprintf(&want, "[4242] <%s:%d>: m\n", tc.channel, lv)
			}
			if buf.String() != want.String() {
				t.Errorf("written:\n%s\nwant:\n%s", buf, want.String())
			}
			if !slices.Equal(enabled, tc.written) {
				t.Errorf("Enabled for %v; want %v", enabled, tc.written)
			}
		})
	}
}

func seq(a, b int) []int {
	var s []int
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}

func TestHandleSeesLaterChanges(t *testing.T) {
	tr, buf := newTestTracer(t)
	tr.SetOptions(Options{})
	ch := tr.Channel("tls.shmcache") // taken before any level is set
	if ch != tr.Channel("tls.shmcache") {
		t.Fatal("Channel returns different handles for one name")
	}
	ch.Msg(9, "before")
	tr.SetLevels("tls.shmcache", 1, 20)
	ch.Msg(9, "during")
	tr.SetLevels("tls.shmcache", 10, 20)
	ch.Msg(9, "narrowed")
	tr.SetLevels("tls.shmcache", 1, 20)
	tr.SetOutput(nil)
	ch.Msg(9, "no output")
	tr.SetOutput(buf)
	tr.Reset()
	ch.Msg(9, "after reset")
	if got, want := buf.String(), "[4242] <tls.shmcache:9>: during\n"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
	if tr.Options() != DefaultOptions() {
		t.Fatalf("Reset left options %+v", tr.Options())
	}
}

func TestLineFormat(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		conn bool
		want string
	}{
		{"default", DefaultOptions(), false,
			"2026-11-25 08:11:25,316 [4242] <tls.shmcache:9>: using shm ID 42\n"},
		{"no millis", Options{Timestamp: true}, false,
			"2026-11-25 08:11:25 [4242] <tls.shmcache:9>: using shm ID 42\n"},
		{"no timestamp", Options{TimestampMillis: true}, false,
			"[4242] <tls.shmcache:9>: using shm ID 42\n"},
		{"nothing", Options{}, false,
			"[4242] <tls.shmcache:9>: using shm ID 42\n"},
		{"connips without conn", Options{ConnIPs: true}, false,
			"[4242] <tls.shmcache:9>: using shm ID 42\n"},
		{"connips", Options{ConnIPs: true}, true,
			"[4242] (client 1.2.3.4, server 5.6.7.8:21) <tls.shmcache:9>: using shm ID 42\n"},
		{"connips with timestamp", Options{ConnIPs: true, Timestamp: true, TimestampMillis: true}, true,
			"2026-11-25 08:11:25,316 [4242] (client 1.2.3.4, server 5.6.7.8:21) <tls.shmcache:9>: using shm ID 42\n"},
		{"conn without connips", DefaultOptions(), true,
			"2026-11-25 08:11:25,316 [4242] <tls.shmcache:9>: using shm ID 42\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, buf := newTestTracer(t)
			tr.SetLevels("tls.shmcache", 1, 20)
			tr.SetOptions(tc.opts)
			if tc.conn {
				tr.SetConn("1.2.3.4", "5.6.7.8:21")
			}
			tr.Channel("tls.shmcache").Msg(9, "using shm ID %d\n\n", 42)
			if buf.String() != tc.want {
				t.Fatalf("got  %q\nwant %q", buf, tc.want)
			}
		})
	}
}

func TestMillisPadding(t *testing.T) {
	tr, buf := newTestTracer(t)
	tr.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 7_999_999, time.UTC) }
	tr.SetLevels("x", 1, 1)
	tr.Channel("x").Msg(1, "m")
	if got, want := buf.String(), "2026-01-02 03:04:05,007 [4242] <x:1>: m\n"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}

func TestConnUnknownAndCleared(t *testing.T) {
	tr, buf := newTestTracer(t)
	tr.SetOptions(Options{ConnIPs: true})
	tr.SetLevels("x", 1, 1)
	tr.SetConn("", "")
	tr.Channel("x").Msg(1, "a")
	tr.ClearConn()
	tr.Channel("x").Msg(1, "b")
	want := "[4242] (client none, server none) <x:1>: a\n[4242] <x:1>: b\n"
	if buf.String() != want {
		t.Fatalf("got %q; want %q", buf, want)
	}
}

func TestPIDDefault(t *testing.T) {
	tr := New()
	var buf bytes.Buffer
	tr.SetOutput(&buf)
	tr.SetOptions(Options{})
	tr.SetLevels("x", 1, 1)
	tr.SetPID(7)
	tr.SetPID(0) // back to the process's pid
	tr.Channel("x").Msg(1, "m")
	if want := fmt.Sprintf("[%d] <x:1>: m\n", os.Getpid()); buf.String() != want {
		t.Fatalf("got %q; want %q", buf.String(), want)
	}
}

func TestTruncation(t *testing.T) {
	const prefix = "[4242] <x:1>: " // 14 bytes
	tests := []struct {
		msgLen  int
		wantLen int
		cut     bool
	}{
		{msgLen: 8190 - len(prefix), wantLen: 8191},            // fits as ProFTPD writes it
		{msgLen: 8191 - len(prefix), wantLen: 8192, cut: true}, // fills the buffer: ProFTPD marks it
		{msgLen: 16 * 1024, wantLen: 8192, cut: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.msgLen), func(t *testing.T) {
			tr, buf := newTestTracer(t)
			tr.SetOptions(Options{})
			tr.SetLevels("x", 1, 1)
			msg := strings.Repeat("a", tc.msgLen)
			tr.Channel("x").Msg(1, "%s", msg)
			got := buf.String()
			if len(got) != tc.wantLen || !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
				t.Fatalf("record of %d bytes (ends %q); want %d ending in one newline", len(got), got[max(0, len(got)-8):], tc.wantLen)
			}
			if tc.cut {
				if !strings.HasSuffix(got, "aaa....\n") {
					t.Fatalf("cut record ends %q", got[len(got)-8:])
				}
			} else if got != prefix+msg+"\n" {
				t.Fatal("record that fits was changed")
			}
		})
	}
}

// lineWriter records each Write call. It has no lock of its own: the race
// detector catches overlapping calls.
type lineWriter struct{ writes [][]byte }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestConcurrentWritersWholeLines(t *testing.T) {
	tr := New()
	var w lineWriter
	tr.SetOutput(&w)
	tr.SetLevels(Default, 1, 10)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			ch := tr.Channel(DefaultChannels()[g])
			for i := range each {
				ch.Msg(5, "writer %d message %d %s", g, i, strings.Repeat("x", 300))
			}
		})
	}
	// Options change while writing.
	for i := range 50 {
		tr.SetOptions(Options{Timestamp: i%2 == 0})
	}
	wg.Wait()
	if len(w.writes) != writers*each {
		t.Fatalf("%d writes; want %d", len(w.writes), writers*each)
	}
	seen := make(map[string]bool)
	for _, p := range w.writes {
		line := string(p)
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("write is not one whole line: %q", line)
		}
		_, rest, ok := strings.Cut(line, ">: writer ")
		if !ok {
			t.Fatalf("malformed line %q", line)
		}
		key, _, _ := strings.Cut(rest, " x")
		if seen[key] {
			t.Fatalf("duplicate %q", key)
		}
		seen[key] = true
	}
}

func TestNilSafety(t *testing.T) {
	var tr *Tracer
	ch := tr.Channel("tls")
	if ch != nil {
		t.Fatal("nil Tracer returned a non-nil Channel")
	}
	if ch.Enabled(1) {
		t.Fatal("nil Channel is enabled")
	}
	ch.Msg(1, "nothing %d", 1)
	if err := tr.SetLevels("tls", 1, 5); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := tr.Levels("tls"); ok {
		t.Fatal("nil Tracer has levels")
	}
	tr.SetOutput(&bytes.Buffer{})
	tr.SetOptions(DefaultOptions())
	tr.SetConn("a", "b")
	tr.ClearConn()
	tr.SetPID(1)
	tr.Reset()
	if tr.Options() != (Options{}) || ch.Name() != "" {
		t.Fatal("nil Tracer/Channel returned values")
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args    []string
		want    Options
		wantErr string
		is      error
	}{
		{args: []string{"+ConnIPs"}, want: Options{ConnIPs: true, Timestamp: true, TimestampMillis: true}},
		{args: []string{"-Timestamp"}, want: Options{TimestampMillis: true}},
		{args: []string{"-timestampmillis", "+CONNIPS"}, want: Options{ConnIPs: true, Timestamp: true}},
		{args: []string{"-Timestamp", "+Timestamp"}, want: DefaultOptions()},
		{args: []string{"ConnIPs"}, wantErr: "bad TraceOption: 'ConnIPs'", is: ErrBadOption},
		{args: []string{""}, wantErr: "bad TraceOption: ''", is: ErrBadOption},
		{args: []string{"+ConnIPs", "+Foo"}, wantErr: "unknown TraceOption: 'Foo'", is: ErrUnknownOption},
		{args: []string{"-"}, wantErr: "unknown TraceOption: ''", is: ErrUnknownOption},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := ParseOptions(DefaultOptions(), tc.args)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, tc.is) {
					t.Fatalf("error = %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
