package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/ftpdtls/ftpdtls/modtls"
)

// The redis group compares resumed handshakes through a Redis on
// 127.0.0.1 (started for the run, with persistence off) with the shm
// cache and Go's tickets, measured in the same run. It needs the "redis"
// provider linked into the program (ftpdtls imports modtlsredis) and
// redis-server.

func redisServerPath() string {
	p, _ := exec.LookPath("redis-server")
	return p
}

func init() {
	register(&group{
		name: "redis",
		steps: func(r *runner) int {
			return 1 + len(tlsVersions)*3*r.o.Runs
		},
		ready: func(*runner) string {
			if _, err := modtls.LookupSessionCache("redis"); err != nil {
				return "the redis provider (modtlsredis) is not linked into this program"
			}
			if redisServerPath() == "" {
				return "redis-server is not installed"
			}
			return ""
		},
		run: runRedis,
	})
}

// startRedis runs redis-server on a free 127.0.0.1 port and returns its
// address and a stop function.
func (r *runner) startRedis(ctx context.Context) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd, log, exited, err := startLogged(redisServerPath(), filepath.Join(r.dir, "redis.log"),
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.dir, "--dbfilename", "bench.rdb")
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		stopProcess(cmd)
		log.Close()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(ctx, addr, cmd, exited); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

func runRedis(ctx context.Context, r *runner) ([]*Table, error) {
	addr, stop, err := r.startRedis(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	r.prog.step("redis: redis-server on %s", addr)
	info, err := r.shmSessionInfo()
	if err != nil {
		return nil, err
	}
	redisMode := hsMode{name: "redis:", resume: true, cacheName: "redis",
		lines: []string{"RedisEngine on", "RedisServer " + addr, "TLSSessionCache redis: 1800"}}
	modes := []hsMode{goTickets, shmMode(info), redisMode}
	var cases []*hsCase
	for _, tv := range tlsVersions {
		for _, m := range modes {
			cases = append(cases, &hsCase{version: tv.v, kind: "ecdsa", mode: m})
		}
	}
	samples, err := r.runCases(ctx, cases)
	if err != nil {
		return nil, err
	}
	t := &Table{
		ID:    "redis",
		Title: "Resumed handshakes through Redis vs shm vs Go tickets (handshakes/s, ECDSA P-256, one client)",
		Note: "redis-server on 127.0.0.1 (no persistence), started for the run; modtls with \"TLSSessionCache redis:\". " +
			"Same method as the handshake table; medians over runs.",
		Columns: []string{"protocol", "Go tickets", "shm:", "redis:", "redis / Go tickets", "redis / shm", "spread"},
	}
	for row := range tlsVersions {
		base := row * len(modes)
		med := make([]float64, len(modes))
		worst := 0.0
		for j := range modes {
			med[j] = median(samples[base+j])
			worst = max(worst, spread(samples[base+j]))
			if c := cases[base+j]; median(c.resumed) < 1 {
				t.Findings = append(t.Findings, fmt.Sprintf("%s %s: only %.0f%% of the handshakes resumed",
					versionLabel(c.version), c.mode.name, 100*median(c.resumed)))
			}
		}
		t.add(text(tlsVersions[row].label), count(med[0]), count(med[1]), count(med[2]),
			times(ratio(med[2], med[0])), times(ratio(med[2], med[1])), percent(worst))
	}
	return []*Table{t}, nil
}
