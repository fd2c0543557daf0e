//go:build linux

package shim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcopts "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestStartNativeWithoutRunc checks the error a node without runc gives for
// a container that runs a native executable: clear, and at Create.
func TestStartNativeWithoutRunc(t *testing.T) {
	onlyShim := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyShim, runcShimBinary), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"no runc shim", t.TempDir(), "needs containerd-shim-runc-v2 and runc on PATH"},
		{"runc shim but no runc", onlyShim, "needs runc on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			_, err := startNative(context.Background(), "ns", "c1", t.TempDir())
			if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("startNative: %v, want a failed precondition saying %q", err, tc.want)
			}
		})
	}
}

// TestRuncCreateOptions checks what runc's shim is given: its own options
// type, whatever CRI sent.
func TestRuncCreateOptions(t *testing.T) {
	marshal := func(v any) *anypb.Any {
		a, err := typeurl.MarshalAnyToProto(v)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	runc := marshal(&runcopts.Options{SystemdCgroup: true, BinaryName: "runc"})
	for _, tc := range []struct {
		name    string
		in      *anypb.Any
		systemd bool
		same    bool
		wantErr bool
	}{
		{name: "none", in: nil, same: true},
		{name: "runc's own options pass unchanged", in: runc, same: true, systemd: true},
		{name: "CRI options body", in: marshal(&runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = true\n")}), systemd: true},
		{name: "CRI options without systemd", in: marshal(&runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = false\n")})},
		{name: "broken CRI options", in: marshal(&runtimeoptions.Options{ConfigBody: []byte("= =")}), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runcCreateOptions(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.same {
				if out != tc.in {
					t.Fatalf("options replaced: %v", out)
				}
				if out == nil {
					return
				}
			}
			v, err := typeurl.UnmarshalAny(out)
			if err != nil {
				t.Fatal(err)
			}
			o, ok := v.(*runcopts.Options)
			if !ok {
				t.Fatalf("runc's shim gets %T", v)
			}
			if o.GetSystemdCgroup() != tc.systemd {
				t.Errorf("SystemdCgroup %v, want %v", o.GetSystemdCgroup(), tc.systemd)
			}
		})
	}
}
