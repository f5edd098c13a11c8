package privsep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// TestMain runs the test binary as a broker when the Brokers table of a
// test starts it (as /proc/self/exe).
func TestMain(m *testing.M) {
	if IsBroker() {
		os.Exit(BrokerMain(os.Stderr))
	}
	os.Exit(m.Run())
}

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, f, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestMessagesRoundTrip(t *testing.T) {
	a, b := pair(t)
	for _, m := range []Message{
		&Ready{PID: 42},
		&Fatal{Err: "no users"},
		&NewConn{Conn: 7, Remote: "127.0.0.1:5000", Local: "127.0.0.1:21"},
		&Login{User: "alice", Password: "p\x00ss", Remote: "[::1]:1", Local: "[::1]:21"},
		&LoginReply{Status: LoginOK, User: "alice", Uid: 1001, Gid: 1002, Groups: []string{"staff", "ftp"}, Home: "/srv/a", Root: "/srv/a", Cwd: "/"},
		&LoginReply{Status: LoginIncorrect, Reply: "no such user"},
		&Admit{Kind: AdmitLogin, User: "alice", Remote: "192.0.2.1:4"},
		&AdmitReply{Code: 530, Msg: "Sorry, the maximum number of allowed clients (2) are already connected.", Log: "Connection refused (MaxClients 2)"},
		&AdmitReply{Ticket: 99},
		&Release{Ticket: 99},
		&Closed{Conn: 7},
		&Drain{},
		&Shutdown{GraceMillis: 1500},
		&OpenSession{Root: "/srv/a", User: "alice"},
		&SessionOpened{Err: "permission denied", Errno: 13},
		&LoginReply{Status: LoginNoRoot, Reply: "unable to set DefaultRoot directory"},
		&SessionEnded{},
		&FSRequest{Op: OpCreate, Name: "/a", Perm: 0o640, Store: userfs.StoreOptions{Mode: userfs.StoreRestart, Offset: 9, Overwrite: true, Hidden: true, HiddenPrefix: ".in.", HiddenSuffix: ".", DeleteAborted: true, Perm: 0o640}},
		&FSRequest{Op: OpRename, Name: "/a", Name2: "/b"},
		&FSRequest{Op: OpChmod, Name: "/a", Perm: 0o4755},
		&FSRequest{Op: OpChgrp, Name: "/a", Gid: 4242},
	} {
		if err := a.Send(3, m, nil); err != nil {
			t.Fatalf("send %T: %v", m, err)
		}
		r, err := b.Recv()
		if err != nil {
			t.Fatalf("recv %T: %v", m, err)
		}
		got := m
		switch m.(type) {
		case *Ready:
			got = &Ready{}
		case *Fatal:
			got = &Fatal{}
		case *NewConn:
			got = &NewConn{}
		case *Login:
			got = &Login{}
		case *Admit:
			got = &Admit{}
		case *AdmitReply:
			got = &AdmitReply{}
		case *Release:
			got = &Release{}
		case *LoginReply:
			got = &LoginReply{}
		case *Closed:
			got = &Closed{}
		case *Drain:
			got = &Drain{}
		case *Shutdown:
			got = &Shutdown{}
		case *OpenSession:
			got = &OpenSession{}
		case *SessionOpened:
			got = &SessionOpened{}
		case *SessionEnded:
			got = &SessionEnded{}
		case *FSRequest:
			got = &FSRequest{}
		}
		if err := r.Decode(got); err != nil {
			t.Fatalf("decode %T: %v", m, err)
		}
		if r.ID != 3 || !equalMsg(got, m) {
			t.Errorf("%T: sent %+v, received %+v (id %d)", m, m, got, r.ID)
		}
		if err := r.Decode(&Ready{}); r.Type != TypeReady && !errors.Is(err, ErrProtocol) {
			t.Errorf("%T decoded as Ready: %v", m, err)
		}
	}
}

func equalMsg(a, b Message) bool {
	var ea, eb encoder
	a.encode(&ea)
	b.encode(&eb)
	return bytes.Equal(ea.b, eb.b)
}

func TestFSReplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		is   []error
	}{
		{"enoent", &fs.PathError{Op: "stat", Path: "/x", Err: syscall.ENOENT}, []error{fs.ErrNotExist, syscall.ENOENT}},
		{"enospc", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, []error{syscall.ENOSPC}},
		{"overwrite", &fs.PathError{Op: "create", Path: "/x", Err: userfs.ErrOverwrite}, []error{userfs.ErrOverwrite, fs.ErrPermission}},
		{"not regular", &fs.PathError{Op: "open", Path: "/fifo", Err: userfs.ErrNotRegular}, []error{userfs.ErrNotRegular}},
		{"busy", userfs.ErrBusy, []error{userfs.ErrBusy}},
		{"offset", &fs.PathError{Op: "create", Path: "/x", Err: userfs.ErrInvalidOffset}, []error{userfs.ErrInvalidOffset}},
		{"invalid", &fs.PathError{Op: "stat", Path: "x", Err: fs.ErrInvalid}, []error{fs.ErrInvalid}},
		{"other", errors.New("odd"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e encoder
			(&FSReply{Err: tc.err}).encode(&e)
			var got FSReply
			d := decoder{b: e.b}
			got.decode(&d)
			if err := d.done(); err != nil {
				t.Fatal(err)
			}
			if got.Err == nil || got.Err.Error() != tc.err.Error() {
				t.Errorf("error %v, want %v", got.Err, tc.err)
			}
			for _, target := range tc.is {
				if !errors.Is(got.Err, target) {
					t.Errorf("%v is not %v", got.Err, target)
				}
			}
		})
	}
}

// TestWireLimits: every malformed record is refused, and a refused
// record's descriptor is closed.
func TestWireLimits(t *testing.T) {
	a, b := pair(t)
	raw := func(rec []byte, f *os.File) error {
		t.Helper()
		if f == nil {
			_, _, err := a.uc.WriteMsgUnix(rec, nil, nil)
			return err
		}
		rc, _ := f.SyscallConn()
		var werr error
		rc.Control(func(fd uintptr) { _, _, werr = a.uc.WriteMsgUnix(rec, unix.UnixRights(int(fd)), nil) })
		return werr
	}
	hdr := func(v, typ, nfds, res uint8, length uint32, body []byte) []byte {
		b := make([]byte, HeaderSize)
		header{Version: v, Type: typ, NFDs: nfds, Reserved: res, ID: 1, Length: length}.put(b)
		return append(b, body...)
	}
	for _, tc := range []struct {
		name string
		rec  []byte
		file bool
	}{
		{"short", []byte{1, 2, 3}, false},
		{"version", hdr(Version+1, TypeReady, 0, 0, 4, []byte{0, 0, 0, 1}), false},
		{"reserved", hdr(Version, TypeReady, 0, 9, 4, []byte{0, 0, 0, 1}), false},
		{"length", hdr(Version, TypeReady, 0, 0, 5, []byte{0, 0, 0, 1}), false},
		{"nfds", hdr(Version, TypeReady, 2, 0, 4, []byte{0, 0, 0, 1}), false},
		{"unannounced descriptor", hdr(Version, TypeReady, 0, 0, 4, []byte{0, 0, 0, 1}), true},
		{"oversize", hdr(Version, TypeReady, 0, 0, MaxRecord, make([]byte, MaxRecord)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *os.File
			if tc.file {
				var err error
				if f, err = os.Open(os.DevNull); err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			if err := raw(tc.rec, f); err != nil {
				t.Fatal(err)
			}
			r, err := b.Recv()
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Recv = %+v, %v; want ErrProtocol", r, err)
			}
		})
	}
	// Field limits inside a well-formed record.
	for _, tc := range []struct {
		name string
		body []byte
		m    Message
	}{
		{"long user", append([]byte{0x01, 0x01}, make([]byte, 257)...), &Login{}},
		{"admit kind", []byte{3, 0, 0, 0, 0}, &Admit{}},
		{"reply code", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0}, &AdmitReply{}},
		{"trailing", []byte{0, 0, 0, 1, 9}, &Ready{}},
		{"bool", append(make([]byte, 1+2+2+4+8+4+1+8), 7), &FSRequest{}},
		{"op", append([]byte{99}, make([]byte, 40)...), &FSRequest{}},
		{"status", []byte{9}, &LoginReply{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Record{Type: tc.m.Type(), body: tc.body}
			if err := r.Decode(tc.m); !errors.Is(err, ErrProtocol) {
				t.Fatalf("Decode = %v, want ErrProtocol", err)
			}
		})
	}
	// An over-long field cannot even be sent.
	if err := a.Send(1, &Login{User: strings.Repeat("u", MaxName+1)}, nil); err == nil {
		t.Error("a user name over the limit was sent")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range []Message{&LoginReply{Status: LoginOK, Groups: []string{"a"}}, &FSRequest{Op: OpStat, Name: "/"}, &FSReply{Infos: []userfs.FileInfo{{Name: "x"}}}} {
		var e encoder
		m.encode(&e)
		f.Add(m.Type(), e.b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) {
		for _, m := range []Message{&Ready{}, &Fatal{}, &NewConn{}, &Login{}, &LoginReply{}, &Closed{}, &Shutdown{}, &Admit{}, &AdmitReply{}, &Release{}, &OpenSession{}, &SessionOpened{}, &FSRequest{}, &FSReply{}} {
			r := &Record{Type: m.Type(), body: body}
			if err := r.Decode(m); err == nil {
				// What decodes re-encodes to the same bytes.
				var e encoder
				m.encode(&e)
				if _, ok := m.(*FSReply); !ok && !bytes.Equal(e.b, body) {
					t.Fatalf("%T: %x re-encodes as %x", m, body, e.b)
				}
			}
		}
	})
}

// TestDescriptorPassing: a descriptor arrives with its record, and a
// closed peer reads as EOF.
func TestDescriptorPassing(t *testing.T) {
	a, b := pair(t)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Send(5, &Ready{PID: 1}, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := b.Recv()
	if err != nil || r.File == nil || r.ID != 5 {
		t.Fatalf("Recv = %+v, %v", r, err)
	}
	got, err := io.ReadAll(r.File)
	r.Close()
	if err != nil || string(got) != "content" {
		t.Fatalf("passed file reads %q, %v", got, err)
	}
	a.Close()
	if _, err := b.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer closed: %v, want EOF", err)
	}
}

// startBroker serves a broker in this process on one end of a pair and
// opens a session rooted at dir through it.
func startBroker(t *testing.T, dir string) *Client {
	t.Helper()
	mctl, bctl := pair(t)
	b := &Broker{Logf: t.Logf}
	done := make(chan error, 1)
	go func() { done <- b.Serve(bctl) }()
	t.Cleanup(func() {
		mctl.Close()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	mine, theirs, err := pairFiles()
	if err != nil {
		t.Fatal(err)
	}
	if err := mctl.Send(9, &OpenSession{Root: dir, User: "alice"}, theirs); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	r, err := mctl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var m SessionOpened
	if err := r.Decode(&m); err != nil || m.Err != "" || r.ID != 9 {
		t.Fatalf("SessionOpened %+v, %v", m, err)
	}
	c, err := FileConn(mine)
	mine.Close()
	if err != nil {
		t.Fatal(err)
	}
	cl := NewClient(c, userfs.NameMap{Users: map[uint32]string{uint32(os.Getuid()): "me"}})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestClientBroker: every FS operation works through a broker, files come
// back as descriptors, errors keep their sentinels, and the session stays
// inside its root.
func TestClientBroker(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "escape"))
	cl := startBroker(t, dir)

	if err := cl.Mkdir("/d", 0o750); err != nil {
		t.Fatal(err)
	}
	up, err := cl.Create("/d/f", userfs.StoreOptions{Perm: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.File().WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d/f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("upload visible before Commit: %v", err)
	}
	if err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "d/f")); err != nil || string(b) != "hello" {
		t.Fatalf("committed file: %q, %v", b, err)
	}
	fi, err := cl.Stat("/d/f")
	if err != nil || fi.Size != 5 || fi.Mode.Perm() != 0o640 || fi.Owner != "me" {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	f, fi, err := cl.Open("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello" || fi.Name != "f" {
		t.Errorf("Open: %q, %+v", b, fi)
	}

	// An aborted replacement leaves the file as it was.
	up, err = cl.Create("/d/f", userfs.StoreOptions{Overwrite: true, Perm: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	up.File().WriteString("partial")
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d/f")); string(b) != "hello" {
		t.Errorf("after an aborted replacement: %q", b)
	}
	if _, err := cl.Create("/d/f", userfs.StoreOptions{Perm: 0o600}); !errors.Is(err, userfs.ErrOverwrite) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("overwrite without AllowOverwrite: %v", err)
	}

	// Many entries take several replies.
	for i := range 3000 {
		os.WriteFile(filepath.Join(dir, "d", strings.Repeat("n", 60)+string(rune('a'+i%26))+strings.Repeat("x", i%7)+strconv.Itoa(i)), nil, 0o600)
	}
	list, err := cl.ReadDir("/d")
	if err != nil || len(list) != 3001 {
		t.Fatalf("ReadDir: %d entries, %v", len(list), err)
	}
	if !slices.IsSortedFunc(list, func(a, b userfs.FileInfo) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("ReadDir is not sorted")
	}

	if err := cl.Rename("/d/f", "/g"); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := cl.Chtimes("/g", mt); err != nil {
		t.Fatal(err)
	}
	if fi, err := cl.Lstat("/g"); err != nil || !fi.ModTime.Equal(mt) {
		t.Errorf("Lstat after Chtimes: %+v, %v", fi, err)
	}
	// SITE CHMOD and SITE CHGRP, through a link inside the root.
	os.Symlink("g", filepath.Join(dir, "glink"))
	if err := cl.Chgrp("/glink", uint32(os.Getgid())); err != nil {
		t.Fatal(err)
	}
	if err := cl.Chmod("/glink", 0o2751); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "g")); err != nil || fi.Mode().Perm() != 0o751 || fi.Mode()&fs.ModeSetgid == 0 {
		t.Errorf("after Chmod 02751: %v, %v", fi.Mode(), err)
	}
	if err := cl.Chmod("/missing", 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Chmod of a missing file: %v", err)
	}
	if err := cl.Remove("/g"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rmdir("/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Rmdir of a full directory: %v", err)
	}
	if _, err := cl.Stat("/g"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a removed file: %v", err)
	}
	if _, _, err := cl.Open("/escape"); err == nil {
		t.Error("a symbolic link led out of the root")
	}
	if _, _, err := cl.Open("/d"); !errors.Is(err, userfs.ErrNotRegular) {
		t.Errorf("Open of a directory: %v", err)
	}
	if _, err := cl.Stat("relative"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Stat of a relative path: %v", err)
	}
}

// TestSessionEndAbortsUploads: a worker that goes away mid-upload leaves
// the file as it was.
func TestSessionEndAbortsUploads(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("old"), 0o600)
	cl := startBroker(t, dir)
	up, err := cl.Create("/f", userfs.StoreOptions{Mode: userfs.StoreAppend, Perm: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	up.File().WriteString("-appended")
	up.File().Close()
	cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "f"))
		if string(b) == "old" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the session ended the file holds %q, want it as it was", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadStatus(t *testing.T) {
	st, err := ReadStatus("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if st.Uid[0] != uint32(os.Getuid()) || st.Gid[1] != uint32(os.Getegid()) {
		t.Errorf("status %+v for uid %d gid %d", st, os.Getuid(), os.Getegid())
	}
	groups, _ := os.Getgroups()
	var want []uint32
	for _, g := range groups {
		want = append(want, uint32(g))
	}
	if err := st.Is(Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Groups: want}); err != nil {
		t.Error(err)
	}
	if err := st.Is(Credential{Uid: 12345, Gid: uint32(os.Getgid()), Groups: want}); err == nil {
		t.Error("a wrong uid matched")
	}
}

// requireRoot skips a test that needs root, or fails it when CI demands
// every test run (FTPDTLS_REQUIRE_PEERS=1).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("FTPDTLS_REQUIRE_PEERS") == "1" {
		t.Fatal("this test needs root (it starts processes as other users); FTPDTLS_REQUIRE_PEERS=1 requires it")
	}
	t.Skip("needs root: it starts processes as other users")
}

// TestBrokerProcesses: as root, the broker of a uid is a process with
// exactly that uid, gid and groups; its sessions create files owned by
// it and cannot read what the uid cannot; one broker serves every session
// of its uid; an idle broker exits.
func TestBrokerProcesses(t *testing.T) {
	requireRoot(t)
	const uid, gid = 54321, 54322
	home := worldDir(t)
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "root-only"), []byte("secret"), 0o600)
	ro := filepath.Join(home, "ro")
	os.Mkdir(ro, 0o555)

	var logs strings.Builder
	p := &Brokers{Args: []string{"ftpdtls-test-broker"}, Stderr: os.Stderr, Idle: 50 * time.Millisecond,
		Logf: func(f string, a ...any) { logs.WriteString(fmt.Sprintf(f, a...) + "\n") }}
	t.Cleanup(func() { p.Close(5 * time.Second) })
	cred := Credential{Uid: uid, Gid: gid, Groups: []uint32{gid, 54323}}
	open := func() *Client {
		t.Helper()
		f, err := p.Open(context.Background(), cred, home, "alice")
		if err != nil {
			t.Fatal(err)
		}
		c, err := FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		return NewClient(c, nil)
	}
	c1, c2 := open(), open()
	if n := p.Sessions()[uid]; n != 2 {
		t.Errorf("%d sessions in the broker, want 2 (one broker per uid)", n)
	}
	p.mu.Lock()
	pid := p.m[cred.key()].cmd.Process.Pid
	p.mu.Unlock()
	st, err := ReadStatus("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Is(cred); err != nil || NoNewPrivsAllThreads() && !st.NoNewPrivs {
		t.Errorf("broker process: %v (no_new_privs %v)", err, st.NoNewPrivs)
	}

	if _, _, err := c1.Open("/root-only"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("reading a root-only file: %v, want permission denied", err)
	}
	up, err := c2.Create("/new", userfs.StoreOptions{Perm: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	up.File().WriteString("x")
	if err := up.Commit(); err != nil {
		t.Fatal(err)
	}
	var sys syscall.Stat_t
	if err := syscall.Stat(filepath.Join(home, "new"), &sys); err != nil || sys.Uid != uid || sys.Gid != gid {
		t.Errorf("uploaded file owned by %d:%d (%v), want %d:%d", sys.Uid, sys.Gid, err, uid, gid)
	}
	if _, err := c2.Create("/ro/x", userfs.StoreOptions{Perm: 0o644}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("upload into a directory the uid cannot write: %v", err)
	}
	if err := c2.Mkdir("/ro/d", 0o755); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("mkdir in a directory the uid cannot write: %v", err)
	}

	c1.Close()
	c2.Close()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("idle broker %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The next login starts a new broker.
	c3 := open()
	if _, err := c3.Stat("/new"); err != nil {
		t.Error(err)
	}
	c3.Close()

	// A session root the broker cannot open says why, errno included
	// (the daemon logs a DefaultRoot that cannot be used in ProFTPD's
	// words).
	if _, err := p.Open(context.Background(), cred, filepath.Join(home, "missing"), "alice"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing session root: %v, want ErrNotExist", err)
	}
	if _, err := p.Open(context.Background(), cred, filepath.Join(home, "new"), "alice"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("a session root that is a file: %v, want ENOTDIR", err)
	}

	// No broker for root without RootLogin.
	if _, err := p.Open(context.Background(), Credential{Uid: 0, Gid: 0}, home, "root"); err == nil {
		t.Error("a broker ran as root")
	}
}

// worldDir makes a directory that other users can reach (t.TempDir's
// parent is private to root).
func worldDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ftpdtls-privsep-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
