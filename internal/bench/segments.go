package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// Segment is one SysV shm segment a run made.
type Segment struct {
	Kind  string `json:"kind"` // "session" or "ocsp"
	Info  string `json:"info"` // the text after "shm:"
	ShmID int    `json:"shmid"`
	Bytes int64  `json:"bytes"`
}

// remover is what cleanup needs of an open cache.
type remover interface{ Remove() error }

// segments makes the run's shm caches, each on its own file in the run's
// directory, and destroys them all at the end, whatever happened.
type segments struct {
	dir     string
	verbose bool
	prog    *progress

	mu   sync.Mutex
	n    int
	made []Segment
	open []remover
}

// newInfo returns the info string of a fresh cache file.
func (s *segments) newInfo(size int64) string {
	s.mu.Lock()
	s.n++
	path := filepath.Join(s.dir, fmt.Sprintf("cache%d", s.n))
	s.mu.Unlock()
	if size <= 0 {
		return "/file=" + path
	}
	return fmt.Sprintf("/file=%s&size=%d", path, size)
}

// track records a segment made on info (by this process or another one
// that opened info) so that cleanup removes it. status is the cache's
// status text, which names the segment.
func (s *segments) track(kind, info string, c remover, status func() string) {
	seg := Segment{Kind: kind, Info: info}
	text := status()
	seg.ShmID = statusNumber(text, "Shared memory segment ID:")
	seg.Bytes = int64(statusNumber(text, "Shared memory segment size:"))
	s.mu.Lock()
	s.made = append(s.made, seg)
	if c != nil {
		s.open = append(s.open, c)
	}
	s.mu.Unlock()
	if s.verbose {
		s.prog.printf("made %s shm segment ID %d (%s bytes) on %s", kind, seg.ShmID, thousands(seg.Bytes), info)
	}
}

// session opens a new shm session cache of the given size.
func (s *segments) session(size int64) (*modtlsshm.SessionCache, string, error) {
	info := s.newInfo(size)
	c, err := modtlsshm.NewSessionProvider().Open(info, 1800*time.Second, modtls.Env{})
	if err != nil {
		modtlsshm.RemoveSessionCache(info)
		return nil, "", err
	}
	sc := c.(*modtlsshm.SessionCache)
	s.track("session", info, sc, func() string { return statusText(sc) })
	return sc, info, nil
}

// ocsp opens a new shm OCSP response cache of the given size.
func (s *segments) ocsp(size int64) (*modtlsshm.OCSPCache, string, error) {
	info := s.newInfo(size)
	c, err := modtlsshm.NewOCSPProvider().Open(info, modtls.Env{})
	if err != nil {
		modtlsshm.RemoveOCSPCache(info)
		return nil, "", err
	}
	oc := c.(*modtlsshm.OCSPCache)
	s.track("ocsp", info, oc, func() string { return statusText(oc) })
	return oc, info, nil
}

// cleanup removes every segment and cache file made, first through the
// open handles, then by info string (segments opened only by modtls or by
// another process). It returns what was made.
func (s *segments) cleanup(prog *progress) []Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.open {
		c.Remove() // an already removed cache answers ErrClosed
	}
	s.open = nil
	failed := 0
	for _, seg := range s.made {
		var err error
		if seg.Kind == "ocsp" {
			err = modtlsshm.RemoveOCSPCache(seg.Info)
		} else {
			err = modtlsshm.RemoveSessionCache(seg.Info)
		}
		if err != nil && !errors.Is(err, modtls.ErrNoStorage) { // ErrNoStorage: already removed
			failed++
			prog.printf("error removing shm segment ID %d: %v", seg.ShmID, err)
		}
	}
	if len(s.made) > 0 {
		prog.printf("removed %d shm segments (%d errors)", len(s.made)-failed, failed)
	}
	return append([]Segment(nil), s.made...)
}

func statusText(c interface {
	Status(w io.Writer, verbose bool) error
}) string {
	var b strings.Builder
	c.Status(&b, false)
	return b.String()
}

// statusNumber finds "label N ..." in a status text.
func statusNumber(text, label string) int {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), label); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.Atoi(strings.ReplaceAll(f[0], ",", ""))
				return n
			}
		}
	}
	return 0
}

// LiveSegments lists the SysV shm IDs that exist now (from
// /proc/sysvipc/shm), for checking that a run left none of its own.
func LiveSegments() (map[int]bool, error) {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	ids := map[int]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(f[1]); err == nil {
			ids[id] = true
		}
	}
	return ids, nil
}
