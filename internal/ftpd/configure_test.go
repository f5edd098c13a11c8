package ftpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "xferlog")
	conf := "TimeoutLogin 1m\nTimeoutIdle 0\nTimeoutNoTransfer 00:01:05\nTimeoutStalled 30\nMaxLoginAttempts 5\nTransferLog " + logPath + "\n"
	cfg, err := directives.Parse(strings.NewReader(conf), "test.conf", directives.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s Server
	closer, err := Configure(&s, cfg.Main)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if s.LoginTimeout != time.Minute || s.IdleTimeout != -1 || s.NoTransferTimeout != 65*time.Second ||
		s.StalledTimeout != 30*time.Second || s.MaxLoginAttempts != 5 || s.TransferLog == nil {
		t.Fatalf("configured login %v idle %v noxfer %v stalled %v attempts %d log %v", s.LoginTimeout, s.IdleTimeout, s.NoTransferTimeout, s.StalledTimeout, s.MaxLoginAttempts, s.TransferLog)
	}
	if s.idleTimeout() != 0 || s.loginTimeout() != time.Minute {
		t.Fatalf("effective idle %v login %v", s.idleTimeout(), s.loginTimeout())
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("TransferLog file: %v, %v", fi, err)
	}

	// Defaults: ProFTPD's.
	cfg, _ = directives.Parse(strings.NewReader("MaxLoginAttempts none\n"), "test.conf", directives.Options{})
	var d Server
	if c, err := Configure(&d, cfg.Main); err != nil || c != nil {
		t.Fatalf("Configure = %v, %v", c, err)
	}
	if d.loginTimeout() != 300*time.Second || d.idleTimeout() != 600*time.Second || d.noTransferTimeout() != 300*time.Second ||
		d.stalledTimeout() != 3600*time.Second || d.maxLoginAttempts() != 0 {
		t.Fatalf("defaults: %v %v %v %v %d", d.loginTimeout(), d.idleTimeout(), d.noTransferTimeout(), d.stalledTimeout(), d.maxLoginAttempts())
	}

	// A TransferLog that is a symbolic link is refused, as by ProFTPD.
	link := filepath.Join(dir, "link")
	os.Symlink(logPath, link)
	if _, err := OpenTransferLog(link); err == nil {
		t.Fatal("TransferLog through a symbolic link accepted")
	}
}
