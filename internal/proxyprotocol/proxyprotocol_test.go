package proxyprotocol

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/ftpdtls/ftpdtls/directives"
)

func parse(t *testing.T, conf string) (*directives.Config, error) {
	t.Helper()
	return directives.Parse(strings.NewReader(conf), "test.conf", directives.Options{
		CompiledIn: slices.Concat(directives.DebianCompiledIn, []string{ModuleName}),
	})
}

func TestDirectives(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want Settings
		err  string // the whole parse error, as mod_proxy_protocol words it
	}{
		{"defaults", "", Settings{Timeout: 3 * time.Second, Version: V1}, ""},
		{"all", "ProxyProtocolEngine on\nProxyProtocolTimeout 5sec\nProxyProtocolVersion haproxyV2\n" +
			"ProxyProtocolOptions UseProxiedServerAddress\nProxyProtocolTrustedSources 10.0.0.0/8 192.0.2.7\n",
			Settings{Engine: true, Timeout: 5 * time.Second, Version: V2, UseProxiedServerAddress: true,
				Trusted: []string{"10.0.0.0/8", "192.0.2.7"}}, ""},
		{"v1v2 and plain seconds", "ProxyProtocolVersion haproxyV1V2\nProxyProtocolTimeout 7\n",
			Settings{Timeout: 7 * time.Second, Version: V1V2}, ""},
		// ProFTPD Booleans and durations (pr_str_get_duration), version
		// names in any case (strcasecmp), extra arguments ignored
		// (CHECK_ARGS).
		{"ProFTPD forms", "ProxyProtocolEngine YES extra\nProxyProtocolTimeout 00:01:30\nProxyProtocolVersion HAPROXYv2\n",
			Settings{Engine: true, Timeout: 90 * time.Second, Version: V2}, ""},
		{"minutes", "ProxyProtocolTimeout 2min\n", Settings{Timeout: 2 * time.Minute, Version: V1}, ""},
		{"number then unit", "ProxyProtocolTimeout 1m30s\n", Settings{Timeout: time.Second, Version: V1}, ""}, // sscanf("%d") + "s"
		{"engine off", "ProxyProtocolEngine 0\n", Settings{Timeout: 3 * time.Second, Version: V1}, ""},
		{"bad engine", "ProxyProtocolEngine maybe\n", Settings{},
			"fatal: ProxyProtocolEngine: expected Boolean parameter on line 1 of 'test.conf'"},
		{"no engine argument", "ProxyProtocolEngine\n", Settings{},
			"fatal: ProxyProtocolEngine: missing parameters on line 1 of 'test.conf'"},
		{"bad version", "ProxyProtocolVersion haproxyV3\n", Settings{},
			"fatal: ProxyProtocolVersion: unknown protocol/version: haproxyV3 on line 1 of 'test.conf'"},
		{"bad timeout", "ProxyProtocolTimeout soon\n", Settings{},
			"fatal: ProxyProtocolTimeout: error parsing timeout value 'soon': Invalid argument on line 1 of 'test.conf'"},
		{"negative timeout", "ProxyProtocolTimeout -1\n", Settings{},
			"fatal: ProxyProtocolTimeout: error parsing timeout value '-1': Numerical result out of range on line 1 of 'test.conf'"},
		{"bad source", "ProxyProtocolTrustedSources 10.0.0.0/33\n", Settings{},
			"fatal: ProxyProtocolTrustedSources: '10.0.0.0/33' is not an IP address or CIDR range on line 1 of 'test.conf'"},
		{"bad source name", "ProxyProtocolTrustedSources 10.0.0.1 lb.example\n", Settings{},
			"fatal: ProxyProtocolTrustedSources: 'lb.example' is not an IP address or CIDR range on line 1 of 'test.conf'"},
		{"bad option", "ProxyProtocolOptions Bogus\n", Settings{},
			"fatal: ProxyProtocolOptions: : unknown ProxyProtocolOption 'Bogus' on line 1 of 'test.conf'"},
		{"no options", "ProxyProtocolOptions\n", Settings{},
			"fatal: ProxyProtocolOptions: wrong number of parameters on line 1 of 'test.conf'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.conf)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("parse error\n got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := SettingsOf(cfg.Main)
			if got.Engine != tc.want.Engine || got.Timeout != tc.want.Timeout || got.Version != tc.want.Version ||
				got.UseProxiedServerAddress != tc.want.UseProxiedServerAddress || !slices.Equal(got.Trusted, tc.want.Trusted) {
				t.Fatalf("settings %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTrusts(t *testing.T) {
	w, err := NewWrapper(Settings{Engine: true, Trusted: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 1}, true}, // IPv4-mapped, as a dual-stack listener reports it
		{&net.TCPAddr{IP: net.ParseIP("11.0.0.1"), Port: 1}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.8"), Port: 1}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db9::1"), Port: 1}, false},
		{&net.UnixAddr{Name: "/run/ftp.sock", Net: "unix"}, false},
		{&net.UDPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, false},
	} {
		if got := w.Trusts(tc.addr); got != tc.want {
			t.Errorf("Trusts(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestWrapperNeedsTrustedSources(t *testing.T) {
	if w, err := NewWrapper(Settings{Engine: false}); w != nil || err != nil {
		t.Fatalf("engine off: %v, %v; want nil, nil", w, err)
	}
	if _, err := NewWrapper(Settings{Engine: true}); !errors.Is(err, ErrNoTrustedSources) {
		t.Fatalf("engine on without trusted sources: %v, want ErrNoTrustedSources", err)
	}
}

// TestWrap checks, over real TCP connections, which headers are honoured.
func TestWrap(t *testing.T) {
	// The timeout only ends a hung test: every case is decided by what the
	// client sent, which is in the socket before the server reads.
	w, err := NewWrapper(Settings{Engine: true, Timeout: time.Minute, Version: V2, Trusted: []string{"127.0.0.2/32"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src := &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 1234}
	dst := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 21}
	for _, tc := range []struct {
		name    string
		from    net.IP
		version byte   // 0: no header
		remote  string // the remote address the server sees; "" for an error
	}{
		{"trusted v2", net.IPv4(127, 0, 0, 2), 2, "203.0.113.7"},
		{"trusted v1 refused by haproxyV2", net.IPv4(127, 0, 0, 2), 1, ""},
		{"untrusted v2 not read", net.IPv4(127, 0, 0, 1), 2, "127.0.0.1"},
		{"trusted without header", net.IPv4(127, 0, 0, 2), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: tc.from}}
			c, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.version != 0 {
				if _, err := proxyproto.HeaderProxyFromAddrs(tc.version, src, dst).WriteTo(c); err != nil {
					t.Fatal(err)
				}
			}
			c.Write([]byte("hello"))
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			wc := w.Wrap(sc)
			buf := make([]byte, 5)
			_, rerr := io.ReadFull(wc, buf)
			host, _, _ := net.SplitHostPort(wc.RemoteAddr().String())
			switch {
			case tc.remote == "" && rerr == nil:
				t.Fatalf("read succeeded; want the header refused")
			case tc.remote != "" && host != tc.remote:
				t.Fatalf("remote %s, want %s", host, tc.remote)
			case tc.remote == "203.0.113.7" && (rerr != nil || string(buf) != "hello"):
				t.Fatalf("payload after header: %q, %v", buf, rerr)
			}
		})
	}
}
