//go:build linux

package installer

import (
	"strings"
	"testing"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/internal/crictest"
)

// TestEditedConfigsLoadInRealContainerd starts Debian's containerd 1.6 and
// containerd 2.4 on configs the installer edited or created, and asks CRI
// which runtimes it loaded: parsing alone would not catch a wrong plugin
// path, a key containerd ignores, or a CRI that refuses to start.
func TestEditedConfigsLoadInRealContainerd(t *testing.T) {
	k3sV3 := testdata(t, "k3s-v3-config.toml")
	k3sV2 := testdata(t, "k3s-v2-config.toml")
	microk8s := strings.NewReplacer("${SNAPSHOTTER}", "overlayfs", "${RUNTIME}", "runc",
		"${RUNTIME_TYPE}", "io.containerd.runc.v2", "${SNAP_DATA}", "/var/lib/containerd/snap").
		Replace(string(testdata(t, "microk8s-containerd-template.toml")))
	k0sCRI := testdata(t, "k0s-containerd-cri.toml")

	edit := func(t *testing.T, content []byte, exists bool, version int) []byte {
		t.Helper()
		out, err := EditConfig(content, exists, testRuntime, EditOptions{DefaultVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	k3s := func(t *testing.T, generated []byte) []byte {
		t.Helper()
		tmpl, err := EditK3sTemplate(nil, false, generated, testRuntime)
		if err != nil {
			t.Fatal(err)
		}
		return renderK3s(t, tmpl, generated)
	}
	k0s := func(t *testing.T) []byte {
		t.Helper()
		dropIn, err := K0sDropIn(2, false, testRuntime)
		if err != nil {
			t.Fatal(err)
		}
		// k0s appends or merges drop-ins into its CRI config.
		return append(append(append([]byte{}, k0sCRI...), '\n'), dropIn...)
	}

	for _, tc := range []struct {
		name    string
		daemon  string
		config  func(t *testing.T) []byte
		systemd bool
	}{
		{"1.6 default config", crictest.Containerd16, func(t *testing.T) []byte {
			return edit(t, testdata(t, "containerd-1.6-default.toml"), true, 0)
		}, false},
		{"1.6 created config", crictest.Containerd16, func(t *testing.T) []byte { return edit(t, nil, false, 2) }, false},
		{"1.6 config without runc", crictest.Containerd16, func(t *testing.T) []byte {
			return edit(t, []byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n"), true, 0)
		}, false},
		{"1.6 version 1 config", crictest.Containerd16, func(t *testing.T) []byte {
			return edit(t, []byte("[plugins.cri]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n"), true, 0)
		}, false},
		{"1.6 microk8s template", crictest.Containerd16, func(t *testing.T) []byte { return edit(t, []byte(microk8s), true, 0) }, false},
		{"1.6 k3s containerd-1.7 template", crictest.Containerd16, func(t *testing.T) []byte { return k3s(t, k3sV2) }, false},
		{"1.6 k0s drop-in", crictest.Containerd16, k0s, false},
		{"2.4 default config", crictest.Containerd24, func(t *testing.T) []byte {
			return edit(t, testdata(t, "containerd-2.4-default.toml"), true, 0)
		}, false},
		{"2.4 created config", crictest.Containerd24, func(t *testing.T) []byte { return edit(t, nil, false, 3) }, false},
		{"2.4 k3s template", crictest.Containerd24, func(t *testing.T) []byte { return k3s(t, k3sV3) }, true},
		{"2.4 1.6 default config (migrated)", crictest.Containerd24, func(t *testing.T) []byte {
			return edit(t, testdata(t, "containerd-1.6-default.toml"), true, 0)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := crictest.Start(t, tc.daemon, tc.config(t))
			runtimes := d.CRIRuntimes(t)
			got, ok := runtimes[testRuntime.Name]
			if !ok {
				t.Fatalf("CRI loaded runtimes %v, no %q\n%s", keys(runtimes), testRuntime.Name, d.LogTail())
			}
			if got.Type != testRuntime.Type || got.Path != testRuntime.Path {
				t.Fatalf("CRI runtime %q = %+v, want type %q path %q", testRuntime.Name, got, testRuntime.Type, testRuntime.Path)
			}
			if got.Options["SystemdCgroup"] != tc.systemd {
				t.Fatalf("options %v, want SystemdCgroup=%v", got.Options, tc.systemd)
			}
			if _, ok := runtimes["runc"]; !ok {
				t.Fatalf("runc lost: %v", keys(runtimes))
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
