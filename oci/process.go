package oci

import (
	"fmt"
	"path"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCwd is the guest's working directory when the spec names none.
const defaultCwd = "/"

// NewRunConfig builds the RunConfig of the container's init process. rootfs
// is the absolute host path of the container's root filesystem (see
// RootfsPath); the module named by process.args[0] is looked up in it now,
// so that a wrong image fails at Create rather than at Start.
//
// The instance process is made a container like runc's: its namespaces,
// hostname, namespaced sysctls, user, capabilities, no_new_privs, rlimits
// and OOM score come from the spec. What the spec asks that the guest's view
// makes moot is left out: linux.maskedPaths and readonlyPaths (the guest
// sees no /proc or /sys, only its rootfs and mounts, through the confined
// filesystem), linux.seccomp (the guest makes no system calls of its own:
// the WebAssembly sandbox and its WASI functions are the boundary, and the
// runtime's own calls must not be filtered by a profile written for a
// native program), and AppArmor and SELinux labels. User and time
// namespaces are refused.
func NewRunConfig(id, rootfs string, spec *specs.Spec) (*RunConfig, error) {
	if spec == nil {
		return nil, fmt.Errorf("container %s: no OCI spec: %w", id, errdefs.ErrInvalidArgument)
	}
	mounts, err := guestMounts(spec.Mounts)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	nss, err := namespaces(spec.Linux)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if err := checkUTSNames(spec, nss); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	params, err := sysctls(spec.Linux, nss)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	base := &RunConfig{
		ID:         id,
		Rootfs:     rootfs,
		Mounts:     mounts,
		Namespaces: nss,
		Hostname:   spec.Hostname,
		Domainname: spec.Domainname,
		Sysctls:    params,
	}
	if spec.Root != nil {
		base.RootReadonly = spec.Root.Readonly
	}
	return withProcess(base, spec.Process)
}

// NewExecRunConfig builds the RunConfig of an exec'd process: same rootfs,
// mounts and namespaces as the container (base), the exec's own process
// (user, capabilities, rlimits, ... included). The hostname and sysctls are
// not repeated: an exec joins namespaces the container already set up.
func NewExecRunConfig(id string, base *RunConfig, proc *specs.Process) (*RunConfig, error) {
	if base == nil {
		return nil, fmt.Errorf("exec %s: no container run config: %w", id, errdefs.ErrInvalidArgument)
	}
	return withProcess(&RunConfig{
		ID:           id,
		Rootfs:       base.Rootfs,
		RootReadonly: base.RootReadonly,
		Mounts:       slices.Clone(base.Mounts),
		Namespaces:   slices.Clone(base.Namespaces),
	}, proc)
}

// withProcess fills the process part of rc (module, function, args, env,
// cwd, credentials and limits) from proc and returns rc.
func withProcess(rc *RunConfig, proc *specs.Process) (*RunConfig, error) {
	if err := checkProcess(proc); err != nil {
		return nil, fmt.Errorf("%s: %w", rc.ID, err)
	}
	caps, err := capabilities(proc.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rc.ID, err)
	}
	limits, err := rlimits(proc.Rlimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rc.ID, err)
	}
	adj, err := oomScoreAdj(proc.OOMScoreAdj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rc.ID, err)
	}
	rc.User = userOf(proc.User)
	rc.NoNewPrivileges = proc.NoNewPrivileges
	rc.Capabilities = caps
	rc.Rlimits = limits
	rc.OOMScoreAdj = adj
	cwd := proc.Cwd
	if cwd == "" {
		cwd = defaultCwd
	}
	module, function, err := ResolveModule(rc.Rootfs, proc.Args[0], cwd, proc.Env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rc.ID, err)
	}
	modulePath, _, _ := splitEntrypoint(proc.Args[0])
	rc.Module = module
	rc.Function = function
	rc.Args = append([]string{modulePath}, proc.Args[1:]...)
	rc.Env = slices.Clone(proc.Env)
	rc.Cwd = cwd
	return rc, nil
}

// checkProcess rejects the process settings a wasm guest cannot honour.
func checkProcess(proc *specs.Process) error {
	switch {
	case proc == nil:
		return fmt.Errorf("the spec has no process: %w", errdefs.ErrInvalidArgument)
	case len(proc.Args) == 0:
		return fmt.Errorf("process.args is empty: nothing to run: %w", errdefs.ErrInvalidArgument)
	case proc.Terminal:
		return fmt.Errorf("a terminal (tty) is not supported for wasm containers: %w", errdefs.ErrInvalidArgument)
	case proc.Cwd != "" && !path.IsAbs(proc.Cwd):
		return fmt.Errorf("process.cwd %q is not an absolute path: %w", proc.Cwd, errdefs.ErrInvalidArgument)
	}
	return nil
}
