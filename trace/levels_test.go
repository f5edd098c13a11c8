package trace

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
)

func TestParseLevels(t *testing.T) {
	tests := []struct {
		spec     string
		min, max int
		wantErr  bool
	}{
		// The cases of ProFTPD's tests/api/trace.c.
		{spec: "", wantErr: true},
		{spec: "foo", wantErr: true},
		{spec: "-7", wantErr: true},
		{spec: "2147483653", wantErr: true},
		{spec: "abc-def", wantErr: true},
		{spec: "1-def", wantErr: true},
		{spec: "2147483653-10", wantErr: true},
		{spec: "10-2147483653", wantErr: true},
		{spec: "-7-5", wantErr: true},
		{spec: "0--1", wantErr: true},
		{spec: "8-7", wantErr: true},
		{spec: "0", min: 0, max: 0},
		{spec: "7", min: 1, max: 7},
		{spec: "1-7", min: 1, max: 7},
		// From the brief and the spec.
		{spec: "10-", wantErr: true},
		{spec: "5-1", wantErr: true},
		{spec: "-", wantErr: true},
		{spec: "9-9", min: 9, max: 9},
		{spec: "0-0", min: 0, max: 0},
		{spec: "0-5", min: 0, max: 5},
		{spec: "20", min: 1, max: 20},
		{spec: "2147483647", min: 1, max: 2147483647},
		{spec: "99999999999999999999999", wantErr: true},
		// A level is a C int: strtol's long keeps its low 32 bits, then the
		// checks apply (each checked against proftpd -t 1.3.8).
		{spec: "4294967296", min: 0, max: 0},
		{spec: "+4294967296", min: 0, max: 0},
		{spec: "4294967297", min: 1, max: 1},
		{spec: "6442450943", min: 1, max: 2147483647},
		{spec: "2147483648", wantErr: true},
		{spec: "4294967296-5", min: 0, max: 5},
		{spec: "0-+4294967298", min: 0, max: 2},
		{spec: "0--4294967295", min: 0, max: 1},
		{spec: "5-4294967296", wantErr: true},            // 5-0
		{spec: "-4294967295", wantErr: true},             // a leading '-'
		{spec: "0--99999999999999999999", wantErr: true}, // outside a long
		// strtol details ProFTPD inherits (checked against proftpd -t).
		{spec: "+5", min: 1, max: 5},
		{spec: " 5", min: 1, max: 5},
		{spec: "0-", min: 0, max: 0},
		{spec: "1-+5", min: 1, max: 5},
		{spec: "5 ", wantErr: true},
		{spec: "+", wantErr: true},
		{spec: " ", wantErr: true},
		{spec: "1-2-3", wantErr: true},
		{spec: "0x10", wantErr: true},
		{spec: "1_0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(strconv.Quote(tc.spec), func(t *testing.T) {
			min, max, err := ParseLevels(tc.spec)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidLevel) {
					t.Fatalf("ParseLevels(%q) = %d, %d, %v; want ErrInvalidLevel", tc.spec, min, max, err)
				}
				return
			}
			if err != nil || min != tc.min || max != tc.max {
				t.Fatalf("ParseLevels(%q) = %d, %d, %v; want %d, %d, nil", tc.spec, min, max, err, tc.min, tc.max)
			}
		})
	}
}

func TestErrInvalidLevelText(t *testing.T) {
	if got := ErrInvalidLevel.Error(); got != "Invalid argument" {
		t.Fatalf("ErrInvalidLevel = %q", got)
	}
}

func TestParseSetting(t *testing.T) {
	tests := []struct {
		arg     string
		want    Setting
		wantErr string
	}{
		{arg: "tls.shmcache:20", want: Setting{Channel: "tls.shmcache", Min: 1, Max: 20}},
		{arg: "DEFAULT:9-9", want: Setting{Channel: "DEFAULT", Min: 9, Max: 9}},
		{arg: "DEFAULT:0", want: Setting{Channel: "DEFAULT", Min: 0, Max: 0}},
		{arg: ":5", want: Setting{Channel: "", Min: 1, Max: 5}}, // proftpd -t accepts it
		{arg: "tls", wantErr: "badly formatted parameter: 'tls'"},
		{arg: "tls.shmcache:5-1", wantErr: `error parsing level "5-1" for channel 'tls.shmcache': Invalid argument`},
		{arg: "a:b:c", wantErr: `error parsing level "b:c" for channel 'a': Invalid argument`},
		{arg: "tls:", wantErr: `error parsing level "" for channel 'tls': Invalid argument`},
	}
	for _, tc := range tests {
		t.Run(tc.arg, func(t *testing.T) {
			got, err := ParseSetting(tc.arg)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseSetting(%q) error = %v; want %q", tc.arg, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSetting(%q) = %+v, %v; want %+v", tc.arg, got, err, tc.want)
			}
		})
	}
}

func TestParseSettingErrorTypes(t *testing.T) {
	_, err := ParseSetting("nocolon")
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Arg != "nocolon" {
		t.Fatalf("no colon: got %#v, want *FormatError{Arg: nocolon}", err)
	}
	_, err = ParseSetting("tls.shmcache:5-1")
	var le *LevelError
	if !errors.As(err, &le) || le.Channel != "tls.shmcache" || le.Level != "5-1" {
		t.Fatalf("bad level: got %#v, want *LevelError", err)
	}
	if !errors.Is(err, ErrInvalidLevel) {
		t.Fatalf("bad level: %v does not wrap ErrInvalidLevel", err)
	}
}

func FuzzParseLevels(f *testing.F) {
	for _, s := range []string{"", "0", "7", "1-7", "0--1", "2147483653", "10-", "+5", " 5", "0-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		min, max, err := ParseLevels(spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidLevel) {
				t.Fatalf("ParseLevels(%q): unexpected error %v", spec, err)
			}
			return
		}
		if min < 0 || min > max || max > maxLevel {
			t.Fatalf("ParseLevels(%q) = %d, %d: bad range", spec, min, max)
		}
		// The canonical forms parse back to the same range.
		forms := []string{fmt.Sprintf("%d-%d", min, max)}
		if min == 1 || (min == 0 && max == 0) {
			forms = append(forms, strconv.Itoa(max))
		}
		for _, form := range forms {
			m, n, err := ParseLevels(form)
			if err != nil || m != min || n != max {
				t.Fatalf("ParseLevels(%q) = %d, %d; re-formatted %q = %d, %d, %v", spec, min, max, form, m, n, err)
			}
		}
	})
}
