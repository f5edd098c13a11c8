package modtlsshm

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseInfo feeds arbitrary text after "shm:" to the info-string
// parser of both caches. It must never panic, and its answer must follow
// the documented rules: an error is ErrBadInfo with ProFTPD's text; on
// success the path is absolute, runs up to the first '&', and the size is
// the default or an explicit size= of at least the minimum, written in
// decimal.
//
//	go test ./modtlsshm/ -run '^$' -fuzz '^FuzzParseInfo$' -fuzztime 60s -parallel 1
func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{
		"/file=/var/ftpd/sess_cache",
		"/file=/var/ftpd/sess_cache&size=1574912",
		"/file=/tmp/x&size= +20480",
		"/file=/tmp/x&size=-1",
		"/file=/tmp/x&size=",
		"/file=/tmp/x&size=99999999999999999999999",
		"/file=/tmp/x&size=12abc",
		"/file=/tmp/x&bogus=1",
		"/file=relative",
		"/file=",
		"file=/tmp/x",
		"",
		"/file=/a&b&size=20000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, info string) {
		for _, k := range []*kindSpec{sessionKind, ocspKind} {
			ci, err := parseInfo(info, k)
			ci2, err2 := parseInfo(info, k)
			if (err == nil) != (err2 == nil) || ci.path != ci2.path || ci.size != ci2.size {
				t.Fatalf("%q: two parses differ", info)
			}
			if err != nil {
				if !errors.Is(err, ErrBadInfo) {
					t.Fatalf("%q: error %v is not ErrBadInfo", info, err)
				}
				msg := err.Error()
				if msg != "badly formatted info '"+info+"', unable to open shmcache" &&
					msg != "file '"+ci.path+"' not an absolute path" {
					t.Fatalf("%q: unexpected message %q", info, msg)
				}
				continue
			}
			rest, ok := strings.CutPrefix(info, "/file=")
			if !ok || !strings.HasPrefix(ci.path, "/") || strings.Contains(ci.path, "&") {
				t.Fatalf("%q: accepted with path %q", info, ci.path)
			}
			path, param, hasParam := strings.Cut(rest, "&")
			if ci.path != path {
				t.Fatalf("%q: path %q, want %q", info, ci.path, path)
			}
			if len(ci.notes) > 1 || (!hasParam && len(ci.notes) != 0) {
				t.Fatalf("%q: notes %q", info, ci.notes)
			}
			if ci.size == DefaultSize && len(ci.notes) == 1 {
				continue // size= ignored, with ProFTPD's note
			}
			if ci.size != DefaultSize && (!hasParam || ci.size < k.minRequest) {
				t.Fatalf("%q: size %d", info, ci.size)
			}
			if hasParam && ci.size > 0 && ci.size < math.MaxInt64 {
				digits := strings.TrimPrefix(strings.TrimLeft(strings.TrimPrefix(param, "size="), " \t\n\v\f\r"), "+")
				if strings.TrimLeft(digits, "0") != strconv.FormatInt(ci.size, 10) {
					t.Fatalf("%q: size %d is not what %q says", info, ci.size, param)
				}
			}
		}
	})
}
