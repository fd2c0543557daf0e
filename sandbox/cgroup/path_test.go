package cgroup

import (
	"testing"

	"github.com/containerd/errdefs"
)

func TestPath(t *testing.T) {
	tests := []struct {
		name        string
		cgroupsPath string
		systemd     bool
		namespace   string
		id          string
		want        string // "" means an ErrInvalidArgument is expected
	}{
		{name: "default", namespace: "default", id: "abc", want: "/default/abc"},
		{name: "default systemd", systemd: true, namespace: "k8s.io", id: "abc", want: "/system.slice/k8s.io-abc.scope"},
		{name: "default without id", namespace: "default"},
		{name: "default without namespace", id: "abc"},
		{name: "default id with slash", namespace: "default", id: "a/b"},
		{name: "default id dot-dot", namespace: "default", id: ".."},

		{name: "absolute", cgroupsPath: "/default/abc", want: "/default/abc"},
		{name: "absolute cleaned", cgroupsPath: "/a//b/./c/", want: "/a/b/c"},
		{name: "absolute cannot climb", cgroupsPath: "/a/../../b", want: "/b"},
		{name: "relative stays relative", cgroupsPath: "pods/abc", want: "pods/abc"},
		{name: "relative cannot climb", cgroupsPath: "../../abc", want: "abc"},
		{name: "relative cleaned", cgroupsPath: "./a/../b", want: "b"},
		{name: "colons without slice are cgroupfs", cgroupsPath: "foo:bar:baz", want: "foo:bar:baz"},
		{name: "absolute with colons is cgroupfs", cgroupsPath: "/kubepods.slice:a:b", want: "/kubepods.slice:a:b"},
		{name: "root", cgroupsPath: "/"},
		{name: "root climbing", cgroupsPath: "/a/.."},
		{name: "dot", cgroupsPath: "."},
		{name: "dot-dot", cgroupsPath: ".."},
		{name: "NUL", cgroupsPath: "/a\x00b"},

		{name: "systemd scope", cgroupsPath: "system.slice:cri-containerd:abc", systemd: true,
			want: "/system.slice/cri-containerd-abc.scope"},
		{name: "systemd empty slice", cgroupsPath: ":cri-containerd:abc", systemd: true,
			want: "/system.slice/cri-containerd-abc.scope"},
		{name: "systemd nested slice", cgroupsPath: "kubepods-besteffort-pod12.slice:cri-containerd:abc", systemd: true,
			want: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"},
		{name: "systemd root slice", cgroupsPath: "-.slice:docker:abc", systemd: true, want: "/docker-abc.scope"},
		{name: "systemd slice unit", cgroupsPath: "machine.slice:x:vm.slice", systemd: true, want: "/machine.slice/vm.slice"},
		{name: "systemd empty prefix as runc", cgroupsPath: "system.slice::abc", systemd: true, want: "/system.slice/-abc.scope"},
		{name: "systemd form detected without flag", cgroupsPath: "kubepods.slice:cri-containerd:abc",
			want: "/kubepods.slice/cri-containerd-abc.scope"},
		{name: "systemd two parts", cgroupsPath: "system.slice:abc", systemd: true},
		{name: "systemd four parts", cgroupsPath: "system.slice:a:b:c", systemd: true},
		{name: "systemd absolute path", cgroupsPath: "/default/abc", systemd: true},
		{name: "systemd slice without suffix", cgroupsPath: "system:p:abc", systemd: true},
		{name: "systemd bare suffix", cgroupsPath: ".slice:p:abc", systemd: true},
		{name: "systemd double dash", cgroupsPath: "a--b.slice:p:abc", systemd: true},
		{name: "systemd leading dash", cgroupsPath: "-a.slice:p:abc", systemd: true},
		{name: "systemd trailing dash", cgroupsPath: "a-.slice:p:abc", systemd: true},
		{name: "systemd empty name", cgroupsPath: "system.slice:p:", systemd: true},
		{name: "systemd name with slash", cgroupsPath: "system.slice:p:a/b", systemd: true},
		{name: "systemd prefix with slash", cgroupsPath: "system.slice:a/b:c", systemd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Path(tt.cgroupsPath, tt.systemd, tt.namespace, tt.id)
			if tt.want == "" {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Path(%q, %v) = %q, %v; want ErrInvalidArgument", tt.cgroupsPath, tt.systemd, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Path(%q, %v) = %q, %v; want %q", tt.cgroupsPath, tt.systemd, got, err, tt.want)
			}
			// Whatever Path returns, New accepts.
			if err := checkPath(got); err != nil {
				t.Fatalf("checkPath(%q): %v", got, err)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/default/abc", true},
		{"relative/abc", true},
		{"", false},
		{"/", false},
		{".", false},
		{"..", false},
		{"../abc", false},
		{"/a/../b", false},
		{"/a/", false},
		{"/a\x00", false},
	}
	for _, tt := range tests {
		err := checkPath(tt.path)
		if tt.ok != (err == nil) {
			t.Errorf("checkPath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("checkPath(%q) = %v, not ErrInvalidArgument", tt.path, err)
		}
	}
}
