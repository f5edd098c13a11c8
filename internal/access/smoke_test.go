package access

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/directives"
)

func TestSmoke(t *testing.T) {
	conf := `
User nobody
Group nogroup
Umask 027 007
AllowOverwrite on
<Directory /srv>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory /srv/up>
  AllowOverwrite off
  <Limit STOR>
    AllowUser bob
    DenyAll
  </Limit>
</Directory>
<Limit LOGIN>
  Deny from 10.0.0.0/8
</Limit>
`
	cfg, err := directives.Parse(strings.NewReader(conf), "t.conf", directives.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, errs := Compile(cfg, cfg.Main)
	for _, e := range errs {
		t.Error(e)
	}
	bob := Who{User: "bob", Groups: []string{"users"}, Addr: netip.MustParseAddr("127.0.0.1")}
	al := Who{User: "al", Groups: []string{"users"}, Addr: netip.MustParseAddr("127.0.0.1")}
	for _, c := range []struct {
		cmd, path string
		who       Who
		want      bool
	}{
		{"STOR", "/srv/x", bob, false},
		{"STOR", "/srv/up/x", bob, true},
		{"STOR", "/srv/up/x", al, false},
		{"DELE", "/srv/up/x", bob, false},
		{"RETR", "/srv/up/x", bob, true},
		{"STOR", "/tmp/x", al, true},
	} {
		if got := p.Allowed(c.cmd, c.path, c.who); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.who.User, c.cmd, c.path, got, c.want)
		}
	}
	if p.ConnectAllowed(netip.MustParseAddr("10.1.1.1")) || !p.ConnectAllowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("connect")
	}
	d := p.Dir("/srv/up/x", bob)
	if d.Umask != 0o27 || d.DirUmask != 0o7 || d.AllowOverwrite {
		t.Errorf("%+v", d)
	}
	d = p.Dir("/srv/x", bob)
	if !d.AllowOverwrite {
		t.Errorf("%+v", d)
	}
}
