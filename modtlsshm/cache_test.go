package modtlsshm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
)

func TestAddGetDelete(t *testing.T) {
	s, _ := openSession(t, 0)
	ck := useClock(s.c)
	id := randBytes(t, 32)
	state := tlsState(ck.Now(), 57, 0xaa)
	if _, _, err := s.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatalf("get before add: %v", err)
	}
	exp := ck.Now().Add(30 * time.Minute)
	if err := s.Add(id, exp, state); err != nil {
		t.Fatal(err)
	}
	got, gotExp, err := s.Get(id)
	if err != nil || !bytes.Equal(got, state) || !gotExp.Equal(exp) {
		t.Fatalf("get = %x, %v, %v", got, gotExp, err)
	}
	got[0] ^= 0xff // the copy is the caller's
	if again, _, _ := s.Get(id); !bytes.Equal(again, state) {
		t.Fatal("returned state aliases the segment")
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatalf("get after delete: %v", err)
	}
	st, _ := s.SegmentStats()
	if st.Hits != 2 || st.Misses != 2 || st.Stored != 1 || st.Deleted != 1 || st.Current != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, s.c.t)
}

func TestExpiry(t *testing.T) {
	s, _ := openSession(t, 0)
	ck := useClock(s.c)
	id := randBytes(t, 32)
	if err := s.Add(id, ck.Now().Add(10*time.Second), tlsState(ck.Now(), 60, 1)); err != nil {
		t.Fatal(err)
	}
	ck.Add(9 * time.Second)
	if _, _, err := s.Get(id); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	ck.Add(1 * time.Second) // expires == now: expired, as in ProFTPD (expires > now is valid)
	if _, _, err := s.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatalf("at expiry: %v", err)
	}
	st, _ := s.SegmentStats()
	if st.Expired != 1 || st.Current != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, s.c.t)
}

func TestRestartKeepsSessions(t *testing.T) {
	s, path := openSession(t, 0)
	id := randBytes(t, 32)
	state := tlsState(time.Now(), 80, 2)
	if err := s.Add(id, time.Now().Add(time.Hour), state); err != nil {
		t.Fatal(err)
	}
	shmid := s.c.shmid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(id); !errors.Is(err, ErrClosed) {
		t.Fatalf("get on closed handle: %v", err)
	}
	s2 := openSessionAt(t, path, 0)
	if s2.c.shmid != shmid {
		t.Fatalf("reopen made a new segment %d, had %d", s2.c.shmid, shmid)
	}
	if got, _, err := s2.Get(id); err != nil || !bytes.Equal(got, state) {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestOpenCreatesFileAndSegment(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/new_cache"
	env, traces, _, _ := testEnv(t)
	sc, err := NewSessionProvider().Open("/file="+path, time.Minute, env)
	if err != nil {
		t.Fatal(err)
	}
	s := sc.(*SessionCache)
	t.Cleanup(func() { s.Remove() })
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o600 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Fatalf("file mode %o", st.Mode)
	}
	d, err := shmStat(s.c.shmid)
	if err != nil {
		t.Fatal(err)
	}
	if d.Perm.Mode&0o777 != 0o600 || d.Segsz != 1576960 {
		t.Fatalf("segment mode %o size %d", d.Perm.Mode, d.Segsz)
	}
	key := ftok(fileID{uint64(st.Dev), st.Ino}, 'F')
	if d.Perm.Key != int32(key) || uint32(key)>>24 != 0x46 {
		t.Fatalf("segment key %#x, want %#x", uint32(d.Perm.Key), uint32(key))
	}
	cap := s.c.t.g.capacity()
	for _, want := range []string{
		"<tls.shmcache:9>: opening shmcache session cache 0x",
		fmt.Sprintf("<tls.shmcache:9>: requested session cache file: %s (fd ", path),
		"<tls.shmcache:9>: requested session cache size: 1574912 bytes",
		"<tls.shmcache:9>: rounded requested size up to 1576960 bytes",
		fmt.Sprintf("<tls.shmcache:10>: attempting to attach to shm ID %d", s.c.shmid),
		fmt.Sprintf("<tls.shmcache:9>: using shm ID %d for sesscache path '%s' (%d sessions)", s.c.shmid, path, cap),
	} {
		if !strings.Contains(traces.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, traces)
		}
	}
	if strings.Contains(traces.String(), "existing shm size") {
		t.Error("new segment traced as existing")
	}
	// A second open finds the existing segment.
	env2, traces2, _, _ := testEnv(t)
	sc2, err := NewSessionProvider().Open("/file="+path, time.Minute, env2)
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	if !strings.Contains(traces2.String(), "<tls.shmcache:10>: existing shm size: 1576960 bytes") {
		t.Errorf("second open trace:\n%s", traces2)
	}
}

// TestSessionsPerMiB fills a default-size cache with typical TLS 1.3
// sessions (57-byte states, 32-byte ids) until the first one is evicted.
func TestSessionsPerMiB(t *testing.T) {
	s, _ := openSession(t, 0)
	ck := useClock(s.c)
	state := tlsState(ck.Now(), 57, 3)
	id := make([]byte, 32)
	n := 0
	for ; ; n++ {
		copy(id, fmt.Sprintf("%032d", n))
		if err := s.Add(id, ck.Now().Add(time.Hour), state); err != nil {
			t.Fatal(err)
		}
		st := s.c.t.h.Stats[statEvicted].Load()
		if st > 0 {
			break
		}
	}
	perMiB := float64(n) / (1576960.0 / (1 << 20))
	t.Logf("default segment (1576960 bytes) held %d typical sessions before the first eviction: %.0f per MiB (estimate %d)",
		n, perMiB, s.c.t.g.capacity())
	if perMiB < 6000 {
		t.Fatalf("%.0f sessions per MiB, want >= 6000", perMiB)
	}
	checkInvariants(t, s.c.t)
}

func TestLargestEntriesAlwaysFit(t *testing.T) {
	// The smallest accepted size requests, rounded, hold one entry of the
	// maximum size.
	path := cacheFile(t)
	s := openSessionAt(t, path, int(sessionKind.minRequest))
	if s.c.t.g.segSize != 12288 {
		t.Fatalf("segment %d", s.c.t.g.segSize)
	}
	id := randBytes(t, 32)
	big := tlsState(time.Now(), 10240, 4)
	for i := 0; i < 5; i++ { // repeatedly, so that the log wraps
		id[0] = byte(i)
		if err := s.Add(id, time.Now().Add(time.Hour), big); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.Get(id); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("10 KiB session %d: %v", i, err)
		}
		checkInvariants(t, s.c.t)
	}
	if st, _ := s.SegmentStats(); st.Exceeded != 0 {
		t.Fatalf("10 KiB session counted as exceeding: %+v", st)
	}
	o := openOCSP(t, path, int(ocspKind.minRequest))
	if o.c.t.g.segSize != 8192 {
		t.Fatalf("OCSP segment %d", o.c.t.g.segSize)
	}
	der := randBytes(t, 4096)
	fp := strings.Repeat("ab", 64) // 128 characters, the longest key
	for i := 0; i < 3; i++ {
		if err := o.Add(fp, der, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, _, err := o.Get(fp); err != nil || !bytes.Equal(got, der) {
			t.Fatalf("4 KiB response: %v", err)
		}
	}
}

func TestGeometry(t *testing.T) {
	for _, k := range []*kindSpec{sessionKind, ocspKind} {
		for _, req := range []int64{k.minRequest, 20664, 512000, DefaultSize, 256 << 20} {
			g, ok := computeGeometry(roundSize(req), k)
			if !ok {
				t.Fatalf("%s %d: no geometry", k.what, req)
			}
			if g.dataSize < g.maxRecord() || g.dataOff+g.dataSize > g.segSize || g.dataSize%8 != 0 {
				t.Fatalf("%s %d: %+v", k.what, req, g)
			}
			t.Logf("%s request %d: segment %d, %d buckets, data %d, capacity %d", k.what, req, g.segSize, g.buckets, g.dataSize, g.capacity())
		}
	}
}

func TestFileMismatchOnReopen(t *testing.T) {
	p := NewSessionProvider()
	a, b := cacheFile(t), cacheFile(t)
	env, _, log, _ := testEnv(t)
	c1, err := p.Open(info(a, 0), time.Minute, env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Open(info(b, 0), time.Minute, env)
	mustErr(t, err, ErrFileMismatch)
	mustErr(t, err, unix.EINVAL)
	for _, want := range []string{
		fmt.Sprintf("mod_tls_shmcache/0.2: file '%s' does not match previously configured file '%s'", b, a),
		"mod_tls_shmcache/0.2: remove existing shmcache using 'ftpdtls sesscache remove' before using new file",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// After Remove the new file may be used.
	if err := c1.Remove(); err != nil {
		t.Fatal(err)
	}
	c2, err := p.Open(info(b, 0), time.Minute, env)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	link := dir + "/link"
	target := cacheFile(t)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := dir + "/fifo"
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, log string
	}{
		{"directory", dir, fmt.Sprintf("error: unable to open file '%s': Is a directory", dir)},
		{"missing parent", dir + "/missing/f", fmt.Sprintf("error: unable to open file '%s/missing/f': No such file or directory", dir)},
		{"symlink", link, fmt.Sprintf("error: unable to open file '%s': Too many levels of symbolic links", link)},
		{"fifo", fifo, fmt.Sprintf("error: unable to use file '%s'", fifo)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, _, log, _ := testEnv(t)
			_, err := NewSessionProvider().Open("/file="+tc.path, time.Minute, env)
			if err == nil {
				t.Fatal("opened")
			}
			mustErr(t, err, unix.EINVAL)
			if !strings.Contains(log.String(), "mod_tls_shmcache/0.2: "+tc.log) {
				t.Fatalf("log %q lacks %q", log, tc.log)
			}
		})
	}
}

func TestRegistration(t *testing.T) {
	sp, err := modtls.LookupSessionCache("shm")
	if err != nil || sp.Module() != "mod_tls_shmcache.c" {
		t.Fatalf("session provider %v, %v", sp, err)
	}
	if _, ok := sp.(modtls.InfoChecker); !ok {
		t.Fatal("session provider is not an InfoChecker")
	}
	op, err := modtls.LookupOCSPCache("shm")
	if err != nil || op.Module() != "mod_tls_shmcache.c" {
		t.Fatalf("OCSP provider %v, %v", op, err)
	}
}

func TestTracesNeverShowSecrets(t *testing.T) {
	path := cacheFile(t)
	env, traces, log, tlslog := testEnv(t)
	sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	s := sc.(*SessionCache)
	defer s.Close()
	id := []byte("ID-0123456789abcdef0123456789abc")
	state := append(tlsState(time.Now(), 57, 0x41), []byte("MASTER-SECRET-MATERIAL")...)
	s.Add(id, time.Now().Add(time.Hour), state)
	s.Get(id)
	s.Get([]byte("ID-missing-0000000000000000000000")[:32])
	s.Add(id, time.Now().Add(time.Hour), make([]byte, 11000)) // oversize path
	s.Delete(id)
	var b bytes.Buffer
	s.Status(&b, true)
	for _, want := range []string{
		"<tls.shmcache:9>: adding session to shmcache session cache 0x",
		"<tls.shmcache:9>: getting session from shmcache session cache 0x",
		"<tls.shmcache:9>: removing session from shmcache session cache 0x",
		"<tls.shmcache:9>: checking shmcache session cache 0x",
		fmt.Sprintf("<tls.shmcache:19>: attempting to write-lock shmcache fd %d", s.c.t.fd),
		fmt.Sprintf("<tls.shmcache:19>: write-lock of shmcache fd %d succeeded", s.c.t.fd),
		fmt.Sprintf("<tls.shmcache:19>: attempting to unlock shmcache fd %d", s.c.t.fd),
		fmt.Sprintf("<tls.shmcache:19>: unlock of shmcache fd %d succeeded", s.c.t.fd),
	} {
		if !strings.Contains(traces.String(), want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if !strings.Contains(tlslog.String(), "shmcache: length of serialized SSL session data (11000) exceeds maximum size (10240), unable to add to shared shmcache, adding to list") {
		t.Errorf("TLSLog: %s", tlslog)
	}
	all := traces.String() + log.String() + tlslog.String()
	for _, secret := range [][]byte{id, id[:8], []byte("MASTER-SECRET"), state[14:30]} {
		if strings.Contains(all, string(secret)) || strings.Contains(strings.ToLower(all), fmt.Sprintf("%x", secret)) {
			t.Fatalf("logs or traces show %q", secret)
		}
	}
}
