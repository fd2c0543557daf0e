//go:build linux

package harness

import (
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// TestCRIConfig checks that the CRI part of each version's config parses,
// keeps every path private and sets what the tests rely on.
func TestCRIConfig(t *testing.T) {
	c := &CRIDaemon{ConfigDir: "/tmp/cri-test", NetworkName: "n", Bridge: "b", Subnet: "10.88.7.0/24"}
	tests := []struct {
		version string
		// paths of settings (dotted, plugin URI quoted as in TOML) that
		// must hold the value
		want map[string]any
	}{
		{Version16, map[string]any{
			`grpc.v1.cri/sandbox_image`:                             SandboxImage,
			`grpc.v1.cri/restrict_oom_score_adj`:                    true,
			`grpc.v1.cri/netns_mounts_under_state_dir`:              true,
			`grpc.v1.cri/disable_tcp_service`:                       true,
			`grpc.v1.cri/stream_server_address`:                     "127.0.0.1",
			`grpc.v1.cri/containerd/default_runtime_name`:           "runc",
			`grpc.v1.cri/containerd/runtimes/wasmedge/runtime_type`: RuntimeName,
			`grpc.v1.cri/containerd/runtimes/runc/runtime_type`:     "io.containerd.runc.v2",
			`grpc.v1.cri/cni/bin_dir`:                               CNIBinDir,
			`grpc.v1.cri/cni/conf_dir`:                              "/tmp/cri-test/net.d",
			`grpc.v1.cri/registry/config_path`:                      "/tmp/cri-test/certs.d",
		}},
		{Version24, map[string]any{
			`cri.v1.images/pinned_images/sandbox`:                      SandboxImage,
			`cri.v1.images/registry/config_path`:                       "/tmp/cri-test/certs.d",
			`cri.v1.runtime/restrict_oom_score_adj`:                    true,
			`cri.v1.runtime/netns_mounts_under_state_dir`:              true,
			`grpc.v1.cri/disable_tcp_service`:                          true,
			`grpc.v1.cri/stream_server_port`:                           "0",
			`cri.v1.runtime/containerd/default_runtime_name`:           "runc",
			`cri.v1.runtime/containerd/runtimes/wasmedge/runtime_type`: RuntimeName,
			`cri.v1.runtime/cni/conf_dir`:                              "/tmp/cri-test/net.d",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			text := c.criConfig(tc.version)
			var doc map[string]any
			if err := toml.Unmarshal([]byte(text), &doc); err != nil {
				t.Fatalf("config does not parse: %v\n%s", err, text)
			}
			plugins, _ := doc["plugins"].(map[string]any)
			for key, want := range tc.want {
				parts := strings.Split(key, "/")
				var v any = plugins["io.containerd."+parts[0]]
				for _, p := range parts[1:] {
					m, _ := v.(map[string]any)
					v = m[p]
				}
				if v != want {
					t.Errorf("%s = %v, want %v", key, v, want)
				}
			}
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, "/var/lib") || strings.Contains(line, "/etc/") || strings.Contains(line, "/opt/cni") {
					t.Errorf("config line names a machine-wide path: %s", line)
				}
			}
		})
	}
}
