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
