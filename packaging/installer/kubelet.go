package installer

import (
	"os"
	"path/filepath"
	"strings"
)

// KubeletUsesSystemdCgroup reports whether the host's kubelet config
// selects the systemd cgroup driver (kubeadm's default since 1.22), which
// the runtime's SystemdCgroup option must match.
func KubeletUsesSystemdCgroup(hostRoot string) bool {
	for _, p := range []string{"/var/lib/kubelet/config.yaml", "/etc/kubernetes/kubelet-config.yaml", "/var/lib/kubelet/kubelet-config.yaml"} {
		b, err := os.ReadFile(filepath.Join(hostRoot, p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && strings.TrimSpace(k) == "cgroupDriver" {
				return strings.Trim(strings.TrimSpace(v), `"'`) == "systemd"
			}
		}
	}
	return false
}
