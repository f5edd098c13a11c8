package userfs

import (
	"os/user"
	"strconv"
	"sync"
)

// Names turns numeric owners into the names listings show.
type Names interface {
	// UserName and GroupName return "" when the id has no name.
	UserName(uid uint32) string
	GroupName(gid uint32) string
}

// NameMap is a Names from fixed tables (an AuthUserFile and
// AuthGroupFile), asking Next for the ids it does not know, as ProFTPD
// asks its auth modules in turn.
type NameMap struct {
	Users  map[uint32]string
	Groups map[uint32]string
	Next   Names // may be nil
}

func (m NameMap) UserName(uid uint32) string {
	if n, ok := m.Users[uid]; ok {
		return n
	}
	if m.Next != nil {
		return m.Next.UserName(uid)
	}
	return ""
}

func (m NameMap) GroupName(gid uint32) string {
	if n, ok := m.Groups[gid]; ok {
		return n
	}
	if m.Next != nil {
		return m.Next.GroupName(gid)
	}
	return ""
}

// SystemNames looks ids up in the system's databases (/etc/passwd and
// /etc/group without cgo), remembering the answers: a listing asks for
// the same few ids over and over.
func SystemNames() Names { return systemNames }

var systemNames = &sysNames{users: map[uint32]string{}, groups: map[uint32]string{}}

type sysNames struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func (s *sysNames) UserName(uid uint32) string {
	return s.lookup(s.users, uid, func(id string) (string, error) {
		u, err := user.LookupId(id)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	})
}

func (s *sysNames) GroupName(gid uint32) string {
	return s.lookup(s.groups, gid, func(id string) (string, error) {
		g, err := user.LookupGroupId(id)
		if err != nil {
			return "", err
		}
		return g.Name, nil
	})
}

// lookup bounds the cache: an attacker who can create files with many
// owners cannot make it grow without limit.
func (s *sysNames) lookup(cache map[uint32]string, id uint32, find func(string) (string, error)) string {
	s.mu.Lock()
	n, ok := cache[id]
	s.mu.Unlock()
	if ok {
		return n
	}
	n, err := find(strconv.FormatUint(uint64(id), 10))
	if err != nil {
		n = ""
	}
	s.mu.Lock()
	if len(cache) >= 4096 {
		clear(cache)
	}
	cache[id] = n
	s.mu.Unlock()
	return n
}
