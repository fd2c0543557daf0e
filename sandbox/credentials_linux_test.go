//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// dockerDefaultCaps is Docker's default capability set: CHOWN,
// DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const dockerDefaultCaps = 0xa80425fb

func TestCredentialsOfWaitingInstance(t *testing.T) {
	umask := uint32(0o077)
	adj := 500
	tests := []struct {
		name string
		user oci.User
		caps *oci.Capabilities
		nnp  bool
		// want are /proc/PID/status fields; wantLimits lines of
		// /proc/PID/limits.
		want       map[string]string
		wantLimits []string
		rlimits    []oci.Rlimit
		oom        *int
	}{
		{
			name: "unprivileged user with groups, capabilities and limits",
			user: oci.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}, Umask: &umask},
			caps: &oci.Capabilities{
				Bounding: dockerDefaultCaps, Effective: 1<<5 | 1<<10, Permitted: 1<<5 | 1<<10,
				Inheritable: 1 << 10, Ambient: 1 << 10,
			},
			nnp:     true,
			rlimits: []oci.Rlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}},
			oom:     &adj,
			want: map[string]string{
				"Uid": "1000\t1000\t1000\t1000", "Gid": "1001\t1001\t1001\t1001", "Groups": "10 20",
				"NoNewPrivs": "1", "Umask": "0077",
				"CapEff": "0000000000000420", "CapPrm": "0000000000000420", "CapInh": "0000000000000400",
				"CapAmb": "0000000000000400", "CapBnd": "00000000a80425fb",
			},
			wantLimits: []string{
				"Max open files            100                  200                  files",
				"Max core file size        0                    0                    bytes",
			},
		},
		{
			name: "root with Docker's default capabilities",
			caps: &oci.Capabilities{Bounding: dockerDefaultCaps, Effective: dockerDefaultCaps, Permitted: dockerDefaultCaps},
			want: map[string]string{
				"Uid": "0\t0\t0\t0", "Gid": "0\t0\t0\t0", "Groups": "", "NoNewPrivs": "0", "Umask": "0022",
				"CapEff": "00000000a80425fb", "CapPrm": "00000000a80425fb", "CapInh": "0000000000000000",
				"CapAmb": "0000000000000000", "CapBnd": "00000000a80425fb",
			},
		},
		{
			name: "unprivileged user without capabilities given loses them all",
			user: oci.User{UID: 65534, GID: 65534},
			want: map[string]string{
				"Uid": "65534\t65534\t65534\t65534", "Gid": "65534\t65534\t65534\t65534", "Groups": "",
				"CapEff": "0000000000000000", "CapPrm": "0000000000000000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, "hello")
			rc.User, rc.Capabilities, rc.NoNewPrivileges, rc.Rlimits, rc.OOMScoreAdj = tt.user, tt.caps, tt.nnp, tt.rlimits, tt.oom
			inst := spawnReady(t, rc, Options{})
			pid := inst.Pid()
			for field, want := range tt.want {
				if got := statusField(t, pid, field); got != want {
					t.Errorf("%s: %q, want %q", field, got, want)
				}
			}
			if !builtWithCgo {
				// Go changed every thread, not only the main one.
				threads, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
				for _, th := range threads {
					data, _ := os.ReadFile(th)
					for _, field := range []string{"CapEff", "CapBnd", "NoNewPrivs"} {
						if want, ok := tt.want[field]; ok && !strings.Contains(string(data), field+":\t"+want+"\n") {
							t.Errorf("%s: %s is not %s", th, field, want)
						}
					}
				}
			}
			limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.wantLimits {
				if !strings.Contains(string(limits), want) {
					t.Errorf("limits lack %q:\n%s", want, limits)
				}
			}
			if tt.oom != nil {
				got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
				if strings.TrimSpace(string(got)) != fmt.Sprint(*tt.oom) {
					t.Errorf("oom_score_adj %q, want %d", got, *tt.oom)
				}
			}
			if status := startAndWait(t, inst); status != 0 {
				t.Errorf("guest exited with %d", status)
			}
		})
	}
}

func TestGuestFileAccessFollowsCredentials(t *testing.T) {
	secretOfRoot := "root's secret\n"
	secretOfOther := "uid 2000's secret\n"
	public := "for everyone\n"
	tests := []struct {
		name       string
		user       oci.User
		caps       *oci.Capabilities
		file       string
		wantStatus int
		wantStdout string
	}{
		{name: "uid 1000 reads a 0644 file", user: oci.User{UID: 1000, GID: 1000}, file: "public.txt", wantStdout: public},
		// WASI errno 2 is EACCES.
		{name: "uid 1000 cannot read root's 0600 file", user: oci.User{UID: 1000, GID: 1000}, file: "root-only.txt", wantStatus: 2},
		{name: "root reads root's 0600 file", file: "root-only.txt", wantStdout: secretOfRoot},
		{name: "root with CAP_DAC_OVERRIDE reads another user's 0600 file", file: "other-only.txt",
			caps:       &oci.Capabilities{Bounding: dockerDefaultCaps, Effective: dockerDefaultCaps, Permitted: dockerDefaultCaps},
			wantStdout: secretOfOther},
		// Only the capability stands between root and another user's file:
		// this shows the sets apply to the thread the guest runs on.
		{name: "root without CAP_DAC_OVERRIDE cannot", file: "other-only.txt",
			caps:       &oci.Capabilities{Bounding: dockerDefaultCaps &^ 0b10, Effective: dockerDefaultCaps &^ 0b10, Permitted: dockerDefaultCaps &^ 0b10},
			wantStatus: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, "fileio", "cat", tt.file)
			writeFile(t, filepath.Join(rc.Rootfs, "public.txt"), public)
			writeFile(t, filepath.Join(rc.Rootfs, "root-only.txt"), secretOfRoot)
			writeFile(t, filepath.Join(rc.Rootfs, "other-only.txt"), secretOfOther)
			for name, uid := range map[string]int{"root-only.txt": 0, "other-only.txt": 2000} {
				p := filepath.Join(rc.Rootfs, name)
				if err := os.Chmod(p, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, uid, uid); err != nil {
					t.Fatal(err)
				}
			}
			rc.User, rc.Capabilities = tt.user, tt.caps
			var pid int
			got := runGuest(t, rc, "", testOptions(&pid))
			if got.status != tt.wantStatus || got.stdout != tt.wantStdout {
				t.Errorf("status %d, stdout %q; want %d, %q (stderr %q)", got.status, got.stdout, tt.wantStatus, tt.wantStdout, got.stderr)
			}
		})
	}
}

func TestProcessSettingsRefused(t *testing.T) {
	tests := []struct {
		name     string
		change   func(rc *oci.RunConfig)
		category error
		want     string
	}{
		{name: "unknown rlimit", change: func(rc *oci.RunConfig) { rc.Rlimits = []oci.Rlimit{{Type: "RLIMIT_FUN"}} },
			category: errdefs.ErrInvalidArgument, want: `unknown rlimit type "RLIMIT_FUN"`},
		{name: "capabilities the kernel refuses", change: func(rc *oci.RunConfig) {
			// Effective beyond permitted: capset says EPERM.
			rc.Capabilities = &oci.Capabilities{Bounding: dockerDefaultCaps, Effective: dockerDefaultCaps, Permitted: 1}
		}, want: "set capabilities (effective 0xa80425fb, permitted 0x1, inheritable 0x0): operation not permitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, "hello")
			tt.change(rc)
			err := spawnFailure(t, rc)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if tt.category != nil && !errors.Is(err, tt.category) {
				t.Errorf("error %v is not %v", err, tt.category)
			}
		})
	}
}
