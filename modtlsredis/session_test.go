package modtlsredis

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/modtls"
)

func randomID(t testing.TB) []byte {
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return id
}

// goState is a stand-in for crypto/tls SessionState bytes: version first.
func goState(n int) []byte {
	b := bytes.Repeat([]byte{0xab}, n)
	b[0], b[1], b[2] = 0x03, 0x04, 0x01
	return b
}

// counters sends s's pending increments and reads the seven counter keys
// of its namespace as Redis holds them.
func counters(t testing.TB, rdb *redis.Client, s *store) map[string]string {
	t.Helper()
	if err := s.flushCounters(bg()); err != nil {
		t.Fatalf("flush counters: %v", err)
	}
	out := map[string]string{}
	for i, name := range s.counterNames {
		v, err := rdb.Get(bg(), s.counterKeys[i]).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[name] = v
	}
	return out
}

func wantCounters(t testing.TB, rdb *redis.Client, s *store, want map[string]string) {
	t.Helper()
	got := counters(t, rdb, s)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counters in Redis = %v, want %v", got, want)
	}
}

func TestSessionRoundTrip(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	c := openSessions(t, serverSettings(r.addr()))

	id, state := randomID(t), goState(300)
	expires := time.Now().Add(1800 * time.Second).Truncate(time.Second)
	if err := c.Add(id, expires, state); err != nil {
		t.Fatalf("Add: %v", err)
	}
	key := string(appendSessionKey(nil, id))
	raw, err := rdb.Get(bg(), key).Bytes()
	if err != nil {
		t.Fatalf("GET %q: %v", key, err)
	}
	if want := sessionFormat.appendValue(nil, expires.Unix(), state); !bytes.Equal(raw, want) {
		t.Errorf("stored value\n got %q\nwant %q", raw, want)
	}
	if at, err := rdb.ExpireTime(bg(), key).Result(); err != nil || at != time.Duration(expires.Unix())*time.Second {
		t.Errorf("EXPIRETIME %v (%v), want %d (SET EXAT expires)", at/time.Second, err, expires.Unix())
	}

	got, gotExp, err := c.Get(id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, state) || !gotExp.Equal(expires) {
		t.Errorf("Get = %d bytes, %v; want %d bytes, %v", len(got), gotExp, len(state), expires)
	}
	if _, _, err := c.Get(randomID(t)); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("Get of unknown id: %v, want ErrCacheMiss", err)
	}
	wantCounters(t, rdb, c.s, map[string]string{"cache_stores": "1", "cache_hits": "1", "cache_misses": "1"})

	if err := c.Delete(id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(id); err != nil {
		t.Errorf("Delete of a missing id: %v, want nil", err)
	}
	if _, _, err := c.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Errorf("Get after Delete: %v, want ErrCacheMiss", err)
	}
	wantCounters(t, rdb, c.s, map[string]string{"cache_stores": "1", "cache_hits": "1", "cache_misses": "2", "cache_deletes": "1"})

	// Counters are decimals, also after many increments.
	for range 10 {
		if _, _, err := c.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
			t.Fatal(err)
		}
	}
	st, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if st.Misses != 12 || st.Hits != 1 || st.Stores != 1 || st.Deletes != 1 || st.Failures != 0 {
		t.Errorf("Counters = %+v", st)
	}
}

// roundTrips counts the exchanges a client makes with Redis: single
// commands and pipelines, leaving out the greeting of a new connection.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "hello", "auth", "select", "client":
		default:
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestStats: every cache is a modtls.StatsReporter whose Stats are
// mod_tls_redis's counters, read (with this process's pending increments
// sent) in one round trip.
func TestStats(t *testing.T) {
	// No background flush: every round trip below is the test's.
	defer func(d time.Duration) { flushInterval = d }(flushInterval)
	flushInterval = time.Hour
	r := startRedis(t)
	rdb := r.admin()
	client := redis.NewClient(&redis.Options{Addr: r.addr(), Protocol: 2, DisableIdentity: true})
	hook := &roundTrips{}
	client.AddHook(hook)
	t.Cleanup(func() { client.Close() })
	sessions, err := NewSessionCache(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sessions.Close()
	ocsps, err := NewOCSPCache(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ocsps.Close()

	id := randomID(t)
	for _, step := range []func() error{
		func() error { return sessions.Add(id, time.Now().Add(time.Hour), goState(50)) },
		func() error { _, _, err := sessions.Get(id); return err },
		func() error { _, _, err := sessions.Get(randomID(t)); return ignoreMiss(err) },
		func() error { return sessions.Delete(id) },
		func() error {
			return ignoreTooLarge(sessions.Add(randomID(t), time.Now().Add(time.Hour), goState(MaxSessionSize+1)))
		},
		func() error { return ocsps.Add("00ff", []byte{0x30, 3, 10, 1, 3}, time.Now()) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// A damaged entry: one error and one miss.
	bad := randomID(t)
	if err := rdb.Set(bg(), string(appendSessionKey(nil, bad)), "not json\x00", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sessions.Get(bad); !errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatal(err)
	}

	// Stats sends the pending increments (all of the above) and reads
	// the counters in one exchange.
	before := hook.n.Load()
	st, err := sessions.Stats()
	if trips := hook.n.Load() - before; trips != 1 {
		t.Errorf("Stats took %d round trips, want 1", trips)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := modtls.Stats{Hits: 1, Misses: 2, Stored: 1, Deleted: 1, Errors: 1, TooLarge: 1}
	if st != want {
		t.Errorf("session Stats = %+v, want %+v", st, want)
	}
	if st, err := ocsps.Stats(); err != nil || st != (modtls.Stats{Stored: 1}) {
		t.Errorf("OCSP Stats = %+v, %v; want one stored", st, err)
	}

	// With Redis gone, Stats fails, and this process's failures count
	// as errors once it is back (the restarted Redis, which keeps nothing
	// on disk, has lost the counters).
	r.stop()
	if _, err := sessions.Stats(); err == nil {
		t.Error("Stats with Redis down succeeded")
	}
	r.restart()
	waitFor(t, "Stats works again", 30*time.Second, func() bool { _, err := sessions.Stats(); return err == nil })
	st, _ = sessions.Stats()
	if st.Errors < 1 {
		t.Errorf("Errors = %d after a failed Stats, want the failure counted", st.Errors)
	}
}

func ignoreMiss(err error) error {
	if errors.Is(err, modtls.ErrCacheMiss) {
		return nil
	}
	return err
}

func ignoreTooLarge(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return nil
	}
	return err
}

func TestSessionExpiry(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	c := openSessions(t, serverSettings(r.addr()))

	t.Run("Redis expires the entry", func(t *testing.T) {
		id := randomID(t)
		expires := time.Now().Add(2 * time.Second)
		if err := c.Add(id, expires, goState(64)); err != nil {
			t.Fatal(err)
		}
		key := string(appendSessionKey(nil, id))
		// -2: the key is already gone, which a slow machine may see.
		if at, err := rdb.ExpireTime(bg(), key).Result(); err != nil || (at != time.Duration(expires.Unix())*time.Second && at != -2) {
			t.Fatalf("EXPIRETIME %v (%v), want %d", at/time.Second, err, expires.Unix())
		}
		waitFor(t, "Redis expires the entry", 30*time.Second, func() bool { return rdb.Exists(bg(), key).Val() == 0 })
		if _, _, err := c.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
			t.Errorf("Get after expiry: %v", err)
		}
	})

	t.Run("expired legacy entry without TTL", func(t *testing.T) {
		// As ProFTPD writes them: an expiry in the value, a useless TTL.
		id := randomID(t)
		key := string(appendSessionKey(nil, id))
		past := time.Now().Add(-time.Minute).Unix()
		if err := rdb.Set(bg(), key, sessionFormat.appendValue(nil, past, goState(64)), 0).Err(); err != nil {
			t.Fatal(err)
		}
		before := counters(t, rdb, c.s)["cache_misses"]
		if _, _, err := c.Get(id); !errors.Is(err, modtls.ErrCacheMiss) {
			t.Fatalf("Get of expired entry: %v, want ErrCacheMiss", err)
		}
		after := counters(t, rdb, c.s)["cache_misses"]
		if n0, _ := strconv.Atoi(before); after != strconv.Itoa(n0+1) {
			t.Errorf("cache_misses %q -> %q, want one more", before, after)
		}
		if rdb.Exists(bg(), key).Val() != 0 {
			t.Error("expired entry was not unlinked")
		}
	})

	t.Run("already expired session is not stored", func(t *testing.T) {
		id := randomID(t)
		if err := c.Add(id, time.Now().Add(-time.Second), goState(64)); err != nil {
			t.Fatal(err)
		}
		if rdb.Exists(bg(), string(appendSessionKey(nil, id))).Val() != 0 {
			t.Error("an expired session was stored")
		}
	})
}

func TestSessionBadEntries(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	c := openSessions(t, serverSettings(r.addr()))
	future := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name, value string
	}{
		{"not JSON", "not json\x00"},
		{"missing data", `{"expires":` + strconv.FormatInt(future, 10) + `,"data_len":5}` + "\x00"},
		{"OpenSSL session from ProFTPD", string(sessionFormat.appendValue(nil, future, proftpdSessionDER()))},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := randomID(t)
			if err := rdb.Set(bg(), string(appendSessionKey(nil, id)), tt.value, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Get(id)
			if !errors.Is(err, modtls.ErrCacheMiss) {
				t.Fatalf("Get: %v, want ErrCacheMiss", err)
			}
			n := strconv.Itoa(i + 1)
			wantCounters(t, rdb, c.s, map[string]string{"cache_errors": n, "cache_misses": n})
		})
	}
}

func TestSessionTooLarge(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	c := openSessions(t, serverSettings(r.addr()))
	sizes := []struct{ size, max int }{{MaxSessionSize + 1, MaxSessionSize + 1}, {MaxSessionSize + 60, MaxSessionSize + 60}, {MaxSessionSize + 10, MaxSessionSize + 60}}
	for i, s := range sizes {
		id := randomID(t)
		err := c.Add(id, time.Now().Add(time.Hour), goState(s.size))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Add of %d bytes: %v, want ErrTooLarge", s.size, err)
		}
		if rdb.Exists(bg(), string(appendSessionKey(nil, id))).Val() != 0 {
			t.Errorf("%d-byte session was stored", s.size)
		}
		wantCounters(t, rdb, c.s, map[string]string{"cache_exceeds": strconv.Itoa(i + 1), "cache_max_sess_len": strconv.Itoa(s.max)})
	}
	// The largest allowed size is stored.
	if err := c.Add(randomID(t), time.Now().Add(time.Hour), goState(MaxSessionSize)); err != nil {
		t.Errorf("Add of %d bytes: %v", MaxSessionSize, err)
	}
}

func TestClearAndRemove(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	s := serverSettings(r.addr())
	sessions, ocsps := openSessions(t, s), openOCSP(t, s)
	const n = 1500 // more than one SCAN batch
	for i := range n {
		if err := sessions.Add(randomID(t), time.Now().Add(time.Hour), goState(40+i%7)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ocsps.Add("00ff", []byte{0x30, 3, 10, 1, 3}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(bg(), "unrelated", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cleared, err := sessions.Clear()
	if err != nil || cleared != n {
		t.Fatalf("Clear = %d, %v; want %d", cleared, err, n)
	}
	if keys := rdb.Keys(bg(), sessionPrefix+"{*").Val(); len(keys) != 0 {
		t.Errorf("%d session keys left after Clear", len(keys))
	}
	if got := counters(t, rdb, sessions.s)["cache_stores"]; got != strconv.Itoa(n) {
		t.Errorf("cache_stores after Clear = %q, want %d (Clear keeps counters)", got, n)
	}
	if _, _, err := ocsps.Get("00ff"); err != nil {
		t.Errorf("OCSP entry after session Clear: %v", err)
	}
	if cleared, err := sessions.Clear(); err != nil || cleared != 0 {
		t.Errorf("second Clear = %d, %v; want 0", cleared, err)
	}

	if err := ocsps.Remove(); err != nil {
		t.Fatalf("OCSP Remove: %v", err)
	}
	if keys := rdb.Keys(bg(), ocspPrefix+"*").Val(); len(keys) != 0 {
		t.Errorf("keys left after OCSP Remove: %q", keys)
	}
	if len(counters(t, rdb, sessions.s)) == 0 {
		t.Error("OCSP Remove removed the session counters")
	}
	if err := sessions.Remove(); err != nil {
		t.Fatalf("session Remove: %v", err)
	}
	if keys := rdb.Keys(bg(), "mod_tls_redis.*").Val(); len(keys) != 0 {
		t.Errorf("keys left after both Removes: %q", keys)
	}
	if rdb.Exists(bg(), "unrelated").Val() != 1 {
		t.Error("Remove deleted a key outside its namespace")
	}
}

func TestStatus(t *testing.T) {
	r := startRedis(t)
	rdb := r.admin()
	s := serverSettings(r.addr())
	sessions, ocsps := openSessions(t, s), openOCSP(t, s)

	var b strings.Builder
	if err := sessions.Status(&b, false); err != nil {
		t.Fatal(err)
	}
	want := "Redis SSL session cache provided by mod_tls_redis/0.1\n\nRedis server: " + r.addr() + "\n"
	if b.String() != want {
		t.Errorf("status of an unused cache\n got %q\nwant %q", b.String(), want)
	}

	// The values ProFTPD prints wrongly (R3 in docs/DIVERGENCES.md).
	for k, v := range map[string]string{"cache_hits": "3", "cache_stores": "8", "cache_misses": "11", "cache_errors": "12345678"} {
		if err := rdb.Set(bg(), sessionPrefix+k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(bg(), ocspPrefix+"cache_max_resp_len", "5000", 0).Err(); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := sessions.Status(&b, true); err != nil {
		t.Fatal(err)
	}
	want = "Redis SSL session cache provided by mod_tls_redis/0.1\n\nRedis server: " + r.addr() + "\n" +
		"Cache lifetime hits: 3\n" +
		"Cache lifetime misses: 11\n" +
		"Cache lifetime sessions stored: 8\n" +
		"Cache lifetime errors handling sessions in cache: 12345678\n"
	if b.String() != want {
		t.Errorf("status\n got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := ocsps.Status(&b, false); err != nil {
		t.Fatal(err)
	}
	want = "Redis OCSP response cache provided by mod_tls_redis/0.1\n\nRedis server: " + r.addr() + "\n" +
		"Largest response exceeding max entry size: 5000\n"
	if b.String() != want {
		t.Errorf("OCSP status\n got %q\nwant %q", b.String(), want)
	}

	// A failure shows in the status of this process, after Redis is back.
	r.stop()
	if _, _, err := sessions.Get(randomID(t)); err == nil || errors.Is(err, modtls.ErrCacheMiss) {
		t.Fatalf("Get with Redis down: %v, want a Redis error", err)
	}
	b.Reset()
	if err := sessions.Status(&b, false); err == nil {
		t.Errorf("Status with Redis down succeeded: %q", b.String())
	}
	r.restart()
	waitFor(t, "Status works after Redis came back", time.Minute, func() bool {
		b.Reset()
		return sessions.Status(&b, false) == nil
	})
	if !strings.Contains(b.String(), "\nRedis operations failed in this process: ") {
		t.Errorf("status after an outage lacks the failure line: %q", b.String())
	}
}

func TestAuthAndDatabase(t *testing.T) {
	r := startRedis(t, "--requirepass", "s3cret")
	rdb := redis.NewClient(&redis.Options{Addr: r.addr(), Password: "s3cret", DB: 3, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Do(bg(), "ACL", "SETUSER", "ftpd", "on", ">pw2", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		user, password string
		db             int
		wantErr        bool
	}{
		{"password only", "", "s3cret", 3, false},
		{"ACL user", "ftpd", "pw2", 3, false},
		{"wrong password", "", "nope", 3, true},
		{"no password", "", "", 3, true},
		{"bad database", "", "s3cret", 99999, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serverSettings(r.addr())
			s.Servers[0].Username, s.Servers[0].Password, s.Servers[0].DB = tt.user, tt.password, tt.db
			c, err := OpenSessionCache(s, "", modtls.Env{})
			if tt.wantErr {
				if err == nil {
					c.Close()
					t.Fatal("OpenSessionCache succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenSessionCache: %v", err)
			}
			defer c.Close()
			id := randomID(t)
			if err := c.Add(id, time.Now().Add(time.Hour), goState(50)); err != nil {
				t.Fatal(err)
			}
			if rdb.Exists(bg(), string(appendSessionKey(nil, id))).Val() != 1 {
				t.Error("session not in database 3")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	off := DefaultSettings()
	off.Engine, off.EngineSet = false, true
	off.Servers = []Endpoint{{Network: "tcp", Addr: "127.0.0.1:1"}}
	if _, err := OpenSessionCache(off, "", modtls.Env{}); !errors.Is(err, ErrDisabled) {
		t.Errorf("RedisEngine off: %v, want ErrDisabled", err)
	}
	if _, err := OpenOCSPCache(DefaultSettings(), "", modtls.Env{}); !errors.Is(err, ErrNoServer) {
		t.Errorf("no server: %v, want ErrNoServer", err)
	}
	if _, err := OpenSessionCache(nil, "", modtls.Env{}); !errors.Is(err, ErrNoServer) {
		t.Errorf("nil settings: %v, want ErrNoServer", err)
	}
}

// TestRefusedWriteIsAnError: a SET that Redis answers with an error (here
// READONLY, from a replica) is a failed Add, counted as an error, never
// as stored (R5 in docs/DIVERGENCES.md).
func TestRefusedWriteIsAnError(t *testing.T) {
	// No background flush: the test sends the counts itself.
	defer func(d time.Duration) { flushInterval = d }(flushInterval)
	flushInterval = time.Hour
	r := startRedis(t, "--replicaof", "127.0.0.1", itoa(freePort(t)))
	c := openSessions(t, serverSettings(r.addr()))
	err := c.Add(randomID(t), time.Now().Add(time.Hour), goState(50))
	if err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("Add on a read-only replica: %v, want its READONLY reply", err)
	}
	// The error count reaches Redis only where Redis takes it; a replica
	// refuses it too, and it is dropped, not retried forever.
	if err := c.s.flushCounters(bg()); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("flushing counters to a read-only replica: %v, want its READONLY reply", err)
	}
	st, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if st.Present != 0 || st.Failures < 1 {
		t.Errorf("Counters = %+v: a refused write must count as a failure, never as stored", st)
	}
	if got := c.s.pending[cacheStores].Load(); got != 0 {
		t.Errorf("%d stores pending after a refused write", got)
	}
	if got := c.s.pending[cacheErrors].Load(); got != 0 {
		t.Errorf("the refused error count (%d) is still pending", got)
	}
}
