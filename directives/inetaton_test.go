package directives

import "testing"

func TestIsInetAton(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"127.0.0.1", true},
		{"12", true},          // 0.0.0.12
		{"127.1", true},       // 127.0.0.1
		{"10.1.2", true},      // 10.1.0.2
		{"0x7f.1", true},      // hexadecimal part
		{"0177.0.0.1", true},  // octal part
		{"4294967295", true},  // 255.255.255.255
		{"4294967296", false}, // does not fit 32 bits
		{"256.1.1.1", false},  // a leading part is one byte
		{"1.2.65536", false},  // the last of three parts is two bytes
		{"1.2.3.4.5", false},
		{"08", false}, // not octal
		{"1..2", false},
		{"", false},
		{"localhost", false},
		{"+1", false},
	}
	for _, tc := range cases {
		if got := isInetAton(tc.in); got != tc.want {
			t.Errorf("isInetAton(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
