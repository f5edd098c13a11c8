package modtlsredis

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// startSentinel starts a redis-sentinel monitoring master as "mymaster"
// with quorum 1 and a one-second down-after.
func startSentinel(t *testing.T, master *redisProc) *redisProc {
	t.Helper()
	bin := testpeers.Need(t, "redis-sentinel", "/usr/bin/redis-sentinel")
	s := &redisProc{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	t.Cleanup(s.stop)
	conf := filepath.Join(s.dir, "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor mymaster 127.0.0.1 %d 1
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 10000
sentinel parallel-syncs mymaster 1
`, s.port, s.dir, filepath.Join(s.dir, "redis.log"), master.port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startWith([]string{conf})
	return s
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSentinelFailover(t *testing.T) {
	master := startRedis(t)
	replica := startRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	waitFor(t, "replica in sync", time.Minute, func() bool {
		info, _ := replica.admin().Info(bg(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	sentinel := startSentinel(t, master)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { sc.Close() })
	waitFor(t, "sentinel knows the replica", time.Minute, func() bool {
		replicas, err := sc.Replicas(bg(), "mymaster").Result()
		return err == nil && len(replicas) > 0
	})

	settings := DefaultSettings()
	settings.Sentinels = []string{"127.0.0.1:" + strconv.Itoa(freePort(t)), sentinel.addr()} // the first is down
	settings.ConnectTimeout, settings.IOTimeout = 2*time.Second, 2*time.Second
	c := openSessions(t, settings) // no master name: discovered
	if !strings.Contains(c.s.server, "master 'mymaster'") {
		t.Errorf("server description %q does not name the discovered master", c.s.server)
	}

	id := randomID(t)
	if err := c.Add(id, time.Now().Add(time.Hour), goState(80)); err != nil {
		t.Fatalf("Add through Sentinel: %v", err)
	}
	key := string(appendSessionKey(nil, id))
	if master.admin().Exists(bg(), key).Val() != 1 {
		t.Fatal("session not stored on the master")
	}
	waitFor(t, "session replicated", time.Minute, func() bool { return replica.admin().Exists(bg(), key).Val() == 1 })

	master.stop()
	var addErr error
	id2 := randomID(t)
	waitFor(t, "cache follows the new master", 2*time.Minute, func() bool {
		addErr = c.Add(id2, time.Now().Add(time.Hour), goState(80))
		return addErr == nil
	})
	addr, err := sc.GetMasterAddrByName(bg(), "mymaster").Result()
	if err != nil || net.JoinHostPort(addr[0], addr[1]) != replica.addr() {
		t.Fatalf("Sentinel's master is %v (%v), want the former replica %s", addr, err, replica.addr())
	}
	if replica.admin().Exists(bg(), string(appendSessionKey(nil, id2))).Val() != 1 {
		t.Error("new session not on the promoted replica")
	}
	got, _, err := c.Get(id)
	if err != nil || !bytes.Equal(got, goState(80)) {
		t.Errorf("session stored before the failover: %v", err)
	}
}
