package installer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// recordingRunner stands in for the host: it records commands and answers
// `containerd --version` with version.
type recordingRunner struct {
	calls      [][]string
	version    string
	restartErr error
}

func (r *recordingRunner) Run(_ context.Context, argv []string) ([]byte, error) {
	r.calls = append(r.calls, argv)
	if len(argv) == 2 && argv[0] == "containerd" && argv[1] == "--version" {
		if r.version == "" {
			return nil, errors.New("containerd: not found")
		}
		return []byte(r.version), nil
	}
	return nil, r.restartErr
}

// restarts are the recorded commands other than version queries.
func (r *recordingRunner) restarts() [][]string {
	var out [][]string
	for _, c := range r.calls {
		if !(len(c) == 2 && c[1] == "--version") {
			out = append(out, c)
		}
	}
	return out
}

// fakeShim writes a stand-in shim binary and returns its path.
func fakeShim(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ShimBinaryName)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestInstallAndUninstallPerLayout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		files       map[string]string
		kind        Kind
		version     string // `containerd --version` on the host
		wantVersion int
		// renderedFrom, for k3s: the generated config the template extends.
		renderedFrom string
	}{
		{name: "containerd 1.6 config", kind: KindContainerd, wantVersion: 2,
			files: map[string]string{containerdConfigPath: string(testdata(t, "containerd-1.6-default.toml"))}},
		{name: "containerd 2.4 config", kind: KindContainerd, wantVersion: 4,
			files: map[string]string{containerdConfigPath: string(testdata(t, "containerd-2.4-default.toml"))}},
		{name: "containerd 2.x without config", kind: KindContainerd, wantVersion: 3,
			version: "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376",
			files:   map[string]string{}},
		{name: "containerd 1.x without config", kind: KindContainerd, wantVersion: 2,
			version: "containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da",
			files:   map[string]string{}},
		{name: "k3s", kind: KindK3s, wantVersion: 3, renderedFrom: k3sConfigDir + "/config.toml",
			files: map[string]string{k3sConfigDir + "/config.toml": string(testdata(t, "k3s-v3-config.toml"))}},
		{name: "rke2 with containerd 1.7", kind: KindRKE2, wantVersion: 2, renderedFrom: rke2ConfigDir + "/config.toml",
			files: map[string]string{rke2ConfigDir + "/config.toml": string(testdata(t, "k3s-v2-config.toml"))}},
		{name: "k0s", kind: KindK0s, wantVersion: 2,
			files: map[string]string{
				k0sConfigPath:    string(testdata(t, "k0s-containerd.toml")),
				k0sCRIConfigPath: string(testdata(t, "k0s-containerd-cri.toml")),
			}},
		{name: "microk8s", kind: KindMicroK8s, wantVersion: 2,
			files: map[string]string{microK8sTemplatePath: string(testdata(t, "microk8s-containerd-template.toml"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeHost(t, tc.files)
			layout, err := LayoutFor(root, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			runner := &recordingRunner{version: tc.version}
			in := &Installer{
				HostRoot:   root,
				Layout:     layout,
				Runtime:    DefaultRuntime(DefaultBinDir),
				ShimSource: fakeShim(t, "shim v1"),
				Runner:     runner,
			}
			configFile := filepath.Join(root, layout.ConfigPath)
			original, existed := readFile(t, configFile)

			res, err := in.Install(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !res.BinaryChanged || !res.ConfigChanged || res.Restarted != (layout.Restart != nil) {
				t.Fatalf("first install: %+v", res)
			}
			shim := filepath.Join(root, in.Runtime.Path)
			if fi, err := os.Stat(shim); err != nil || fi.Mode().Perm() != 0o755 {
				t.Fatalf("shim on host: %v %v", fi, err)
			}
			if got, _ := readFile(t, shim); got != "shim v1" {
				t.Fatalf("shim content %q", got)
			}
			edited, ok := readFile(t, configFile)
			if !ok {
				t.Fatal("config not written")
			}
			effective := []byte(edited)
			if tc.renderedFrom != "" {
				generated, _ := readFile(t, filepath.Join(root, tc.renderedFrom))
				effective = renderK3s(t, effective, []byte(generated))
			}
			requireRuntime(t, effective, tc.wantVersion, in.Runtime, tc.kind == KindK3s)
			if got := runner.restarts(); !reflect.DeepEqual(got, nonNil(layout.Restart)) {
				t.Fatalf("restart commands %q, want %q", got, layout.Restart)
			}

			// A second run (the DaemonSet pod restarted) changes nothing and
			// does not bounce containerd again.
			runner.calls = nil
			res, err = in.Install(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res != (Result{}) || len(runner.restarts()) != 0 {
				t.Fatalf("second install: %+v, commands %q", res, runner.calls)
			}
			if again, _ := readFile(t, configFile); again != edited {
				t.Fatal("second install changed the config")
			}

			// A new shim version replaces the binary but needs no restart.
			in.ShimSource = fakeShim(t, "shim v2")
			res, err = in.Install(context.Background())
			if err != nil || !res.BinaryChanged || res.ConfigChanged || res.Restarted {
				t.Fatalf("upgrade: %+v %v", res, err)
			}

			runner.calls = nil
			res, err = in.Uninstall(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !res.BinaryChanged || !res.ConfigChanged || res.Restarted != (layout.Restart != nil) {
				t.Fatalf("uninstall: %+v", res)
			}
			if _, err := os.Stat(shim); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("shim still on host: %v", err)
			}
			after, ok := readFile(t, configFile)
			if ok != existed || after != original {
				t.Fatalf("uninstall left exists=%v (want %v), content equal=%v", ok, existed, after == original)
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(configFile), ".*"))
			if len(leftovers) != 0 {
				t.Fatalf("temporary files left: %v", leftovers)
			}

			// Uninstalling twice is harmless.
			runner.calls = nil
			res, err = in.Uninstall(context.Background())
			if err != nil || res != (Result{}) || len(runner.calls) != 0 {
				t.Fatalf("second uninstall: %+v %v %q", res, err, runner.calls)
			}
		})
	}
}

func nonNil(argv []string) [][]string {
	if argv == nil {
		return nil
	}
	return [][]string{argv}
}

func TestInstallRollsBackWhenRestartFails(t *testing.T) {
	original := string(testdata(t, "containerd-1.6-default.toml"))
	root := fakeHost(t, map[string]string{containerdConfigPath: original})
	layout, _ := LayoutFor(root, KindContainerd)
	runner := &recordingRunner{restartErr: errors.New("Failed to restart containerd.service: Unit not found.")}
	in := &Installer{HostRoot: root, Layout: layout, Runtime: DefaultRuntime(DefaultBinDir), Runner: runner}
	if _, err := in.Install(context.Background()); err == nil || !strings.Contains(err.Error(), "Unit not found") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := readFile(t, filepath.Join(root, containerdConfigPath)); got != original {
		t.Fatal("config not rolled back after the failed restart")
	}
	// The retry edits and restarts again.
	runner.restartErr, runner.calls = nil, nil
	res, err := in.Install(context.Background())
	if err != nil || !res.ConfigChanged || !res.Restarted {
		t.Fatalf("retry: %+v %v", res, err)
	}
}

func TestInstallRefusesForeignRuntimeWithoutTouchingAnything(t *testing.T) {
	foreign := string(testdata(t, "containerd-2.4-default.toml")) +
		"\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.wasmedge]\n  runtime_type = 'io.containerd.wasmedge.v1'\n"
	root := fakeHost(t, map[string]string{containerdConfigPath: foreign})
	layout, _ := LayoutFor(root, KindContainerd)
	runner := &recordingRunner{}
	in := &Installer{HostRoot: root, Layout: layout, Runtime: DefaultRuntime(DefaultBinDir), Runner: runner}
	_, err := in.Install(context.Background())
	if !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("err = %v, want ErrAlreadyExists", err)
	}
	if got, _ := readFile(t, filepath.Join(root, containerdConfigPath)); got != foreign || len(runner.calls) != 0 {
		t.Fatalf("config touched or containerd restarted: %q", runner.calls)
	}
}

func TestK0sPreconditions(t *testing.T) {
	unmanaged := fakeHost(t, map[string]string{k0sConfigPath: "version = 2\n"})
	layout, _ := LayoutFor(unmanaged, KindK0s)
	in := &Installer{HostRoot: unmanaged, Layout: layout, Runtime: DefaultRuntime(DefaultBinDir)}
	if _, err := in.Install(context.Background()); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("user-managed containerd.toml: err = %v", err)
	}

	other := fakeHost(t, map[string]string{
		k0sConfigPath: string(testdata(t, "k0s-containerd.toml")),
		k0sDropInDir + "/runwasi.toml": "version = 3\n[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.wasmedge]\n" +
			"  runtime_type = \"io.containerd.wasmedge.v1\"\n",
	})
	in = &Installer{HostRoot: other, Layout: layout, Runtime: DefaultRuntime(DefaultBinDir)}
	if _, err := in.Install(context.Background()); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("other drop-in with wasmedge: err = %v", err)
	}
}

func TestKubeletUsesSystemdCgroup(t *testing.T) {
	for content, want := range map[string]bool{
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n": true,
		"cgroupDriver: \"systemd\"\n":  true,
		"cgroupDriver: cgroupfs\n":     false,
		"kind: KubeletConfiguration\n": false,
	} {
		root := fakeHost(t, map[string]string{"/var/lib/kubelet/config.yaml": content})
		if got := KubeletUsesSystemdCgroup(root); got != want {
			t.Errorf("%q: got %v, want %v", content, got, want)
		}
	}
	if KubeletUsesSystemdCgroup(t.TempDir()) {
		t.Error("no kubelet config: want false")
	}
}
