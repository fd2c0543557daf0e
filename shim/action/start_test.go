//go:build linux

package action

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestParseStartRequest(t *testing.T) {
	flags := Flags{Namespace: "k8s.io", ID: "c1", Address: "/run/cd.sock", Action: "start"}
	env := func(k string) string {
		if k == "TTRPC_ADDRESS" {
			return "/run/cd.sock.ttrpc"
		}
		return ""
	}
	dir := "/tmp/socks"
	opts := mustMarshal(t, &anypb.Any{TypeUrl: "containerd.runc.v1.Options", Value: []byte{0x10, 0x01}})
	wrapped, err := typeurl.MarshalAnyToProto(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		stdin     []byte
		bootstrap bool
		ttrpc     string
		socketDir string
		debug     bool
	}{
		{name: "empty stdin (containerd 1.6 without options)", ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s"},
		{name: "runtime options Any (containerd 1.6/1.7)", stdin: opts, ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s"},
		{name: "typeurl Any of another type", stdin: mustMarshal(t, wrapped), ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s"},
		{name: "garbage", stdin: []byte{0xff, 0xff, 0xff}, ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s"},
		{
			name: "bootstrap params (containerd 2.3+)",
			stdin: mustMarshal(t, &bootapi.BootstrapParams{
				InstanceID: "c1", Namespace: "k8s.io", ContainerdTtrpcAddress: "/other.ttrpc",
				ContainerdGrpcAddress: "/other.sock", SocketDir: &dir, LogLevel: bootapi.LogLevel_LOG_LEVEL_DEBUG,
			}),
			bootstrap: true, ttrpc: "/other.ttrpc", socketDir: dir, debug: true,
		},
		{
			name:  "bootstrap params for another instance",
			stdin: mustMarshal(t, &bootapi.BootstrapParams{InstanceID: "c2", Namespace: "k8s.io"}),
			ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s",
		},
		{
			name:  "bootstrap params for another namespace",
			stdin: mustMarshal(t, &bootapi.BootstrapParams{InstanceID: "c1", Namespace: "default"}),
			ttrpc: "/run/cd.sock.ttrpc", socketDir: "/run/containerd/s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseStartRequest(flags, tc.stdin, env)
			if got.bootstrap != tc.bootstrap || got.ttrpcAddress != tc.ttrpc || got.socketDir != tc.socketDir || got.debug != tc.debug {
				t.Fatalf("got %+v, want bootstrap=%v ttrpc=%s socketDir=%s debug=%v", got, tc.bootstrap, tc.ttrpc, tc.socketDir, tc.debug)
			}
			if got.id != "c1" || got.namespace != "k8s.io" {
				t.Fatalf("identity changed: %+v", got)
			}
		})
	}
}

func TestWriteStartReply(t *testing.T) {
	const addr = "unix:///run/containerd/s/abc"
	var plain bytes.Buffer
	if err := writeStartReply(&plain, false, addr); err != nil {
		t.Fatal(err)
	}
	if plain.String() != addr {
		t.Fatalf("legacy reply = %q, want the bare address", plain.String())
	}
	var buf bytes.Buffer
	if err := writeStartReply(&buf, true, addr); err != nil {
		t.Fatal(err)
	}
	var res bootapi.BootstrapResult
	if err := proto.Unmarshal(buf.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Version != 3 || res.Address != addr || res.Protocol != "ttrpc" {
		t.Fatalf("bootstrap reply = %+v", &res)
	}
}

func TestParseFlags(t *testing.T) {
	f, err := ParseFlags([]string{"-namespace", "ns", "-address", "/a.sock", "-publish-binary", "/usr/bin/containerd", "-id", "x", "-debug", "start"})
	if err != nil {
		t.Fatal(err)
	}
	want := Flags{Namespace: "ns", ID: "x", Address: "/a.sock", Debug: true, Action: "start"}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
	if f, _ := ParseFlags([]string{"-namespace", "ns", "-id", "x", "delete"}); f.Action != "delete" {
		t.Fatalf("action = %q", f.Action)
	}
}

func TestGroupOf(t *testing.T) {
	for _, tc := range []struct {
		name, config, grouping, want string
	}{
		{"no config", "", "", "namespace/ns"},
		{"no annotations", `{"ociVersion":"1.0.2"}`, "", "namespace/ns"},
		{"one shim per container", `{"ociVersion":"1.0.2"}`, "container", "c1"},
		{"cri sandbox id", `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}`, "", "pod1"},
		{"pods group whatever the setting", `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}`, "container", "pod1"},
		{"explicit group wins", `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1","io.containerd.runc.v2.group":"g"}}`, "", "g"},
		{"broken json", `{`, "", "namespace/ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(GroupingEnv, tc.grouping)
			dir := t.TempDir()
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := groupOf(dir, "ns", "c1"); got != tc.want {
				t.Fatalf("groupOf = %q, want %q", got, tc.want)
			}
		})
	}
}
