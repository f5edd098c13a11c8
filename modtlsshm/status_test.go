package modtlsshm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSessionStatus(t *testing.T) {
	s, _ := openSession(t, 0)
	ck := useClock(s.c)
	created := ck.Now().Add(-5 * time.Second)
	id := []byte("\x1a\x2b\x3c\x4d" + strings.Repeat("i", 28))
	state := tlsState(created, 57, 1)
	s.Add(id, created.Add(1800*time.Second), state)
	s.Get(id)
	s.Get([]byte("missing"))
	s.Add(randBytes(t, 32), ck.Now().Add(time.Hour), make([]byte, 12000)) // exceeds
	d, _ := shmStat(s.c.shmid)
	stamp := time.Unix(s.c.t.h.Created, 0).Local().Format("Mon Jan 02 15:04:05 2006")
	common := []string{
		"Shared memory (shm) SSL session cache provided by mod_tls_shmcache/0.2",
		"",
		fmt.Sprintf("Shared memory segment ID: %d", s.c.shmid),
		"Shared memory segment size: 1576960 bytes",
		"Shared memory cache created on: " + stamp,
		fmt.Sprintf("Shared memory attach count: %d", d.Nattch),
		"",
		"Max session cache size: 10596",
		"Current session cache size: 1",
		"",
		"Cache lifetime hits: 1",
		"Cache lifetime misses: 1",
		"",
		"Cache lifetime sessions stored: 1",
		"Cache lifetime sessions deleted: 0",
		"Cache lifetime sessions expired: 0",
		"",
		"Cache lifetime errors handling sessions in cache: 0",
		"Cache lifetime sessions exceeding max entry size: 1",
		"  Largest session exceeding max entry size: 12000",
	}
	ours := []string{
		"",
		"Cache lifetime sessions replaced: 0",
		"Cache lifetime sessions evicted to make room: 0",
		"Cache lifetime lock recoveries from dead processes: 0",
		"Cache lifetime lock timeouts: 0",
		"Sessions in this process's oversize list: 1",
		fmt.Sprintf("Shared memory layout: ftpdtls version 2, 13248 index slots, 1356288 data bytes (%d in use), 64 counter stripes", 128),
	}
	var b bytes.Buffer
	if err := s.Status(&b, false); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(append(append([]string{}, common...), ours...), "\n") + "\n"
	if b.String() != want {
		t.Fatalf("status:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := s.Status(&b, true); err != nil {
		t.Fatal(err)
	}
	tf := func(x time.Time) string { return x.Local().Format("Mon Jan 02 15:04:05 2006") }
	verbose := []string{
		"",
		"Cached sessions:",
		"  -----BEGIN SSL SESSION PARAMETERS-----",
		"    Protocol: TLSv1.3",
		"    Started: " + tf(created),
		"    Expires: " + tf(created.Add(1800*time.Second)) + " (1800 secs)",
		"    Session ID prefix: 1a2b3c4d",
		"  -----END SSL SESSION PARAMETERS-----",
		"",
	}
	want = strings.Join(append(append(append([]string{}, common...), verbose...), ours...), "\n") + "\n"
	if b.String() != want {
		t.Fatalf("verbose status:\n%s\nwant:\n%s", b.String(), want)
	}
	if bytes.Contains(b.Bytes(), state[14:46]) {
		t.Fatal("status shows session secrets")
	}

	s.Clear()
	b.Reset()
	s.Status(&b, true)
	if !strings.Contains(b.String(), "\nCached sessions:\n  (none)\n") {
		t.Fatalf("empty verbose status:\n%s", b.String())
	}
}

func TestOCSPStatus(t *testing.T) {
	o := openOCSP(t, cacheFile(t), 0)
	o.Add(strings.Repeat("ab", 20), []byte("resp"), time.Now())
	var b bytes.Buffer
	if err := o.Status(&b, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	want := []string{
		"Shared memory (shm) OCSP response cache provided by mod_tls_shmcache/0.2",
		"",
		fmt.Sprintf("Shared memory segment ID: %d", o.c.shmid),
		"Shared memory segment size: 1576960 bytes",
	}
	rest := []string{
		"",
		"Max response cache size: 982",
		"Current response cache size: 1",
		"",
		"Cache lifetime hits: 0",
		"Cache lifetime misses: 0",
		"",
		"Cache lifetime responses stored: 1",
		"Cache lifetime responses deleted: 0",
		"Cache lifetime responses expired: 0",
		"",
		"Cache lifetime errors handling responses in cache: 0",
		"Cache lifetime responses exceeding max entry size: 0",
		"",
		"Cache lifetime responses replaced: 0",
	}
	if len(lines) < 22 {
		t.Fatalf("status:\n%s", b.String())
	}
	for i, w := range want {
		if lines[i] != w {
			t.Fatalf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	for i, w := range rest {
		if lines[6+i] != w {
			t.Fatalf("line %d = %q, want %q", 6+i, lines[6+i], w)
		}
	}
}
