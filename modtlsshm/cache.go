package modtlsshm

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// ModuleVersion prefixes the module's server log lines, as in ProFTPD.
const ModuleVersion = "mod_tls_shmcache/0.2"

// ModuleName is the module's name for LoadModule and <IfModule>.
const ModuleName = "mod_tls_shmcache.c"

// TraceChannel is the trace channel of this module.
const TraceChannel = "tls.shmcache"

// ErrFileMismatch: the "shm" provider opened a cache on another file
// before in this process, and that cache is still open (ProFTPD's check
// when a restart changes the file). OpenSessionCache and OpenOCSPCache
// open any number of caches.
var ErrFileMismatch = errors.New("does not match previously configured file")

// ErrKeyLength: a key is empty or longer than the cache accepts (32-byte
// session ids, 128-byte OCSP fingerprints; ProFTPD did not check, B16).
var ErrKeyLength = errors.New("shmcache key length out of range")

// provider opens caches of one kind and remembers which file this process
// uses, as ProFTPD does across restarts.
type provider struct {
	k  *kindSpec
	mu sync.Mutex
	// open counts this process's open handles per file; last is the file
	// of the newest open.
	open map[string]int
	last string
}

func newProvider(k *kindSpec) *provider { return &provider{k: k, open: make(map[string]int)} }

func (p *provider) Module() string { return ModuleName }

// claim records an open of path, refusing a different file while a
// cache on the previous one is still open (ProFTPD's restart check).
func (p *provider) claim(path string) (prev string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != "" && p.last != path && p.open[p.last] > 0 {
		return p.last, ErrFileMismatch
	}
	p.open[path]++
	p.last = path
	return "", nil
}

// release undoes claim; forget also drops the memory of the file (after
// Remove, any file may be used).
func (p *provider) release(path string, forget bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[path] > 0 {
		p.open[path]--
	}
	if p.open[path] == 0 {
		delete(p.open, path)
	}
	if forget && p.last == path {
		p.last = ""
	}
}

// cache is an open shm cache of either kind.
type cache struct {
	k       *kindSpec
	p       *provider
	path    string
	env     modtls.Env
	ch      *trace.Channel
	timeout time.Duration
	now     func() time.Time

	mu    sync.RWMutex // shared by operations, exclusive for Close and Remove
	t     *table       // nil once closed
	file  *os.File
	fid   fileID
	shmid int
	large *largeList
}

func (c *cache) notice(format string, args ...any) {
	if c.env.Log != nil {
		c.env.Log.Warnf(ModuleVersion+": "+format, args...)
	}
}

func (c *cache) debug(format string, args ...any) {
	if c.env.Log != nil {
		c.env.Log.Debugf(ModuleVersion+": "+format, args...)
	}
}

func (c *cache) tlslog(format string, args ...any) {
	if c.env.TLSLog != nil {
		c.env.TLSLog.Infof("shmcache: "+format, args...)
	}
}

// cacheWord is how traces name the cache ("session cache", "ocsp cache").
func (c *cache) cacheWord() string { return c.k.cacheWord() }

func (k *kindSpec) cacheWord() string {
	if k.kind == kindSession {
		return "session cache"
	}
	return "ocsp cache"
}

// open is Open of either provider, returning the cache itself.
func open(p *provider, info string, timeout time.Duration, env modtls.Env) (*cache, error) {
	return openMode(p, info, timeout, env, false)
}

// openMode is the providers' open without creating anything
// (OpenExisting, the status of the cache controls) when existing is set:
// a missing cache file or segment is ErrNoSegment, and root may open a
// segment private to another user (see checkOwner). Open itself calls
// OpenSessionCache or OpenOCSPCache with the Options of the info string.
func openMode(p *provider, info string, timeout time.Duration, env modtls.Env, existing bool) (*cache, error) {
	opts, err := p.options(info, env)
	if err != nil {
		return nil, err
	}
	return openCache(p.k, opts, timeout, existing)
}

// openCache opens the cache of kind k that opts name: ProFTPD's open,
// with the fixes docs/DIVERGENCES.md lists. Every open, from Go or from
// an info string, comes here.
func openCache(k *kindSpec, opts Options, timeout time.Duration, existing bool) (*cache, error) {
	env := opts.env()
	c := &cache{k: k, p: opts.provider, env: env, ch: env.Trace.Channel(TraceChannel), timeout: timeout, now: time.Now}
	if c.p == nil {
		c.ch.Msg(9, "opening shmcache %s %p", c.cacheWord(), c)
	}
	ci, err := opts.cacheInfo(k)
	if err != nil {
		c.notice("%s", err.Error())
		return nil, &OpenError{Path: ci.path, Err: err}
	}
	c.path = ci.path
	if p := c.p; p != nil {
		if prev, err := p.claim(ci.path); err != nil {
			c.notice("file '%s' does not match previously configured file '%s'", ci.path, prev)
			c.notice("remove existing shmcache using 'ftpdtls %s remove' before using new file", k.ctlName)
			return nil, &OpenError{Path: ci.path, Err: fmt.Errorf("file '%s' %w '%s'", ci.path, ErrFileMismatch, prev)}
		}
	}
	if err := c.attach(ci, existing); err != nil {
		c.release(false)
		return nil, &OpenError{Path: ci.path, Err: err}
	}
	return c, nil
}

// release undoes the provider's claim on the file, if a provider opened
// the cache; forget also drops its memory of the file.
func (c *cache) release(forget bool) {
	if c.p != nil {
		c.p.release(c.path, forget)
	}
}

func (c *cache) attach(ci cacheInfo, existing bool) error {
	k := c.k
	what := "session"
	fileWord, sizeWord := "session cache file", "session cache size"
	if k.kind == kindOCSP {
		what, fileWord, sizeWord = "OCSP response", "OCSP response cache file", "OCSP cache size"
	}
	f, fid, err := openCacheFile(ci.path, existing)
	if err != nil {
		if existing && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w for '%s' (no cache file)", ErrNoSegment, ci.path)
		}
		if errors.Is(err, ErrInsecureSegment) {
			c.debug("error: unable to use file '%s': %v", ci.path, err)
			return fmt.Errorf("unable to use file '%s': %w", ci.path, err)
		}
		c.debug("error: unable to open file '%s': %s", ci.path, strerror(err))
		return sysErrorf(err, "unable to open file '%s'", ci.path)
	}
	fail := func(err error) error {
		c.ch.Msg(1, "unable to allocate %s shm: %s", what, strerror(err))
		c.debug("unable to allocate %s shm: %s", what, strerror(err))
		f.Close()
		if _, bare := err.(syscall.Errno); bare {
			return sysErrorf(err, "unable to allocate %s shm", what)
		}
		return err
	}
	fd := int(f.Fd())
	c.ch.Msg(9, "requested %s: %s (fd %d)", fileWord, ci.path, fd)
	c.ch.Msg(9, "requested %s: %d bytes", sizeWord, ci.size)
	if ci.size > maxSegment {
		c.ch.Msg(1, "not enough memory for %d shm bytes; try specifying a smaller size", ci.size)
		return fail(unix.ENOMEM)
	}
	size := roundSize(ci.size)
	if size != uint64(ci.size) {
		c.ch.Msg(9, "rounded requested size up to %d bytes", size)
	}
	g, ok := computeGeometry(size, k)
	if !ok {
		return fail(fmt.Errorf("%d bytes cannot hold one %d-byte %s", size, k.maxData, k.what))
	}
	key := ftok(fid, k.proj)
	if existing {
		id, err := unix.SysvShmGet(key, 0, 0)
		if errors.Is(err, unix.ENOENT) {
			f.Close()
			return fmt.Errorf("%w for '%s' (key %#08x)", ErrNoSegment, ci.path, uint32(key))
		}
		if err != nil {
			c.ch.Msg(1, "unable to get shm for existing key: %s", strerror(err))
			return fail(sysErrorf(err, "unable to get shm for existing key %#08x", uint32(key)))
		}
		return c.attachID(ci, f, fd, fid, id, key, size, g, false, true, fail)
	}
	id, err := unix.SysvShmGet(key, int(size), unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	created := err == nil
	switch {
	case created:
	case errors.Is(err, unix.EEXIST):
		id, err = unix.SysvShmGet(key, 0, 0)
		if err != nil {
			c.ch.Msg(1, "unable to get shm for existing key: %s", strerror(err))
			return fail(sysErrorf(err, "unable to get shm for existing key %#08x", uint32(key)))
		}
	case errors.Is(err, unix.ENOMEM):
		c.ch.Msg(1, "not enough memory for %d shm bytes; try specifying a smaller size", size)
		return fail(err)
	case errors.Is(err, unix.ENOSPC):
		c.ch.Msg(1, "unable to allocate a new shm ID; system limit of shm IDs reached")
		return fail(err)
	default:
		return fail(err)
	}
	return c.attachID(ci, f, fd, fid, id, key, size, g, created, false, fail)
}

// attachID checks (unless this process just created it) and attaches
// segment id, the one at key for the cache file f (descriptor fd);
// controls is set for the cache controls (OpenExisting).
func (c *cache) attachID(ci cacheInfo, f *os.File, fd int, fid fileID, id, key int, size uint64, g geometry, created, controls bool, fail func(error) error) error {
	k := c.k
	c.ch.Msg(10, "attempting to attach to shm ID %d", id)
	var d unix.SysvShmDesc
	if !created {
		var err error
		if d, err = shmStat(id); err != nil {
			c.ch.Msg(1, "unable to stat shm ID %d: %s", id, strerror(err))
			serr := sysErrorf(err, "unable to stat shm ID %d", id)
			if errors.Is(err, unix.EACCES) {
				serr = fmt.Errorf("%w (shm ID %d belongs to another user: run this as the user the server runs as, or as root)", serr, id)
			}
			return fail(serr)
		}
		c.ch.Msg(10, "existing shm size: %d bytes", d.Segsz)
		if err := checkOwner(id, d, controls); err != nil {
			c.notice("refusing shm ID %d for file '%s': %v; %s", id, ci.path, err, ownerHint(k, id, d, err, controls))
			return fail(err)
		}
		if d.Segsz != size {
			c.notice("%s", describeSize(k, id, ci.path, d.Segsz, size, d.Nattch))
			return fail(fmt.Errorf("%w: shm ID %d is %d bytes, requested %d", ErrSizeMismatch, id, d.Segsz, size))
		}
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		c.ch.Msg(1, "unable to attach to shm ID %d: %s", id, strerror(err))
		if created {
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
		return fail(sysErrorf(err, "unable to attach to shm ID %d", id))
	}
	// Where shared memory may use transparent huge pages ("advise" in
	// /sys/kernel/mm/transparent_hugepage/shmem_enabled), ask for them:
	// lookups in a large segment are dominated by TLB misses.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	if created {
		initHeader(mem, g, k, fid)
	} else if err := checkHeader(mem, k, fid, int(d.Cpid)); err != nil {
		// A header with no magic cannot be told from another program's
		// segment, so `ftpdtls ... remove` refuses it too (removeSegment).
		unmarked := len(mem) >= headerSize && (*header)(unsafe.Pointer(&mem[0])).Magic.Load() != magicValue
		unix.SysvShmDetach(mem) // ProFTPD leaked the attachment here (B10)
		hint := removeHint(k, id, d.Nattch)
		if unmarked || errors.Is(err, ErrForeignSegment) {
			hint = foreignHint(id)
		}
		c.notice("refusing shm ID %d (key %#08x) for file '%s': %v; %s", id, uint32(key), ci.path, err, hint)
		return fail(err)
	}
	c.file, c.fid, c.shmid = f, fid, id
	c.t = newTable(mem, k, id, fd, c.ch)
	c.large = newLargeList()
	if c.ch.Enabled(9) {
		c.ch.Msg(9, "using shm ID %d for %s path '%s' (%d %s)", id, k.ctlName, ci.path, c.t.g.capacity(), k.unit)
	}
	return nil
}

// checkKey enforces the key length bounds (B16).
func (c *cache) checkKey(key []byte) error {
	if len(key) == 0 || len(key) > c.k.maxKey {
		return fmt.Errorf("%w: %d bytes (1 to %d allowed)", ErrKeyLength, len(key), c.k.maxKey)
	}
	return nil
}

// noteExceeded counts an entry too large for the segment.
func (c *cache) noteExceeded(n int) {
	c.t.count(statExceeded)
	c.t.raiseTo(statExceededMax, uint64(n))
}

// put stores val under key: in the segment, or in this process's
// oversize list if it is too large for the segment.
func (c *cache) put(key, val []byte, when int64) error {
	if c.t == nil {
		return ErrClosed
	}
	if !c.t.fits(key, val) {
		c.noteExceeded(len(val))
		if c.k.kind == kindSession {
			c.tlslog("length of serialized SSL session data (%d) exceeds maximum size (%d), unable to add to shared shmcache, adding to list", len(val), c.t.g.maxData)
		} else {
			c.tlslog("length of serialized OCSP response data (%d) exceeds maximum size (%d), unable to add to shared shmcache, adding to list", len(val), c.t.g.maxData)
		}
		// An older, smaller entry under the key must not shadow this one.
		if _, err := c.t.delCounting(key, c.now().Unix(), true); err != nil {
			return err
		}
		c.large.put(key, val, when)
		return nil
	}
	c.large.del(key)
	return c.t.add(key, val, when, c.now().Unix())
}

// fetch returns a copy of key's value and its When.
func (c *cache) fetch(key []byte) ([]byte, int64, error) {
	if c.t == nil {
		return nil, 0, ErrClosed
	}
	if c.large.len() > 0 {
		if v, when, ok := c.large.get(key, c.now().Unix(), c.k.kind == kindSession); ok {
			c.t.countHit()
			return v, when, nil
		}
	}
	v, when, res, err := c.t.getAt(key, c.now)
	switch {
	case err != nil:
		c.tlslog("unable to retrieve %s from %s: error write-locking shmcache: %v", c.k.what, c.cacheWord(), err)
		return nil, 0, err
	case res == resHit:
		return v, when, nil
	case res == resDamaged:
		c.tlslog("error retrieving %s from %s: stored entry is damaged; dropped", c.k.what, c.cacheWord())
	}
	return nil, 0, modtls.ErrCacheMiss
}

// drop removes key's entry.
func (c *cache) drop(key []byte) error {
	if c.t == nil {
		return ErrClosed
	}
	now := c.now().Unix()
	if when, ok := c.large.del(key); ok {
		if c.t.expired(when, now) {
			c.t.count(statExpired)
		} else {
			c.t.count(statDeleted)
		}
		return nil
	}
	if _, err := c.t.del(key, now); err != nil {
		c.tlslog("unable to delete %s from %s: error write-locking shmcache: %v", c.k.what, c.cacheWord(), err)
		return err
	}
	return nil
}

func (c *cache) clearAll() (int, error) {
	c.ch.Msg(9, "clearing shmcache %s %p", c.cacheWord(), c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.t == nil {
		return 0, ErrClosed
	}
	n := c.large.clear()
	m, err := c.t.clearAll()
	if err != nil {
		c.tlslog("unable to clear cache: error write-locking shmcache: %v", err)
		return 0, err
	}
	return n + m, nil
}

// remove scrubs and destroys the segment, removes the file and closes the
// handle; later calls fail with ErrClosed.
func (c *cache) remove() error {
	c.ch.Msg(9, "removing shmcache %s %p", c.cacheWord(), c)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return ErrClosed
	}
	what := "session cache"
	if c.k.kind == kindOCSP {
		what = "OCSP response cache"
	}
	c.large.clear()
	c.t.clearAll()
	c.debug("attempting to remove %s shm ID %d", what, c.shmid)
	_, rmErr := unix.SysvShmCtl(c.shmid, unix.IPC_RMID, nil)
	if rmErr != nil {
		c.debug("error removing %s shm ID %d: %s", what, c.shmid, strerror(rmErr))
	} else {
		c.debug("removed %s shm ID %d", what, c.shmid)
	}
	c.detachLocked()
	unErr := unlinkUnlessShared(c.path, c.fid, c.k)
	c.release(true)
	if rmErr != nil {
		return sysErrorf(rmErr, "unable to remove %s shm ID %d", what, c.shmid)
	}
	if unErr != nil {
		return sysErrorf(unErr, "unable to remove %s file '%s'", what, c.path)
	}
	return nil
}

func (c *cache) close() error {
	c.ch.Msg(9, "closing shmcache %s %p", c.cacheWord(), c)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil {
		return nil
	}
	c.large.clear()
	err := c.detachLocked()
	c.release(false)
	return err
}

func (c *cache) detachLocked() error {
	mem := c.t.seg
	c.t = nil
	err := unix.SysvShmDetach(mem)
	if err != nil {
		c.debug("error detaching %s shm ID %d: %s", c.k.what, c.shmid, strerror(err))
	}
	if cerr := c.file.Close(); err == nil {
		err = cerr
	}
	return err
}
