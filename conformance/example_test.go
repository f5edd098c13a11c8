package conformance

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// exampleConfig is the configuration shipped for users to start from.
const exampleConfig = "../examples/proftpd.conf"

// TestExampleConfig holds the shipped example to what it promises: ftpdtls
// accepts it as it stands, and, with its cache and log paths moved into a
// temporary directory (so that nothing on the machine is touched), ftpdtls
// has nothing to warn about and the real `proftpd -t` accepts it too.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"run/ftpdtls", "etc/ftpdtls", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The example's one setup step, done in the temporary directory: the
	// user file with one user (the password's hash is irrelevant here).
	entry, err := authfile.Line("alice", authfile.RandomString(12), "/srv/ftp")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/ftpdtls/ftpd.passwd"), []byte(entry+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	moved := strings.NewReplacer(
		"/run/ftpdtls/", dir+"/run/ftpdtls/",
		"/etc/ftpdtls/", dir+"/etc/ftpdtls/",
		"/var/log/proftpd/", dir+"/log/",
	).Replace(string(data))
	for _, p := range []string{"/run/ftpdtls/", "/etc/ftpdtls/", "/var/log/proftpd/"} {
		if !strings.Contains(string(data), p) {
			t.Fatalf("the example no longer names %s, which this test moves; update the test", p)
		}
	}
	conf := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(conf, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg, err := directives.ParseFile(conf, directives.Options{})
	if err != nil {
		t.Fatalf("ftpdtls rejects %s after its setup step: %v", exampleConfig, err)
	}
	for _, m := range []string{"mod_tls.c", "mod_tls_shmcache.c"} {
		if !slices.Contains(cfg.LoadedModules(), m) {
			t.Errorf("%s does not load %s (loaded: %v)", exampleConfig, m, cfg.LoadedModules())
		}
	}
	if got := ftpdtlsCheck(conf, dir); !got.Accept || len(got.Other) > 0 {
		t.Errorf("ftpdtls on the example with writable paths: %s; want ACCEPT and no warnings", got)
	}

	proftpd := testpeers.Need(t, "proftpd", "/usr/sbin/proftpd")
	if os.Geteuid() != 0 {
		if testpeers.Required() {
			t.Fatal("proftpd -t needs root")
		}
		t.Skip("skipping the proftpd -t half: it needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, pid, err := proftpdCheck(ctx, proftpd, conf, dir)
	// proftpd -t opens both caches: remove what it leaves, and check that
	// it did open them (the example's cache lines are live).
	removed, sweepErr := sweepSegments(dir, pid)
	if sweepErr != nil {
		t.Error(sweepErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !got.Accept || len(got.Fatal) > 0 || len(got.Other) > 0 {
		t.Errorf("proftpd -t on the example: %s; want ACCEPT and no messages", got)
	}
	if len(removed) != 2 {
		t.Errorf("proftpd -t left %d segments for the example's caches, want 2 (session and OCSP): %v", len(removed), removed)
	}
}
