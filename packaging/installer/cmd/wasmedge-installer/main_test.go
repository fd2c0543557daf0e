package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/packaging/installer"
)

func writeHostFile(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInstallUninstallWithFlags(t *testing.T) {
	root := t.TempDir()
	original := "version = 3\n\n[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n"
	writeHostFile(t, root, "/etc/containerd/config.toml", original)
	writeHostFile(t, root, "/var/lib/kubelet/config.yaml", "cgroupDriver: systemd\n")
	shim := filepath.Join(t.TempDir(), installer.ShimBinaryName)
	os.WriteFile(shim, []byte("shim"), 0o755)
	o := options{
		hostRoot: root, layout: "auto", shim: shim, binDir: "/opt/w/bin",
		runtimeName: "wasm", runtimeType: installer.DefaultRuntimeType,
		systemdCgroup: "false", restart: "none",
	}
	if err := install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(root, "/etc/containerd/config.toml"))
	for _, want := range []string{
		`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.wasm]`,
		`runtime_path = "/opt/w/bin/containerd-shim-wasmedge-v1"`,
		"SystemdCgroup = false\n" + installer.BlockEnd,
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "/opt/w/bin", installer.ShimBinaryName)); err != nil {
		t.Fatal(err)
	}
	if err := uninstall(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := os.ReadFile(filepath.Join(root, "/etc/containerd/config.toml")); string(cfg) != original {
		t.Fatalf("uninstall left\n%s", cfg)
	}
}

func TestBadFlags(t *testing.T) {
	root := t.TempDir()
	for name, o := range map[string]options{
		"systemd-cgroup": {hostRoot: root, layout: "auto", systemdCgroup: "maybe", runtimeName: "wasmedge", runtimeType: installer.DefaultRuntimeType},
		"layout":         {hostRoot: root, layout: "docker", systemdCgroup: "auto", runtimeName: "wasmedge", runtimeType: installer.DefaultRuntimeType},
		"label":          {hostRoot: root, layout: "auto", systemdCgroup: "auto", runtimeName: "wasmedge", runtimeType: installer.DefaultRuntimeType, restart: "none", label: "novalue", nodeName: "n"},
	} {
		if err := install(context.Background(), o); err == nil {
			t.Errorf("%s: install succeeded", name)
		}
	}
}

// TestHostCommandChroot runs the installer binary (static, so it works in
// a root without libraries) through HostCommand in a fake host root: the
// probe finds the ready file only if it really runs inside that root.
func TestHostCommandChroot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chroot needs root")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	root := t.TempDir()
	bin := filepath.Join(root, "usr/local/bin/wasmedge-installer")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h := installer.HostCommand{Root: root}
	probe := []string{"wasmedge-installer", "probe", "-ready-file", "/ready"}
	if _, err := h.Run(context.Background(), probe); err == nil {
		t.Fatal("probe succeeded before the ready file exists")
	}
	writeHostFile(t, root, "/ready", "")
	if out, err := h.Run(context.Background(), probe); err != nil {
		t.Fatalf("probe in chroot: %v %s", err, out)
	}
}
