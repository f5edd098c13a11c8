package modtlsshm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// The security tests. One command runs them all:
//
//	go test ./modtlsshm/ -run 'TestSecurity' -v

// TestSecuritySegmentIsPrivate: a new segment is owned (and created) by
// this process's user with mode 0600, and so is the cache file.
func TestSecuritySegmentIsPrivate(t *testing.T) {
	path := cacheFile(t)
	old := unix.Umask(0)
	t.Cleanup(func() { unix.Umask(old) })
	os.Remove(path) // let Open create it, with no umask to narrow its mode
	s := openSessionAt(t, path, 0)
	o := openOCSP(t, path, 0)
	euid := uint32(os.Geteuid())
	for _, id := range []int{s.c.shmid, o.c.shmid} {
		d, err := shmStat(id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Perm.Uid != euid || d.Perm.Cuid != euid || d.Perm.Mode&0o777 != 0o600 {
			t.Fatalf("shm ID %d: uid %d cuid %d mode %04o, want %d, %d, 0600", id, d.Perm.Uid, d.Perm.Cuid, d.Perm.Mode&0o777, euid, euid)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("cache file mode %v, want -rw-------", fi.Mode())
	}
}

// TestSecurityForeignSegmentRefused: a segment at the cache's key whose
// owner is another user, or whose mode is anything but 0600, is refused,
// and so is one created by another user even if its owner was then set to
// ours (the creator keeps access to it: SysV grants the owner bits to the
// creator as well as to the owner).
func TestSecurityForeignSegmentRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (IPC_SET of another owner, segments created as another user)")
	}
	cases := []struct {
		name      string
		creator   int // uid that creates the segment
		uid, mode uint32
	}{
		{"owner another user", 0, 1000, 0o600},
		{"owner nobody", 0, 65534, 0o600},
		{"group readable", 0, 0, 0o640},
		{"group writable", 0, 0, 0o660},
		{"world readable", 0, 0, 0o604},
		{"world writable", 0, 0, 0o666},
		{"owner execute bit", 0, 0, 0o700},
		{"read only", 0, 0, 0o400},
		{"created by nobody, handed to root", 65534, 0, 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := cacheFile(t)
			var id int
			if tc.creator == 0 {
				s := openSessionAt(t, path, 0)
				s.Add([]byte("a session made before the change"), time.Now().Add(time.Hour), []byte("secret"))
				id = s.c.shmid
				s.Close()
			} else {
				id = createAs(t, path, tc.creator)
			}
			d, err := shmStat(id)
			if err != nil {
				t.Fatal(err)
			}
			d.Perm.Uid, d.Perm.Mode = tc.uid, tc.mode
			if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &d); err != nil {
				t.Fatalf("IPC_SET: %v", err)
			}
			if tc.creator != 0 {
				// The creator can still attach: this is why it must be refused.
				if err := attachAs(id, tc.creator); err != nil {
					t.Logf("creator uid %d can no longer attach: %v", tc.creator, err)
				} else {
					t.Logf("creator uid %d can still attach to shm ID %d although its owner is now uid 0", tc.creator, id)
				}
			}
			env, _, log, _ := testEnv(t)
			c, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
			if err == nil {
				c.Close()
				t.Fatalf("shm ID %d (creator %d, owner %d, mode %04o) accepted", id, tc.creator, tc.uid, tc.mode)
			}
			if !errors.Is(err, ErrInsecureSegment) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("error %v, want ErrInsecureSegment", err)
			}
			if !strings.Contains(log.String(), "refusing shm ID") || !strings.Contains(log.String(), fmt.Sprintf("ipcrm -m %d", id)) {
				t.Fatalf("log lacks the refusal and remedy:\n%s", log)
			}
			if got := NewSessionProvider().CheckInfo(info(path, 0)); !strings.Contains(strings.Join(got, "\n"), "would be refused") {
				t.Fatalf("CheckInfo = %q", got)
			}
		})
	}
}

// createAs creates, with euid uid, a session segment at path's key with
// mode 0600 and a valid header (as if that user ran ftpdtls on the file);
// it is removed at cleanup.
func createAs(t *testing.T, path string, uid int) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	fid := fileID{uint64(st.Dev), st.Ino}
	size := roundSize(DefaultSize)
	var id int
	err := asUser(uid, func() error {
		var err error
		id, err = unix.SysvShmGet(ftok(fid, sessionKind.proj), int(size), unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if err != nil {
			return err
		}
		mem, err := unix.SysvShmAttach(id, 0, 0)
		if err != nil {
			return err
		}
		g, _ := computeGeometry(size, sessionKind)
		initHeader(mem, g, sessionKind, fid)
		return unix.SysvShmDetach(mem)
	})
	if err != nil {
		t.Fatalf("create as uid %d: %v", uid, err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	return id
}

func attachAs(id, uid int) error {
	return asUser(uid, func() error {
		mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
		if err == nil {
			unix.SysvShmDetach(mem)
		}
		return err
	})
}

// asUser runs f with the effective uid set to uid (every thread), then
// goes back to root.
func asUser(uid int, f func() error) error {
	if err := syscall.Setresuid(-1, uid, -1); err != nil {
		return err
	}
	defer func() {
		if err := syscall.Setresuid(-1, 0, -1); err != nil {
			panic("cannot go back to root: " + err.Error())
		}
	}()
	return f()
}

// TestSecurityCacheFileMustBeRegular: a symbolic link (to a file, to a
// directory, dangling), a directory, a FIFO or a device is refused, and
// nothing is created through a dangling link; remove through a link
// removes nothing.
func TestSecurityCacheFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	target := cacheFile(t)
	mk := func(name string, f func(p string) error) string {
		p := filepath.Join(dir, name)
		if err := f(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dangling := filepath.Join(dir, "nowhere")
	cases := []struct{ name, path string }{
		{"symlink to a file", mk("link", func(p string) error { return os.Symlink(target, p) })},
		{"symlink to a directory", mk("dirlink", func(p string) error { return os.Symlink(dir, p) })},
		{"dangling symlink", mk("dangling", func(p string) error { return os.Symlink(dangling, p) })},
		{"directory", mk("dir", func(p string) error { return os.Mkdir(p, 0o700) })},
		{"fifo", mk("fifo", func(p string) error { return unix.Mkfifo(p, 0o600) })},
		{"device", "/dev/null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, _, log, _ := testEnv(t)
			c, err := NewSessionProvider().Open("/file="+tc.path, time.Hour, env)
			if err == nil {
				c.Remove()
				t.Fatal("opened")
			}
			mustErr(t, err, syscall.EINVAL)
			if !strings.Contains(log.String(), tc.path) {
				t.Fatalf("log does not name the file:\n%s", log)
			}
			if _, err := os.Lstat(dangling); err == nil {
				t.Fatal("a file was created through the dangling link")
			}
			RemoveSessionCache("/file=" + tc.path)
			if _, err := os.Lstat(target); err != nil {
				t.Fatalf("remove through %s removed the link's target: %v", tc.name, err)
			}
		})
	}
}

// TestSecurityScrubbed: a session's id and state are gone from the raw
// segment once it is deleted, expired, cleared, replaced, evicted or the
// segment removed.
func TestSecurityScrubbed(t *testing.T) {
	cases := []struct {
		name string
		size int
		do   func(t *testing.T, s *SessionCache, ck *clock, id []byte)
	}{
		{"deleted", 0, func(t *testing.T, s *SessionCache, _ *clock, id []byte) {
			if err := s.Delete(id); err != nil {
				t.Fatal(err)
			}
		}},
		{"expired, then read", 0, func(t *testing.T, s *SessionCache, ck *clock, id []byte) {
			ck.Add(2 * time.Hour)
			if _, _, err := s.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
				t.Fatalf("expired get: %v", err)
			}
		}},
		{"expired, then another added", 0, func(t *testing.T, s *SessionCache, ck *clock, _ []byte) {
			ck.Add(2 * time.Hour)
			s.Add(randBytes(t, 32), ck.Now().Add(time.Hour), []byte("new"))
		}},
		{"expired, then deleted", 0, func(t *testing.T, s *SessionCache, ck *clock, id []byte) {
			ck.Add(2 * time.Hour)
			s.Delete(id)
		}},
		{"cleared", 0, func(t *testing.T, s *SessionCache, _ *clock, _ []byte) {
			if n, err := s.Clear(); err != nil || n != 2 {
				t.Fatalf("clear: %d %v", n, err)
			}
		}},
		{"replaced", 0, func(t *testing.T, s *SessionCache, ck *clock, id []byte) {
			s.Add(id, ck.Now().Add(time.Hour), []byte("replacement state"))
		}},
		{"replaced by an oversize state", 0, func(t *testing.T, s *SessionCache, ck *clock, id []byte) {
			s.Add(id, ck.Now().Add(time.Hour), make([]byte, 20000))
		}},
		{"evicted", 12288, func(t *testing.T, s *SessionCache, ck *clock, _ []byte) {
			for i := 0; i < 4; i++ {
				s.Add(randBytes(t, 32), ck.Now().Add(time.Hour), make([]byte, 10240))
			}
		}},
		{"removed", 0, func(t *testing.T, s *SessionCache, _ *clock, _ []byte) {
			if err := s.Remove(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openSession(t, tc.size)
			ck := useClock(s.c)
			raw, _ := rawSegment(t, path, sessionKind) // stays readable after IPC_RMID
			id, secret := randBytes(t, 32), randBytes(t, 48)
			state := tlsState(ck.Now(), 200, 0)
			copy(state[14:], secret[:32]) // where a TLS 1.3 state keeps its secret
			copy(state[100:], secret)
			if err := s.Add(id, ck.Now().Add(time.Hour), state); err != nil {
				t.Fatal(err)
			}
			s.Add(randBytes(t, 32), ck.Now().Add(3*time.Hour), []byte("a bystander"))
			if !bytes.Contains(raw, secret) || !bytes.Contains(raw, id) {
				t.Fatal("the secret is not in the segment to begin with")
			}
			tc.do(t, s, ck, id)
			if i := bytes.Index(raw, secret[:16]); i >= 0 {
				t.Fatalf("state bytes still in the segment at offset %d", i)
			}
			if i := bytes.Index(raw, id[:16]); i >= 0 && !strings.HasPrefix(tc.name, "replaced") {
				t.Fatalf("session id still in the segment at offset %d", i)
			}
		})
	}
}

// TestSecurityExpiredSessionNeverResumes runs real crypto/tls handshakes
// through modtls with the shm provider and a controlled clock: a session
// resumes within its TLSSessionCache timeout and never after it. The
// client keeps offering the first session it got (a TLS 1.3 server issues
// a new session, with a new creation time, on every resumption; a client
// that uses the newest one is not offering an expired session).
func TestSecurityExpiredSessionNeverResumes(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			ck := &clock{now: time.Now()}
			eng, s, roots := shmEngine(t, 60, ck)
			srv := serveTLS(t, func() *tls.Config { return eng.TLSConfig(nil) }, nil)
			client := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: v, MaxVersion: v,
				ClientSessionCache: &firstSessionCache{m: map[string]*tls.ClientSessionState{}}, Time: ck.Now}
			if srv.handshake(t, client) {
				t.Fatal("first handshake resumed")
			}
			if st, _ := s.SegmentStats(); st.Current == 0 {
				t.Fatal("no session stored in the shm cache")
			}
			ck.Add(30 * time.Second)
			if !srv.handshake(t, client) {
				t.Fatal("no resumption within the timeout")
			}
			ck.Add(31 * time.Second) // 61 s after the session was made
			if srv.handshake(t, client) {
				t.Fatal("a session resumed after its timeout")
			}
			// With the segment's own clock late too, every stored entry of
			// that age reads as a miss directly.
			s.c.now = func() time.Time { return ck.Now().Add(10 * time.Second) }
			list, _ := s.c.t.entries()
			for _, e := range list {
				if e.when <= ck.Now().Add(10*time.Second).Unix() {
					if _, _, err := s.Get(e.key); !errors.Is(err, modtls.ErrCacheMiss) {
						t.Fatalf("expired entry read back: %v", err)
					}
				}
			}
		})
	}
}

// firstSessionCache is a client session cache that keeps the first
// session it is given for each server and ignores later ones.
type firstSessionCache struct {
	m map[string]*tls.ClientSessionState
}

func (c *firstSessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	s, ok := c.m[key]
	return s, ok
}

func (c *firstSessionCache) Put(key string, cs *tls.ClientSessionState) {
	if _, ok := c.m[key]; !ok && cs != nil {
		c.m[key] = cs
	}
}

// TestSecurityDataCannotRideOtherControl: with the shm provider, a data
// connection that offers a session of another control connection (it is
// in the shared cache, so it could resume) is refused: the check runs
// inside the data handshake, which fails, and B's CheckData reports
// ErrDataReuse. One that resumes its own control connection's session is
// accepted.
func TestSecurityDataCannotRideOtherControl(t *testing.T) {
	ck := &clock{now: time.Now()}
	eng, _, roots := shmEngine(t, 600, ck)
	a, b := eng.NewControl(nil), eng.NewControl(nil)
	ctrlA := serveTLS(t, a.TLSConfig, nil)
	dataA := serveTLS(t, a.DataTLSConfig, a.CheckData)
	dataB := serveTLS(t, b.DataTLSConfig, b.CheckData)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: v, MaxVersion: v,
			ClientSessionCache: tls.NewLRUClientSessionCache(8), Time: ck.Now}
		ctrlA.handshake(t, client)
		if _, err := dataB.try(client); err == nil {
			t.Fatalf("%s: a data connection on B with A's session was accepted", tls.VersionName(v))
		}
		err := <-dataB.checked
		if !errors.Is(err, modtls.ErrDataReuse) || !errors.Is(err, syscall.EPERM) {
			t.Fatalf("%s: data connection on B with A's session: %v, want ErrDataReuse", tls.VersionName(v), err)
		}
		// crypto/tls's client drops a session whose resumption failed:
		// a new control connection gets it one to offer on A.
		ctrlA.handshake(t, client)
		if resumed, err := dataA.try(client); err != nil || !resumed {
			t.Fatalf("%s: data connection on A: resumed %v, %v", tls.VersionName(v), resumed, err)
		}
		if err := <-dataA.checked; err != nil {
			t.Fatalf("%s: data connection on A with A's session refused: %v", tls.VersionName(v), err)
		}
	}
}

// TestSecurityTraceHasNoSecrets captures every trace channel at levels
// 1-20, the server log and the TLSLog while sessions are added, read,
// replaced, damaged, expired, deleted, cleared and listed, and while real
// handshakes store and resume sessions through modtls; no session state
// or id appears in them, raw, in hex or in upper-case hex.
func TestSecurityTraceHasNoSecrets(t *testing.T) {
	tr := trace.New()
	var out syncbuf.Buffer
	tr.SetOutput(&out)
	for _, ch := range []string{TraceChannel, "tls", "tls.ocsp", trace.Default} {
		if err := tr.SetLevels(ch, 1, 20); err != nil {
			t.Fatal(err)
		}
	}
	env, _, log, tlslog := testEnv(t)
	env.Trace = tr
	path := cacheFile(t)
	sc, err := NewSessionProvider().Open(info(path, 0), time.Hour, env)
	if err != nil {
		t.Fatal(err)
	}
	s := sc.(*SessionCache)
	t.Cleanup(func() { s.Close() })
	ck := useClock(s.c)
	var secrets [][]byte
	secret := func(n int) []byte { b := randBytes(t, n); secrets = append(secrets, b); return b }
	exp := ck.Now().Add(time.Hour)
	id1, id2, id3 := secret(32), secret(32), secret(32)
	st1 := tlsState(ck.Now(), 120, 0)
	copy(st1[14:46], secret(32))
	st2 := append(tlsState(ck.Now(), 64, 0), secret(64)...)
	big := append(tlsState(ck.Now(), 64, 0), secret(11000)...)
	s.Add(id1, exp, st1)
	s.Add(id2, exp, st2)
	s.Add(id3, exp, big) // oversize: the per-process list
	s.Get(id1)
	s.Get(id3)
	s.Add(id1, exp, st2) // replaced
	var status bytes.Buffer
	s.Status(&status, true)
	m := s.c.t.lookup(id2, hashKey(s.c.t.seed, id2))
	off := m.off
	rec, _ := s.c.t.recordAt(off)
	s.c.t.data[off+recHdrSize+uint64(rec.KeyLen)] ^= 1 // damaged
	s.Get(id2)
	s.Add(id2, ck.Now().Add(time.Second), st1)
	ck.Add(time.Minute)
	s.Get(id2) // expired
	s.Delete(id1)
	s.Delete(id3)
	s.Clear()

	// Real handshakes through modtls on the same trace.
	eng, shm, roots := shmEngineEnv(t, 600, &clock{now: time.Now()}, env)
	srv := serveTLS(t, func() *tls.Config { return eng.TLSConfig(nil) }, nil)
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	srv.handshake(t, client)
	if !srv.handshake(t, client) {
		t.Fatal("no resumption")
	}
	list, _ := shm.c.t.entries()
	for _, e := range list {
		secrets = append(secrets, e.key, e.val[len(e.val)-40:])
	}

	texts := map[string]string{"trace": out.String(), "server log": log.String(), "TLSLog": tlslog.String()}
	if !strings.Contains(texts["trace"], "adding session to shmcache session cache") ||
		!strings.Contains(texts["trace"], "write-lock of shmcache fd ") {
		t.Fatalf("the trace did not capture the cache's level 9-19 lines:\n%s", texts["trace"])
	}
	for name, text := range texts {
		for _, sec := range secrets {
			for _, form := range []string{string(sec[:16]), hex.EncodeToString(sec[:16]), strings.ToUpper(hex.EncodeToString(sec[:16])),
				hex.EncodeToString(sec[len(sec)-16:])} {
				if strings.Contains(text, form) {
					t.Fatalf("%s contains secret bytes (%q):\n%s", name, form, text)
				}
			}
		}
	}
	t.Logf("%d trace lines, %d server log lines, %d TLSLog lines searched for %d secrets: none found",
		strings.Count(texts["trace"], "\n"), strings.Count(texts["server log"], "\n"), strings.Count(texts["TLSLog"], "\n"), len(secrets))
}

// ---- modtls with the shm provider ----

// shmEngine opens modtls for a configuration whose TLSSessionCache is
// shm with the timeout, the clock ck for modtls, crypto/tls and the
// segment, and a fresh certificate; it returns the engine, the shm cache
// and the roots that trust the certificate.
func shmEngine(t *testing.T, timeout int, ck *clock) (*modtls.TLS, *SessionCache, *x509.CertPool) {
	return shmEngineEnv(t, timeout, ck, modtls.Env{})
}

func shmEngineEnv(t *testing.T, timeout int, ck *clock, env modtls.Env) (*modtls.TLS, *SessionCache, *x509.CertPool) {
	t.Helper()
	path := cacheFile(t)
	conf := fmt.Sprintf("LoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\nTLSEngine on\nTLSSessionCache shm:/file=%s %d\n", path, timeout)
	cfg, err := directives.Parse(strings.NewReader(conf), "/etc/proftpd/tls.conf", directives.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, roots := testCertificate(t)
	eng, err := modtls.Open(cfg, env, modtls.WithClock(ck.Now), modtls.WithCertificates(nil, cert))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	sc, name := eng.SessionCache()
	s, ok := sc.(*SessionCache)
	if name != "shm" || !ok {
		t.Fatalf("session cache %q (%T), want the shm provider", name, sc)
	}
	s.c.now = ck.Now
	return eng, s, roots
}

func testCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tlsServer accepts TLS connections on 127.0.0.1 with a fresh config
// per connection, writes one byte after the handshake (so that a TLS 1.3
// client reads its ticket) and, if check is set, reports check's verdict.
type tlsServer struct {
	addr    string
	check   func(*tls.Conn) error
	checked chan error
}

// serveTLS serves TLS on 127.0.0.1 with a config from cfg; a non-nil
// check runs on each connection (it does the handshake) and its result is
// sent on the server's checked channel. check is fixed before the accept
// loop starts, so the loop never races with the test.
func serveTLS(t *testing.T, cfg func() *tls.Config, check func(*tls.Conn) error) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String(), check: check, checked: make(chan error, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			tc := tls.Server(c, cfg())
			if s.check != nil {
				err := s.check(tc)
				s.checked <- err
				if err != nil {
					c.Close()
					continue
				}
			} else if err := tc.Handshake(); err != nil {
				c.Close()
				continue
			}
			tc.Write([]byte{'x'})
			io.Copy(io.Discard, tc)
			tc.Close()
		}
	}()
	return s
}

// handshake connects with cfg, reads the server's byte and reports
// whether the session was resumed; any failure fails the test.
func (s *tlsServer) handshake(t *testing.T, cfg *tls.Config) bool {
	t.Helper()
	resumed, err := s.try(cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return resumed
}

// try connects with cfg and reads the server's byte (a TLS 1.3 server
// refuses a client after the client's side of the handshake is done, so
// the refusal shows there); it reports whether the session was resumed.
func (s *tlsServer) try(cfg *tls.Config) (bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", s.addr, cfg)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return false, err
	}
	return c.ConnectionState().DidResume, nil
}
