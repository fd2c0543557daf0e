//go:build linux

package harness

import "testing"

func TestHasAddressFlag(t *testing.T) {
	const addr = "/tmp/ctrd1/c.sock"
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"shim", "-namespace", "x", "-address", addr, "-id", "y"}, true},
		{[]string{"shim", "--address", addr}, true},
		{[]string{"shim", "-address=" + addr}, true},
		{[]string{"shim", "--address=" + addr}, true},
		{[]string{"shim", "-address", "/tmp/ctrd2/c.sock"}, false},
		{[]string{"shim", "-address"}, false},
		{[]string{"shim", addr}, false},
		{[]string{"shim", "-ttrpc-address", addr}, false},
	}
	for _, tc := range tests {
		if got := HasAddressFlag(tc.args, addr); got != tc.want {
			t.Errorf("HasAddressFlag(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestUnescapeMountPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/run/plain", "/run/plain"},
		{`/tmp/a\040b`, "/tmp/a b"},
		{`/tmp/tab\011end`, "/tmp/tab\tend"},
		{`/tmp/back\134slash`, `/tmp/back\slash`},
		{`/tmp/short\04`, `/tmp/short\04`},
	}
	for _, tc := range tests {
		if got := unescapeMountPath(tc.in); got != tc.want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
