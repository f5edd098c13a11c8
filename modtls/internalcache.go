package modtls

import (
	"container/list"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultInternalCacheSize is how many sessions the internal cache holds
// before it evicts the oldest; OpenSSL's internal cache default
// (SSL_SESSION_CACHE_MAX_SIZE_DEFAULT) is 20480.
const DefaultInternalCacheSize = 20480

// statusTime is ProFTPD's pr_strtime3 layout for status output.
const statusTime = "Mon Jan 02 15:04:05 2006"

// internalCache is the "internal:" TLSSessionCache: sessions in this
// process's memory, bounded in count, each expiring at its own time. It
// is the plain reference SessionCache; it serves one process only, like
// OpenSSL's internal cache in ProFTPD.
type internalCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // id -> element of order
	order   list.List                // *internalEntry, oldest insertion first
	stats   struct{ hits, misses, stored, deleted, expired uint64 }
}

type internalEntry struct {
	id      string
	expires time.Time
	state   []byte
}

// newInternalCache returns an empty cache of at most max entries
// (DefaultInternalCacheSize if max <= 0); now may be nil for time.Now.
func newInternalCache(max int, now func() time.Time) *internalCache {
	if max <= 0 {
		max = DefaultInternalCacheSize
	}
	if now == nil {
		now = time.Now
	}
	return &internalCache{max: max, now: now, entries: make(map[string]*list.Element)}
}

func (c *internalCache) Add(id []byte, expires time.Time, state []byte) error {
	if len(id) == 0 || len(id) > 32 {
		return fmt.Errorf("internal session cache: session id of %d bytes", len(id))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := string(id)
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
		delete(c.entries, key)
	}
	// When full, drop the oldest insertion (counted as expired if it
	// is): O(1), where scanning for every expired entry would be O(n)
	// on each add.
	for now := c.now(); len(c.entries) >= c.max; {
		oldest := c.order.Front()
		if now.Before(oldest.Value.(*internalEntry).expires) {
			c.stats.deleted++
		} else {
			c.stats.expired++
		}
		c.removeLocked(oldest)
	}
	e := &internalEntry{id: key, expires: expires, state: append([]byte(nil), state...)}
	c.entries[key] = c.order.PushBack(e)
	c.stats.stored++
	return nil
}

func (c *internalCache) Get(id []byte) ([]byte, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[string(id)]
	if !ok {
		c.stats.misses++
		return nil, time.Time{}, ErrCacheMiss
	}
	e := el.Value.(*internalEntry)
	if !c.now().Before(e.expires) {
		c.removeLocked(el)
		c.stats.expired++
		c.stats.misses++
		return nil, time.Time{}, ErrCacheMiss
	}
	c.stats.hits++
	return append([]byte(nil), e.state...), e.expires, nil
}

func (c *internalCache) Delete(id []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[string(id)]; ok {
		c.removeLocked(el)
		c.stats.deleted++
	}
	return nil
}

func (c *internalCache) Clear() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	c.entries = make(map[string]*list.Element)
	c.order.Init()
	c.stats.deleted += uint64(n)
	return n, nil
}

// Remove empties the cache; there is no storage beyond this process.
func (c *internalCache) Remove() error { _, err := c.Clear(); return err }

func (c *internalCache) Close() error { return nil }

func (c *internalCache) Status(w io.Writer, verbose bool) error {
	c.mu.Lock()
	n := len(c.entries)
	st := c.stats
	var sessions []internalEntry
	if verbose {
		for el := c.order.Front(); el != nil; el = el.Next() {
			sessions = append(sessions, *el.Value.(*internalEntry))
		}
	}
	c.mu.Unlock()

	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Internal (in-process) SSL session cache provided by %s", ModuleVersion)
	p("")
	p("Max session cache size: %d", c.max)
	p("Current session cache size: %d", n)
	p("")
	p("Cache lifetime hits: %d", st.hits)
	p("Cache lifetime misses: %d", st.misses)
	p("")
	p("Cache lifetime sessions stored: %d", st.stored)
	p("Cache lifetime sessions deleted: %d", st.deleted)
	p("Cache lifetime sessions expired: %d", st.expired)
	if !verbose {
		return nil
	}
	p("")
	p("Cached sessions:")
	if len(sessions) == 0 {
		p("  (none)")
	}
	for _, e := range sessions {
		WriteSessionParameters(w, e.state, e.expires)
	}
	return nil
}

// WriteSessionParameters writes ProFTPD's block describing one cached
// session (the verbose part of `tls sesscache info -v`), followed by an
// empty line. A state that DescribeSession cannot read is skipped and the
// error returned, so that the caller can log it.
func WriteSessionParameters(w io.Writer, state []byte, expires time.Time) error {
	info, err := DescribeSession(state)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  -----BEGIN SSL SESSION PARAMETERS-----\n")
	fmt.Fprintf(w, "    Protocol: %s\n", info.VersionName)
	fmt.Fprintf(w, "    Started: %s\n", info.Created.Local().Format(statusTime))
	fmt.Fprintf(w, "    Expires: %s (%d secs)\n", expires.Local().Format(statusTime),
		int64(expires.Sub(info.Created)/time.Second))
	fmt.Fprintf(w, "  -----END SSL SESSION PARAMETERS-----\n")
	fmt.Fprintf(w, "\n")
	return nil
}

func (c *internalCache) removeLocked(el *list.Element) {
	c.order.Remove(el)
	delete(c.entries, el.Value.(*internalEntry).id)
}
