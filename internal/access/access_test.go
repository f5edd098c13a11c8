package access

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/directives"
)

// parse parses a configuration text (no User/Group lines needed).
func parse(t *testing.T, conf string) *directives.Config {
	t.Helper()
	cfg, err := directives.Parse(strings.NewReader(conf), "test.conf", directives.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, conf)
	}
	return cfg
}

// compile parses and compiles the main server, failing on any error.
func compile(t *testing.T, conf string) *Policy {
	t.Helper()
	cfg := parse(t, conf)
	p, errs := Compile(cfg, cfg.Main)
	for _, e := range errs {
		t.Fatalf("Compile: %v", e)
	}
	return p
}

var (
	lo   = netip.MustParseAddr("127.0.0.1")
	lan  = netip.MustParseAddr("10.1.2.3")
	six  = netip.MustParseAddr("2001:db8::1")
	anna = Who{User: "anna", Groups: []string{"users", "staff"}, Addr: lo, Home: "/home/anna"}
	ben  = Who{User: "ben", Groups: []string{"users"}, Addr: lo, Home: "/home/ben"}
	cleo = Who{User: "cleo", Groups: []string{"guests", "ftp"}, Addr: lan, Home: "/home/cleo"}
	anon = Who{Addr: lo} // before login
)

func with(w Who, addr netip.Addr) Who { w.Addr = addr; return w }

type decision struct {
	cmd, path string
	who       Who
	want      bool
}

func runDecisions(t *testing.T, p *Policy, ds []decision) {
	t.Helper()
	for _, d := range ds {
		if got := p.Allowed(d.cmd, d.path, d.who); got != d.want {
			t.Errorf("%q %s %s from %s: Allowed %v, want %v", d.who.User, d.cmd, d.path, d.who.Addr, got, d.want)
		}
	}
}

func TestLimitUsersAndGroups(t *testing.T) {
	p := compile(t, `
<Limit WRITE>
  AllowGroup staff
  DenyAll
</Limit>
<Limit READ>
  DenyUser ben,cleo
</Limit>
<Limit MKD>
  AllowGroup users,staff
  DenyAll
</Limit>
<Limit RMD>
  AllowGroup OR guests staff
  DenyAll
</Limit>
<Limit DELE>
  DenyUser !anna
</Limit>
<Limit RNFR>
  AllowUser anna
  AllowUser ben
  DenyAll
</Limit>
<Limit SITE_CHMOD>
  DenyGroup !users,!ftp
</Limit>
`)
	runDecisions(t, p, []decision{
		{"STOR", "/x", anna, true}, // AllowGroup staff
		{"stor", "/x", ben, false}, // lower case works, DenyAll
		{"APPE", "/x", cleo, false},
		{"RETR", "/x", anna, true},
		{"RETR", "/x", ben, false}, // a comma list is OR for users
		{"SIZE", "/x", cleo, false},
		{"MKD", "/x", anna, true},  // AND: users and staff
		{"XMKD", "/x", anna, true}, // MKD names XMKD too
		{"MKD", "/x", ben, false},  // users only
		{"RMD", "/x", cleo, true},  // OR keyword: guests
		{"RMD", "/x", ben, false},
		{"XRMD", "/x", ben, false}, // RMD's limit covers XRMD; WRITE still applies
		{"DELE", "/x", anna, true}, // DenyUser !anna: everybody but anna
		{"DELE", "/x", ben, false},
		{"RNFR", "/x", ben, true}, // several AllowUser lines: any
		{"RNFR", "/x", cleo, false},
		{"SITE_CHMOD", "/x", ben, false}, // in users, not in ftp: !ftp holds -> AND false? see below
		{"CWD", "/x", cleo, true},        // no DIRS limit
		{"SYST", "/x", cleo, true},       // never checked
	})
}

func TestGroupExpressionAnd(t *testing.T) {
	// DenyGroup !users,!ftp is "in neither users nor ftp".
	p := compile(t, `
<Limit SITE_CHMOD>
  DenyGroup !users,!ftp
</Limit>
`)
	runDecisions(t, p, []decision{
		{"SITE_CHMOD", "/x", ben, true},
		{"SITE_CHMOD", "/x", cleo, true},
		{"SITE_CHMOD", "/x", Who{User: "zed", Groups: []string{"other"}, Addr: lo}, false},
		{"SITE_CHMOD", "/x", Who{User: "zed", Addr: lo}, true}, // no group name: group rules skipped
	})
}

func TestOrder(t *testing.T) {
	p := compile(t, `
<Limit RETR>
  Order deny,allow
  AllowUser anna
  DenyAll
</Limit>
<Limit STOR>
  Order allow,deny
  AllowUser anna
  DenyAll
</Limit>
<Limit DELE>
  Order deny, allow
  DenyUser ben
  AllowGroup users
</Limit>
<Limit MKD>
  Order deny,allow
  AllowUser anna
</Limit>
`)
	runDecisions(t, p, []decision{
		{"RETR", "/x", anna, false}, // deny first: DenyAll wins
		{"STOR", "/x", anna, true},  // allow first
		{"STOR", "/x", ben, false},
		{"DELE", "/x", ben, false}, // "deny, allow" as two words
		{"DELE", "/x", anna, true},
		{"DELE", "/x", cleo, false}, // deny,allow with no match: implicit deny
		{"MKD", "/x", ben, false},
	})
}

func TestAddresses(t *testing.T) {
	p := compile(t, `
<Limit RETR>
  Order deny,allow
  Deny from all
  Allow from 10.0.0.0/8, 2001:db8::/32
</Limit>
<Limit STOR>
  Deny from 10.1.2.
</Limit>
<Limit DELE>
  Deny from 10.1.*.3
</Limit>
<Limit CWD>
  Allow from 10.0.0.0/8, 2001:db8::/32
  DenyAll
</Limit>
<Limit APPE>
  Deny from 10.0.0.[12]
</Limit>
<Limit MKD>
  Allow from none
  Allow from 127.0.0.1
  DenyAll
</Limit>
<Limit RMD>
  Allow from 127.0.0.1
  Allow from !10.0.0.1
  DenyAll
</Limit>
<Limit RNFR>
  Deny from !10.0.0.0/8
</Limit>
<Limit SIZE>
  Deny from ::ffff:10.1.2.3
</Limit>
<Limit MDTM>
  Allow from none 127.0.0.1
  DenyAll
</Limit>
`)
	runDecisions(t, p, []decision{
		// Order deny,allow: a matching Deny decides; Allow is not
		// looked at (ProFTPD's check_limit stops at the first).
		{"RETR", "/x", with(anna, lan), false},
		{"RETR", "/x", with(anna, six), false},
		{"RETR", "/x", anna, false},
		{"CWD", "/x", with(anna, lan), true},
		{"CWD", "/x", with(anna, six), true},
		{"CWD", "/x", anna, false},
		{"CWD", "/x", with(anna, netip.MustParseAddr("::ffff:10.9.9.9")), true}, // mapped addresses match IPv4 rules
		{"CWD", "/x", with(anna, netip.MustParseAddr("2001:db9::1")), false},
		{"STOR", "/x", with(anna, netip.MustParseAddr("::ffff:10.1.2.9")), false},
		{"STOR", "/x", with(anna, lan), false}, // trailing dot: a prefix
		{"STOR", "/x", anna, true},
		{"DELE", "/x", with(anna, lan), false}, // IP glob
		{"DELE", "/x", with(anna, netip.MustParseAddr("10.1.2.4")), true},
		{"APPE", "/x", with(anna, netip.MustParseAddr("10.0.0.2")), false}, // a bracket glob
		{"APPE", "/x", with(anna, netip.MustParseAddr("10.0.0.3")), true},
		{"MKD", "/x", anna, true}, // "none" only ends its own line
		{"MKD", "/x", with(anna, lan), false},
		// A negated entry makes its line fail for every address in
		// ProFTPD 1.3.8, and stops the search: RMD is denied even from
		// 127.0.0.1, and "Deny from !10.0.0.0/8" denies nobody.
		{"RMD", "/x", anna, false},
		{"RMD", "/x", with(anna, lan), false},
		{"RNFR", "/x", with(anna, six), true},
		{"RNFR", "/x", anna, true},
		{"SIZE", "/x", with(anna, lan), false}, // a mapped rule matches the IPv4 client
		{"MDTM", "/x", anna, false},            // "none" first on a line: nothing after it counts
	})
}

func TestNegatedEntryEndsSearch(t *testing.T) {
	// The line with a negated entry stops ipAccess even after a match.
	p := compile(t, `
<Limit RETR>
  Allow from 127.0.0.1
  Allow from !10.0.0.1
  DenyAll
</Limit>
<Limit STOR>
  Allow from !10.0.0.1
  Allow from 127.0.0.1
  DenyAll
</Limit>
`)
	runDecisions(t, p, []decision{
		{"RETR", "/x", anna, false},
		{"STOR", "/x", anna, false},
	})
}

func TestBeforeLogin(t *testing.T) {
	// Before login, any AllowUser/AllowGroup counts as allowing and
	// DenyUser/DenyGroup are skipped (FEAT, HELP, and the connection
	// check run then).
	p := compile(t, `
<Limit FEAT>
  AllowUser nobody-in-particular
  DenyAll
</Limit>
<Limit HELP>
  DenyUser anna
  DenyGroup users
</Limit>
<Limit NOOP>
  DenyAll
</Limit>
`)
	runDecisions(t, p, []decision{
		{"FEAT", "/", anon, true},
		{"FEAT", "/", anna, false},
		{"HELP", "/", anon, true},
		{"HELP", "/", anna, false},
		{"NOOP", "/", anon, false},
	})
}

func TestGroupsAndAll(t *testing.T) {
	p := compile(t, `
<Limit ALL>
  DenyUser ben
</Limit>
<Limit READ>
  AllowUser ben
</Limit>
<Limit DIRS>
  DenyUser cleo
</Limit>
`)
	runDecisions(t, p, []decision{
		{"RETR", "/x", ben, true},  // an explicit allow in READ ends the search before ALL
		{"STOR", "/x", ben, false}, // ALL
		{"NOOP", "/", ben, false},  // ALL covers NOOP, FEAT, PWD ...
		{"PWD", "/", ben, false},
		{"PASV", "/", ben, true}, // ... but not PASV, EPSV, PORT, EPRT, PROT
		{"EPSV", "/", ben, true},
		{"PROT", "/", ben, true},
		{"SITE_HELP", "/", ben, true},
		{"LIST", "/", cleo, false},
		{"MDTM", "/x", cleo, false}, // MDTM is DIRS
		{"SIZE", "/x", cleo, true},  // SIZE is READ
		{"RETR", "/x", cleo, true},
	})
}

func TestReverseOrderOfSections(t *testing.T) {
	// Sections are kept in reverse file order: the later <Limit> for the
	// same command is tried first.
	p := compile(t, `
<Limit RETR>
  AllowAll
</Limit>
<Limit RETR>
  DenyUser ben
</Limit>
<Limit STOR>
  DenyAll
</Limit>
<Limit STOR>
  AllowUser ben
</Limit>
`)
	runDecisions(t, p, []decision{
		{"RETR", "/x", ben, false},
		{"RETR", "/x", anna, true},
		{"STOR", "/x", ben, true},
		{"STOR", "/x", anna, false},
	})
}

func TestDirectories(t *testing.T) {
	p := compile(t, `
<Directory /srv>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory /srv/up/>
  <Limit WRITE>
    AllowUser anna
  </Limit>
</Directory>
<Directory /srv/up/in>
  <Limit DELE>
    DenyUser anna
  </Limit>
</Directory>
<Directory /srv/pub/*>
  <Limit ALL>
    DenyGroup guests
  </Limit>
</Directory>
<Directory /srv/home/*/priv>
  <Limit READ>
    DenyAll
  </Limit>
</Directory>
<Directory /srv/file.txt>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
<Directory /srv/data[0-9]>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
`)
	runDecisions(t, p, []decision{
		{"STOR", "/srv/x", anna, false},
		{"STOR", "/srv", anna, false}, // the directory itself
		{"STOR", "/srvx", anna, true}, // not below /srv
		{"STOR", "/srv/up/x", anna, true},
		{"STOR", "/srv/up/deep/er/x", anna, true}, // '*' matches '/' too
		{"STOR", "/srv/up/x", ben, false},         // implicit at /srv/up, DenyAll at /srv
		{"STOR", "/srv/up/in/x", anna, true},      // nested three deep
		{"DELE", "/srv/up/in/x", anna, false},     // the closest section decides
		{"RETR", "/srv/pub/a", cleo, false},
		{"RETR", "/srv/pub", cleo, true}, // "/*": below, not the directory itself
		{"RETR", "/srv/home/x/priv/f", ben, false},
		{"RETR", "/srv/home/x/priv", ben, false},
		{"RETR", "/srv/home/x/other/f", ben, true},
		{"RETR", "/srv/file.txt", ben, false},
		{"RETR", "/srv/file.txt2", ben, true},
		{"RETR", "/srv/data7/f", ben, false},
		{"RETR", "/srv/dataX/f", ben, true},
		{"RETR", "/srv/up/", ben, true}, // a trailing slash is ignored
	})
}

func TestDeferredDirectoryOrder(t *testing.T) {
	// <Directory ~> is resolved per session and stays where it is in the
	// list (reverse file order): written before <Directory /home> it is
	// tried after it, so it never applies below /home; written after, it
	// is tried first.
	before := compile(t, `
<Directory ~>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
<Directory /home>
  <Limit STOR>
    DenyAll
  </Limit>
</Directory>
`)
	after := compile(t, `
<Directory /home>
  <Limit STOR>
    DenyAll
  </Limit>
</Directory>
<Directory ~>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
`)
	runDecisions(t, before, []decision{
		{"RETR", "/home/anna/f", anna, true},
		{"STOR", "/home/anna/f", anna, false},
	})
	runDecisions(t, after, []decision{
		{"RETR", "/home/anna/f", anna, false},
		{"STOR", "/home/anna/f", anna, true}, // ~ matched: /home's limit is not its parent
		{"RETR", "/home/ben/f", anna, true},
		{"RETR", "/home/ben/f", ben, false},
	})
}

func TestDeferredDirectoryForms(t *testing.T) {
	p := compile(t, `
<Directory ~/priv>
  <Limit RETR>
    DenyAll
  </Limit>
</Directory>
<Directory ~ben/pub>
  <Limit STOR>
    DenyAll
  </Limit>
</Directory>
<Directory /data/%u>
  <Limit DELE>
    DenyAll
  </Limit>
</Directory>
<Directory ~nosuchuser>
  <Limit MKD>
    DenyAll
  </Limit>
</Directory>
`)
	p.HomeOf = func(name string) (string, bool) {
		if name == "ben" {
			return "/home/ben", true
		}
		return "", false
	}
	runDecisions(t, p, []decision{
		{"RETR", "/home/anna/priv/f", anna, false},
		{"RETR", "/home/ben/priv/f", anna, true},
		{"STOR", "/home/ben/pub/f", anna, false}, // ~ben is ben's home for everybody
		{"STOR", "/home/anna/pub/f", anna, true},
		{"DELE", "/data/anna/f", anna, false},
		{"DELE", "/data/ben/f", anna, true},
		{"MKD", "/home/anna/x", anna, true}, // unknown user: never matches
	})
}

func TestGlobalBodies(t *testing.T) {
	// <Global> bodies are appended to every server after its own
	// records: the server's own <Limit> is tried first.
	cfg := parse(t, `
<Limit WRITE>
  DenyAll
</Limit>
<Global>
  <Limit WRITE>
    AllowUser anna
  </Limit>
  <Limit RETR>
    DenyUser ben
  </Limit>
  Umask 077
</Global>
<VirtualHost 127.0.0.2>
  <Limit WRITE>
    AllowUser ben
  </Limit>
  <Global>
    <Limit SIZE>
      DenyAll
    </Limit>
  </Global>
</VirtualHost>
`)
	mainP, errs := Compile(cfg, cfg.Main)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	vh, errs := Compile(cfg, cfg.VirtualHosts[0])
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	runDecisions(t, mainP, []decision{
		{"STOR", "/x", anna, false},
		{"RETR", "/x", ben, false},
		{"SIZE", "/x", anna, false}, // the vhost's <Global> applies to main too
	})
	runDecisions(t, vh, []decision{
		{"STOR", "/x", ben, true},
		{"STOR", "/x", anna, true}, // the global AllowUser anna (no DenyAll in the vhost)
		{"STOR", "/x", cleo, true},
		{"RETR", "/x", ben, false},
		{"SIZE", "/x", anna, false},
	})
	if u := vh.Dir("/x", anna).Umask; u != 0o077 {
		t.Errorf("vhost umask %03o", u)
	}
}

func TestLogin(t *testing.T) {
	p := compile(t, `
<Limit LOGIN>
  AllowUser anna
  Deny from 10.0.0.0/8
</Limit>
<Limit LOGIN>
  DenyGroup guests
</Limit>
<Limit LOGIN READ>
  Order deny,allow
  DenyUser ben
  AllowGroup users,staff
  AllowGroup guests
</Limit>
`)
	for _, c := range []struct {
		who  Who
		want bool
	}{
		{anna, true},
		{with(anna, lan), true}, // AllowUser before Deny from (allow,deny)
		{ben, false},            // DenyUser in the third
		{cleo, false},           // DenyGroup guests in the second
		{Who{User: "zed", Groups: []string{"users"}, Addr: lo}, false}, // implicit deny (deny,allow)
	} {
		if got := p.LoginAllowed(c.who); got != c.want {
			t.Errorf("LoginAllowed(%s from %s) = %v, want %v", c.who.User, c.who.Addr, got, c.want)
		}
	}
	// At connection time any <Limit LOGIN> that allows is enough (any
	// AllowUser or AllowGroup allows, the user being unknown).
	if !p.ConnectAllowed(lan) {
		t.Error("ConnectAllowed(10.1.2.3)")
	}
	deny := compile(t, `
<Limit LOGIN>
  Deny from 10.0.0.0/8
</Limit>
<Limit LOGIN>
  Order deny,allow
  Allow from 127.0.0.1
</Limit>
`)
	if deny.ConnectAllowed(lan) || !deny.ConnectAllowed(lo) {
		t.Error("ConnectAllowed with Deny from")
	}
	// One <Limit LOGIN> without a decision and one that denies: denied.
	mixed := compile(t, `
<Limit LOGIN>
  DenyUser ben
</Limit>
<Limit LOGIN>
  Deny from 10.0.0.0/8
</Limit>
`)
	if mixed.ConnectAllowed(lan) {
		t.Error("ConnectAllowed: a denying <Limit LOGIN> and an undecided one")
	}
	if !compile(t, "").ConnectAllowed(lan) || !compile(t, "").LoginAllowed(cleo) {
		t.Error("no <Limit LOGIN>: allowed")
	}
	// <Limit ALL> does not cover LOGIN.
	if !compile(t, "<Limit ALL>\nDenyAll\n</Limit>\n").LoginAllowed(anna) {
		t.Error("<Limit ALL> denied the login")
	}
}

func TestDirSettings(t *testing.T) {
	p := compile(t, `
Umask 027 002
AllowOverwrite on
AllowStoreRestart on
AllowRetrieveRestart off
HiddenStores on
DeleteAbortedStores on
<Directory /up>
  Umask 077
  AllowOverwrite off
  HiddenStores .part. .tmp
  DeleteAbortedStores off
</Directory>
<Directory /up/in>
  AllowStoreRestart off
  HiddenStores off
  AllowRetrieveRestart on
</Directory>
<Directory /pub>
  HiddenStores up
</Directory>
<Directory /pub/x>
  HiddenStores on .ignored
</Directory>
<Directory /pub/y>
  HiddenStores prefix suffix
</Directory>
`)
	type ds = DirSettings
	for _, c := range []struct {
		path string
		want DirSettings
	}{
		{"/other", ds{Umask: 0o027, DirUmask: 0o002, AllowOverwrite: true, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: ".in.", HiddenSuffix: ".", DeleteAbortedStores: true, DeleteAbortedHidden: true}},
		// Umask 077 in /up has no directory umask of its own: the
		// server's 002 is merged in (ProFTPD keeps them as two records).
		{"/up/f", ds{Umask: 0o077, DirUmask: 0o002, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: ".part.", HiddenSuffix: ".tmp"}},
		{"/up/in/f", ds{Umask: 0o077, DirUmask: 0o002, AllowRetrieveRestart: true}},
		{"/pub/f", ds{Umask: 0o027, DirUmask: 0o002, AllowOverwrite: true, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: ".up.", HiddenSuffix: ".", DeleteAbortedStores: true, DeleteAbortedHidden: true}},
		{"/pub/x/f", ds{Umask: 0o027, DirUmask: 0o002, AllowOverwrite: true, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: ".in.", HiddenSuffix: ".", DeleteAbortedStores: true, DeleteAbortedHidden: true}},
		{"/pub/y/f", ds{Umask: 0o027, DirUmask: 0o002, AllowOverwrite: true, AllowStoreRestart: true, HiddenStores: true, HiddenPrefix: "prefix", HiddenSuffix: "suffix", DeleteAbortedStores: true, DeleteAbortedHidden: true}},
	} {
		if got := p.Dir(c.path, anna); got != c.want {
			t.Errorf("Dir(%s):\n got %+v\nwant %+v", c.path, got, c.want)
		}
	}
	def := compile(t, "")
	if got, want := def.Dir("/x", anna), (DirSettings{Umask: 0o022, DirUmask: 0o022, AllowRetrieveRestart: true, DeleteAbortedHidden: true}); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	// The first of two lines wins.
	two := compile(t, "Umask 077\nUmask 000\n")
	if u := two.Dir("/x", anna).Umask; u != 0o077 {
		t.Errorf("two Umask lines: %03o", u)
	}
	if def.AllowForeignAddress() || !compile(t, "AllowForeignAddress on\n").AllowForeignAddress() {
		t.Error("AllowForeignAddress")
	}
}

func TestDefaultRoot(t *testing.T) {
	p := compile(t, `
DefaultRoot ~ staff,!guests
DefaultRoot /srv/pub guests
DefaultRoot ~/sub users
DefaultRoot /data/%u ftp
DefaultRoot /
`)
	for _, c := range []struct {
		who    Who
		root   string
		chroot bool
	}{
		{anna, "/home/anna", true},   // staff, not guests
		{cleo, "/srv/pub", true},     // guests
		{ben, "/home/ben/sub", true}, // users
		{Who{User: "dan", Groups: []string{"ftp"}}, "/data/dan", true},
		{Who{User: "eve", Groups: []string{"other"}}, "", false}, // "/": no chroot
	} {
		root, chroot := p.DefaultRoot(c.who, c.who.Home)
		if root != c.root || chroot != c.chroot {
			t.Errorf("DefaultRoot(%s) = %q %v, want %q %v", c.who.User, root, chroot, c.root, c.chroot)
		}
	}
	if _, chroot := compile(t, "").DefaultRoot(anna, anna.Home); chroot {
		t.Error("no DefaultRoot: chroot")
	}
}

func TestAllowOverrideOff(t *testing.T) {
	// Accepted; its <Directory> is a section (nested under /srv/*, whose
	// Umask it inherits).
	p := compile(t, `
AllowOverride off
<Directory /srv/x>
  AllowOverride off
</Directory>
<Directory /srv/*>
  Umask 077
</Directory>
`)
	if u := p.Dir("/srv/x/f", anna).Umask; u != 0o077 {
		t.Errorf("umask %03o", u)
	}
	if u := p.Dir("/srv/y/f", anna).Umask; u != 0o077 {
		t.Errorf("umask %03o", u)
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if !p.Allowed("STOR", "/x", anna) || !p.LoginAllowed(anna) || !p.ConnectAllowed(lo) || p.AllowForeignAddress() {
		t.Error("nil Policy")
	}
}

func TestGroup(t *testing.T) {
	for cmd, want := range map[string]string{"RETR": "READ", "size": "READ", "STOR": "WRITE", "RNTO": "WRITE", "MDTM": "DIRS", "LIST": "DIRS", "NOOP": ""} {
		if g, ok := Group(cmd); !ok || g != want {
			t.Errorf("Group(%s) = %q %v", cmd, g, ok)
		}
	}
	if _, ok := Group("SYST"); ok {
		t.Error("SYST is checked?")
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct {
		conf string
		line int
		msg  string // part of the message
	}{
		{"<Anonymous /srv/anon>\n  <Limit WRITE>\n    DenyAll\n  </Limit>\n</Anonymous>\n", 1, "<Anonymous>"},
		{"<Class internal>\n  From 10.0.0.0/8\n</Class>\n", 1, "<Class>"},
		{"<Limit WRITE>\n  AllowClass internal\n</Limit>\n", 2, "Class-based rules"},
		{"<Limit WRITE>\n  DenyFilter \\*.*/\n</Limit>\n", 2, "filters"},
		{"<Limit WRITE>\n  IgnoreHidden on\n</Limit>\n", 2, "IgnoreHidden"},
		{"<Limit WRITE>\n  Deny from example.com\n</Limit>\n", 2, "reverse DNS"},
		{"<Limit WRITE>\n  Deny from .example.com\n</Limit>\n", 2, "reverse DNS"},
		{"<Limit WRITE>\n  AllowUser AND a b\n</Limit>\n", 2, "AND"},
		{"<Limit WRITE>\n  AllowUser regex ^a\n</Limit>\n", 2, "regular expressions"},
		{"<Limit SYST>\n  DenyAll\n</Limit>\n", 1, "never consults"},
		{"<Limit STORE>\n  DenyAll\n</Limit>\n", 1, "unknown command"},
		{"<Limit OPTS_MLST>\n  DenyAll\n</Limit>\n", 1, "OPTS_MLST"},
		{"<Directory /srv>\n  <Limit LOGIN>\n    DenyAll\n  </Limit>\n</Directory>\n", 2, "LOGIN"},
		{"<Directory /srv>\n  DenyAll\n</Directory>\n", 2, "put it in a <Limit>"},
		{"<Directory /srv>\n  HideFiles ^\\.\n</Directory>\n", 2, "HideFiles in <Directory>"},
		{"<Directory /home/%u[0]>\n  Umask 077\n</Directory>\n", 1, "%u[n]"},
		{"DefaultRoot ~ftp\n", 1, "~user"},
		{"HiddenStores .%P.\n", 1, "%P"},
		{"AllowForeignAddress internal\n", 1, "<Class>"},
		{"AllowOverride on\n", 1, ".ftpaccess"},
		{"<Directory /srv>\n  AllowOverride on\n</Directory>\n", 2, ".ftpaccess"},
	} {
		cfg, err := directives.Parse(strings.NewReader(c.conf), "test.conf", directives.Options{})
		if err != nil {
			t.Errorf("%q: the parser refuses it: %v", c.conf, err)
			continue
		}
		errs := Check(cfg)
		if len(errs) != 1 {
			t.Errorf("%q: %d errors %v, want 1", c.conf, len(errs), errs)
			continue
		}
		e := errs[0]
		if e.File != "test.conf" || e.Line != c.line || !strings.Contains(e.Msg, c.msg) || !strings.Contains(e.Msg, "not supported by ftpdtls serve") || !errors.Is(e, ErrNotSupported) {
			t.Errorf("%q: %s (line %d), want line %d and %q", c.conf, e.Error(), e.Line, c.line, c.msg)
		}
	}
}

func TestCheckCollectsAll(t *testing.T) {
	cfg := parse(t, `<Limit WRITE>
  AllowClass a
  DenyClass b
</Limit>
<Global>
  <Limit READ>
    IgnoreHidden on
  </Limit>
</Global>
<VirtualHost 127.0.0.2>
  <Anonymous /srv/ftp>
  </Anonymous>
</VirtualHost>
<VirtualHost 127.0.0.3>
  <Limit DIRS>
    AllowFilter x
  </Limit>
</VirtualHost>
`)
	errs := Check(cfg)
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if got := strings.Trim(strings.Join(strings.Fields(strings.Trim(strings.ReplaceAll(strings.Join(strings.Fields(intsString(lines)), " "), ",", ""), "[]")), ","), ","); got != "2,3,7,11,16" {
		t.Errorf("Check lines %v, want [2 3 7 11 16]: %v", lines, errs)
	}
	// Compile reports a server's own errors and the <Global> ones.
	_, errs = Compile(cfg, cfg.VirtualHosts[1])
	lines = nil
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if intsString(lines) != "[7 16]" {
		t.Errorf("Compile(vhost 2) lines %v", lines)
	}
}

func intsString(v []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(itoa(n))
	}
	b.WriteByte(']')
	return b.String()
}

func TestHandles(t *testing.T) {
	for _, n := range []string{"<Limit>", "<directory>", "<Anonymous>", "<Class>", "AllowUser", "umask", "DefaultRoot", "HiddenStores", "AllowClass", "IgnoreHidden", "AllowForeignAddress"} {
		if !Handles(n) {
			t.Errorf("Handles(%s) = false", n)
		}
	}
	for _, n := range []string{"TLSEngine", "ServerName", "MaxClients", "<VirtualHost>"} {
		if Handles(n) {
			t.Errorf("Handles(%s) = true", n)
		}
	}
}

// BenchmarkAllowed measures one decision in a configuration with nested
// and glob <Directory> sections and several <Limit>s per level.
func BenchmarkAllowed(b *testing.B) {
	cfg, err := directives.Parse(strings.NewReader(`
<Limit WRITE>
  AllowGroup staff
  DenyAll
</Limit>
<Limit READ>
  DenyUser ben
</Limit>
<Directory /srv>
  <Limit WRITE>
    DenyAll
  </Limit>
</Directory>
<Directory /srv/up>
  Umask 077
  <Limit STOR>
    AllowUser anna
  </Limit>
</Directory>
<Directory /srv/home/*/priv>
  <Limit READ DIRS>
    DenyAll
  </Limit>
</Directory>
<Directory ~/pub>
  <Limit DELE>
    DenyAll
  </Limit>
</Directory>
`), "bench.conf", directives.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, errs := Compile(cfg, cfg.Main)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Allowed("RETR", "/srv/home/anna/priv/a/b/file.txt", anna)
	}
}
