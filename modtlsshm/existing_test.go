package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStrerror(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"errno", syscall.EISDIR, "Is a directory"},
		{"errno in a PathError", &os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "No such file or directory"},
		{"wrapped errno", fmt.Errorf("attach: %w", syscall.EINVAL), "Invalid argument"},
		{"Go error", ErrForeignSegment, "shm segment is not this cache's"},
		{"wrapped Go error", fmt.Errorf("%w: header checksum mismatch", ErrCorruptSegment), "shm segment header is damaged: header checksum mismatch"},
	} {
		if got := strerror(tc.err); got != tc.want {
			t.Errorf("%s: strerror = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestOpenExistingCreatesNothing: OpenExisting and StatusInfo of a cache
// with no file, or a file but no segment, create nothing and say so.
func TestOpenExistingCreatesNothing(t *testing.T) {
	noFile := filepath.Join(t.TempDir(), "sess_cache")
	noSegment := cacheFile(t) // the file exists, no segment
	for _, tc := range []struct{ name, path string }{{"no file", noFile}, {"no segment", noSegment}} {
		t.Run(tc.name, func(t *testing.T) {
			env, _, log, _ := testEnv(t)
			sp, op := NewSessionProvider(), NewOCSPProvider()
			if c, err := sp.OpenExisting(info(tc.path, 0), time.Minute, env); !errors.Is(err, ErrNoSegment) || !errors.Is(err, syscall.EINVAL) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("session OpenExisting: %v, want ErrNoSegment", err)
			}
			if c, err := op.OpenExisting(info(tc.path, 0), env); !errors.Is(err, ErrNoSegment) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("OCSP OpenExisting: %v, want ErrNoSegment", err)
			}
			var out bytes.Buffer
			if err := sp.StatusInfo(info(tc.path, 0), time.Minute, env, &out, true); err != nil {
				t.Fatal(err)
			}
			if err := op.StatusInfo(info(tc.path, 0), env, &out, true); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				statusTitle(sessionKind) + "\n\nNo shared memory segment exists for '" + tc.path + "'",
				statusTitle(ocspKind) + "\n\nNo shared memory segment exists for '" + tc.path + "'",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("status lacks %q:\n%s", want, out.String())
				}
			}
			_, err := os.Stat(tc.path)
			if exists := err == nil; exists != (tc.path == noSegment) {
				t.Errorf("cache file exists: %v", exists)
			}
			if tc.path == noSegment {
				var st unix.Stat_t
				unix.Stat(tc.path, &st)
				for _, k := range []*kindSpec{sessionKind, ocspKind} {
					if _, err := unix.SysvShmGet(ftok(fileID{uint64(st.Dev), st.Ino}, k.proj), 0, 0); err == nil {
						t.Errorf("a %s segment was created", k.what)
					}
				}
			}
			if log.String() != "" {
				t.Errorf("notices for a missing cache:\n%s", log)
			}
		})
	}
}

// TestOpenExistingAndStatusInfoOfExistingCache: OpenExisting attaches to
// a cache that exists, StatusInfo shows it, and a cache that Open would
// refuse (another size) is refused the same way.
func TestOpenExistingAndStatusInfoOfExistingCache(t *testing.T) {
	path := cacheFile(t)
	s := openSessionAt(t, path, 0)
	id := randBytes(t, 32)
	if err := s.Add(id, time.Now().Add(time.Hour), []byte("state")); err != nil {
		t.Fatal(err)
	}
	env, _, log, _ := testEnv(t)
	sp := NewSessionProvider()
	c, err := sp.OpenExisting(info(path, 0), time.Minute, env)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(id); err != nil || string(got) != "state" {
		t.Errorf("get through OpenExisting: %q, %v", got, err)
	}
	c.Close()
	var out bytes.Buffer
	if err := sp.StatusInfo(info(path, 0), time.Minute, env, &out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("Shared memory segment ID: %d\n", s.c.shmid), "Current session cache size: 1\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	err = sp.StatusInfo(info(path, 512000), time.Minute, env, &bytes.Buffer{}, false)
	mustErr(t, err, ErrSizeMismatch)
	if !strings.Contains(log.String(), "remove it using 'ftpdtls sesscache remove'") {
		t.Errorf("no removal advice:\n%s", log)
	}
}

// TestRemoveInfoDamagedHeader: a cache whose header is damaged cannot be
// opened; RemoveInfo, which the refusal message points to, removes it.
func TestRemoveInfoDamagedHeader(t *testing.T) {
	for _, k := range []*kindSpec{sessionKind, ocspKind} {
		t.Run(k.what, func(t *testing.T) {
			path := cacheFile(t)
			env, _, log, _ := testEnv(t)
			c, err := open(newProvider(k), info(path, 0), time.Minute, env)
			if err != nil {
				t.Fatal(err)
			}
			shmid := c.shmid
			rawHeader(c.t.seg).DataSize += 8 // the geometry checksum fails
			c.close()
			if c2, err := open(newProvider(k), info(path, 0), time.Minute, env); !errors.Is(err, ErrCorruptSegment) {
				if c2 != nil {
					c2.close()
				}
				t.Fatalf("open of a damaged segment: %v", err)
			}
			if !strings.Contains(log.String(), fmt.Sprintf("remove it using 'ftpdtls %s remove'", k.ctlName)) {
				t.Errorf("refusal does not point to remove:\n%s", log)
			}
			remove := RemoveSessionCache
			if k == ocspKind {
				remove = RemoveOCSPCache
			}
			if err := remove(info(path, 0)); err != nil {
				t.Fatal(err)
			}
			if _, err := shmStat(shmid); err == nil {
				t.Error("damaged segment not removed")
			}
		})
	}
}
