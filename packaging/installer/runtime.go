package installer

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// Defaults for the runtime the installer registers.
const (
	// DefaultRuntimeName is the CRI runtime handler, which a Kubernetes
	// RuntimeClass names in its handler field.
	DefaultRuntimeName = "wasmedge"
	// DefaultRuntimeType is the shim's runtime type; containerd derives the
	// binary name containerd-shim-wasmedge-v1 from it.
	DefaultRuntimeType = "io.containerd.wasmedge.v1"
	// ShimBinaryName is the file name of the shim.
	ShimBinaryName = "containerd-shim-wasmedge-v1"
	// DefaultBinDir is where the shim goes on the host. It is outside the
	// PATH on purpose: k3s adds a runtime of its own for every
	// containerd-shim-wasmedge-v1 it finds on its PATH, which would clash
	// with ours. runtime_path points containerd at the binary instead.
	DefaultBinDir = "/opt/containerd-shim-wasmedge/bin"
)

// dnsLabel is the rule Kubernetes applies to a RuntimeClass handler.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Runtime is the CRI runtime entry the installer adds to containerd.
type Runtime struct {
	// Name is the CRI handler (a DNS label, like a RuntimeClass handler).
	Name string
	// Type is containerd's runtime_type.
	Type string
	// Path is the shim's absolute path on the host (runtime_path); empty
	// leaves containerd to find the binary by name.
	Path string
	// SystemdCgroup, when set, overrides the value copied from the runc
	// runtime of the same config.
	SystemdCgroup *bool
}

// DefaultRuntime is the wasmedge runtime with the shim in binDir.
func DefaultRuntime(binDir string) Runtime {
	return Runtime{Name: DefaultRuntimeName, Type: DefaultRuntimeType, Path: path.Join(binDir, ShimBinaryName)}
}

// Validate checks that the runtime can be written into a config and named
// by a RuntimeClass.
func (r Runtime) Validate() error {
	if len(r.Name) > 63 || !dnsLabel.MatchString(r.Name) {
		return fmt.Errorf("%w: runtime name %q is not a DNS label", errdefs.ErrInvalidArgument, r.Name)
	}
	if r.Type == "" {
		return fmt.Errorf("%w: runtime type is empty", errdefs.ErrInvalidArgument)
	}
	if r.Path != "" && !path.IsAbs(r.Path) {
		return fmt.Errorf("%w: runtime path %q is not absolute", errdefs.ErrInvalidArgument, r.Path)
	}
	for _, s := range []string{r.Type, r.Path} {
		if _, err := tomlString(s); err != nil {
			return err
		}
	}
	return nil
}

// tables renders the runtime's TOML tables for a config of version, with
// a runc runtime before it when withRunc is set (containerd 1.x refuses to
// start CRI when runtimes are configured but the default one is missing).
func (r Runtime) tables(version int, systemdCgroup, withRunc bool) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	runtimes := []string{"plugins", criPluginKey(version), "containerd", "runtimes"}
	var b strings.Builder
	if withRunc {
		writeRuntime(&b, runtimes, "runc", `"io.containerd.runc.v2"`, "", systemdCgroup)
	}
	typ, _ := tomlString(r.Type)
	var pth string
	if r.Path != "" {
		pth, _ = tomlString(r.Path)
	}
	if r.SystemdCgroup != nil {
		systemdCgroup = *r.SystemdCgroup
	}
	writeRuntime(&b, runtimes, r.Name, typ, pth, systemdCgroup)
	return b.String(), nil
}

// writeRuntime writes one runtime table and its options table; typ and
// pth are already quoted.
func writeRuntime(b *strings.Builder, runtimes []string, name, typ, pth string, systemdCgroup bool) {
	entry := append(append([]string{}, runtimes...), name)
	fmt.Fprintf(b, "%s\n  runtime_type = %s\n", tableHeader(entry...), typ)
	if pth != "" {
		fmt.Fprintf(b, "  runtime_path = %s\n", pth)
	}
	fmt.Fprintf(b, "%s\n  SystemdCgroup = %t\n", tableHeader(append(entry, "options")...), systemdCgroup)
}

// fullConfig is a complete config for a file that configures nothing yet:
// the version, CRI's default runtime (runc) and ours.
func (r Runtime) fullConfig(version int, systemdCgroup bool) (string, error) {
	tables, err := r.tables(version, systemdCgroup, true)
	if err != nil {
		return "", err
	}
	containerd := tableHeader("plugins", criPluginKey(version), "containerd")
	return versionLine(version) + "\n" + containerd + "\n  default_runtime_name = \"runc\"\n" + tables, nil
}
