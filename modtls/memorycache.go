package modtls

import (
	"container/list"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultInternalCacheSize is how many sessions a MemoryCache holds by
// default before it evicts the oldest; OpenSSL's internal cache default
// (SSL_SESSION_CACHE_MAX_SIZE_DEFAULT) is 20480.
const DefaultInternalCacheSize = 20480

// statusTime is ProFTPD's pr_strtime3 layout for status output.
const statusTime = "Mon Jan 02 15:04:05 2006"

// MemoryCache is the "internal:" TLSSessionCache: sessions in this
// process's memory, bounded in count, each expiring at its own time. It
// is the reference SessionCache (read it to write a provider) and serves
// one process only, like OpenSSL's internal cache in ProFTPD; use a
// shared cache (modtlsshm, modtlsredis) for several processes. It is
// safe for concurrent use.
type MemoryCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // id -> element of order
	order   list.List                // *memoryEntry, oldest insertion first
	stats   Stats                    // Entries and Capacity are filled in by Stats
}

type memoryEntry struct {
	id      string
	expires time.Time
	state   []byte
}

// NewMemoryCache returns an empty cache of at most max sessions
// (DefaultInternalCacheSize if max <= 0); now is its clock (nil:
// time.Now).
func NewMemoryCache(max int, now func() time.Time) *MemoryCache {
	if max <= 0 {
		max = DefaultInternalCacheSize
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryCache{max: max, now: now, entries: make(map[string]*list.Element)}
}

// Add stores a copy of state under id until expires; when the cache is
// full, the oldest entry makes room (counted as evicted, or expired if it
// had).
func (c *MemoryCache) Add(id []byte, expires time.Time, state []byte) error {
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
		if now.Before(oldest.Value.(*memoryEntry).expires) {
			c.stats.Evicted++
		} else {
			c.stats.Expired++
		}
		c.removeLocked(oldest)
	}
	e := &memoryEntry{id: key, expires: expires, state: append([]byte(nil), state...)}
	c.entries[key] = c.order.PushBack(e)
	c.stats.Stored++
	return nil
}

// Get returns a copy of the state stored under id and its expiry, or
// ErrCacheMiss.
func (c *MemoryCache) Get(id []byte) ([]byte, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[string(id)]
	if !ok {
		c.stats.Misses++
		return nil, time.Time{}, ErrCacheMiss
	}
	e := el.Value.(*memoryEntry)
	if !c.now().Before(e.expires) {
		c.removeLocked(el)
		c.stats.Expired++
		c.stats.Misses++
		return nil, time.Time{}, ErrCacheMiss
	}
	c.stats.Hits++
	return append([]byte(nil), e.state...), e.expires, nil
}

// Delete removes the entry under id, if any.
func (c *MemoryCache) Delete(id []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[string(id)]; ok {
		c.removeLocked(el)
		c.stats.Deleted++
	}
	return nil
}

// Clear removes every entry and returns how many there were.
func (c *MemoryCache) Clear() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	c.entries = make(map[string]*list.Element)
	c.order.Init()
	c.stats.Deleted += uint64(n)
	return n, nil
}

// Remove empties the cache; there is no storage beyond this process.
func (c *MemoryCache) Remove() error { _, err := c.Clear(); return err }

// Close does nothing: the cache has no handle to release.
func (c *MemoryCache) Close() error { return nil }

// Stats returns the cache's counters since it was made.
func (c *MemoryCache) Stats() (Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Entries, st.Capacity = uint64(len(c.entries)), uint64(c.max)
	return st, nil
}

// Status writes the cache's status as mod_tls's controls show OpenSSL's
// internal cache; verbose also lists the sessions.
func (c *MemoryCache) Status(w io.Writer, verbose bool) error {
	c.mu.Lock()
	n := len(c.entries)
	st := c.stats
	var sessions []memoryEntry
	if verbose {
		for el := c.order.Front(); el != nil; el = el.Next() {
			sessions = append(sessions, *el.Value.(*memoryEntry))
		}
	}
	c.mu.Unlock()

	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Internal (in-process) SSL session cache provided by %s", ModuleVersion)
	p("")
	p("Max session cache size: %d", c.max)
	p("Current session cache size: %d", n)
	p("")
	p("Cache lifetime hits: %d", st.Hits)
	p("Cache lifetime misses: %d", st.Misses)
	p("")
	p("Cache lifetime sessions stored: %d", st.Stored)
	p("Cache lifetime sessions deleted: %d", st.Deleted)
	p("Cache lifetime sessions expired: %d", st.Expired)
	p("Cache lifetime sessions evicted: %d", st.Evicted)
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

func (c *MemoryCache) removeLocked(el *list.Element) {
	c.order.Remove(el)
	delete(c.entries, el.Value.(*memoryEntry).id)
}
