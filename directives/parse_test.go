package directives

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// testModKey is where the test module keeps what its handler saw.
type testModKey struct{}

type testModSeen struct {
	cmds []Cmd
}

// The test module stands for a linked Go module package; mod_copy.c is
// registered with one handler to show that its other catalogue directive
// stays known.
func init() {
	Register(&Module{
		Name:     "mod_ftpdtls_test.c",
		Version:  "mod_ftpdtls_test/1.0",
		Requires: []string{"mod_tls.c"},
		Directives: []Directive{
			{Name: "TestSetting", Contexts: Root | VirtualHost | Global, Args: ArgsBetween(1, 2), Handler: func(c *Cmd) error {
				if c.Args[0] == "bad" {
					return &os.PathError{Op: "check", Path: "x", Err: syscall.EINVAL}
				}
				if c.Args[0] == "warn" {
					c.Warnf("test: %s is odd", c.Args[0])
				}
				seen, _ := c.Server.Value(testModKey{}).(*testModSeen)
				if seen == nil {
					seen = &testModSeen{}
					c.Server.SetValue(testModKey{}, seen)
				}
				seen.cmds = append(seen.cmds, *c)
				return nil
			}},
		},
	})
	Register(&Module{
		Name: "mod_copy.c",
		Directives: []Directive{
			{Name: "CopyEngine", Contexts: Root, Args: ArgsExactly(1), Handler: checkBool},
		},
	})
}

func parseString(t *testing.T, conf string, opts Options) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(conf), "/etc/proftpd/test.conf", opts)
}

func mustParse(t *testing.T, conf string, opts Options) *Config {
	t.Helper()
	cfg, err := parseString(t, conf, opts)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

func fatalOf(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *Error", err, err)
	}
	return e
}

func TestServerSettings(t *testing.T) {
	cfg := mustParse(t, `
ServerType inetd
ServerName "main server"
ServerIdent on "hi there"
Port 2121
DefaultAddress 127.0.0.1 ::1
SocketBindTight on
UseIPv6 off
UseReverseDNS off
User nobody
Group nogroup
PassivePorts 50000 50100
MasqueradeAddress ftp.example.com
PidFile /run/ftpdtls.pid
ScoreboardFile /run/ftpdtls.scoreboard
MaxInstances 30
<VirtualHost 127.0.0.2>
  ServerName vhost
  Port 0
  DefaultServer on
  User root
  PassivePorts 60000 60010
  <Anonymous ~ftp>
    User nobody
  </Anonymous>
</VirtualHost>
`, testOptions())
	m := cfg.Main
	want := Server{
		Name: "main server", Addrs: []string{"127.0.0.1", "::1"}, Port: 2121, IsMain: true,
		ServerType: "inetd", ServerIdent: []string{"on", "hi there"}, User: "nobody", Group: "nogroup",
		PassivePorts: PortRange{50000, 50100}, MasqueradeAddress: "ftp.example.com",
		PidFile: "/run/ftpdtls.pid", ScoreboardFile: "/run/ftpdtls.scoreboard",
		SocketBindTight: true, MaxInstances: 30,
	}
	got := *m
	got.nodes, got.values, got.global = nil, nil, 0
	want.File = "/etc/proftpd/test.conf"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("main server\n got %+v\nwant %+v", got, want)
	}
	if len(cfg.VirtualHosts) != 1 {
		t.Fatalf("%d virtual hosts", len(cfg.VirtualHosts))
	}
	v := cfg.VirtualHosts[0]
	if v.Name != "vhost" || v.Port != 0 || !v.DefaultServer || v.User != "root" || v.PassivePorts != (PortRange{60000, 60010}) ||
		!reflect.DeepEqual(v.Addrs, []string{"127.0.0.2"}) || v.IsMain || v.Line != 17 || v.File != "/etc/proftpd/test.conf" {
		t.Errorf("vhost %+v", *v)
	}
	if !v.UseIPv6 || v.ServerType != "standalone" {
		t.Errorf("vhost defaults: UseIPv6=%v ServerType=%q", v.UseIPv6, v.ServerType)
	}
	if got := cfg.Servers(); len(got) != 2 || got[0] != m || got[1] != v {
		t.Errorf("Servers() = %v", got)
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, "", testOptions())
	m := cfg.Main
	if m.Port != 21 || m.ServerType != "standalone" || !m.UseIPv6 || !m.UseReverseDNS || !m.IsMain || m.Name != "ProFTPD" {
		t.Errorf("defaults: %+v", *m)
	}
	if !reflect.DeepEqual(cfg.LoadedModules(), DebianCompiledIn) {
		t.Errorf("LoadedModules() = %v, want Debian's %v", cfg.LoadedModules(), DebianCompiledIn)
	}
	if cfg.ModulePath() != DefaultModulePath {
		t.Errorf("ModulePath() = %q", cfg.ModulePath())
	}
	if cfg.Trace.Options != (traceDefaults()) || cfg.Trace.Log != "" || cfg.Trace.Levels != nil {
		t.Errorf("trace defaults: %+v", cfg.Trace)
	}
}

func TestGlobalReplay(t *testing.T) {
	cfg := mustParse(t, `
LoadModule mod_tls.c
LoadModule mod_ftpdtls_test.c
Port 2121
<Global>
  Port 3000
  User nobody
  MasqueradeAddress 192.0.2.1
  TestSetting x
</Global>
<VirtualHost 127.0.0.2>
  User root
</VirtualHost>
<VirtualHost 127.0.0.3>
  <Global>
    Group nogroup
  </Global>
</VirtualHost>
`, testOptions())
	servers := cfg.Servers()
	if len(servers) != 3 {
		t.Fatalf("%d servers", len(servers))
	}
	wantPort := []int{2121, 3000, 3000} // the main server's own Port wins
	wantUser := []string{"nobody", "root", "nobody"}
	for i, s := range servers {
		if s.Port != wantPort[i] || s.User != wantUser[i] || s.Group != "nogroup" || s.MasqueradeAddress != "192.0.2.1" {
			t.Errorf("server %d: Port=%d User=%q Group=%q Masq=%q", i, s.Port, s.User, s.Group, s.MasqueradeAddress)
		}
		if n := len(s.Directives("port")); n != map[int]int{0: 2, 1: 1, 2: 1}[i] {
			t.Errorf("server %d has %d Port directives", i, n)
		}
		if !s.SetInBody("Port") != (i > 0) {
			t.Errorf("server %d: SetInBody(Port) = %v", i, s.SetInBody("Port"))
		}
		// The replay reaches every server once, marked as a replay.
		seen, _ := s.Value(testModKey{}).(*testModSeen)
		if seen == nil || len(seen.cmds) != 1 || !seen.cmds[0].Replay || seen.cmds[0].Context != Global || seen.cmds[0].Line != 9 {
			t.Errorf("server %d: test module saw %+v", i, seen)
		}
	}
	_, err := parseString(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<Global>\nTestSetting warn\n</Global>\n<VirtualHost 127.0.0.2>\n</VirtualHost>\n", testOptions())
	if err != nil {
		t.Fatal(err)
	}
}

func TestGlobalValidatedInPlace(t *testing.T) {
	// The handler runs where the line is, so the error names that line,
	// not the end of the file.
	_, err := parseString(t, "<Global>\n  Port 70000\n</Global>\nPort 1\n", testOptions())
	e := fatalOf(t, err)
	if e.Line != 2 || e.Directive != "Port" {
		t.Errorf("got %v", e)
	}
}

func TestWarningsOnlyOnceForGlobal(t *testing.T) {
	cfg := mustParse(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<Global>\nTestSetting warn\n</Global>\n<VirtualHost 127.0.0.2>\n</VirtualHost>\n", testOptions())
	want := []Warning{{Directive: "TestSetting", Msg: "test: warn is odd", File: "/etc/proftpd/test.conf", Line: 4}}
	if !reflect.DeepEqual(cfg.Warnings, want) {
		t.Errorf("warnings %+v, want %+v", cfg.Warnings, want)
	}
}

func TestRegisteredModule(t *testing.T) {
	conf := "TestSetting a\n"
	_, err := parseString(t, conf, testOptions())
	if e := fatalOf(t, err); !errors.Is(err, ErrUnknownDirective) || e.Error() != "fatal: unknown configuration directive 'TestSetting' on line 1 of '/etc/proftpd/test.conf'" {
		t.Errorf("before LoadModule: %v", err)
	}
	cfg := mustParse(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<VirtualHost 127.0.0.2>\n  testsetting \\\n   a b\n</VirtualHost>\n", testOptions())
	seen := cfg.VirtualHosts[0].Value(testModKey{}).(*testModSeen)
	c := seen.cmds[0]
	if c.Name != "TestSetting" || !reflect.DeepEqual(c.Args, []string{"a", "b"}) || c.Line != 5 || c.Context != VirtualHost ||
		c.Server != cfg.VirtualHosts[0] || c.Config != cfg || c.Node == nil || c.Node.Module != "mod_ftpdtls_test.c" || c.Replay {
		t.Errorf("handler saw %+v", c)
	}
	if got := cfg.LoadedModules()[len(cfg.LoadedModules())-2:]; !reflect.DeepEqual(got, []string{"mod_tls.c", "mod_ftpdtls_test.c"}) {
		t.Errorf("load order %v", got)
	}

	// A handler error becomes ProFTPD's fatal line and stays reachable.
	_, err = parseString(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\nTestSetting bad\n", testOptions())
	e := fatalOf(t, err)
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.EINVAL) || e.Error() != "fatal: TestSetting: check x: invalid argument on line 3 of '/etc/proftpd/test.conf'" {
		t.Errorf("handler error: %v", err)
	}

	// Args runs before the context check.
	_, err = parseString(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<Directory /x>\nTestSetting a b c\n</Directory>\n", testOptions())
	if !errors.Is(err, ErrWrongArgs) {
		t.Errorf("arg count before context: %v", err)
	}
	_, err = parseString(t, "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<Directory /x>\nTestSetting a\n</Directory>\n", testOptions())
	var ce *ContextError
	if !errors.As(err, &ce) || ce.Context != Directory || fatalOf(t, err).Msg != "directive not allowed in <Directory> context" {
		t.Errorf("context: %v", err)
	}
}

func TestRegisteredModuleKeepsCatalogueDirectives(t *testing.T) {
	cfg := mustParse(t, "LoadModule mod_copy.c\nCopyOptions NoDeleteOnFailure\nCopyEngine on\n", testOptions())
	if n := cfg.Main.Directives("CopyOptions"); len(n) != 1 || n[0].Module != "mod_copy.c" || !reflect.DeepEqual(n[0].Args, []string{"NoDeleteOnFailure"}) {
		t.Errorf("CopyOptions node %+v", n)
	}
	// The catalogue directive keeps ProFTPD's checks of its arguments.
	if _, err := parseString(t, "LoadModule mod_copy.c\nCopyOptions anything\n", testOptions()); err == nil ||
		fatalOf(t, err).Msg != ": unknown CopyOption 'anything'" {
		t.Errorf("CopyOptions anything: %v", err)
	}
	_, err := parseString(t, "LoadModule mod_copy.c\nCopyEngine maybe\n", testOptions())
	if !errors.Is(err, ErrBool) {
		t.Errorf("registered handler not used: %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name string
		m    *Module
	}{
		{"nil", nil},
		{"bad name", &Module{Name: "hello"}},
		{"duplicate", &Module{Name: "mod_ftpdtls_test.c"}},
		{"unnamed directive", &Module{Name: "mod_ftpdtls_unnamed.c", Directives: []Directive{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register did not panic")
				}
			}()
			Register(tt.m)
		})
	}
	if got := Registered(); !contains(got, "mod_ftpdtls_test.c") || contains(got, "mod_ftpdtls_unnamed.c") {
		t.Errorf("Registered() = %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestLoadModule(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		opts     func(*Options)
		err      string // "" = accepted
		warnings []string
	}{
		{name: "catalogue module", conf: "LoadModule mod_tls.c\nTLSEngine on\nTLSWhatever x y\n",
			err: "fatal: unknown configuration directive 'TLSWhatever' on line 3 of '/etc/proftpd/test.conf'"},
		{name: "twice", conf: "LoadModule mod_tls.c\nLoadModule mod_tls.c\n",
			warnings: []string{"mod_dso/0.5: module 'mod_tls.c' already loaded"}},
		{name: "compiled in", conf: "LoadModule mod_xfer.c\n",
			warnings: []string{"mod_dso/0.5: unable to load 'mod_xfer.c'; check to see if '/usr/lib/proftpd/mod_xfer.la' exists", "mod_dso/0.5: module 'mod_xfer.c' already loaded"}},
		{name: "bad name", conf: "LoadModule tls\n",
			err: "fatal: LoadModule: error loading module 'tls': Invalid argument on line 1 of '/etc/proftpd/test.conf'"},
		{name: "missing", conf: "ModulePath /\nLoadModule mod_nope.c\n",
			err:      "fatal: LoadModule: error loading module 'mod_nope.c': No such file or directory on line 2 of '/etc/proftpd/test.conf'",
			warnings: []string{"mod_dso/0.5: unable to load 'mod_nope.c'; check to see if '//mod_nope.la' exists"}},
		{name: "option module path", conf: "LoadModule mod_nope.cpp\n", opts: func(o *Options) { o.ModulePath = "/opt/mods" },
			err:      "fatal: LoadModule: error loading module 'mod_nope.cpp': No such file or directory on line 1 of '/etc/proftpd/test.conf'",
			warnings: []string{"mod_dso/0.5: unable to load 'mod_nope.cpp'; check to see if '/opt/mods/mod_nope.la' exists"}},
		// Deliberate difference (doc.go): the real cause, not a missing .la.
		{name: "requires", conf: "LoadModule mod_tls_shmcache.c\nLoadModule mod_tls.c\n",
			err:      "fatal: LoadModule: error loading module 'mod_tls_shmcache.c': requires 'mod_tls.c', which must be loaded first on line 1 of '/etc/proftpd/test.conf'",
			warnings: []string{"mod_dso/0.5: unable to load 'mod_tls_shmcache.c': requires 'mod_tls.c', which must be loaded first"}},
		{name: "requires met", conf: "LoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\nLoadModule mod_tls_fscache.c\n"},
		// As Debian's proftpd: the cache modules need mod_tls, not the
		// client modules.
		{name: "redis without mod_redis", conf: "LoadModule mod_tls.c\nLoadModule mod_tls_redis.c\n"},
		{name: "memcache without mod_memcache", conf: "LoadModule mod_tls.c\nLoadModule mod_tls_memcache.c\n"},
		{name: "redis before mod_tls", conf: "LoadModule mod_redis.c\nLoadModule mod_tls_redis.c\n",
			err:      "fatal: LoadModule: error loading module 'mod_tls_redis.c': requires 'mod_tls.c', which must be loaded first on line 2 of '/etc/proftpd/test.conf'",
			warnings: []string{"mod_dso/0.5: unable to load 'mod_tls_redis.c': requires 'mod_tls.c', which must be loaded first"}},
		{name: "compiled-in option", conf: "TLSEngine on\nLoadModule mod_tls.c\n",
			opts: func(o *Options) {
				o.CompiledIn = append(append([]string(nil), DebianCompiledIn...), "mod_tls.c")
				o.ProFTPD = true
			},
			warnings: []string{"mod_dso/0.5: unable to load 'mod_tls.c'; check to see if '/usr/lib/proftpd/mod_tls.la' exists", "mod_dso/0.5: module 'mod_tls.c' already loaded"}},
		// ftpdtls serve's parse: LoadModule of a linked module counted as
		// compiled in says nothing; Debian's compiled-in ones still do.
		{name: "linked module, serve's parse", conf: "CopyEngine on\nLoadModule mod_copy.c\nLoadModule mod_xfer.c\n",
			opts:     func(o *Options) { o.CompiledIn = append(append([]string(nil), DebianCompiledIn...), "mod_copy.c") },
			warnings: []string{"mod_dso/0.5: unable to load 'mod_xfer.c'; check to see if '/usr/lib/proftpd/mod_xfer.la' exists", "mod_dso/0.5: module 'mod_xfer.c' already loaded"}},
		{name: "not compiled in", conf: "<IfModule mod_ls.c>\nFoo\n</IfModule>\nLoadModule mod_ls.c\n",
			opts: func(o *Options) { o.CompiledIn = []string{"mod_dso.c"} }},
		{name: "in vhost", conf: "<VirtualHost 127.0.0.2>\nLoadModule mod_tls.c\n</VirtualHost>\n",
			err: "fatal: LoadModule: directive not allowed in <VirtualHost> context on line 2 of '/etc/proftpd/test.conf'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			cfg, err := parseString(t, tt.conf, opts)
			var warnings []Warning
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Fatalf("error %v, want %s", err, tt.err)
			case err != nil:
				warnings = fatalOf(t, err).Warnings
			default:
				warnings = cfg.Warnings
			}
			var got []string
			for _, w := range warnings {
				got = append(got, w.String())
			}
			if !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
}

func TestLoadModuleRequiresError(t *testing.T) {
	_, err := parseString(t, "LoadModule mod_tls_shmcache.c\n", testOptions())
	var re *RequiresError
	if !errors.As(err, &re) || re.Module != "mod_tls_shmcache.c" || re.Requires != "mod_tls.c" {
		t.Errorf("got %v", err)
	}
	_, err = parseString(t, "LoadModule mod_nope.c\n", testOptions())
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing module error %v does not match ENOENT", err)
	}
}

func TestCompiledInErrors(t *testing.T) {
	for _, ci := range [][]string{{"mod_tls_shmcache.c"}, {"tls"}, {"mod_unheard_of.c"}} {
		if _, err := Parse(strings.NewReader(""), "x", Options{CompiledIn: ci}); err == nil {
			t.Errorf("CompiledIn %v accepted", ci)
		}
	}
}

func TestTree(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc.conf")
	if err := os.WriteFile(inc, []byte("ServerIdent off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, `ServerName x
<IfModule mod_core.c>
  Port 2121
</IfModule>
<IfModule mod_tls.c>
  TLSEngine on
</IfModule>
<VirtualHost 127.0.0.2>
  Include `+inc+`
  <Directory /srv>
    Umask 022
  </Directory>
</VirtualHost>
`, testOptions())
	var shape func(n *Node) string
	shape = func(n *Node) string {
		s := n.Name
		if n.Skipped {
			s += "(skipped)"
		}
		if len(n.Children) > 0 {
			var kids []string
			for _, c := range n.Children {
				kids = append(kids, shape(c))
			}
			s += "[" + strings.Join(kids, " ") + "]"
		}
		return s
	}
	want := "server config[ServerName <IfModule>[Port </IfModule>] <IfModule>(skipped) <VirtualHost>[Include[Include[ServerIdent]] <Directory>[Umask </Directory>] </VirtualHost>]]"
	if got := shape(cfg.Root); got != want {
		t.Errorf("tree\n got %s\nwant %s", got, want)
	}
	vh := cfg.VirtualHosts[0]
	ident := vh.Directives("ServerIdent")
	if len(ident) != 1 || ident[0].File != inc || ident[0].Line != 1 || ident[0].Context != VirtualHost {
		t.Errorf("ServerIdent nodes %+v", ident)
	}
	if len(vh.Directives("Umask")) != 0 {
		t.Errorf("Directives returned a directive nested in <Directory>")
	}
	if p := cfg.Main.Directives("Port"); len(p) != 1 || p[0].Line != 3 {
		t.Errorf("Port in taken <IfModule>: %+v", p)
	}
}

func TestSections(t *testing.T) {
	tests := []struct {
		name, conf, err string
	}{
		{"unclosed vhost", "<VirtualHost 127.0.0.2>\n", "fatal: error processing configuration file '/etc/proftpd/test.conf': unclosed configuration section"},
		{"unclosed directory", "<Directory /x>\n", "fatal: error processing configuration file '/etc/proftpd/test.conf': unclosed configuration section"},
		{"unclosed opaque section", "LoadModule mod_ifsession.c\n<IfUser bob>\n", "fatal: error processing configuration file '/etc/proftpd/test.conf': unclosed configuration section"},
		{"unclosed taken IfModule is accepted", "<IfModule mod_core.c>\nPort 1\n", ""},
		{"unclosed skipped IfModule", "<IfModule mod_tls.c>\nPort 1\n\n", "fatal: <IfModule>: unclosed <IfModule> context on line 3 of '/etc/proftpd/test.conf'"},
		{"nested skip counting", "<IfModule mod_tls.c>\n<IfModule !x>\nanything\n</IfModule>\n</IfModule>\nPort 70000\n", "fatal: Port: value must be between 0 and 65535 on line 6 of '/etc/proftpd/test.conf'"},
		{"Global in Global", "<Global>\n<Global>\n", "fatal: <Global>: directive not allowed in <Global> context on line 2 of '/etc/proftpd/test.conf'"},
		{"close in wrong context", "<Directory /a>\n</Limit>\n", "fatal: </Limit>: directive not allowed in <Directory> context on line 2 of '/etc/proftpd/test.conf'"},
		// Section tags whose argument check comes before the context
		// check, as proftpd -t 1.3.8 answers.
		{"Global args before context", "<Directory /a>\n<Global extra>\n", "fatal: <Global>: Too many parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"Global context without args", "<Directory /a>\n<Global>\n", "fatal: <Global>: directive not allowed in <Directory> context on line 2 of '/etc/proftpd/test.conf'"},
		{"Limit args before context", "<Limit LOGIN>\n<Limit>\n", "fatal: <Limit>: directive requires one or more commands on line 2 of '/etc/proftpd/test.conf'"},
		{"Limit context with args", "<Limit LOGIN>\n<Limit READ>\n", "fatal: <Limit>: directive not allowed in <Limit> context on line 2 of '/etc/proftpd/test.conf'"},
		{"close tag args before context", "</Global extra>\n", "fatal: </Global>: wrong number of parameters on line 1 of '/etc/proftpd/test.conf'"},
		{"Class args before context", "<VirtualHost 127.0.0.2>\n<Class>\n", "fatal: <Class>: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"ifuser body in server context", "LoadModule mod_ifsession.c\n<IfUser bob>\nServerType inetd\n</IfUser>\n", ""},
		{"ifuser body checked", "LoadModule mod_ifsession.c\n<IfUser bob>\nPort 70000\n</IfUser>\n", "fatal: Port: value must be between 0 and 65535 on line 3 of '/etc/proftpd/test.conf'"},
		// As in ProFTPD: a closing tag closes the innermost section, here
		// the <IfUser>, and the <VirtualHost> stays open.
		{"closing tag closes an open opaque section", "LoadModule mod_ifsession.c\n<VirtualHost 127.0.0.2>\n<IfUser bob>\n</VirtualHost>\n",
			"fatal: error processing configuration file '/etc/proftpd/test.conf': unclosed configuration section"},
		{"opaque section not allowed in a directory", "LoadModule mod_ifsession.c\n<Directory /a>\n<IfUser bob>\n</Directory>\n",
			"fatal: <IfUser>: directive not allowed in <Directory> context on line 3 of '/etc/proftpd/test.conf'"},
		{"IfDefine", "Define X\n<IfDefine X>\n<IfDefine !X>\nPort 70000\n</IfDefine>\n</IfDefine>\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(t, tt.conf, testOptions())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.err {
				t.Errorf("got %q, want %q", got, tt.err)
			}
		})
	}
	_, err := parseString(t, "<Directory /x>\n", testOptions())
	if e := fatalOf(t, err); !errors.Is(err, ErrUnclosedSection) || !e.NoLine {
		t.Errorf("unclosed: %+v", e)
	}
}

// TestClassFrom: From belongs in <Class>, and only a From line with
// addresses keeps ProFTPD from warning about an empty class.
func TestClassFrom(t *testing.T) {
	const empty = "warning: empty <Class> definition"
	for _, tt := range []struct {
		conf, err string
		warn      bool
	}{
		{conf: "<Class c>\nFrom 127.0.0.1 10.0.0.0/8\n</Class>\n"},
		{conf: "<Class c>\nFrom 127.0.0.1\nFrom\n</Class>\n"},
		{conf: "<Class c>\n<IfModule mod_core.c>\nFrom 127.0.0.1\n</IfModule>\n</Class>\n"},
		{conf: "<Class c>\nFrom\n</Class>\n", warn: true},
		{conf: "<Class c>\nSatisfy any\n</Class>\n", warn: true},
		{conf: "From 127.0.0.1\n", err: "fatal: From: directive not allowed in server config context on line 1 of '/etc/proftpd/test.conf'"},
		{conf: "<Global>\nFrom 127.0.0.1\n</Global>\n", err: "fatal: From: directive not allowed in <Global> context on line 2 of '/etc/proftpd/test.conf'"},
	} {
		cfg, err := parseString(t, tt.conf, testOptions())
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: got %v, want %s", tt.conf, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.conf, err)
			continue
		}
		warned := slices.ContainsFunc(cfg.Warnings, func(w Warning) bool { return w.Msg == empty })
		if warned != tt.warn {
			t.Errorf("%q: warnings %v, want the empty <Class> warning: %v", tt.conf, cfg.Warnings, tt.warn)
		}
	}
}

func TestOpaqueSectionIsolation(t *testing.T) {
	// Settings inside a section only its (missing) module understands are
	// checked but not applied to the server.
	cfg := mustParse(t, "LoadModule mod_ifsession.c\nPort 2121\n<IfUser bob>\nPort 3000\nTrace session DEFAULT:10\n</IfUser>\n", testOptions())
	if cfg.Main.Port != 2121 || cfg.Main.Trace.Settings != nil {
		t.Errorf("opaque section leaked: Port=%d Trace=%v", cfg.Main.Port, cfg.Main.Trace.Settings)
	}
	if n := cfg.Root.Children[2]; n.Name != "<IfUser>" || len(n.Children) != 3 {
		t.Errorf("IfUser node %+v", n)
	}
}

func TestUnknownDirective(t *testing.T) {
	_, err := parseString(t, "ServerType standalone\nServrName x\n", testOptions())
	e := fatalOf(t, err)
	want := []string{
		"fatal: unknown configuration directive 'ServrName' on line 2 of '/etc/proftpd/test.conf'",
		"fatal: Did you mean:",
		"  ServerName",
		"  ServerAlias",
		"  ServerIdent",
		"  ServerLog",
	}
	if !reflect.DeepEqual(e.Lines(), want) || e.Name != "ServrName" || !errors.Is(err, ErrUnknownDirective) {
		t.Errorf("lines %q", e.Lines())
	}
	_, err = parseString(t, "PassivePort 1 2\n", testOptions())
	if got := fatalOf(t, err).Lines(); !reflect.DeepEqual(got[1:], []string{"fatal: Did you mean: PassivePorts"}) {
		t.Errorf("one suggestion: %q", got)
	}
	_, err = parseString(t, "Pört 21\n", testOptions())
	if got := fatalOf(t, err).Lines(); !reflect.DeepEqual(got[1:], []string{"fatal: malformed directive name 'Pört' (contains non-ASCII characters)"}) {
		t.Errorf("non-ASCII: %q", got)
	}
	_, err = parseString(t, "Zzzzzzzzzzzzzzzzzzzz\n", testOptions())
	if got := fatalOf(t, err).Lines(); len(got) != 1 {
		t.Errorf("no suggestions expected: %q", got)
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("d/20.conf", "TestSetting d20\n")
	write("d/10.conf", "TestSetting d10\n")
	write("d/.dot", "TestSetting dot\n")
	write("d/b.conf~", "TestSetting tmp\n")
	write("g/x/a.conf", "TestSetting gx\n")
	write("g/y/a.conf", "TestSetting gy\n")
	write("g/.z/a.conf", "TestSetting gz\n")
	bad := write("bad/inner.conf", "ServerName ok\n\nPort 70000\n")
	write("bad/outer.conf", "Include "+bad+"\n")
	write("self.conf", "Include "+filepath.Join(dir, "self.conf")+"\n")
	prefix := "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n"
	seenArgs := func(cfg *Config) []string {
		var out []string
		if s, ok := cfg.Main.Value(testModKey{}).(*testModSeen); ok {
			for _, c := range s.cmds {
				out = append(out, c.Args[0])
			}
		}
		return out
	}
	tests := []struct {
		name, include string
		opts          string
		want          []string
		err           string
		warning       string
	}{
		{name: "directory in strcmp order with dot-files", include: "d", want: []string{"dot", "d10", "d20", "tmp"}},
		{name: "ignore temp files", include: "d", opts: "IncludeOptions IgnoreTempFiles\n", want: []string{"dot", "d10", "d20"}},
		{name: "pattern excludes dot-files", include: "d/*", want: []string{"d10", "d20", "tmp"}},
		{name: "pattern", include: "d/*.conf", want: []string{"d10", "d20"}},
		{name: "wildcard directory", include: "g/*/a.conf", want: []string{"gx", "gy"}},
		{name: "no match", include: "d/*.nothing", want: nil},
		{name: "missing file", include: "nope.conf", warning: "warning: unable to include '" + dir + "/nope.conf': No such file or directory"},
		{name: "error in included file is fatal", include: "bad/outer.conf", err: "fatal: Port: value must be between 0 and 65535 on line 3 of '" + bad + "'"},
		{name: "self include", include: "self.conf", err: "fatal: Include: error including '" + dir + "/self.conf': Include nesting deeper than 64 levels on line 1 of '" + dir + "/self.conf'"},
		{name: "wildcards refused", include: "g/*/a.conf", opts: "IncludeOptions IgnoreWildcards\n", err: "fatal: Include: error including '" + dir + "/g/*/a.conf': Invalid argument on line 4 of '/etc/proftpd/test.conf'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := prefix + tt.opts + "Include " + filepath.Join(dir, tt.include) + "\n"
			if tt.opts == "" {
				conf = prefix + "\nInclude " + filepath.Join(dir, tt.include) + "\n"
			}
			cfg, err := parseString(t, conf, testOptions())
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := seenArgs(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("included %q, want %q", got, tt.want)
			}
			if tt.warning != "" && (len(cfg.Warnings) != 1 || cfg.Warnings[0].Msg != tt.warning) {
				t.Errorf("warnings %+v, want %q", cfg.Warnings, tt.warning)
			}
		})
	}
	_, err := parseString(t, "Include relative.conf\n", testOptions())
	if err == nil || err.Error() != "fatal: Include: unable to use path for configuration file 'relative.conf' on line 1 of '/etc/proftpd/test.conf'" {
		t.Errorf("relative include: %v", err)
	}
	_, err = parseString(t, "Include /dev/null\n", testOptions())
	if err == nil || !strings.Contains(err.Error(), "error including '/dev/null': Invalid argument") {
		t.Errorf("device include: %v", err)
	}
}

func TestTraceDirectives(t *testing.T) {
	dir := t.TempDir()
	cfg := mustParse(t, `TraceLog `+dir+`/trace.log
Trace tls.shmcache:20 DEFAULT:1-5
Trace session command:7
TraceOptions +ConnIPs -TimestampMillis
<Global>
  Trace tls:3
</Global>
<VirtualHost 127.0.0.2>
  Trace tls.shmcache:9
  TraceOptions -Timestamp
</VirtualHost>
`, testOptions())
	if cfg.Trace.Log != dir+"/trace.log" {
		t.Errorf("TraceLog %q", cfg.Trace.Log)
	}
	levels := fmtSettings(cfg.Trace.Levels)
	if levels != "tls.shmcache:1-20 DEFAULT:1-5" {
		t.Errorf("daemon levels %s", levels)
	}
	o := cfg.Trace.Options
	if !o.ConnIPs || !o.Timestamp || o.TimestampMillis {
		t.Errorf("daemon options %+v", o)
	}
	m, v := cfg.Main, cfg.VirtualHosts[0]
	if !reflect.DeepEqual(m.Trace.Settings, []string{"command:7", "tls:3"}) || !reflect.DeepEqual(v.Trace.Settings, []string{"tls.shmcache:9", "tls:3"}) {
		t.Errorf("session settings main %q vhost %q", m.Trace.Settings, v.Trace.Settings)
	}
	if m.Trace.Options == nil || !m.Trace.Options.ConnIPs || v.Trace.Options == nil || v.Trace.Options.Timestamp || v.Trace.Options.ConnIPs {
		t.Errorf("session options main %+v vhost %+v", m.Trace.Options, v.Trace.Options)
	}
	_, err := parseString(t, "TraceLog "+dir+"/missing/x.log\n", testOptions())
	if err == nil || err.Error() != "fatal: TraceLog: error using TraceLog '"+dir+"/missing/x.log': No such file or directory on line 1 of '/etc/proftpd/test.conf'" || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing TraceLog directory: %v", err)
	}
	if _, err := os.Stat(dir + "/trace.log"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("parsing created the TraceLog: %v", err)
	}
	// Levels are C ints, as in ProFTPD: 4294967296 wraps to 0 (accepted,
	// silencing the channel) and 2147483648 wraps negative (refused).
	cfg = mustParse(t, "Trace tls.shmcache:4294967296 tls:4294967297\n", testOptions())
	if got := fmtSettings(cfg.Trace.Levels); got != "tls.shmcache:0-0 tls:1-1" {
		t.Errorf("wrapped levels %s", got)
	}
	_, err = parseString(t, "Trace tls.shmcache:2147483648\n", testOptions())
	if err == nil || err.Error() != `fatal: Trace: error parsing level "2147483648" for channel 'tls.shmcache': Invalid argument on line 1 of '/etc/proftpd/test.conf'` {
		t.Errorf("negative after the cast: %v", err)
	}
}

func TestCoreMessages(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ conf, err string }{
		{"ModulePath " + dir + "\nModulePath /nonexistent\n", "fatal: ModulePath: error checking '/nonexistent': No such file or directory on line 2"},
		{"ScoreboardFile " + dir + "/sub/sb\n", "fatal: ScoreboardFile: unable to use '" + dir + "/sub/sb': No such file or directory on line 1"},
		{"DefaultAddress no.such.host\n", "fatal: DefaultAddress: unable to resolve 'no.such.host' on line 1"},
		{"<VirtualHost no.such.host>\n</VirtualHost>\n", "fatal: <VirtualHost>: error resolving 'no.such.host': No such file or directory on line 1"},
		{"ControlsLog /nonexistent/c.log\n", "fatal: ControlsLog: unable to open '/nonexistent/c.log': No such file or directory on line 1"},
		{"User nosuch\n", "fatal: User: Unknown user 'nosuch' on line 1"},
	}
	for _, tt := range tests {
		_, err := parseString(t, tt.conf, testOptions())
		if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%q: got %v, want %s", tt.conf, err, tt.err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Directive: "Port", Msg: "m", File: "/f", Line: 3}, "fatal: Port: m on line 3 of '/f'"},
		{Error{Msg: "unknown configuration directive 'X'", File: "/f", Line: 0}, "fatal: unknown configuration directive 'X' on line 0 of '/f'"},
		{Error{Msg: "error processing configuration file '/f': unclosed configuration section", File: "/f", NoLine: true}, "fatal: error processing configuration file '/f': unclosed configuration section"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestContextString(t *testing.T) {
	want := map[Context]string{Root: "server config", Directory: "<Directory>", Anonymous: "<Anonymous>", Limit: "<Limit>",
		VirtualHost: "<VirtualHost>", FTPAccess: ".ftpaccess", Global: "<Global>", Class: "<Class>", Root | Global: "Context(0x41)"}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("%#x: %q, want %q", uint16(c), c.String(), s)
		}
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(conf, []byte("Port %{env:FTPDTLS_TEST_PORT}\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FTPDTLS_TEST_PORT", "2121")
	opts := testOptions()
	opts.LookupEnv = nil // the process environment
	cfg, err := ParseFile(conf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Main.Port != 2121 {
		t.Errorf("Port %d", cfg.Main.Port)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Msg != "warning: config file '"+conf+"' is world-writable" {
		t.Errorf("warnings %+v", cfg.Warnings)
	}
	if _, err := ParseFile(dir, opts); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("directory: %v", err)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing"), opts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestConcurrentParses(t *testing.T) {
	conf := "LoadModule mod_tls.c\nLoadModule mod_ftpdtls_test.c\n<Global>\nTestSetting x\nPort 3000\n</Global>\n<VirtualHost 127.0.0.2>\n</VirtualHost>\n"
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			cfg, err := Parse(strings.NewReader(conf), "c", testOptions())
			if err == nil && cfg.VirtualHosts[0].Port != 3000 {
				err = errors.New("global not applied")
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestControlsLogRelative: like ProFTPD, a ControlsLog path with a '/'
// is taken from the current directory; one without is refused.
func TestControlsLogRelative(t *testing.T) {
	if _, err := parseString(t, "ControlsLog ./ctrls.log\n", testOptions()); err != nil {
		t.Errorf("ControlsLog ./ctrls.log: %v", err)
	}
	if _, err := os.Stat("ctrls.log"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created the log: %v", err)
	}
	_, err := parseString(t, "ControlsLog ctrls.log\n", testOptions())
	e := fatalOf(t, err)
	want := []string{"inappropriate log file: ctrls.log", "mod_ctrls/0.9.5: unable to open ControlsLog 'ctrls.log': Invalid argument"}
	var got []string
	for _, w := range e.Warnings {
		got = append(got, w.Msg)
	}
	if !slices.Equal(got, want) || e.Msg != "unable to open 'ctrls.log': No such file or directory" {
		t.Errorf("ControlsLog ctrls.log: %q, warnings %q", e.Msg, got)
	}
}
