package modtlsredis

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// TestCluster runs the session cache on a three-master Redis Cluster,
// named by three RedisServer lines.
func TestCluster(t *testing.T) {
	cli := testpeers.Need(t, "redis-cli", "/usr/bin/redis-cli")
	var nodes []*redisProc
	var addrs []string
	for range 3 {
		n := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(freePort(t)))
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		waitFor(t, "cluster_state:ok on "+n.addr(), time.Minute, func() bool {
			info, _ := n.admin().ClusterInfo(bg()).Result()
			return strings.Contains(info, "cluster_state:ok")
		})
	}

	cfg, err := parse(t, "RedisServer "+addrs[0], "RedisServer "+addrs[1], "RedisServer "+addrs[2])
	if err != nil {
		t.Fatal(err)
	}
	c := openSessions(t, SettingsOf(cfg.Main))
	if !strings.HasPrefix(c.s.server, "cluster ") {
		t.Errorf("server %q, want a cluster", c.s.server)
	}
	const n = 200
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = randomID(t)
		if err := c.Add(ids[i], time.Now().Add(time.Hour), goState(60+i)); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	for i, id := range ids {
		got, _, err := c.Get(id)
		if err != nil || !bytes.Equal(got, goState(60+i)) {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	used := 0
	for _, node := range nodes {
		if node.admin().DBSize(bg()).Val() > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("entries on %d of 3 masters, want them spread", used)
	}
	st, err := c.Stats()
	if err != nil || st.Stored != n || st.Hits != n {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	var b strings.Builder
	if err := c.Status(&b, false); err != nil || !strings.Contains(b.String(), "Cache lifetime hits: 200\n") {
		t.Errorf("Status = %q, %v", b.String(), err)
	}
	if cleared, err := c.Clear(); err != nil || cleared != n {
		t.Errorf("Clear = %d, %v; want %d", cleared, err, n)
	}
	if err := c.Remove(); err != nil {
		t.Errorf("Remove: %v", err)
	}
	for _, node := range nodes {
		if keys := node.admin().Keys(bg(), "mod_tls_redis.*").Val(); len(keys) != 0 {
			t.Errorf("keys left on %s after Remove: %q", node.addr(), keys)
		}
	}

	// A cluster has no database but 0.
	bad := SettingsOf(cfg.Main)
	withDB := *bad
	withDB.Servers = append([]Endpoint(nil), bad.Servers...)
	withDB.Servers[1].DB = 2
	if _, err := OpenSessionCache(&withDB, "", modtls.Env{}); err == nil {
		t.Error("cluster with a db-index opened")
	}
}
