//go:build linux

package harness

import "testing"

func TestWithoutCgroupV1Warning(t *testing.T) {
	const warning = `time="2026-11-30T04:08:28Z" level=warning msg="DEPRECATION: The support for cgroup v1 is deprecated since containerd v2.2 and will be removed by no later than May 2029. Upgrade the host to use cgroup v2."` + "\n"
	tests := []struct{ in, want string }{
		{"", ""},
		{warning, ""},
		{warning + "ctr: not found\n", "ctr: not found\n"},
		{"error: x\n" + warning + "more", "error: x\nmore"},
		{"plain\n", "plain\n"},
	}
	for _, tc := range tests {
		if got := withoutCgroupV1Warning(tc.in); got != tc.want {
			t.Errorf("withoutCgroupV1Warning(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
