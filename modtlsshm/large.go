package modtlsshm

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// largeList keeps, in this process only, the entries too large for the
// segment (over 10 KiB sessions, 4 KiB OCSP responses), so that they are
// not simply lost (ProFTPD's per-process list held at most one entry and
// returned only expired ones: B3-B5). It is an LRU bounded in entries and
// bytes; values are zeroed when they leave it.
type largeList struct {
	maxEntries int
	maxBytes   int

	n     atomic.Int32 // len(m), read without the lock by the hot path
	mu    sync.Mutex
	order list.List // *largeEntry, most recently used first
	m     map[string]*list.Element
	bytes int
}

type largeEntry struct {
	key  string
	val  []byte
	when int64
}

const (
	largeMaxEntries = 64
	largeMaxBytes   = 4 << 20
)

func newLargeList() *largeList {
	return &largeList{maxEntries: largeMaxEntries, maxBytes: largeMaxBytes, m: make(map[string]*list.Element)}
}

func (l *largeList) put(key, val []byte, when int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.m[string(key)]; ok {
		l.removeLocked(el)
	}
	e := &largeEntry{key: string(key), val: append([]byte(nil), val...), when: when}
	l.m[e.key] = l.order.PushFront(e)
	l.bytes += len(e.val)
	for len(l.m) > l.maxEntries || (l.bytes > l.maxBytes && len(l.m) > 1) {
		l.removeLocked(l.order.Back())
	}
	l.n.Store(int32(len(l.m)))
}

// get returns a copy of key's value. With expiring set, an entry whose
// when is not after now is dropped and missed (sessions).
func (l *largeList) get(key []byte, now int64, expiring bool) ([]byte, int64, bool) {
	if l.n.Load() == 0 {
		return nil, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.m[string(key)]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*largeEntry)
	if expiring && e.when <= now {
		l.removeLocked(el)
		l.n.Store(int32(len(l.m)))
		return nil, 0, false
	}
	l.order.MoveToFront(el)
	return append([]byte(nil), e.val...), e.when, true
}

// del removes key's entry; it reports whether there was one, and its when.
func (l *largeList) del(key []byte) (int64, bool) {
	if l.n.Load() == 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.m[string(key)]
	if !ok {
		return 0, false
	}
	when := el.Value.(*largeEntry).when
	l.removeLocked(el)
	l.n.Store(int32(len(l.m)))
	return when, true
}

func (l *largeList) clear() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.m)
	for el := l.order.Front(); el != nil; el = l.order.Front() {
		l.removeLocked(el)
	}
	l.n.Store(0)
	return n
}

func (l *largeList) len() int { return int(l.n.Load()) }

func (l *largeList) removeLocked(el *list.Element) {
	e := l.order.Remove(el).(*largeEntry)
	delete(l.m, e.key)
	l.bytes -= len(e.val)
	clear(e.val)
}
