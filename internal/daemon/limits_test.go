package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/internal/ftpd"
)

// TestCounter: the order and wording of ProFTPD's refusals, releases that
// give back exactly what they counted, and limits that change without
// losing what is counted.
func TestCounter(t *testing.T) {
	c := newCounter(limitSettings{MaxInstances: 2, MaxClientsPerHost: 2, MaxClientsPerUser: 3, MaxClients: 4, MaxHostsPerUser: 2,
		Msg: map[string]string{"MaxClients": "Full: %m clients"}})
	r1, ref := c.instance()
	r2, _ := c.instance()
	if _, ref = c.instance(); ref == nil || ref.Code != 0 || ref.Log != "MaxInstances (2) reached, new connection denied" {
		t.Errorf("third instance: %+v", ref)
	}
	r1()
	r1() // idempotent
	if rel, ref := c.instance(); ref != nil {
		t.Errorf("instance after a release: %+v", ref)
	} else {
		rel()
	}
	r2()

	want := func(ref *ftpd.Refusal, msg, log string) {
		t.Helper()
		if ref == nil || ref.Code != 530 || ref.Msg != msg || ref.Log != log {
			t.Errorf("refusal %+v, want 530 %q / %q", ref, msg, log)
		}
	}
	a1, _ := c.login("alice", "192.0.2.1")
	a2, _ := c.login("alice", "192.0.2.1")
	_, ref = c.login("alice", "192.0.2.1")
	want(ref, "Sorry, the maximum number of clients (2) from your host are already connected.", "Connection refused (MaxClientsPerHost 2)")
	// ProFTPD's MaxHostsPerUser: this session plus the user's sessions
	// from other hosts.
	_, ref = c.login("alice", "192.0.2.2")
	want(ref, "Sorry, the maximum number of hosts (2) for this user are already connected.", "Connection refused (MaxHostsPerUser 2)")
	a2()
	a3, ref := c.login("alice", "192.0.2.2")
	if ref != nil {
		t.Fatalf("alice from a second host: %+v", ref)
	}
	b1, _ := c.login("bob", "192.0.2.3")
	b2, _ := c.login("bob", "192.0.2.4")
	_, ref = c.login("carol", "192.0.2.5")
	want(ref, "Full: 4 clients", "Connection refused (MaxClients 4)")
	c.setLimits(limitSettings{MaxClientsPerUser: 1})
	_, ref = c.login("bob", "192.0.2.6")
	want(ref, "Sorry, the maximum number of clients (1) for this user are already connected.", "Connection refused (MaxClientsPerUser 1)")
	for _, rel := range []func(){a1, a3, b1, b2} {
		rel()
	}
	if inst, clients := c.counts(); inst != 0 || clients != 0 {
		t.Errorf("after every release: %d connections, %d clients counted", inst, clients)
	}
	if len(c.perHost) != 0 || len(c.perUser) != 0 || len(c.userHosts) != 0 {
		t.Errorf("maps not emptied: %v %v %v", c.perHost, c.perUser, c.userHosts)
	}
}

func TestLimitsOf(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want limitSettings
		err  string
	}{
		{"MaxClients 5\nMaxClientsPerHost none\nMaxHostsPerUser 2 \"only %m\"\n", limitSettings{MaxClients: 5, MaxHostsPerUser: 2}, ""},
		{"MaxClients 0\n", limitSettings{}, "parameter must be 'none' or a number greater than 0"},
		{"MaxClientsPerUser x\n", limitSettings{}, "parameter must be 'none' or a number greater than 0"},
	} {
		path := filepath.Join(t.TempDir(), "p.conf")
		os.WriteFile(path, []byte(tc.conf), 0o600)
		src, err := readSource(path, "")
		if err != nil {
			t.Fatal(err)
		}
		dirs, err := src.parse()
		if err != nil {
			if tc.err != "" && strings.Contains(err.Error(), tc.err) {
				continue // the parser refuses it already
			}
			t.Fatalf("%q: %v", tc.conf, err)
		}
		got, err := limitsOf(dirs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.conf, err, tc.err)
			}
			continue
		}
		if err != nil || got.MaxClients != tc.want.MaxClients || got.MaxHostsPerUser != tc.want.MaxHostsPerUser || got.MaxClientsPerHost != 0 {
			t.Errorf("%q: %+v, %v", tc.conf, got, err)
		}
		if tc.want.MaxHostsPerUser == 2 && got.text("MaxHostsPerUser", msgMaxHostsPerUser, 2) != "only 2" {
			t.Errorf("custom message: %q", got.text("MaxHostsPerUser", msgMaxHostsPerUser, 2))
		}
	}
}
