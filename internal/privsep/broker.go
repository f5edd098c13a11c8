package privsep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// maxUploads bounds the uploads one session may have open at once (the
// FTP engine has one at a time).
const maxUploads = 4

// Broker is the file system service of one uid: it runs in a process
// with that user's uid, gid and groups, and serves every session of the
// user the master opens on it, each confined to its own root (a
// userfs.Local, which resolves every path from the session root).
type Broker struct {
	// Open opens a session's file system; nil means userfs.NewLocal with
	// no names (the worker fills them in).
	Open func(root string) (userfs.FS, error)
	// Logf, if set, receives the broker's log lines.
	Logf func(format string, args ...any)

	mu       sync.Mutex
	sessions map[*Conn]struct{}
	wg       sync.WaitGroup
}

// Serve answers the master on ctrl until the master closes it, then waits
// for the open sessions to end. It returns nil after an orderly close by
// the master.
func (b *Broker) Serve(ctrl *Conn) error {
	defer b.wg.Wait()
	for {
		r, err := ctrl.Recv()
		if err != nil {
			if IsClosed(err) {
				return nil
			}
			b.CloseSessions()
			return err
		}
		if r.Type != TypeOpenSession {
			r.Close()
			b.CloseSessions()
			return fmt.Errorf("%w: record type %d on the broker channel", ErrProtocol, r.Type)
		}
		var m OpenSession
		if err := r.Decode(&m); err != nil || r.File == nil {
			r.Close()
			b.CloseSessions()
			if err == nil {
				err = fmt.Errorf("%w: OpenSession without its channel", ErrProtocol)
			}
			return err
		}
		id := r.ID
		sc, err := FileConn(r.File)
		r.Close()
		var fsys userfs.FS
		if err == nil {
			fsys, err = b.open(m.Root)
			if err != nil {
				sc.Close()
			}
		}
		if err != nil {
			b.logf("session of %s in %s refused: %v", m.User, m.Root, err)
			if serr := ctrl.Send(id, &SessionOpened{Err: err.Error(), Errno: errnoOf(err)}, nil); serr != nil {
				return serr
			}
			continue
		}
		b.mu.Lock()
		if b.sessions == nil {
			b.sessions = make(map[*Conn]struct{})
		}
		b.sessions[sc] = struct{}{}
		b.mu.Unlock()
		if err := ctrl.Send(id, &SessionOpened{}, nil); err != nil {
			sc.Close()
			fsys.Close()
			return err
		}
		b.wg.Go(func() {
			(&session{c: sc, fs: fsys, logf: b.logf}).serve()
			b.mu.Lock()
			delete(b.sessions, sc)
			b.mu.Unlock()
			// The master may be gone already; nothing to do then.
			_ = ctrl.Send(id, &SessionEnded{}, nil)
		})
	}
}

// CloseSessions cuts every session: their uploads are aborted.
func (b *Broker) CloseSessions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.sessions {
		c.Close()
	}
}

func (b *Broker) open(root string) (userfs.FS, error) {
	if !path.IsAbs(root) || path.Clean(root) != root {
		return nil, fmt.Errorf("session root %q is not a clean absolute path", root)
	}
	if b.Open != nil {
		return b.Open(root)
	}
	return userfs.NewLocal(root, nil)
}

func (b *Broker) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

// session serves one session channel.
type session struct {
	c       *Conn
	fs      userfs.FS
	logf    func(string, ...any)
	uploads map[uint32]userfs.Upload
	next    uint32
}

func (s *session) serve() {
	s.uploads = make(map[uint32]userfs.Upload)
	defer func() {
		for h, u := range s.uploads {
			if err := u.Abort(); err != nil {
				s.logf("aborting upload %d at the end of its session: %v", h, err)
			}
		}
		s.fs.Close()
		s.c.Close()
	}()
	for {
		r, err := s.c.Recv()
		if err != nil {
			if !IsClosed(err) {
				s.logf("session channel: %v", err)
			}
			return
		}
		var q FSRequest
		err = r.Decode(&q)
		if err == nil && (r.File != nil || r.LostFile) {
			err = fmt.Errorf("%w: a request with a descriptor", ErrProtocol)
		}
		r.Close()
		if err != nil {
			s.logf("session channel: %v", err)
			return
		}
		if err := s.do(r.ID, &q); err != nil {
			if !IsClosed(err) {
				s.logf("session channel: %v", err)
			}
			return
		}
	}
}

// do performs one request and sends its replies; an error ends the
// session (the channel is gone or broken).
func (s *session) do(id uint32, q *FSRequest) error {
	reply := func(m *FSReply, f *os.File) error { return s.c.Send(id, m, f) }
	switch q.Op {
	case OpStat, OpLstat:
		stat := s.fs.Stat
		if q.Op == OpLstat {
			stat = s.fs.Lstat
		}
		fi, err := stat(q.Name)
		if err != nil {
			return reply(&FSReply{Err: err}, nil)
		}
		return reply(&FSReply{Infos: []userfs.FileInfo{fi}}, nil)
	case OpReadDir:
		fis, err := s.fs.ReadDir(q.Name)
		if err != nil {
			return reply(&FSReply{Err: err}, nil)
		}
		return s.sendDir(id, fis)
	case OpOpen:
		f, fi, err := s.fs.Open(q.Name)
		if err != nil {
			return reply(&FSReply{Err: err}, nil)
		}
		defer f.Close()
		return reply(&FSReply{Infos: []userfs.FileInfo{fi}}, f)
	case OpCreate:
		if len(s.uploads) >= maxUploads {
			return reply(&FSReply{Err: &fs.PathError{Op: "create", Path: q.Name, Err: userfs.ErrBusy}}, nil)
		}
		if !safeAffix(q.Store.HiddenPrefix) || !safeAffix(q.Store.HiddenSuffix) {
			return reply(&FSReply{Err: &fs.PathError{Op: "create", Path: q.Name, Err: fs.ErrInvalid}}, nil)
		}
		u, err := s.fs.Create(q.Name, q.Store)
		if err != nil {
			return reply(&FSReply{Err: err}, nil)
		}
		s.next++
		s.uploads[s.next] = u
		// The worker writes through its copy of the descriptor; this
		// process keeps its own for Commit (fsync, rename) or Abort.
		return reply(&FSReply{Upload: s.next}, u.File())
	case OpCommit, OpAbort:
		u, ok := s.uploads[q.Upload]
		if !ok {
			return reply(&FSReply{Err: &fs.PathError{Op: "upload", Path: q.Name, Err: fs.ErrInvalid}}, nil)
		}
		delete(s.uploads, q.Upload)
		if q.Op == OpCommit {
			return reply(&FSReply{Err: u.Commit()}, nil)
		}
		return reply(&FSReply{Err: u.Abort()}, nil)
	case OpMkdir:
		return reply(&FSReply{Err: s.fs.Mkdir(q.Name, fs.FileMode(q.Perm))}, nil)
	case OpRemove:
		return reply(&FSReply{Err: s.fs.Remove(q.Name)}, nil)
	case OpRmdir:
		return reply(&FSReply{Err: s.fs.Rmdir(q.Name)}, nil)
	case OpRename:
		return reply(&FSReply{Err: s.fs.Rename(q.Name, q.Name2)}, nil)
	case OpChtimes:
		return reply(&FSReply{Err: s.fs.Chtimes(q.Name, time.Unix(0, q.Mtime))}, nil)
	case OpChmod:
		return reply(&FSReply{Err: s.fs.Chmod(q.Name, q.Perm)}, nil)
	case OpChgrp:
		return reply(&FSReply{Err: s.fs.Chgrp(q.Name, q.Gid)}, nil)
	}
	return fmt.Errorf("%w: operation %d", ErrProtocol, q.Op)
}

// sendDir sends a listing in as many replies as it takes.
func (s *session) sendDir(id uint32, fis []userfs.FileInfo) error {
	const budget = MaxRecord - HeaderSize - 2*MaxText // room for the fixed fields
	for {
		n, size := 0, 0
		for n < len(fis) && n < MaxInfos && size+infoSize(&fis[n]) <= budget {
			size += infoSize(&fis[n])
			n++
		}
		if n == 0 && len(fis) > 0 {
			n = 1 // cannot happen with the field limits; never loop
		}
		more := n < len(fis)
		if err := s.c.Send(id, &FSReply{Infos: fis[:n], More: more}, nil); err != nil {
			return err
		}
		if !more {
			return nil
		}
		fis = fis[n:]
	}
}

// safeAffix: a HiddenStores prefix or suffix may not make the hidden
// name a path.
func safeAffix(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return false
		}
	}
	return true
}

// ErrBrokerGone: the broker serving the session has exited.
var ErrBrokerGone = errors.New("privsep: the session's file service has exited")
