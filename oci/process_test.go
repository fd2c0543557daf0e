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
		Root:    &specs.Root{Readonly: true},
		Process: &specs.Process{Args: []string{"/app/hello.wasm"}, Env: []string{"A=1"}, Cwd: "/app"},
		Mounts:  []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv/data"}},
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
				Mounts: []Mount{{Kind: MountBind, Destination: "/data", Source: "/srv/data"}},
			},
		},
		{
			name: "exec does not inherit the container's cwd or env",
			base: base,
			proc: &specs.Process{Args: []string{"tool.wasm"}},
			want: &RunConfig{
				ID: "e1", Rootfs: rootfs, RootReadonly: true,
				Module: "/usr/bin/tool.wasm", Args: []string{"tool.wasm"}, Cwd: "/",
				Mounts: []Mount{{Kind: MountBind, Destination: "/data", Source: "/srv/data"}},
			},
		},
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
		})
	}
}
