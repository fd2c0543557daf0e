//go:build linux

package shim

import (
	"testing"

	runcopts "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestParseRuntimeOptions(t *testing.T) {
	any := func(v any) *anypb.Any {
		a, err := typeurl.MarshalAnyToProto(v)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		opts    *anypb.Any
		systemd bool
		wantErr bool
	}{
		{name: "none"},
		{name: "runc options", opts: any(&runcopts.Options{SystemdCgroup: true}), systemd: true},
		{name: "runc options without systemd", opts: any(&runcopts.Options{BinaryName: "runc"})},
		{name: "CRI toml body", opts: any(&runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = true\nOther = 'x'\n")}), systemd: true},
		{name: "CRI empty body", opts: any(&runtimeoptions.Options{})},
		{name: "CRI broken toml", opts: any(&runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = = true")}), wantErr: true},
		{name: "unknown type", opts: &anypb.Any{TypeUrl: "example.com/nope", Value: []byte{1}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRuntimeOptions(tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got.SystemdCgroup != tc.systemd {
				t.Fatalf("SystemdCgroup = %v", got.SystemdCgroup)
			}
		})
	}
}
