package privsep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/userfs"
)

// Client is a userfs.FS served by a broker over a session channel: the
// worker's side. Every call is one request and its reply; calls are
// serialised. Open and Create return the descriptor the broker opened
// with the user's rights, so reads and writes go straight to the file.
type Client struct {
	c     *Conn
	names userfs.Names

	mu     sync.Mutex
	id     uint32
	broken error
}

// NewClient returns the FS of the session channel c. names fills in the
// owner and group names of listings (the broker sends ids only); nil
// leaves them empty.
func NewClient(c *Conn, names userfs.Names) *Client {
	return &Client{c: c, names: names}
}

// call sends q and passes each reply to each until one without More; the
// reply's descriptor, if any, is returned with the last reply.
func (cl *Client) call(q *FSRequest, each func(*FSReply)) (*FSReply, *os.File, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.broken != nil {
		return nil, nil, cl.broken
	}
	cl.id++
	if cl.id == 0 {
		cl.id = 1
	}
	if err := cl.c.Send(cl.id, q, nil); err != nil {
		return nil, nil, cl.fail(err)
	}
	for {
		r, err := cl.c.Recv()
		if err != nil {
			return nil, nil, cl.fail(err)
		}
		var m FSReply
		err = r.Decode(&m)
		if err == nil && r.ID != cl.id {
			err = fmt.Errorf("%w: reply %d to request %d", ErrProtocol, r.ID, cl.id)
		}
		if err == nil && r.LostFile {
			err = fmt.Errorf("privsep: the file the broker opened could not be received (out of descriptors?)")
		}
		if err != nil {
			r.Close()
			return nil, nil, cl.fail(err)
		}
		if each != nil {
			each(&m)
		}
		if !m.More {
			if r.File != nil && m.Err != nil {
				r.Close()
			}
			return &m, r.File, nil
		}
		r.Close()
	}
}

// fail marks the channel unusable: after a broken exchange the replies
// can no longer be matched to requests.
func (cl *Client) fail(err error) error {
	if IsClosed(err) {
		err = ErrBrokerGone
	}
	cl.broken = err
	cl.c.Close()
	return err
}

func (cl *Client) named(fi userfs.FileInfo) userfs.FileInfo {
	if cl.names != nil {
		fi.Owner = cl.names.UserName(fi.Uid)
		fi.Group = cl.names.GroupName(fi.Gid)
	}
	return fi
}

func (cl *Client) simple(q *FSRequest) error {
	m, f, err := cl.call(q, nil)
	if err != nil {
		return err
	}
	if f != nil {
		f.Close()
	}
	return m.Err
}

func (cl *Client) stat(op uint8, name string) (userfs.FileInfo, error) {
	m, f, err := cl.call(&FSRequest{Op: op, Name: name}, nil)
	if f != nil {
		f.Close()
	}
	switch {
	case err != nil:
		return userfs.FileInfo{}, err
	case m.Err != nil:
		return userfs.FileInfo{}, m.Err
	case len(m.Infos) != 1:
		return userfs.FileInfo{}, cl.fail(fmt.Errorf("%w: %d entries for a stat", ErrProtocol, len(m.Infos)))
	}
	return cl.named(m.Infos[0]), nil
}

func (cl *Client) Stat(name string) (userfs.FileInfo, error)  { return cl.stat(OpStat, name) }
func (cl *Client) Lstat(name string) (userfs.FileInfo, error) { return cl.stat(OpLstat, name) }

func (cl *Client) ReadDir(name string) ([]userfs.FileInfo, error) {
	var out []userfs.FileInfo
	m, f, err := cl.call(&FSRequest{Op: OpReadDir, Name: name}, func(m *FSReply) {
		for _, fi := range m.Infos {
			out = append(out, cl.named(fi))
		}
	})
	if f != nil {
		f.Close()
	}
	if err != nil {
		return nil, err
	}
	if m.Err != nil {
		return nil, m.Err
	}
	return out, nil
}

func (cl *Client) Open(name string) (*os.File, userfs.FileInfo, error) {
	m, f, err := cl.call(&FSRequest{Op: OpOpen, Name: name}, nil)
	switch {
	case err != nil:
		return nil, userfs.FileInfo{}, err
	case m.Err != nil:
		return nil, userfs.FileInfo{}, m.Err
	case f == nil || len(m.Infos) != 1:
		if f != nil {
			f.Close()
		}
		return nil, userfs.FileInfo{}, cl.fail(fmt.Errorf("%w: Open reply without its file", ErrProtocol))
	}
	return f, cl.named(m.Infos[0]), nil
}

func (cl *Client) Create(name string, opt userfs.StoreOptions) (userfs.Upload, error) {
	m, f, err := cl.call(&FSRequest{Op: OpCreate, Name: name, Perm: uint32(opt.Perm.Perm()), Store: opt}, nil)
	switch {
	case err != nil:
		return nil, err
	case m.Err != nil:
		return nil, m.Err
	case f == nil:
		return nil, cl.fail(fmt.Errorf("%w: Create reply without its file", ErrProtocol))
	}
	return &upload{cl: cl, name: name, id: m.Upload, f: f}, nil
}

func (cl *Client) Mkdir(name string, perm fs.FileMode) error {
	return cl.simple(&FSRequest{Op: OpMkdir, Name: name, Perm: uint32(perm.Perm())})
}

func (cl *Client) Remove(name string) error { return cl.simple(&FSRequest{Op: OpRemove, Name: name}) }
func (cl *Client) Rmdir(name string) error  { return cl.simple(&FSRequest{Op: OpRmdir, Name: name}) }

func (cl *Client) Rename(from, to string) error {
	return cl.simple(&FSRequest{Op: OpRename, Name: from, Name2: to})
}

func (cl *Client) Chtimes(name string, mtime time.Time) error {
	return cl.simple(&FSRequest{Op: OpChtimes, Name: name, Mtime: mtime.UnixNano()})
}

func (cl *Client) Chmod(name string, mode uint32) error {
	return cl.simple(&FSRequest{Op: OpChmod, Name: name, Perm: mode & 0o7777})
}

func (cl *Client) Chgrp(name string, gid uint32) error {
	return cl.simple(&FSRequest{Op: OpChgrp, Name: name, Gid: gid})
}

// Close ends the session: the broker aborts the uploads still open.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.broken == nil {
		cl.broken = errors.New("privsep: session file system closed")
	}
	return cl.c.Close()
}

// upload is an upload the broker prepared: this process writes to its
// copy of the descriptor; the broker commits or aborts with its own.
type upload struct {
	cl   *Client
	name string
	id   uint32
	f    *os.File
	done bool
}

func (u *upload) File() *os.File { return u.f }

func (u *upload) Commit() error { return u.finish(OpCommit) }
func (u *upload) Abort() error  { return u.finish(OpAbort) }

func (u *upload) finish(op uint8) error {
	if u.done {
		if op == OpAbort {
			return nil
		}
		return errors.New("upload already finished")
	}
	u.done = true
	// Close this copy first: an in-place upload's lock is on the open
	// file, which lives until its last descriptor is closed.
	u.f.Close()
	return u.cl.simple(&FSRequest{Op: op, Name: u.name, Upload: u.id})
}
