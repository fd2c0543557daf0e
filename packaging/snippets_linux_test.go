//go:build linux

package packaging

import (
	"os"
	"reflect"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/internal/crictest"
)

// snippets are the shipped containerd configs with the version and cgroup
// driver each is written for.
var snippets = []struct {
	file    string
	version int
	systemd bool
}{
	{"containerd/config-v2.toml", 2, false},
	{"containerd/config-v2-systemd.toml", 2, true},
	{"containerd/config-v3.toml", 3, false},
	{"containerd/config-v3-systemd.toml", 3, true},
}

// criRuntimes decodes the CRI runtimes table of a config of version.
func criRuntimes(t *testing.T, content []byte, version int) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := toml.Unmarshal(content, &doc); err != nil {
		t.Fatal(err)
	}
	plugin := "io.containerd.grpc.v1.cri"
	if version >= 3 {
		plugin = "io.containerd.cri.v1.runtime"
	}
	cur := doc
	for _, k := range []string{"plugins", plugin, "containerd", "runtimes"} {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("no table %q on the way to the runtimes of plugin %s", k, plugin)
		}
		cur = next
	}
	return cur
}

// TestSnippetsMatchInstaller: an operator who pastes a snippet gets the
// same runtime the installer writes.
func TestSnippetsMatchInstaller(t *testing.T) {
	for _, s := range snippets {
		t.Run(s.file, func(t *testing.T) {
			content, err := os.ReadFile(s.file)
			if err != nil {
				t.Fatal(err)
			}
			generated, err := installer.EditConfig(nil, false, installer.DefaultRuntime(installer.DefaultBinDir),
				installer.EditOptions{DefaultVersion: s.version, DefaultSystemdCgroup: s.systemd})
			if err != nil {
				t.Fatal(err)
			}
			got, want := criRuntimes(t, content, s.version), criRuntimes(t, generated, s.version)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("snippet runtimes\n%v\ninstaller writes\n%v", got, want)
			}
		})
	}
}

// TestSnippetsLoadInRealContainerd starts containerd 1.6 (version 2
// snippets) and 2.4 (all of them; it migrates version 2) on each snippet
// and checks what CRI loaded.
func TestSnippetsLoadInRealContainerd(t *testing.T) {
	for _, s := range snippets {
		daemons := map[string]string{"2.4": crictest.Containerd24}
		if s.version == 2 {
			daemons["1.6"] = crictest.Containerd16
		}
		for name, bin := range daemons {
			t.Run(name+"/"+s.file, func(t *testing.T) {
				content, err := os.ReadFile(s.file)
				if err != nil {
					t.Fatal(err)
				}
				runtimes := crictest.Start(t, bin, content).CRIRuntimes(t)
				w, ok := runtimes[installer.DefaultRuntimeName]
				if !ok {
					t.Fatalf("no %q runtime in %v", installer.DefaultRuntimeName, runtimes)
				}
				want := installer.DefaultRuntime(installer.DefaultBinDir)
				if w.Type != want.Type || w.Path != want.Path || w.Options["SystemdCgroup"] != s.systemd {
					t.Fatalf("loaded %+v, want type %q path %q SystemdCgroup %v", w, want.Type, want.Path, s.systemd)
				}
				r, ok := runtimes["runc"]
				if !ok || r.Options["SystemdCgroup"] != s.systemd {
					t.Fatalf("runc %+v, want SystemdCgroup %v", r, s.systemd)
				}
			})
		}
	}
}
