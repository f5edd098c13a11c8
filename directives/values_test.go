package directives

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/trace"
)

func traceDefaults() trace.Options { return trace.DefaultOptions() }

func fmtSettings(s []trace.Setting) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprintf("%s:%d-%d", x.Channel, x.Min, x.Max))
	}
	return strings.Join(parts, " ")
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"on", "ON", "yes", "Yes", "true", "TRUE", "1"} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("ParseBool(%q) = %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"off", "Off", "no", "NO", "false", "False", "0"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("ParseBool(%q) = %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"", "o", "onn", "yes ", " on", "2", "enabled", "t"} {
		if _, err := ParseBool(s); !errors.Is(err, ErrBool) || err.Error() != "expected Boolean parameter" {
			t.Errorf("ParseBool(%q) error %v", s, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  syscall.Errno
	}{
		{"01:02:03", time.Hour + 2*time.Minute + 3*time.Second, 0},
		{"1:2:3", time.Hour + 2*time.Minute + 3*time.Second, 0},
		{"00:00:10junk", 10 * time.Second, 0},
		{"-1:00:00", 0, syscall.ERANGE},
		{"10", 10 * time.Second, 0},
		{"0", 0, 0},
		{"10s", 10 * time.Second, 0},
		{"10sec", 10 * time.Second, 0},
		{"10S", 10 * time.Second, 0},
		{"5m", 5 * time.Minute, 0},
		{"5min", 5 * time.Minute, 0},
		{"2h", 2 * time.Hour, 0},
		{"2HR", 2 * time.Hour, 0},
		{"5xs", 5 * time.Second, 0}, // sscanf reads the leading number only
		{"-5s", 0, syscall.ERANGE},
		{"-5", 0, syscall.ERANGE},
		{"s", 0, syscall.EINVAL},
		{"", 0, syscall.EINVAL},
		{"10x", 0, syscall.EINVAL},
		{"1.5", 0, syscall.EINVAL},
		{"abc", 0, syscall.EINVAL},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err != 0 {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseDuration("x"); err == nil || err.Error() != "Invalid argument" {
		t.Errorf("EINVAL text %v", err)
	}
	if _, err := ParseDuration("-1"); err == nil || err.Error() != "Numerical result out of range" {
		t.Errorf("ERANGE text %v", err)
	}
}

func TestAtoi(t *testing.T) {
	tests := map[string]int{"21": 21, " 21": 21, "+21": 21, "-1": -1, "0x10": 0, "2000x": 2000, "": 0, "abc": 0, "4294967297": 1, "99999999999999999999": -1}
	for in, want := range tests {
		if got := Atoi(in); got != want {
			t.Errorf("Atoi(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestArgChecks(t *testing.T) {
	c := &Cmd{Args: []string{"a", "b"}}
	if c.CheckArgs(2, 2) != nil || c.CheckArgs(1, -1) != nil || c.RequireArgs(2) != nil || c.RequireArgs(0) != nil {
		t.Error("valid counts rejected")
	}
	if !errors.Is(c.CheckArgs(3, 4), ErrWrongArgs) || !errors.Is(c.CheckArgs(0, 1), ErrWrongArgs) || !errors.Is(c.RequireArgs(3), ErrMissingArgs) {
		t.Error("invalid counts accepted")
	}
	if ArgsExactly(2)(c) != nil || ArgsBetween(1, 2)(c) != nil || ArgsAtLeast(1)(c) != nil || ArgsExactly(1)(c) == nil || ArgsAtLeast(3)(c) == nil {
		t.Error("Args helpers disagree with CheckArgs/RequireArgs")
	}
	if ErrWrongArgs.Error() != "wrong number of parameters" || ErrMissingArgs.Error() != "missing parameters" {
		t.Error("messages changed")
	}
}

func TestStrerror(t *testing.T) {
	if got := Strerror(fmt.Errorf("x: %w", syscall.ENOENT)); got != "No such file or directory" {
		t.Errorf("got %q", got)
	}
	if got := Strerror(errors.New("plain")); got != "plain" {
		t.Errorf("got %q", got)
	}
}

func TestSimilar(t *testing.T) {
	// Rankings ProFTPD 1.3.8 printed for these names (see also the oracle
	// file): prefix matches first, then its (quirky) edit distance.
	names := []string{"Port", "PassivePorts", "From", "ServerName", "ServerAlias", "ServerIdent", "ServerLog", "<Limit>", "</Limit>"}
	tests := map[string][]string{
		"FooBar":      {"From", "Port"},
		"PassivePort": {"PassivePorts"},
		"Server":      {"ServerAlias", "ServerIdent", "ServerLog", "ServerName"},
	}
	for in, want := range tests {
		if got := similar(in, names); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("similar(%q) = %q, want %q", in, got, want)
		}
	}
}
