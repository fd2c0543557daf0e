package installer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

var testRuntime = DefaultRuntime(DefaultBinDir)

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireRuntime parses content and checks the runtime entry at the CRI
// plugin of version, returning the parsed document.
func requireRuntime(t *testing.T, content []byte, version int, rt Runtime, systemd bool) map[string]any {
	t.Helper()
	doc, err := parseConfig(content)
	if err != nil {
		t.Fatalf("result is not valid TOML: %v\n%s", err, content)
	}
	if v, err := configVersion(doc); err != nil || v != version {
		t.Fatalf("config version = %d (%v), want %d", v, err, version)
	}
	entry, ok := runtimeEntry(doc, version, rt.Name)
	if !ok {
		t.Fatalf("no runtime %q under plugins.%q:\n%s", rt.Name, criPluginKey(version), content)
	}
	if entry["runtime_type"] != rt.Type || entry["runtime_path"] != rt.Path {
		t.Fatalf("runtime %q = %v, want type %q path %q", rt.Name, entry, rt.Type, rt.Path)
	}
	opts, _ := entry["options"].(map[string]any)
	if opts["SystemdCgroup"] != systemd {
		t.Fatalf("SystemdCgroup = %v, want %v", opts["SystemdCgroup"], systemd)
	}
	return doc
}

func TestEditConfigLayouts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		version int
		systemd bool
	}{
		{"containerd 1.6 default", "containerd-1.6-default.toml", 2, false},
		{"containerd 2.4 default", "containerd-2.4-default.toml", 4, false},
		{"microk8s template", "microk8s-containerd-template.toml", 2, false},
		{"k3s v3 generated config edited directly", "k3s-v3-config.toml", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			original := testdata(t, tc.file)
			out, err := EditConfig(original, true, testRuntime, EditOptions{})
			if err != nil {
				t.Fatal(err)
			}
			doc := requireRuntime(t, out, tc.version, testRuntime, tc.systemd)
			// Everything that was there still is, unchanged.
			if !strings.HasPrefix(string(out), string(original)) {
				t.Fatal("the original content is not kept byte for byte ahead of the block")
			}
			if _, ok := runtimeEntry(doc, tc.version, "runc"); !ok {
				t.Fatal("runc runtime lost")
			}
			again, err := EditConfig(out, true, testRuntime, EditOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Fatalf("second edit is not byte-identical:\n%s", again)
			}
			reverted, remove, err := RevertConfig(out)
			if err != nil || remove {
				t.Fatalf("RevertConfig: remove=%v err=%v", remove, err)
			}
			if string(reverted) != string(original) {
				t.Fatal("uninstall did not restore the original byte for byte")
			}
		})
	}
}

func TestEditConfigCreatesCompleteConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		exists  bool
		opts    EditOptions
		version int
		systemd bool
	}{
		{"missing file, containerd 1.x", "", false, EditOptions{DefaultVersion: 2}, 2, false},
		{"missing file, containerd 2.x, systemd", "", false, EditOptions{DefaultVersion: 3, DefaultSystemdCgroup: true}, 3, true},
		{"missing file, no version given", "", false, EditOptions{}, 2, false},
		{"comments only", "# managed by hand\n", true, EditOptions{DefaultVersion: 3}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := EditConfig([]byte(tc.content), tc.exists, testRuntime, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			doc := requireRuntime(t, out, tc.version, testRuntime, tc.systemd)
			// containerd 1.6 refuses to start CRI without the default runtime.
			if _, ok := runtimeEntry(doc, tc.version, "runc"); !ok {
				t.Fatalf("created config lacks runc:\n%s", out)
			}
			if defaultRuntimeName(doc, tc.version) != "runc" {
				t.Fatal("default runtime is not runc")
			}
			reverted, remove, err := RevertConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if remove != !tc.exists {
				t.Fatalf("remove = %v, want %v (the installer created the file: %v)", remove, !tc.exists, !tc.exists)
			}
			if string(reverted) != tc.content {
				t.Fatalf("reverted to %q, want %q", reverted, tc.content)
			}
		})
	}
}

func TestEditConfigAddsRuncWhenContainerd1WouldLoseIt(t *testing.T) {
	const userConfig = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	out, err := EditConfig([]byte(userConfig), true, testRuntime, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc := requireRuntime(t, out, 2, testRuntime, false)
	if _, ok := runtimeEntry(doc, 2, "runc"); !ok {
		t.Fatalf("runc not added:\n%s", out)
	}
	// containerd 2.x keeps its built-in runc when a config adds runtimes.
	const v3Config = "version = 3\n\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	out, err = EditConfig([]byte(v3Config), true, testRuntime, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc = requireRuntime(t, out, 3, testRuntime, false)
	if _, ok := runtimeEntry(doc, 3, "runc"); ok {
		t.Fatalf("runc added to a version 3 config:\n%s", out)
	}
}

func TestEditConfigVersion1(t *testing.T) {
	const v1 = "[plugins.cri]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n[plugins.cri.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n[plugins.cri.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n"
	out, err := EditConfig([]byte(v1), true, testRuntime, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireRuntime(t, out, 1, testRuntime, true)
	if !strings.Contains(string(out), "[plugins.cri.containerd.runtimes.wasmedge]") {
		t.Fatalf("version 1 configs name the plugin \"cri\":\n%s", out)
	}
}

func TestEditConfigSystemdCgroupOverride(t *testing.T) {
	rt := testRuntime
	off := false
	rt.SystemdCgroup = &off
	out, err := EditConfig(testdata(t, "k3s-v3-config.toml"), true, rt, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireRuntime(t, out, 3, rt, false)
}

func TestEditConfigRefusesForeignRuntime(t *testing.T) {
	foreign := string(testdata(t, "containerd-1.6-default.toml")) +
		"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.wasmedge]\n  runtime_type = \"io.containerd.wasmedge.v1\"\n"
	_, err := EditConfig([]byte(foreign), true, testRuntime, EditOptions{})
	var fe *ForeignRuntimeError
	if !errors.As(err, &fe) || !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("err = %v, want ForeignRuntimeError matching ErrAlreadyExists", err)
	}
	if fe.Name != "wasmedge" || fe.Type != "io.containerd.wasmedge.v1" {
		t.Fatalf("foreign runtime = %+v", fe)
	}
	// Under another name the runtime can still be installed beside it.
	other := testRuntime
	other.Name = "wasmedge-wazero"
	out, err := EditConfig([]byte(foreign), true, other, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireRuntime(t, out, 2, other, false)
}

func TestEditConfigRefusesWhatItCannotEditSafely(t *testing.T) {
	for name, content := range map[string]string{
		"invalid TOML":          "version = 2\n[plugins\n",
		"inline runtimes table": "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  runtimes = { runc = { runtime_type = \"io.containerd.runc.v2\" } }\n",
		"string version":        "version = \"2\"\n[grpc]\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := EditConfig([]byte(content), true, testRuntime, EditOptions{})
			if err == nil {
				t.Fatalf("edit succeeded:\n%s", out)
			}
		})
	}
}

func TestRuntimeValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rt   Runtime
		ok   bool
	}{
		{"default", testRuntime, true},
		{"no path", Runtime{Name: "wasmedge", Type: DefaultRuntimeType}, true},
		{"upper case name", Runtime{Name: "WasmEdge", Type: DefaultRuntimeType}, false},
		{"dotted name", Runtime{Name: "wasm.edge", Type: DefaultRuntimeType}, false},
		{"empty type", Runtime{Name: "wasmedge"}, false},
		{"relative path", Runtime{Name: "wasmedge", Type: DefaultRuntimeType, Path: "bin/shim"}, false},
		{"newline in path", Runtime{Name: "wasmedge", Type: DefaultRuntimeType, Path: "/a\nb"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rt.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestQuotedPathRoundTrips(t *testing.T) {
	rt := testRuntime
	rt.Path = `/opt/odd "dir"\x/containerd-shim-wasmedge-v1`
	out, err := EditConfig(testdata(t, "containerd-1.6-default.toml"), true, rt, EditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requireRuntime(t, out, 2, rt, false)
}

// renderK3s does what k3s does with a template that extends the base: the
// base line becomes the config k3s generates on its own.
func renderK3s(t *testing.T, tmpl, generated []byte) []byte {
	t.Helper()
	if !strings.Contains(string(tmpl), K3sBaseTemplate) {
		t.Fatalf("template does not extend the base:\n%s", tmpl)
	}
	return []byte(strings.Replace(string(tmpl), K3sBaseTemplate, string(generated), 1))
}

func TestEditK3sTemplate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		generated string
		version   int
		systemd   bool
	}{
		{"containerd 2 (config-v3.toml.tmpl)", "k3s-v3-config.toml", 3, true},
		{"containerd 1.7 (config.toml.tmpl)", "k3s-v2-config.toml", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			generated := testdata(t, tc.generated)
			tmpl, err := EditK3sTemplate(nil, false, generated, testRuntime)
			if err != nil {
				t.Fatal(err)
			}
			rendered := renderK3s(t, tmpl, generated)
			requireRuntime(t, rendered, tc.version, testRuntime, tc.systemd)

			// k3s restarts and renders config.toml from our template; the
			// next install sees its own block there and changes nothing.
			again, err := EditK3sTemplate(tmpl, true, rendered, testRuntime)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(tmpl) {
				t.Fatalf("second edit is not byte-identical:\n%s\n---\n%s", tmpl, again)
			}
			reverted, remove, err := RevertK3sTemplate(tmpl)
			if err != nil || !remove || string(reverted) != K3sBaseTemplate+"\n" {
				t.Fatalf("a created template must be deleted on uninstall: %q %v %v", reverted, remove, err)
			}
		})
	}
}

func TestEditK3sTemplateKeepsUserTemplate(t *testing.T) {
	generated := testdata(t, "k3s-v3-config.toml")
	user := K3sBaseTemplate + "\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'custom']\n  runtime_type = \"io.containerd.runc.v2\"\n"
	// What k3s generated from the user's template.
	rendered := renderK3s(t, []byte(user), generated)
	tmpl, err := EditK3sTemplate([]byte(user), true, rendered, testRuntime)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(tmpl), user) || strings.Count(string(tmpl), K3sBaseTemplate) != 1 {
		t.Fatalf("user template not kept as it was:\n%s", tmpl)
	}
	doc := requireRuntime(t, renderK3s(t, tmpl, generated), 3, testRuntime, true)
	if _, ok := runtimeEntry(doc, 3, "custom"); !ok {
		t.Fatal("user's runtime lost")
	}
	reverted, remove, err := RevertK3sTemplate(tmpl)
	if err != nil || remove || string(reverted) != user {
		t.Fatalf("uninstall must restore the user's template: remove=%v err=%v\n%s", remove, err, reverted)
	}
}

func TestEditK3sTemplateRefusesAutodetectedRuntime(t *testing.T) {
	_, err := EditK3sTemplate(nil, false, testdata(t, "k3s-v3-config-autodetected-wasmedge.toml"), testRuntime)
	var fe *ForeignRuntimeError
	if !errors.As(err, &fe) || fe.Type != "io.containerd.wasmedge.v2" {
		t.Fatalf("err = %v, want the runtime k3s registered itself", err)
	}
}

func TestEditK3sTemplateNeedsGeneratedConfig(t *testing.T) {
	if _, err := EditK3sTemplate(nil, false, nil, testRuntime); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("err = %v, want ErrFailedPrecondition", err)
	}
}

func TestK0sDropIn(t *testing.T) {
	for _, version := range []int{2, 3} {
		out, err := K0sDropIn(version, true, testRuntime)
		if err != nil {
			t.Fatal(err)
		}
		requireRuntime(t, out, version, testRuntime, true)
		// k0s merges the drop-in into its CRI config, which must still parse.
		merged, err := parseConfig(testdata(t, "k0s-containerd-cri.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if version == 2 {
			dropIn, _ := parseConfig(out)
			mergeTables(merged, dropIn)
			if _, ok := runtimeEntry(merged, 2, "runc"); !ok {
				t.Fatal("merge lost runc")
			}
			if _, ok := runtimeEntry(merged, 2, "wasmedge"); !ok {
				t.Fatal("merge lost wasmedge")
			}
		}
		reverted, remove, err := RevertConfig(out)
		if err != nil || !remove || len(reverted) != 0 {
			t.Fatalf("the drop-in must be deleted on uninstall: %q %v %v", reverted, remove, err)
		}
	}
}

// mergeTables is a JSON merge patch of TOML tables, as k0s applies drop-ins.
func mergeTables(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				mergeTables(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

func TestConfigVersionForDaemon(t *testing.T) {
	for out, want := range map[string]int{
		"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3": 2,
		"containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da":    2,
		"containerd github.com/containerd/containerd/v2 v2.4.2 0123456789abcdef":      3,
		"containerd github.com/containerd/containerd/v2 2.4.2+unknown ":               3,
		"containerd github.com/k3s-io/containerd v1.7.23-k3s2 ":                       2,
		"bash: containerd: command not found":                                         2,
	} {
		if got := ConfigVersionForDaemon(out); got != want {
			t.Errorf("ConfigVersionForDaemon(%q) = %d, want %d", out, got, want)
		}
	}
}
