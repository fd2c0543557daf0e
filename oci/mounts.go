package oci

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// droppedMountTypes are kernel filesystems that default specs carry for
// native processes. A wasm guest cannot use them, and exposing the host's
// /proc or /sys through a bind would leak the host, so they are left out.
var droppedMountTypes = []string{"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"}

// guestMounts classifies the spec mounts into the mounts the guest sees, in
// spec order.
func guestMounts(mounts []specs.Mount) ([]Mount, error) {
	var out []Mount
	for _, m := range mounts {
		gm, keep, err := guestMount(m)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, gm)
		}
	}
	return out, nil
}

// guestMount classifies one spec mount; keep is false for a mount that is
// dropped.
func guestMount(m specs.Mount) (gm Mount, keep bool, err error) {
	isBind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
	if !isBind && slices.Contains(droppedMountTypes, m.Type) {
		return Mount{}, false, nil
	}
	if !path.IsAbs(m.Destination) {
		return Mount{}, false, fmt.Errorf("mount %q (type %q): destination is not an absolute path: %w", m.Destination, m.Type, errdefs.ErrInvalidArgument)
	}
	gm = Mount{
		Destination: path.Clean(m.Destination),
		ReadOnly:    readOnly(m.Options),
	}
	switch {
	case isBind:
		if !path.IsAbs(m.Source) {
			return Mount{}, false, fmt.Errorf("bind mount %s: source %q is not an absolute path: %w", m.Destination, m.Source, errdefs.ErrInvalidArgument)
		}
		gm.Kind = MountBind
		gm.Source = m.Source
	case m.Type == "tmpfs":
		gm.Kind = MountTmpfs
		gm.Options = tmpfsOptions(m.Options)
	default:
		return Mount{}, false, fmt.Errorf("mount %s: type %q is not supported for wasm containers (only bind and tmpfs): %w", m.Destination, m.Type, errdefs.ErrInvalidArgument)
	}
	return gm, true, nil
}

// readOnly applies the options in order, as mount(8) does, so a later "rw"
// undoes an earlier "ro".
func readOnly(options []string) bool {
	ro := false
	for _, o := range options {
		switch o {
		case "ro":
			ro = true
		case "rw":
			ro = false
		}
	}
	return ro
}

// tmpfsOptions keeps the options that shape a tmpfs the sandbox emulates
// (its size limit and its root's mode); the rest (nosuid, noexec, ...) mean
// nothing to a wasm guest.
func tmpfsOptions(options []string) []string {
	var kept []string
	for _, o := range options {
		if strings.HasPrefix(o, "size=") || strings.HasPrefix(o, "mode=") {
			kept = append(kept, o)
		}
	}
	return kept
}
