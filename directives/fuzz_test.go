package directives

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic or
// hang, and must return either a configuration or a ProFTPD-style *Error.
// The seed corpus (testdata/fuzz/FuzzParse) holds the real ProFTPD case
// fragments and the oracle snippets; @TMP@ in an input stands for a
// scratch directory, and Include is confined to it.
func FuzzParse(f *testing.F) {
	root := f.TempDir()
	f.Add([]byte("Include @TMP@/*.conf\n<Global>\nTrace x:1\n</Global>\n"))
	// Directives of modules ftpdtls only checks, and their parsers
	// (ACLs, regular expressions, <IfVersion>, option lists).
	f.Add([]byte("<Limit LOGIN>\nAllow from 10.0.0.0/8,!1.2.3.4 host.example.com\nDenyAll\n</Limit>\nPathDenyFilter \"(a|b[c-d]{2,3})+$\" [NC]\n"))
	f.Add([]byte("LoadModule mod_ifversion.c\n<IfVersion >= 1.3.8rc1>\nPort 2121\n</IfVersion>\n<IfVersion ~ ^1\\.>\n</IfVersion>\n"))
	f.Add([]byte("LoadModule mod_rewrite.c\nRewriteCondition %u ^(a|b)$ [NC,OR]\nRewriteMap m int:tolower\nSocketOptions keepalive 1:2:3 rcvbuf 4096\n"))
	f.Add([]byte("LoadModule mod_ifsession.c\n<IfUser regex ^a>\nMaxClients 3\n</IfUser>\nSetEnv A b\nSystemLog %{env:A}\nCreateHome on 0700 dirmode 0711\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.ReplaceAll(data, []byte("@TMP@"), []byte(root))
		opts := testOptions()
		opts.includeRoot = root
		opts.LookupEnv = func(k string) (string, bool) {
			v, ok := map[string]string{"A": "x y", "LOOP": "a%{env:LOOP}", "ENVREF": "%{env:A}"}[k]
			return v, ok
		}
		cfg, err := Parse(bytes.NewReader(data), root+"/fuzz.conf", opts)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("cfg %v with err %v", cfg, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *Error", err, err)
			}
			// An error found after the parse (Plain) is printed as it is.
			if (!e.Plain && !strings.HasPrefix(e.Error(), "fatal: ")) || len(e.Lines()) == 0 {
				t.Fatalf("malformed error %q", e.Error())
			}
			return
		}
		if cfg.Main == nil || cfg.Root == nil || !cfg.Main.IsMain {
			t.Fatalf("incomplete config %+v", cfg)
		}
		var walk func(n *Node, depth int)
		walk = func(n *Node, depth int) {
			if depth > 0 && (n.File == "" || n.Name == "") {
				t.Fatalf("node without name or file: %+v", n)
			}
			for _, c := range n.Children {
				walk(c, depth+1)
			}
		}
		walk(cfg.Root, 0)
		for _, s := range cfg.VirtualHosts {
			if s.IsMain || len(s.Addrs) == 0 {
				t.Fatalf("bad virtual host %+v", s)
			}
		}
	})
}
