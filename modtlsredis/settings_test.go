package modtlsredis

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// parse parses a configuration that loads mod_redis as Debian's ProFTPD
// needs it to.
func parse(t *testing.T, lines ...string) (*directives.Config, error) {
	t.Helper()
	conf := "LoadModule mod_redis.c\n" + strings.Join(lines, "\n") + "\n"
	return directives.Parse(strings.NewReader(conf), "/etc/proftpd/test.conf", directives.Options{})
}

// TestDirectiveErrors checks mod_redis's messages, as `proftpd -t` of
// Debian's 1.3.8 prints them (each verified against /usr/sbin/proftpd).
func TestDirectiveErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // "" means the file parses
	}{
		{"engine missing", []string{"RedisEngine"}, "fatal: RedisEngine: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"engine extra ignored", []string{"RedisEngine on off"}, ""},
		{"engine not boolean", []string{"RedisEngine maybe"}, "fatal: RedisEngine: expected Boolean parameter on line 2 of '/etc/proftpd/test.conf'"},
		{"engine in Directory", []string{"<Directory /tmp>", "RedisEngine on", "</Directory>"}, "fatal: RedisEngine: directive not allowed in <Directory> context on line 3 of '/etc/proftpd/test.conf'"},
		{"timeouts one arg", []string{"RedisTimeouts 5"}, "fatal: RedisTimeouts: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"timeouts three args", []string{"RedisTimeouts 5 6 7"}, ""},
		{"timeouts bad connect", []string{"RedisTimeouts 5x 6"}, "fatal: RedisTimeouts: badly formatted connect timeout value: 5x on line 2 of '/etc/proftpd/test.conf'"},
		{"timeouts bad io", []string{"RedisTimeouts 5 6y"}, "fatal: RedisTimeouts: badly formatted IO timeout value: 6y on line 2 of '/etc/proftpd/test.conf'"},
		{"timeouts negative", []string{"RedisTimeouts -5 6"}, ""},
		{"timeouts empty", []string{`RedisTimeouts "" 6`}, ""},
		{"options none", []string{"RedisOptions"}, "fatal: RedisOptions: wrong number of parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"options case", []string{"RedisOptions NoReconnect noreconnect"}, "fatal: RedisOptions: : unknown RedisOption 'noreconnect' on line 2 of '/etc/proftpd/test.conf'"},
		{"options twice", []string{"RedisOptions NoReconnect", "RedisOptions NoReconnect"}, ""},
		{"server missing", []string{"RedisServer"}, "fatal: RedisServer: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"server many args", []string{"RedisServer a b c d e f g h i j"}, ""},
		{"server in Anonymous", []string{"<Anonymous /tmp>", "RedisServer x", "</Anonymous>"}, "fatal: RedisServer: directive not allowed in <Anonymous> context on line 3 of '/etc/proftpd/test.conf'"},
		{"log relative", []string{"RedisLog relative"}, "fatal: RedisLog: must be an absolute path on line 2 of '/etc/proftpd/test.conf'"},
		{"log NONE", []string{"RedisLog NONE"}, ""},
		{"log missing", []string{"RedisLog"}, "fatal: RedisLog: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"sentinel missing", []string{"RedisSentinel"}, "fatal: RedisSentinel: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"logoncommand one arg", []string{"RedisLogOnCommand a"}, "fatal: RedisLogOnCommand: wrong number of parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"logoncommand none", []string{"RedisLogOnCommand none"}, ""},
		{"logoncommand no format", []string{"RedisLogOnCommand ALL fmt"}, "fatal: RedisLogOnCommand: no LogFormat 'fmt' configured on line 2 of '/etc/proftpd/test.conf'"},
		{"logonevent no format", []string{"RedisLogOnEvent ALL fmt"}, "fatal: RedisLogOnEvent: no LogFormat 'fmt' configured on line 2 of '/etc/proftpd/test.conf'"},
		{"logonevent two args", []string{`LogFormat fmt "%u"`, "RedisLogOnEvent ALL"}, "fatal: RedisLogOnEvent: wrong number of parameters on line 3 of '/etc/proftpd/test.conf'"},
		{"logonevent four args", []string{`LogFormat fmt "%u"`, "RedisLogOnEvent ALL fmt a b"}, "fatal: RedisLogOnEvent: wrong number of parameters on line 3 of '/etc/proftpd/test.conf'"},
		{"logonevent in Limit", []string{`LogFormat fmt "%u"`, "<Limit READ>", "RedisLogOnEvent ALL fmt", "</Limit>"}, "fatal: RedisLogOnEvent: directive not allowed in <Limit> context on line 4 of '/etc/proftpd/test.conf'"},
		{"logging accepted", []string{`LogFormat fmt "%u"`, "RedisLogFormatExtra fmt {}", "RedisLogOnCommand ALL fmt", "RedisLogOnEvent ALL fmt key", "<Directory /tmp>", "RedisLogOnEvent ALL fmt", "</Directory>"}, ""},
		{"logoncommand in VirtualHost", []string{`LogFormat fmt "%u"`, "<VirtualHost 127.0.0.1>", "RedisLogOnCommand ALL fmt", "</VirtualHost>"}, "fatal: RedisLogOnCommand: no LogFormat 'fmt' configured on line 4 of '/etc/proftpd/test.conf'"},
		{"formatextra no format", []string{"RedisLogFormatExtra fmt {}"}, "fatal: RedisLogFormatExtra: no LogFormat 'fmt' configured on line 2 of '/etc/proftpd/test.conf'"},
		{"formatextra missing", []string{"RedisLogFormatExtra fmt"}, "fatal: RedisLogFormatExtra: missing parameters on line 2 of '/etc/proftpd/test.conf'"},
		{"formatextra not JSON", []string{`LogFormat fmt "%u"`, "RedisLogFormatExtra fmt notjson"}, "fatal: RedisLogFormatExtra: error parsing 'notjson' as JSON object: invalid JSON on line 3 of '/etc/proftpd/test.conf'"},
		{"formatextra array", []string{`LogFormat fmt "%u"`, "RedisLogFormatExtra fmt [1]"}, "fatal: RedisLogFormatExtra: error parsing '[1]' as JSON object: invalid JSON on line 3 of '/etc/proftpd/test.conf'"},
		{"formatextra object", []string{`LogFormat fmt "%u"`, `RedisLogFormatExtra fmt "{\"a\":1}"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.lines...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("parse:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDirectivesNeedModule(t *testing.T) {
	// Without LoadModule, Debian's proftpd does not know the directive.
	_, err := directives.Parse(strings.NewReader("RedisEngine on\n"), "/etc/proftpd/test.conf", directives.Options{})
	if err == nil || !strings.Contains(err.Error(), "unknown configuration directive 'RedisEngine'") {
		t.Errorf("RedisEngine without mod_redis: %v", err)
	}
}

func TestSettingsOfMainServer(t *testing.T) {
	cfg, err := parse(t,
		"RedisEngine on",
		`RedisServer 10.0.0.5:6380 ftpd "pw 2" 3 ssl:true ssl-ca:/etc/ca.pem`,
		"RedisServer [::1]:7000",
		"RedisSentinel 127.0.0.1 127.0.0.2:26380 master mymaster",
		"RedisTimeouts 250 750",
		"RedisOptions NoReconnect",
		"RedisLog /var/log/redis.log",
		"<VirtualHost 127.0.0.1>",
		"RedisServer 192.0.2.1",
		"RedisTimeouts 1 1",
		"</VirtualHost>",
	)
	if err != nil {
		t.Fatal(err)
	}
	got := SettingsOf(cfg.Main)
	want := &Settings{
		Engine: true, EngineSet: true,
		Servers: []Endpoint{
			{Network: "tcp", Addr: "10.0.0.5:6380", Username: "ftpd", Password: "pw 2", DB: 3, TLS: TLSFiles{Enabled: true, CA: "/etc/ca.pem"}},
			{Network: "tcp", Addr: "[::1]:7000"},
		},
		Sentinels:      []string{"127.0.0.1:26379", "127.0.0.2:26380"},
		MasterName:     "mymaster",
		ConnectTimeout: 250 * time.Millisecond, IOTimeout: 750 * time.Millisecond,
		NoReconnect: true,
		Log:         "/var/log/redis.log",
	}
	got.own = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("main server settings\n got %+v\nwant %+v", got, want)
	}
	vh := SettingsOf(cfg.VirtualHosts[0])
	if len(vh.Servers) != 1 || vh.Servers[0].Addr != "192.0.2.1:6379" || vh.ConnectTimeout != time.Millisecond {
		t.Errorf("virtual host settings %+v", vh)
	}
}

func TestRedisServerArguments(t *testing.T) {
	tests := []struct {
		line string
		want Endpoint
		warn string
	}{
		{"RedisServer localhost", Endpoint{Network: "tcp", Addr: "localhost:6379"}, ""},
		{"RedisServer /run/redis.sock", Endpoint{Network: "unix", Addr: "/run/redis.sock"}, ""},
		{"RedisServer [::1]", Endpoint{Network: "tcp", Addr: "[::1]:6379"}, ""},
		{`RedisServer 127.0.0.1:7000 "" s3cret 2`, Endpoint{Network: "tcp", Addr: "127.0.0.1:7000", Password: "s3cret", DB: 2}, ""},
		// As in mod_redis, the second word is a username (and no AUTH is sent).
		{"RedisServer 127.0.0.1:7000 secret", Endpoint{Network: "tcp", Addr: "127.0.0.1:7000", Username: "secret"}, "no AUTH is sent"},
		// Positions 2-4 are fixed; an ssl word there leaves its slot empty.
		{"RedisServer h:1 ssl:on u 4 ssl-key:/k", Endpoint{Network: "tcp", Addr: "h:1", Password: "u", DB: 4, TLS: TLSFiles{Enabled: true, Key: "/k"}}, ""},
		{"RedisServer h:1 u p 4 ssl:on ssl-key:/k", Endpoint{Network: "tcp", Addr: "h:1", Username: "u", Password: "p", DB: 4, TLS: TLSFiles{Enabled: true, Key: "/k"}}, ""},
		{"RedisServer h:1 u p x", Endpoint{Network: "tcp", Addr: "h:1", Username: "u", Password: "p", badDB: "x"}, "db-index 'x' is not a number"},
		{"RedisServer h:1 ssl:maybe", Endpoint{Network: "tcp", Addr: "h:1"}, "badly formatted SSL option 'ssl:maybe'"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cfg, err := parse(t, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			s := SettingsOf(cfg.Main)
			if len(s.Servers) != 1 || !reflect.DeepEqual(s.Servers[0], tt.want) {
				t.Errorf("servers %+v, want [%+v]", s.Servers, tt.want)
			}
			var warnings []string
			for _, w := range cfg.Warnings {
				warnings = append(warnings, w.Msg)
			}
			all := strings.Join(warnings, "\n")
			if tt.warn == "" && len(warnings) > 0 || tt.warn != "" && !strings.Contains(all, tt.warn) {
				t.Errorf("warnings %q, want one containing %q", warnings, tt.warn)
			}
		})
	}
}

func TestRedisSentinelArguments(t *testing.T) {
	cfg, err := parse(t, "RedisSentinel nonexistent.invalid:1 127.0.0.1 ssl:true")
	if err != nil {
		t.Fatal(err)
	}
	s := SettingsOf(cfg.Main)
	if !reflect.DeepEqual(s.Sentinels, []string{"127.0.0.1:26379"}) || s.MasterName != "" || !s.SentinelTLS.Enabled {
		t.Errorf("sentinel settings %+v", s)
	}
	want := "RedisSentinel: unable to resolve 'nonexistent.invalid' (No such file or directory), ignoring"
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Msg != want {
		t.Errorf("warnings %+v, want %q", cfg.Warnings, want)
	}
}

func TestGlobalDoesNotOverrideServer(t *testing.T) {
	cfg, err := parse(t,
		"RedisServer 10.0.0.1",
		"RedisTimeouts 100 100",
		"<Global>",
		"RedisServer 10.0.0.2",
		"RedisTimeouts 300 300",
		"RedisEngine on",
		"</Global>",
		"<VirtualHost 127.0.0.1>",
		"</VirtualHost>",
	)
	if err != nil {
		t.Fatal(err)
	}
	m := SettingsOf(cfg.Main)
	if len(m.Servers) != 1 || m.Servers[0].Addr != "10.0.0.1:6379" || m.ConnectTimeout != 100*time.Millisecond || !m.Engine {
		t.Errorf("main server: %+v", m)
	}
	v := SettingsOf(cfg.VirtualHosts[0])
	if len(v.Servers) != 1 || v.Servers[0].Addr != "10.0.0.2:6379" || v.ConnectTimeout != 300*time.Millisecond || !v.Engine {
		t.Errorf("virtual host: %+v", v)
	}
}

func TestParseMillis(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"500", 500 * time.Millisecond, true},
		{"0", 0, true},
		{"", 0, true},
		{" 7", 7 * time.Millisecond, true},
		{"+7", 7 * time.Millisecond, true},
		{"-5", 0, true},
		{"5x", 0, false},
		{"x", 0, false},
		{"99999999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, ok := parseMillis(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMillis(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSentinelNoticesMatchProFTPD: RedisSentinel addresses that cannot be
// resolved are ignored with mod_redis's notice, IPv6 ones included when
// UseIPv6 is off where the line stands. want holds what Debian's proftpd
// 1.3.8 printed for `proftpd -t` on the same lines (timestamp prefix
// removed); when proftpd is installed the test checks that again.
func TestSentinelNoticesMatchProFTPD(t *testing.T) {
	const noFamily, noHost = "Address family not supported by protocol", "No such file or directory"
	notice := func(host, why string) string {
		return "RedisSentinel: unable to resolve '" + host + "' (" + why + "), ignoring"
	}
	tests := []struct {
		name      string
		lines     []string
		want      []string
		sentinels []string // of the main server
	}{
		{"IPv6 off", []string{"UseIPv6 off", "RedisSentinel [::1]"}, []string{notice("::1", noFamily)}, nil},
		{"IPv6 off, with a master", []string{"UseIPv6 off", "RedisSentinel 127.0.0.1 [::1]:26380 master mymaster"},
			[]string{notice("::1", noFamily)}, []string{"127.0.0.1:26379"}},
		{"IPv6 on by default", []string{"RedisSentinel [::1]:26380"}, nil, []string{"[::1]:26380"}},
		{"only the lines after UseIPv6 off", []string{
			"RedisSentinel [::1]:26380", "UseIPv6 off", "RedisSentinel [::2]:26380 10.0.0.1",
			"<VirtualHost 127.0.0.1>", "RedisSentinel [::3]", "</VirtualHost>",
			"<Global>", "RedisSentinel [::4]", "</Global>",
		}, []string{notice("::2", noFamily), notice("::3", noFamily), notice("::4", noFamily)}, []string{"10.0.0.1:26379"}},
		{"IPv4-mapped is IPv4", []string{"UseIPv6 off", "RedisSentinel [::ffff:10.0.0.1]"}, nil, []string{"[::ffff:10.0.0.1]:26379"}},
		{"unbracketed IPv6 splits at the last colon", []string{"UseIPv6 off", "RedisSentinel ::1"}, []string{notice(":", noHost)}, nil},
		{"scoped IPv6 off", []string{"UseIPv6 off", "RedisSentinel [fe80::1%lo]"}, []string{notice("fe80::1%lo", noFamily)}, nil},
		{"scoped IPv6 on", []string{"UseIPv6 on", "RedisSentinel [fe80::1%lo]:5"}, nil, []string{"[fe80::1%lo]:5"}},
		{"bracketed IPv4", []string{"RedisSentinel [127.0.0.1]"}, []string{notice("[127.0.0.1]", noHost)}, nil},
	}
	proftpd := ""
	if p, err := exec.LookPath("proftpd"); err == nil {
		proftpd = p
	} else if _, err := os.Stat("/usr/sbin/proftpd"); err == nil {
		proftpd = "/usr/sbin/proftpd"
	} else if testpeers.Required() {
		t.Fatal("proftpd is not installed, and FTPDTLS_REQUIRE_PEERS=1 requires it")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.Msg)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("notices\n got %q\nwant %q", got, tt.want)
			}
			if s := SettingsOf(cfg.Main); !slices.Equal(s.Sentinels, tt.sentinels) {
				t.Errorf("main server's Sentinels %q, want %q", s.Sentinels, tt.sentinels)
			}
			if proftpd != "" {
				if real := proftpdNotices(t, proftpd, tt.lines); !slices.Equal(real, tt.want) {
					t.Errorf("proftpd -t printed\n%q\nthe test expects\n%q", real, tt.want)
				}
			}
		})
	}
}

// proftpdNotices runs `proftpd -t` on a minimal configuration loading
// mod_redis with lines, and returns its RedisSentinel notices without
// their timestamp prefix.
func proftpdNotices(t *testing.T, proftpd string, lines []string) []string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "proftpd.conf")
	text := "ServerType standalone\nPort 0\nDefaultAddress 127.0.0.1\nUser nobody\nGroup nogroup\n" +
		"PidFile " + dir + "/proftpd.pid\nScoreboardFile " + dir + "/proftpd.scoreboard\nWtmpLog off\nUseReverseDNS off\n" +
		"ModulePath /usr/lib/proftpd\nLoadModule mod_redis.c\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, proftpd, "-t", "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("proftpd -t: %v\n%s", err, out)
	}
	var notices []string
	for _, l := range strings.Split(string(out), "\n") {
		if _, msg, ok := strings.Cut(l, "]: "); ok && strings.HasPrefix(msg, "RedisSentinel: ") {
			notices = append(notices, msg)
		}
	}
	return notices
}
