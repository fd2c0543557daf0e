//go:build linux

package oci

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestNewRunConfig(t *testing.T) {
	rootfs, _ := testRootfs(t)
	umask, adj, badAdj := uint32(0o077), 500, 2000
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m"}},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro"}},
	}
	tests := []struct {
		name    string
		spec    *specs.Spec
		want    *RunConfig
		wantErr func(error) bool
		wantMsg string
	}{
		{
			name: "init process",
			spec: &specs.Spec{
				Root:    &specs.Root{Path: "rootfs", Readonly: true},
				Process: &specs.Process{Args: []string{"/app/lib.wasm#greet", "a", "b c"}, Env: []string{"PATH=/bin", "A=1"}},
				Mounts:  mounts,
			},
			want: &RunConfig{
				ID: "c1", Rootfs: rootfs, RootReadonly: true,
				Module: "/app/lib.wasm", Function: "greet",
				Args: []string{"/app/lib.wasm", "a", "b c"}, Env: []string{"PATH=/bin", "A=1"}, Cwd: "/",
				Mounts: []Mount{
					{Kind: MountTmpfs, Destination: "/tmp", Options: []string{"size=1m"}},
					{Kind: MountBind, Destination: "/data", Source: "/srv/data", ReadOnly: true},
				},
			},
		},
		{
			name: "bare name keeps args[0] as given",
			spec: &specs.Spec{Process: &specs.Process{Args: []string{"tool.wasm"}, Cwd: "/work"}},
			want: &RunConfig{ID: "c1", Rootfs: rootfs, Module: "/usr/bin/tool.wasm", Args: []string{"tool.wasm"}, Cwd: "/work"},
		},
		{
			name: "relative module from cwd",
			spec: &specs.Spec{Process: &specs.Process{Args: []string{"./rel.wasm#f", "x"}, Cwd: "/work"}},
			want: &RunConfig{ID: "c1", Rootfs: rootfs, Module: "/work/rel.wasm", Function: "f", Args: []string{"./rel.wasm", "x"}, Cwd: "/work"},
		},
		{
			name: "namespaces, names, sysctls, credentials and limits",
			spec: &specs.Spec{
				Hostname: "box", Domainname: "example.org",
				Process: &specs.Process{
					Args:            []string{"/app/hello.wasm"},
					User:            specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{10, 20}, Umask: &umask},
					NoNewPrivileges: true,
					Capabilities:    &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_CHOWN"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}},
					Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}},
					OOMScoreAdj:     &adj,
				},
				Linux: &specs.Linux{
					Namespaces: []specs.LinuxNamespace{{Type: "network", Path: "/proc/7/ns/net"}, {Type: "uts"}, {Type: "pid"}},
					Sysctl:     map[string]string{"net.ipv4.ip_forward": "1"},
				},
			},
			want: &RunConfig{
				ID: "c1", Rootfs: rootfs, Module: "/app/hello.wasm", Args: []string{"/app/hello.wasm"}, Cwd: "/",
				Namespaces: []Namespace{{Type: NamespaceNetwork, Path: "/proc/7/ns/net"}, {Type: NamespaceUTS}, {Type: NamespacePID}},
				Hostname:   "box", Domainname: "example.org",
				Sysctls:         map[string]string{"net/ipv4/ip_forward": "1"},
				User:            User{UID: 1000, GID: 100, AdditionalGids: []uint32{10, 20}, Umask: &umask},
				NoNewPrivileges: true,
				Capabilities:    &Capabilities{Bounding: 1<<5 | 1<<0, Effective: 1 << 5, Permitted: 1 << 5},
				Rlimits:         []Rlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}},
				OOMScoreAdj:     &adj,
			},
		},
		{
			name:    "user namespace",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}}, Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "user"}}}},
			wantErr: errdefs.IsNotImplemented, wantMsg: "container c1: linux.namespaces: user namespaces are not supported",
		},
		{
			name:    "hostname without a uts namespace",
			spec:    &specs.Spec{Hostname: "box", Process: &specs.Process{Args: []string{"/app/hello.wasm"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `container c1: hostname "box" needs a uts namespace`,
		},
		{
			name: "host-wide sysctl",
			spec: &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}},
				Linux: &specs.Linux{Sysctl: map[string]string{"kernel.panic": "1"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `sysctl "kernel.panic" is not scoped to a namespace`,
		},
		{
			name:    "unknown capability",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_NOPE"}}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `c1: process.capabilities.bounding: unknown capability "CAP_NOPE"`,
		},
		{
			name:    "bad rlimit",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}, Rlimits: []specs.POSIXRlimit{{Type: "NOFILE"}}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `c1: process.rlimits: unknown type "NOFILE"`,
		},
		{
			name:    "bad oom score",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}, OOMScoreAdj: &badAdj}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "c1: process.oomScoreAdj 2000",
		},
		{name: "no spec", wantErr: errdefs.IsInvalidArgument, wantMsg: "no OCI spec"},
		{name: "no process", spec: &specs.Spec{}, wantErr: errdefs.IsInvalidArgument, wantMsg: "c1: the spec has no process"},
		{name: "empty args", spec: &specs.Spec{Process: &specs.Process{}}, wantErr: errdefs.IsInvalidArgument, wantMsg: "process.args is empty"},
		{
			name:    "terminal",
			spec:    &specs.Spec{Process: &specs.Process{Terminal: true, Args: []string{"/app/hello.wasm"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "a terminal (tty) is not supported for wasm containers",
		},
		{
			name:    "relative cwd",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}, Cwd: "work"}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `process.cwd "work" is not an absolute path`,
		},
		{
			name:    "unsupported mount",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/app/hello.wasm"}}, Mounts: []specs.Mount{{Destination: "/m", Type: "overlay"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `c1: mount /m: type "overlay"`,
		},
		{
			name:    "missing module",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/nope.wasm"}}},
			wantErr: errdefs.IsNotFound, wantMsg: `c1: module "/nope.wasm": not found`,
		},
		{
			name:    "not a module",
			spec:    &specs.Spec{Process: &specs.Process{Args: []string{"/hello.txt"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: `c1: module "/hello.txt": not a WebAssembly module`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewRunConfig("c1", rootfs, tc.spec)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("NewRunConfig() error = %v, want category and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NewRunConfig() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestNewExecRunConfig(t *testing.T) {
	rootfs, _ := testRootfs(t)
	base, err := NewRunConfig("c1", rootfs, &specs.Spec{
		Root:     &specs.Root{Readonly: true},
		Hostname: "box",
		Process: &specs.Process{Args: []string{"/app/hello.wasm"}, Env: []string{"A=1"}, Cwd: "/app",
			User: specs.User{UID: 1000}, NoNewPrivileges: true},
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv/data"}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/proc/7/ns/net"}, {Type: "uts"}},
			Sysctl:     map[string]string{"net.ipv4.ip_forward": "1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		base    *RunConfig
		proc    *specs.Process
		want    *RunConfig
		wantErr func(error) bool
		wantMsg string
	}{
		{
			name: "own process, container's rootfs and mounts",
			base: base,
			proc: &specs.Process{Args: []string{"custom.wasm#main", "-v"}, Env: []string{"PATH=/opt/bin"}, Cwd: "/work"},
			want: &RunConfig{
				ID: "e1", Rootfs: rootfs, RootReadonly: true,
				Module: "/opt/bin/custom.wasm", Function: "main",
				Args: []string{"custom.wasm", "-v"}, Env: []string{"PATH=/opt/bin"}, Cwd: "/work",
				Mounts:     []Mount{{Kind: MountBind, Destination: "/data", Source: "/srv/data"}},
				Namespaces: []Namespace{{Type: NamespacePID}, {Type: NamespaceNetwork, Path: "/proc/7/ns/net"}, {Type: NamespaceUTS}},
			},
		},
		{
			name: "exec does not inherit the container's cwd, env, credentials, hostname or sysctls",
			base: base,
			proc: &specs.Process{Args: []string{"tool.wasm"}},
			want: &RunConfig{
				ID: "e1", Rootfs: rootfs, RootReadonly: true,
				Module: "/usr/bin/tool.wasm", Args: []string{"tool.wasm"}, Cwd: "/",
				Mounts:     []Mount{{Kind: MountBind, Destination: "/data", Source: "/srv/data"}},
				Namespaces: []Namespace{{Type: NamespacePID}, {Type: NamespaceNetwork, Path: "/proc/7/ns/net"}, {Type: NamespaceUTS}},
			},
		},
		{
			name: "exec's own credentials",
			base: base,
			proc: &specs.Process{Args: []string{"tool.wasm"}, User: specs.User{UID: 5, GID: 6},
				Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}},
			want: &RunConfig{
				ID: "e1", Rootfs: rootfs, RootReadonly: true,
				Module: "/usr/bin/tool.wasm", Args: []string{"tool.wasm"}, Cwd: "/",
				Mounts:       []Mount{{Kind: MountBind, Destination: "/data", Source: "/srv/data"}},
				Namespaces:   []Namespace{{Type: NamespacePID}, {Type: NamespaceNetwork, Path: "/proc/7/ns/net"}, {Type: NamespaceUTS}},
				User:         User{UID: 5, GID: 6},
				Capabilities: &Capabilities{Bounding: 1 << 5},
			},
		},
		{name: "bad exec capability", base: base, proc: &specs.Process{Args: []string{"tool.wasm"},
			Capabilities: &specs.LinuxCapabilities{Ambient: []string{"CAP_KILL"}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "e1: process.capabilities: [CAP_KILL] ambient"},
		{name: "no base", proc: &specs.Process{Args: []string{"/app/hello.wasm"}}, wantErr: errdefs.IsInvalidArgument, wantMsg: "exec e1: no container run config"},
		{name: "no process", base: base, wantErr: errdefs.IsInvalidArgument, wantMsg: "e1: the spec has no process"},
		{name: "empty args", base: base, proc: &specs.Process{}, wantErr: errdefs.IsInvalidArgument, wantMsg: "process.args is empty"},
		{name: "terminal", base: base, proc: &specs.Process{Terminal: true, Args: []string{"/app/hello.wasm"}}, wantErr: errdefs.IsInvalidArgument, wantMsg: "terminal"},
		{name: "missing module", base: base, proc: &specs.Process{Args: []string{"sh"}}, wantErr: errdefs.IsNotFound, wantMsg: `e1: module "sh": not found`},
		{name: "component", base: base, proc: &specs.Process{Args: []string{"/component.wasm"}}, wantErr: errdefs.IsInvalidArgument, wantMsg: "WebAssembly component"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewExecRunConfig("e1", tc.base, tc.proc)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("NewExecRunConfig() error = %v, want category and %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NewExecRunConfig() =\n%+v\nwant\n%+v", got, tc.want)
			}
			// The exec's config is its own: changing it must not touch
			// the container's.
			got.Mounts[0].Destination = "/changed"
			if base.Mounts[0].Destination != "/data" {
				t.Errorf("exec config shares its mounts with the container's")
			}
			got.Namespaces[0].Path = "/changed"
			if base.Namespaces[0].Path != "" {
				t.Errorf("exec config shares its namespaces with the container's")
			}
		})
	}
}
