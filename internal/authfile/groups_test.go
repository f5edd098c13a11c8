package authfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ftpd.group")
	text := "staff:x:100:alice,bob\n# comment\nftp:x:101:bob\nadmins:x:102: alice \nbad line\nneg:x:-1:alice\nstaff2:x:100:carol\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	g, warnings, err := LoadGroups(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "line 5") || !strings.Contains(warnings[1], "line 6") {
		t.Errorf("warnings %q", warnings)
	}
	if got := g.Of("alice", 101); !slices.Equal(got, []uint32{100, 102}) {
		t.Errorf("alice's groups %v, want [100 102]", got)
	}
	if got := g.Of("bob", 100); !slices.Equal(got, []uint32{101}) {
		t.Errorf("bob's groups besides 100: %v, want [101]", got)
	}
	if g.Name(100) != "staff" || g.Name(102) != "admins" || g.Name(7) != "" {
		t.Errorf("names %q %q %q", g.Name(100), g.Name(102), g.Name(7))
	}
	var none *Groups
	if none.Of("alice", 1) != nil || none.Name(1) != "" || none.Names() != nil {
		t.Error("a nil Groups is not empty")
	}
}

func TestUserIDs(t *testing.T) {
	line, err := LineFor("alice", "pw", 1001, 1002, "/srv/alice")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ftpd.passwd")
	content := line + "\nbad:$6$x$y:notanumber:1::/x:/bin/sh\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "bad uid") {
		t.Errorf("warnings %q", warnings)
	}
	u, err := f.Check("alice", "pw")
	if err != nil || u.Uid != 1001 || u.Gid != 1002 || u.Home != "/srv/alice" || u.Shell != "/bin/false" {
		t.Errorf("Check = %+v, %v", u, err)
	}
	if n := f.Names(); n[1001] != "alice" || len(n) != 1 {
		t.Errorf("Names = %v", n)
	}
}
