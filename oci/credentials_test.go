package oci

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCapabilities(t *testing.T) {
	// Docker's default set: 0xa80425fb.
	dockerDefault := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	tests := []struct {
		name    string
		caps    *specs.LinuxCapabilities
		want    *Capabilities
		wantMsg string
	}{
		{name: "none given"},
		{
			name: "docker default with an ambient capability",
			caps: &specs.LinuxCapabilities{
				Bounding: dockerDefault, Effective: dockerDefault, Permitted: dockerDefault,
				Inheritable: []string{"CAP_NET_BIND_SERVICE"}, Ambient: []string{"CAP_NET_BIND_SERVICE"},
			},
			want: &Capabilities{Bounding: 0xa80425fb, Effective: 0xa80425fb, Permitted: 0xa80425fb, Inheritable: 1 << 10, Ambient: 1 << 10},
		},
		{
			name: "highest known",
			caps: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHECKPOINT_RESTORE", "CAP_BPF"}},
			want: &Capabilities{Bounding: 1<<40 | 1<<39},
		},
		{name: "unknown name", caps: &specs.LinuxCapabilities{Permitted: []string{"CAP_FLY"}},
			wantMsg: `process.capabilities.permitted: unknown capability "CAP_FLY"`},
		{name: "lower case", caps: &specs.LinuxCapabilities{Bounding: []string{"cap_chown"}},
			wantMsg: `unknown capability "cap_chown"`},
		{name: "effective beyond permitted", caps: &specs.LinuxCapabilities{Effective: []string{"CAP_KILL", "CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"}},
			wantMsg: "[CAP_KILL] effective but not permitted"},
		{name: "ambient not inheritable", caps: &specs.LinuxCapabilities{Permitted: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"}},
			wantMsg: "[CAP_KILL] ambient but not both permitted and inheritable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capabilities(tc.caps)
			if tc.wantMsg != "" {
				if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("capabilities() error = %v, want invalid argument and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("capabilities() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRlimits(t *testing.T) {
	tests := []struct {
		name    string
		limits  []specs.POSIXRlimit
		want    []Rlimit
		wantMsg string
	}{
		{name: "none"},
		{
			name:   "kept in order",
			limits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE"}},
			want:   []Rlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE"}},
		},
		{name: "unknown type", limits: []specs.POSIXRlimit{{Type: "RLIMIT_FUN", Soft: 1, Hard: 1}}, wantMsg: `unknown type "RLIMIT_FUN"`},
		{name: "soft above hard", limits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}},
			wantMsg: "RLIMIT_NOFILE soft limit 10 above its hard limit 5"},
		{name: "twice", limits: []specs.POSIXRlimit{{Type: "RLIMIT_AS", Soft: 1, Hard: 1}, {Type: "RLIMIT_AS", Soft: 2, Hard: 2}},
			wantMsg: "RLIMIT_AS given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rlimits(tc.limits)
			if tc.wantMsg != "" {
				if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("rlimits() error = %v, want invalid argument and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rlimits() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		adj   int
		valid bool
	}{{-1000, true}, {0, true}, {1000, true}, {-1001, false}, {1001, false}} {
		adj := tc.adj
		got, err := oomScoreAdj(&adj)
		if tc.valid != (err == nil) {
			t.Errorf("oomScoreAdj(%d) error = %v, want valid %v", tc.adj, err, tc.valid)
			continue
		}
		if tc.valid && (got == nil || *got != tc.adj || got == &adj) {
			t.Errorf("oomScoreAdj(%d) = %v, want a copy of %d", tc.adj, got, tc.adj)
		}
		if !tc.valid && !errdefs.IsInvalidArgument(err) {
			t.Errorf("oomScoreAdj(%d) error %v is not invalid argument", tc.adj, err)
		}
	}
	if got, err := oomScoreAdj(nil); got != nil || err != nil {
		t.Errorf("oomScoreAdj(nil) = %v, %v", got, err)
	}
}
