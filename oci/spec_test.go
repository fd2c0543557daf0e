package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLoadSpec(t *testing.T) {
	want := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: []string{"/hello.wasm", "x"}, Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
	}
	good, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte // nil: no config.json
		wantErr func(error) bool
	}{
		{name: "valid", content: good},
		{name: "missing", wantErr: errdefs.IsNotFound},
		{name: "bad json", content: []byte("{not json"), wantErr: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			if tc.content != nil {
				if err := os.WriteFile(filepath.Join(bundle, "config.json"), tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			spec, err := LoadSpec(bundle)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("LoadSpec() error = %v, want another category", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.Process.Args[1] != "x" || spec.Root.Path != "rootfs" || !spec.Root.Readonly {
				t.Errorf("LoadSpec() = %+v, want %+v", spec, want)
			}
		})
	}
}

func TestRootfsPath(t *testing.T) {
	bundle := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		bundle     string
		spec       *specs.Spec
		haveMounts bool
		want       string
		wantErr    bool
	}{
		{name: "mounts win over root.path", bundle: bundle, spec: &specs.Spec{Root: &specs.Root{Path: "/elsewhere"}}, haveMounts: true, want: filepath.Join(bundle, "rootfs")},
		{name: "mounts without root", bundle: bundle, spec: &specs.Spec{}, haveMounts: true, want: filepath.Join(bundle, "rootfs")},
		{name: "absolute root.path", bundle: bundle, spec: &specs.Spec{Root: &specs.Root{Path: "/srv/app/rootfs/"}}, want: "/srv/app/rootfs"},
		{name: "relative root.path", bundle: bundle, spec: &specs.Spec{Root: &specs.Root{Path: "my-rootfs"}}, want: filepath.Join(bundle, "my-rootfs")},
		{name: "relative bundle made absolute", bundle: "b", spec: &specs.Spec{Root: &specs.Root{Path: "rootfs"}}, want: filepath.Join(wd, "b", "rootfs")},
		{name: "no root", bundle: bundle, spec: &specs.Spec{}, wantErr: true},
		{name: "empty root.path", bundle: bundle, spec: &specs.Spec{Root: &specs.Root{}}, wantErr: true},
		{name: "nil spec", bundle: bundle, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RootfsPath(tc.bundle, tc.spec, tc.haveMounts)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("RootfsPath() error = %v, want invalid argument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("RootfsPath() = %q, want %q", got, tc.want)
			}
		})
	}
}
