package oci

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGuestMounts(t *testing.T) {
	tests := []struct {
		name    string
		mounts  []specs.Mount
		want    []Mount
		wantErr string // substring; the error must also be invalid argument
	}{
		{
			name: "containerd default spec keeps only tmpfs",
			mounts: []specs.Mount{
				{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
				{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
				{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
				{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
				{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
				{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
				{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
				{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup"},
			},
			want: []Mount{
				{Kind: MountTmpfs, Destination: "/dev", Options: []string{"mode=755", "size=65536k"}},
				{Kind: MountTmpfs, Destination: "/dev/shm", Options: []string{"mode=1777", "size=65536k"}},
			},
		},
		{
			name: "bind by type, by bind and rbind options, in order",
			mounts: []specs.Mount{
				{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/x/hosts", Options: []string{"rbind", "rprivate", "ro"}},
				{Destination: "/data", Type: "none", Source: "/srv/data", Options: []string{"rbind"}},
				{Destination: "/cfg/", Source: "/srv/cfg", Options: []string{"bind", "ro"}},
			},
			want: []Mount{
				{Kind: MountBind, Destination: "/etc/hosts", Source: "/var/lib/x/hosts", ReadOnly: true},
				{Kind: MountBind, Destination: "/data", Source: "/srv/data"},
				{Kind: MountBind, Destination: "/cfg", Source: "/srv/cfg", ReadOnly: true},
			},
		},
		{
			name: "a later rw overrides ro, a later ro overrides rw",
			mounts: []specs.Mount{
				{Destination: "/a", Type: "bind", Source: "/a", Options: []string{"ro", "rw"}},
				{Destination: "/b", Type: "bind", Source: "/b", Options: []string{"rw", "ro"}},
				{Destination: "/t", Type: "tmpfs", Options: []string{"ro", "size=1m"}},
			},
			want: []Mount{
				{Kind: MountBind, Destination: "/a", Source: "/a"},
				{Kind: MountBind, Destination: "/b", Source: "/b", ReadOnly: true},
				{Kind: MountTmpfs, Destination: "/t", ReadOnly: true, Options: []string{"size=1m"}},
			},
		},
		{
			name: "bind of proc type is a bind, not dropped",
			mounts: []specs.Mount{
				{Destination: "/hostproc", Type: "proc", Source: "/proc", Options: []string{"rbind"}},
			},
			want: []Mount{{Kind: MountBind, Destination: "/hostproc", Source: "/proc"}},
		},
		{
			name:   "dropped mount with relative destination is no error",
			mounts: []specs.Mount{{Destination: "proc", Type: "proc"}},
		},
		{
			name:    "unknown type names type and destination",
			mounts:  []specs.Mount{{Destination: "/merged", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a"}}},
			wantErr: `mount /merged: type "overlay" is not supported`,
		},
		{
			name:    "empty type without bind option",
			mounts:  []specs.Mount{{Destination: "/x", Source: "/x"}},
			wantErr: `type "" is not supported`,
		},
		{
			name:    "bind with relative source",
			mounts:  []specs.Mount{{Destination: "/data", Type: "bind", Source: "data"}},
			wantErr: `bind mount /data: source "data" is not an absolute path`,
		},
		{
			name:    "bind with relative destination",
			mounts:  []specs.Mount{{Destination: "data", Type: "bind", Source: "/data"}},
			wantErr: `mount "data" (type "bind"): destination is not an absolute path`,
		},
		{
			name:    "tmpfs with empty destination",
			mounts:  []specs.Mount{{Type: "tmpfs"}},
			wantErr: "destination is not an absolute path",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := guestMounts(tc.mounts)
			if tc.wantErr != "" {
				if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("guestMounts() error = %v, want invalid argument containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("guestMounts() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
