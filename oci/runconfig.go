// Package oci turns an OCI bundle (config.json plus a root filesystem) into
// the RunConfig a wasm instance needs: which module to run, with which
// arguments, environment and mounts.
package oci

// RunConfig is everything the sandbox needs to run one WebAssembly process
// of a container. It is built by the shim at Create (or Exec) time and sent,
// as JSON, to the instance process, so it holds only plain data.
type RunConfig struct {
	// ID is the container (or exec) id, used in logs and errors.
	ID string `json:"id"`
	// Rootfs is the absolute host path of the container's root filesystem,
	// the guest's "/".
	Rootfs string `json:"rootfs"`
	// RootReadonly is the spec's root.readonly.
	RootReadonly bool `json:"rootReadonly,omitempty"`
	// Module is the absolute path of the module inside the rootfs, after
	// lookup (cwd, PATH, symlinks resolved in the rootfs), e.g. "/app/hello.wasm".
	Module string `json:"module"`
	// Function is the export to run; empty means the WASI command entry
	// "_start". Set from a "path.wasm#func" entrypoint.
	Function string `json:"function,omitempty"`
	// Args are the guest's arguments; Args[0] is process.args[0] as given
	// (with any "#func" suffix removed).
	Args []string `json:"args"`
	// Env is process.env, "KEY=value" entries.
	Env []string `json:"env,omitempty"`
	// Cwd is process.cwd ("/" when empty).
	Cwd string `json:"cwd"`
	// Mounts are the spec mounts the guest sees, in spec order.
	Mounts []Mount `json:"mounts,omitempty"`

	// Namespaces are the Linux namespaces of the instance process, from
	// linux.namespaces: each is joined when it has a Path and created
	// otherwise; a type not listed is shared with the shim. An exec's
	// config lists the container's namespaces: the sandbox joins those of
	// the container's running instance.
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Hostname and Domainname are set in the container's own UTS
	// namespace (empty: left as they are).
	Hostname   string `json:"hostname,omitempty"`
	Domainname string `json:"domainname,omitempty"`
	// Sysctls are linux.sysctl: kernel parameters of the container's own
	// namespaces, keyed by name ("net.ipv4.ip_forward", or a path relative
	// to /proc/sys with '/' separators). Only parameters scoped to a
	// namespace the container owns are accepted. An exec has none: it
	// joins namespaces that are already set up.
	Sysctls map[string]string `json:"sysctls,omitempty"`

	// User is process.user: the credentials the guest runs with.
	User User `json:"user"`
	// NoNewPrivileges is process.noNewPrivileges.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// Capabilities are process.capabilities; nil leaves the instance's
	// capabilities as the shim's (all of root's), as runc does.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Rlimits are process.rlimits, checked (known type, soft <= hard).
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// OOMScoreAdj is process.oomScoreAdj; nil keeps the inherited value.
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
}

// NamespaceType is a Linux namespace type, named as in the OCI spec.
type NamespaceType string

// The namespace types a wasm instance supports. User namespaces (which
// need uid and gid mappings) and time namespaces (which only take effect
// in a child process) are refused.
const (
	NamespaceNetwork NamespaceType = "network"
	NamespaceIPC     NamespaceType = "ipc"
	NamespaceUTS     NamespaceType = "uts"
	NamespacePID     NamespaceType = "pid"
	NamespaceMount   NamespaceType = "mount"
	NamespaceCgroup  NamespaceType = "cgroup"
)

// Namespace is one namespace of the instance process.
type Namespace struct {
	Type NamespaceType `json:"type"`
	// Path is a namespace file to join (e.g. /proc/<pid>/ns/net or a bind
	// mount of one); empty means a new namespace.
	Path string `json:"path,omitempty"`
}

// User is who the guest runs as.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	// Umask is the file mode creation mask; nil means 0022, runc's default.
	Umask *uint32 `json:"umask,omitempty"`
}

// Capabilities are a process's capability sets, each a mask with bit n set
// for capability number n (CAP_CHOWN is 0, CAP_SYS_ADMIN 21, ...).
type Capabilities struct {
	Bounding    uint64 `json:"bounding"`
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Ambient     uint64 `json:"ambient"`
}

// Rlimit is one resource limit.
type Rlimit struct {
	// Type is the limit's name as in the spec and setrlimit(2), e.g.
	// "RLIMIT_NOFILE".
	Type string `json:"type"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// MountKind says how the sandbox presents a spec mount to the guest.
type MountKind string

const (
	// MountBind is a bind mount of a host directory or file.
	MountBind MountKind = "bind"
	// MountTmpfs is a fresh, empty in-memory directory.
	MountTmpfs MountKind = "tmpfs"
)

// Mount is one spec mount the guest sees, already classified. Mounts that a
// wasm guest has no use for (proc, sysfs, devpts, mqueue, cgroup) are
// dropped by the oci package and never reach the sandbox.
type Mount struct {
	Kind MountKind `json:"kind"`
	// Destination is the absolute path inside the guest.
	Destination string `json:"destination"`
	// Source is the absolute host path (bind only).
	Source string `json:"source,omitempty"`
	// ReadOnly is true when the options contain "ro".
	ReadOnly bool `json:"readOnly,omitempty"`
	// Options are the remaining spec options, kept for tmpfs (size=, mode=).
	Options []string `json:"options,omitempty"`
}
