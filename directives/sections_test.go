package directives

import "testing"

// TestDuplicates pins two rules `proftpd -t` applies across sections,
// recorded from Debian's proftpd 1.3.8: a <Directory> path whose section
// configured something may not be opened again in the same server or
// <Anonymous>, and only one server may say DefaultServer on.
func TestDuplicates(t *testing.T) {
	cases := []struct {
		name, conf, want string // want "" means accepted
	}{
		{"empty directory twice", "<Directory /tmp>\n</Directory>\n<Directory /tmp>\n</Directory>\n", ""},
		{"configured, then again", "<Directory /tmp>\nAllowOverwrite on\n</Directory>\n<Directory /tmp>\n</Directory>\n",
			"fatal: <Directory>: <Directory> section already configured for '/tmp' on line 4 of '/etc/proftpd/test.conf'"},
		{"a <Limit> inside counts", "<Directory /tmp>\n<Limit LOGIN>\nDenyAll\n</Limit>\n</Directory>\n<Directory /tmp>\n</Directory>\n",
			"fatal: <Directory>: <Directory> section already configured for '/tmp' on line 6 of '/etc/proftpd/test.conf'"},
		{"empty first, configured second", "<Directory /tmp>\n</Directory>\n<Directory /tmp>\nAllowOverwrite on\n</Directory>\n", ""},
		{"another spelling of the path", "<Directory /tmp>\nAllowOverwrite on\n</Directory>\n<Directory /tmp/>\nAllowOverwrite on\n</Directory>\n", ""},
		{"another server", "<Directory /tmp>\nAllowOverwrite on\n</Directory>\n<VirtualHost 127.0.0.2>\n<Directory /tmp>\nAllowOverwrite on\n</Directory>\n</VirtualHost>\n", ""},
		{"DefaultServer twice", "DefaultServer on\nDefaultServer on\n",
			"fatal: DefaultServer: DefaultServer has already been set on line 2 of '/etc/proftpd/test.conf'"},
		{"DefaultServer in two servers", "DefaultServer on\n<VirtualHost 127.0.0.2>\nDefaultServer on\n</VirtualHost>\n",
			"fatal: DefaultServer: DefaultServer has already been set on line 3 of '/etc/proftpd/test.conf'"},
		{"DefaultServer off, then on", "DefaultServer off\nDefaultServer on\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, tc.conf, Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; proftpd says %s", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Fatalf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}
