package modtlsshm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseInfo(t *testing.T) {
	const def = DefaultSize
	cases := []struct {
		info  string
		kind  *kindSpec
		path  string
		size  int64
		notes []string
		err   string // ProFTPD's NOTICE text, without the module prefix
	}{
		{info: "/file=/var/ftpd/sess", path: "/var/ftpd/sess", size: def},
		{info: "/file=/var/ftpd/sess&size=512000", path: "/var/ftpd/sess", size: 512000},
		{info: "/file=/var/ftpd/sess cache&size=+20664", path: "/var/ftpd/sess cache", size: 20664},
		{info: "/file=/x&size= 20664", path: "/x", size: 20664},
		{info: "/file=/x&size=10344", path: "/x", size: 10344},
		{info: "/file=/x&size=10343", path: "/x", size: def,
			notes: []string{"requested size (10343 bytes) smaller than minimum size (10344 bytes), ignoring"}},
		{info: "/file=/x&size=1", path: "/x", size: def,
			notes: []string{"requested size (1 bytes) smaller than minimum size (10344 bytes), ignoring"}},
		{info: "/file=/x&size=", path: "/x", size: def,
			notes: []string{"requested size (0 bytes) smaller than minimum size (10344 bytes), ignoring"}},
		{info: "/file=/x&size=1000", kind: ocspKind, path: "/x", size: def,
			notes: []string{"requested size (1000 bytes) smaller than minimum size (4224 bytes), ignoring"}},
		{info: "/file=/x&size=4224", kind: ocspKind, path: "/x", size: 4224},
		{info: "/file=/x&size=512k", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=512k', ignoring"}},
		{info: "/file=/x&size=abc", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=abc', ignoring"}},
		{info: "/file=/x&size=0x100000", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=0x100000', ignoring"}},
		{info: "/file=/x&size=512000&foo=bar", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=512000&foo=bar', ignoring"}},
		{info: "/file=/x&SIZE=512000", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'SIZE=512000', ignoring"}},
		{info: "/file=/x&foo=1", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'foo=1', ignoring"}},
		{info: "/file=/x&size= ", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size= ', ignoring"}},
		{info: "/file=/x&size=+", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=+', ignoring"}},
		// B25: negative sizes are refused, not wrapped to 2^64-1.
		{info: "/file=/x&size=-1", path: "/x", size: def,
			notes: []string{"badly formatted size parameter 'size=-1', ignoring"}},
		// strtol saturates; the open then fails with "not enough memory".
		{info: "/file=/x&size=99999999999999999999", path: "/x", size: 9223372036854775807},
		{info: "/file=/x&size=107374182400", path: "/x", size: 107374182400},
		{info: "", err: "badly formatted info '', unable to open shmcache"},
		{info: "/path=/x", err: "badly formatted info '/path=/x', unable to open shmcache"},
		{info: "file=/x", err: "badly formatted info 'file=/x', unable to open shmcache"},
		{info: "/FILE=/x", err: "badly formatted info '/FILE=/x', unable to open shmcache"},
		{info: "/file=relative/sess_cache", path: "relative/sess_cache", err: "file 'relative/sess_cache' not an absolute path"},
		{info: "/file=", err: "file '' not an absolute path"},
		{info: "/file=&size=20000", size: 20000, err: "file '' not an absolute path"},
		{info: "/file=rel&size=1", path: "rel", size: def, err: "file 'rel' not an absolute path",
			notes: []string{"requested size (1 bytes) smaller than minimum size (10344 bytes), ignoring"}},
	}
	for _, tc := range cases {
		t.Run(tc.info, func(t *testing.T) {
			k := tc.kind
			if k == nil {
				k = sessionKind
			}
			before := strings.Clone(tc.info)
			ci, err := parseInfo(tc.info, k)
			if tc.info != before {
				t.Fatal("info string changed (B23)")
			}
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, ErrBadInfo) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.path != "" && ci.path != tc.path {
				t.Fatalf("path %q, want %q", ci.path, tc.path)
			}
			if tc.size != 0 && ci.size != tc.size {
				t.Fatalf("size %d, want %d", ci.size, tc.size)
			}
			if !slices.Equal(ci.notes, tc.notes) {
				t.Fatalf("notes %q, want %q", ci.notes, tc.notes)
			}
		})
	}
}

// TestOpenTraces checks the trace lines ProFTPD users see for size
// problems, and the NOTICE lines for info problems.
func TestOpenTraces(t *testing.T) {
	path := cacheFile(t)
	cases := []struct {
		name, info string
		ok         bool
		traces     []string
		log        []string
	}{
		{"size 1", info(path, 1), true, []string{
			"<tls.shmcache:1>: requested size (1 bytes) smaller than minimum size (10344 bytes), ignoring",
			"<tls.shmcache:9>: requested session cache size: 1574912 bytes",
			"<tls.shmcache:9>: rounded requested size up to 1576960 bytes",
		}, nil},
		{"size abc", "/file=" + path + "&size=abc", true, []string{
			"<tls.shmcache:1>: badly formatted size parameter 'size=abc', ignoring",
		}, nil},
		{"huge", info(path, 107374182400), false, []string{
			"<tls.shmcache:9>: requested session cache size: 107374182400 bytes",
			"<tls.shmcache:1>: not enough memory for 107374182400 shm bytes; try specifying a smaller size",
			"<tls.shmcache:1>: unable to allocate session shm: Cannot allocate memory",
		}, []string{"mod_tls_shmcache/0.2: unable to allocate session shm: Cannot allocate memory"}},
		{"relative", "/file=relative/sess_cache", false, nil,
			[]string{"mod_tls_shmcache/0.2: file 'relative/sess_cache' not an absolute path"}},
		{"no prefix", "/path=" + path, false, nil,
			[]string{fmt.Sprintf("mod_tls_shmcache/0.2: badly formatted info '/path=%s', unable to open shmcache", path)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, traces, log, _ := testEnv(t)
			c, err := NewSessionProvider().Open(tc.info, time.Minute, env)
			if tc.ok != (err == nil) {
				t.Fatalf("open: %v", err)
			}
			if err == nil {
				c.Close()
			} else if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("open error %v does not match EINVAL", err)
			}
			for _, w := range tc.traces {
				if !strings.Contains(traces.String(), w) {
					t.Errorf("trace lacks %q:\n%s", w, traces)
				}
			}
			for _, w := range tc.log {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, log)
				}
			}
		})
	}
}

func TestCheckInfo(t *testing.T) {
	dir := t.TempDir()
	existing := cacheFile(t)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(existing, link); err != nil {
		t.Fatal(err)
	}
	// A cache made at the default size, then checked with another size.
	sized := cacheFile(t)
	c := openSessionAt(t, sized, 0)
	sp := NewSessionProvider()
	cases := []struct {
		name, info string
		want       []string // substrings, one per expected problem, in order
	}{
		{"fine, new file", "/file=" + dir + "/new", nil},
		{"fine, existing segment", "/file=" + sized, nil},
		{"bad prefix", "file=/x", []string{"badly formatted info 'file=/x', unable to open shmcache"}},
		{"relative", "/file=x/y", []string{"file 'x/y' not an absolute path"}},
		{"size ignored", "/file=" + dir + "/new&size=12", []string{"requested size (12 bytes) smaller than minimum size (10344 bytes), ignoring"}},
		{"directory", "/file=" + dir, []string{fmt.Sprintf("error: unable to open file '%s': Is a directory", dir)}},
		{"missing parent", "/file=" + dir + "/no/f", []string{fmt.Sprintf("error: unable to open file '%s/no/f': No such file or directory", dir)}},
		{"symlink", "/file=" + link, []string{"Too many levels of symbolic links"}},
		{"other size", info(sized, 512000), []string{fmt.Sprintf("existing shm ID %d for file '%s' is 1576960 bytes, not the requested 512000 bytes; nothing is migrated and the cache is not used: to use the new size, stop the server using it (1 process is attached to it), then remove it using 'ftpdtls sesscache remove' with the server's configuration file (-c FILE), or 'ipcrm -m %d'", c.c.shmid, sized, c.c.shmid)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sp.CheckInfo(tc.info)
			if len(got) != len(tc.want) {
				t.Fatalf("CheckInfo = %q, want %d problems", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Fatalf("CheckInfo = %q, want %q", got, w)
				}
			}
		})
	}
	// CheckInfo created nothing.
	if _, err := os.Stat(dir + "/new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CheckInfo created the file: %v", err)
	}
}
