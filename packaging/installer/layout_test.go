package installer

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
)

// fakeHost creates a host root holding files (host path → content).
func fakeHost(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectLayout(t *testing.T) {
	k3sV3 := string(testdata(t, "k3s-v3-config.toml"))
	k3sV2 := string(testdata(t, "k3s-v2-config.toml"))
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  Layout
	}{
		{
			name:  "plain containerd",
			files: map[string]string{"/etc/containerd/config.toml": "version = 2\n"},
			want:  Layout{Kind: KindContainerd, ConfigPath: "/etc/containerd/config.toml", Restart: hostCommand("systemctl", "restart", "containerd")},
		},
		{
			name:  "nothing at all is plain containerd",
			files: map[string]string{},
			want:  Layout{Kind: KindContainerd, ConfigPath: "/etc/containerd/config.toml", Restart: hostCommand("systemctl", "restart", "containerd")},
		},
		{
			name: "k3s server with containerd 2",
			files: map[string]string{
				k3sConfigDir + "/config.toml":        k3sV3,
				"/etc/systemd/system/k3s.service":    "",
				"/etc/systemd/system/k3s-agent.none": "",
			},
			want: Layout{Kind: KindK3s, ConfigPath: k3sConfigDir + "/config-v3.toml.tmpl", RenderedPath: k3sConfigDir + "/config.toml",
				Restart: hostCommand("systemctl", "restart", "k3s")},
		},
		{
			name: "k3s agent with containerd 1.7",
			files: map[string]string{
				k3sConfigDir + "/config.toml":           k3sV2,
				"/etc/systemd/system/k3s-agent.service": "",
			},
			want: Layout{Kind: KindK3s, ConfigPath: k3sConfigDir + "/config.toml.tmpl", RenderedPath: k3sConfigDir + "/config.toml",
				Restart: hostCommand("systemctl", "restart", "k3s-agent")},
		},
		{
			name: "existing user template wins over the version",
			files: map[string]string{
				k3sConfigDir + "/config.toml":      k3sV3,
				k3sConfigDir + "/config.toml.tmpl": K3sBaseTemplate + "\n",
			},
			want: Layout{Kind: KindK3s, ConfigPath: k3sConfigDir + "/config.toml.tmpl", RenderedPath: k3sConfigDir + "/config.toml",
				Restart: hostCommand("systemctl", "restart", "k3s")},
		},
		{
			name: "rke2 agent: both units installed, the agent enabled",
			files: map[string]string{
				rke2ConfigDir + "/config.toml":                                   k3sV3,
				"/usr/local/lib/systemd/system/rke2-server.service":              "",
				"/usr/local/lib/systemd/system/rke2-agent.service":               "",
				"/etc/systemd/system/multi-user.target.wants/rke2-agent.service": "",
			},
			want: Layout{Kind: KindRKE2, ConfigPath: rke2ConfigDir + "/config-v3.toml.tmpl", RenderedPath: rke2ConfigDir + "/config.toml",
				Restart: hostCommand("systemctl", "restart", "rke2-agent")},
		},
		{
			name:  "k0s",
			files: map[string]string{k0sConfigPath: string(testdata(t, "k0s-containerd.toml"))},
			want:  Layout{Kind: KindK0s, ConfigPath: k0sDropInDir + "/containerd-shim-wasmedge.toml", RenderedPath: k0sCRIConfigPath},
		},
		{
			name:  "microk8s",
			files: map[string]string{microK8sTemplatePath: string(testdata(t, "microk8s-containerd-template.toml"))},
			want:  Layout{Kind: KindMicroK8s, ConfigPath: microK8sTemplatePath, Restart: hostCommand("snap", "restart", "microk8s.daemon-containerd")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DetectLayout(fakeHost(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DetectLayout =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestDetectLayoutAmbiguous(t *testing.T) {
	root := fakeHost(t, map[string]string{
		k3sConfigDir + "/config.toml": string(testdata(t, "k3s-v3-config.toml")),
		k0sConfigPath:                 string(testdata(t, "k0s-containerd.toml")),
	})
	if _, err := DetectLayout(root); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("err = %v, want ErrFailedPrecondition", err)
	}
	// An explicit kind settles it.
	if l, err := LayoutFor(root, KindK0s); err != nil || l.Kind != KindK0s {
		t.Fatalf("LayoutFor(k0s) = %+v, %v", l, err)
	}
}

func TestLayoutForErrors(t *testing.T) {
	if _, err := LayoutFor(t.TempDir(), "docker"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("unknown kind: err = %v", err)
	}
	// k3s that never ran has no config to learn the version from.
	if _, err := LayoutFor(t.TempDir(), KindK3s); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("k3s without config.toml: err = %v", err)
	}
}
