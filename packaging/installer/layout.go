package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
)

// Kind is a way a node runs containerd.
type Kind string

// The layouts the installer knows.
const (
	// KindContainerd is a containerd run by systemd from /etc/containerd.
	KindContainerd Kind = "containerd"
	// KindK3s is k3s's embedded containerd, configured from a template.
	KindK3s Kind = "k3s"
	// KindRKE2 is RKE2's containerd, configured like k3s's.
	KindRKE2 Kind = "rke2"
	// KindK0s is k0s's containerd, configured by drop-in files.
	KindK0s Kind = "k0s"
	// KindMicroK8s is the MicroK8s snap's containerd.
	KindMicroK8s Kind = "microk8s"
)

// Kinds lists every layout, in the order DetectLayout looks for them.
var Kinds = []Kind{KindK3s, KindRKE2, KindK0s, KindMicroK8s, KindContainerd}

// Host paths of each layout's files.
const (
	containerdConfigPath = "/etc/containerd/config.toml"
	k3sConfigDir         = "/var/lib/rancher/k3s/agent/etc/containerd"
	rke2ConfigDir        = "/var/lib/rancher/rke2/agent/etc/containerd"
	k0sConfigPath        = "/etc/k0s/containerd.toml"
	k0sDropInDir         = "/etc/k0s/containerd.d"
	k0sCRIConfigPath     = "/run/k0s/containerd-cri.toml"
	microK8sTemplatePath = "/var/snap/microk8s/current/args/containerd-template.toml"
	// k0sManagedMarker is the line that makes k0s generate its containerd
	// config and apply drop-ins; without it drop-ins are ignored.
	k0sManagedMarker = "# k0s_managed=true"
)

// Layout is where a node's containerd takes its config from and how it is
// restarted. Paths are host paths (as seen from the host's /).
type Layout struct {
	Kind Kind
	// ConfigPath is the file the installer edits or creates.
	ConfigPath string
	// RenderedPath is the config the distribution generates from
	// ConfigPath (k3s, RKE2) or merges drop-ins into (k0s); empty otherwise.
	RenderedPath string
	// Restart is the host command that makes containerd load the new
	// config; nil when the distribution restarts containerd by itself.
	Restart []string
}

// hostCommand wraps a command so that it runs in the mount namespace of the
// host's pid 1, where systemctl and snap reach their daemons. The DaemonSet
// runs with hostPID so that pid 1 is the host's init.
func hostCommand(argv ...string) []string {
	return append([]string{"nsenter", "--target", "1", "--mount", "--"}, argv...)
}

// exists reports whether a host path exists under hostRoot.
func exists(hostRoot, p string) (bool, error) {
	_, err := os.Stat(filepath.Join(hostRoot, p))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// detectPath is the file whose presence reveals a layout.
func detectPath(kind Kind) string {
	switch kind {
	case KindK3s:
		return path.Join(k3sConfigDir, "config.toml")
	case KindRKE2:
		return path.Join(rke2ConfigDir, "config.toml")
	case KindK0s:
		return k0sConfigPath
	case KindMicroK8s:
		return microK8sTemplatePath
	}
	return ""
}

// DetectLayout finds the layout of the host mounted at hostRoot. A node
// with the files of two distributions is ambiguous and needs an explicit
// kind; a node with none is plain containerd.
func DetectLayout(hostRoot string) (Layout, error) {
	var found []Kind
	for _, k := range Kinds {
		p := detectPath(k)
		if p == "" {
			continue
		}
		ok, err := exists(hostRoot, p)
		if err != nil {
			return Layout{}, err
		}
		if ok {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return LayoutFor(hostRoot, KindContainerd)
	case 1:
		return LayoutFor(hostRoot, found[0])
	}
	names := make([]string, len(found))
	for i, k := range found {
		names[i] = string(k)
	}
	return Layout{}, fmt.Errorf("%w: the host has the files of several layouts (%s); choose one explicitly",
		errdefs.ErrFailedPrecondition, strings.Join(names, ", "))
}

// LayoutFor returns the layout of the given kind on the host at hostRoot.
func LayoutFor(hostRoot string, kind Kind) (Layout, error) {
	switch kind {
	case KindContainerd:
		return Layout{Kind: kind, ConfigPath: containerdConfigPath, Restart: hostCommand("systemctl", "restart", "containerd")}, nil
	case KindK3s:
		return rancherLayout(hostRoot, kind, k3sConfigDir, "k3s", "k3s-agent")
	case KindRKE2:
		return rancherLayout(hostRoot, kind, rke2ConfigDir, "rke2-server", "rke2-agent")
	case KindK0s:
		return Layout{Kind: kind, ConfigPath: path.Join(k0sDropInDir, "containerd-shim-wasmedge.toml"), RenderedPath: k0sCRIConfigPath}, nil
	case KindMicroK8s:
		return Layout{Kind: kind, ConfigPath: microK8sTemplatePath, Restart: hostCommand("snap", "restart", "microk8s.daemon-containerd")}, nil
	}
	return Layout{}, fmt.Errorf("%w: unknown layout %q", errdefs.ErrInvalidArgument, kind)
}

// rancherLayout picks the template k3s or RKE2 reads: config-v3.toml.tmpl
// wins over config.toml.tmpl when both exist; with neither, the version of
// the generated config.toml decides which one to create (only releases
// with containerd 2 read the v3 name).
func rancherLayout(hostRoot string, kind Kind, dir string, units ...string) (Layout, error) {
	l := Layout{Kind: kind, RenderedPath: path.Join(dir, "config.toml")}
	unit, err := systemdUnit(hostRoot, units...)
	if err != nil {
		return Layout{}, err
	}
	l.Restart = hostCommand("systemctl", "restart", unit)
	for _, name := range []string{"config-v3.toml.tmpl", "config.toml.tmpl"} {
		ok, err := exists(hostRoot, path.Join(dir, name))
		if err != nil {
			return Layout{}, err
		}
		if ok {
			l.ConfigPath = path.Join(dir, name)
			return l, nil
		}
	}
	rendered, err := os.ReadFile(filepath.Join(hostRoot, l.RenderedPath))
	if err != nil {
		return Layout{}, fmt.Errorf("%w: %s has no generated containerd config yet: %w", errdefs.ErrFailedPrecondition, kind, err)
	}
	base, _, _, err := RemoveBlock(rendered)
	if err != nil {
		return Layout{}, err
	}
	version, err := ConfigVersion(base)
	if err != nil {
		return Layout{}, err
	}
	l.ConfigPath = path.Join(dir, "config.toml.tmpl")
	if version >= 3 {
		l.ConfigPath = path.Join(dir, "config-v3.toml.tmpl")
	}
	return l, nil
}

// systemdUnitDirs are where unit files live, the local ones first.
var systemdUnitDirs = []string{"/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// systemdUnit returns the first candidate unit that is enabled, else the
// first that is installed, else the first candidate. RKE2 installs both its
// server and agent units but enables only the one the node runs.
func systemdUnit(hostRoot string, candidates ...string) (string, error) {
	for _, u := range candidates {
		ok, err := exists(hostRoot, path.Join("/etc/systemd/system/multi-user.target.wants", u+".service"))
		if err != nil {
			return "", err
		}
		if ok {
			return u, nil
		}
	}
	for _, u := range candidates {
		for _, dir := range systemdUnitDirs {
			ok, err := exists(hostRoot, path.Join(dir, u+".service"))
			if err != nil {
				return "", err
			}
			if ok {
				return u, nil
			}
		}
	}
	return candidates[0], nil
}
