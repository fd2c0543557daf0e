package oci

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// namespaceTypes are the spec's namespace types an instance can have.
var namespaceTypes = []NamespaceType{
	NamespaceNetwork, NamespaceIPC, NamespaceUTS, NamespacePID, NamespaceMount, NamespaceCgroup,
}

// namespaces checks linux.namespaces and converts them.
func namespaces(linux *specs.Linux) ([]Namespace, error) {
	if linux == nil {
		return nil, nil
	}
	if len(linux.UIDMappings) > 0 || len(linux.GIDMappings) > 0 {
		return nil, fmt.Errorf("linux.uidMappings/gidMappings: user namespaces are not supported for wasm containers: %w", errdefs.ErrNotImplemented)
	}
	var out []Namespace
	for _, ns := range linux.Namespaces {
		t := NamespaceType(ns.Type)
		switch {
		case ns.Type == specs.UserNamespace:
			return nil, fmt.Errorf("linux.namespaces: user namespaces are not supported for wasm containers: %w", errdefs.ErrNotImplemented)
		case ns.Type == specs.TimeNamespace:
			// A new time namespace only applies to the children of the
			// process that made it, and an instance has none.
			return nil, fmt.Errorf("linux.namespaces: time namespaces are not supported for wasm containers: %w", errdefs.ErrNotImplemented)
		case !slices.Contains(namespaceTypes, t):
			return nil, fmt.Errorf("linux.namespaces: unknown namespace type %q: %w", ns.Type, errdefs.ErrInvalidArgument)
		case slices.ContainsFunc(out, func(n Namespace) bool { return n.Type == t }):
			return nil, fmt.Errorf("linux.namespaces: %s namespace listed twice: %w", ns.Type, errdefs.ErrInvalidArgument)
		case ns.Path != "" && !path.IsAbs(ns.Path):
			return nil, fmt.Errorf("linux.namespaces: %s namespace path %q is not absolute: %w", ns.Type, ns.Path, errdefs.ErrInvalidArgument)
		}
		out = append(out, Namespace{Type: t, Path: ns.Path})
	}
	return out, nil
}

// hasNamespace says whether the instance gets a namespace of type t of its
// own (new or joined) rather than the shim's.
func hasNamespace(list []Namespace, t NamespaceType) bool {
	return slices.ContainsFunc(list, func(n Namespace) bool { return n.Type == t })
}

// checkUTSNames refuses a hostname or domain name for a container that
// would share the host's UTS namespace: setting it would rename the host.
func checkUTSNames(spec *specs.Spec, list []Namespace) error {
	if hasNamespace(list, NamespaceUTS) {
		return nil
	}
	if spec.Hostname != "" {
		return fmt.Errorf("hostname %q needs a uts namespace of the container's own: %w", spec.Hostname, errdefs.ErrInvalidArgument)
	}
	if spec.Domainname != "" {
		return fmt.Errorf("domainname %q needs a uts namespace of the container's own: %w", spec.Domainname, errdefs.ErrInvalidArgument)
	}
	return nil
}

// sysctls checks linux.sysctl and keys the parameters by their path under
// /proc/sys. A parameter that is not scoped to a namespace the container
// owns is refused, as runc does: writing it would change the host.
func sysctls(linux *specs.Linux, list []Namespace) (map[string]string, error) {
	if linux == nil || len(linux.Sysctl) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(linux.Sysctl))
	for name, value := range linux.Sysctl {
		p, err := sysctlPath(name)
		if err != nil {
			return nil, err
		}
		t, err := SysctlNamespace(p)
		if err != nil {
			return nil, err
		}
		if !hasNamespace(list, t) {
			return nil, fmt.Errorf("sysctl %q needs a %s namespace of the container's own: %w", name, t, errdefs.ErrInvalidArgument)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("sysctl %q is given twice: %w", name, errdefs.ErrInvalidArgument)
		}
		out[p] = value
	}
	return out, nil
}

// sysctlPath turns a sysctl name into its path under /proc/sys. A dotted
// name ("net.ipv4.ip_forward") has its dots turned into slashes; a name with
// slashes is a path already, which is how a name holding a dot of its own
// (an interface "eth0.100") is written.
func sysctlPath(name string) (string, error) {
	p := name
	if !strings.Contains(name, "/") {
		p = strings.ReplaceAll(name, ".", "/")
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return "", fmt.Errorf("sysctl %q: not a valid name: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return p, nil
}

// ipcSysctls are the System V IPC parameters of an ipc namespace; POSIX
// message queues (fs/mqueue/...) belong to it too.
var ipcSysctls = []string{
	"kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem",
	"kernel/shmall", "kernel/shmmax", "kernel/shmmni", "kernel/shm_rmid_forced",
}

// SysctlNamespace says which namespace owns the kernel parameter at path p
// under /proc/sys (as RunConfig.Sysctls keys it), or fails for a parameter
// that is global to the host.
func SysctlNamespace(p string) (NamespaceType, error) {
	switch {
	case strings.HasPrefix(p, "net/"):
		return NamespaceNetwork, nil
	case slices.Contains(ipcSysctls, p) || strings.HasPrefix(p, "fs/mqueue/"):
		return NamespaceIPC, nil
	case p == "kernel/hostname" || p == "kernel/domainname":
		return NamespaceUTS, nil
	}
	return "", fmt.Errorf("sysctl %q is not scoped to a namespace: it would change the host: %w",
		strings.ReplaceAll(p, "/", "."), errdefs.ErrInvalidArgument)
}
