package cgroup

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
)

const (
	// defaultSlice is the parent of a systemd-style cgroup whose spec names
	// no slice; runc uses the same.
	defaultSlice = "system.slice"
	sliceSuffix  = ".slice"
	scopeSuffix  = ".scope"
)

// Path computes the cgroup path of a container from the spec's
// linux.cgroupsPath, the way runc reads it:
//
//   - A cgroupfs path is cleaned so that it cannot climb out of its root
//     ("/a/../../b" is "/b"). An absolute path is relative to the root of
//     every hierarchy. A relative path stays relative, and New places it,
//     as runc's cgroupfs driver does, under the cgroup of the calling
//     process: on v1 under the shim's own cgroup in each hierarchy, on v2
//     under the parent of the shim's own cgroup.
//   - A systemd path "slice:prefix:name" (used when systemd is true) names
//     the scope unit prefix-name.scope in the slice: "system.slice:cri-
//     containerd:abc" is "/system.slice/cri-containerd-abc.scope". An empty
//     slice means system.slice; a nested slice "a-b.slice" lives at
//     "/a.slice/a-b.slice"; a name ending in ".slice" is used as is. The
//     result is a cgroupfs path: this package writes the directories itself
//     and never asks systemd for a unit.
//   - An empty cgroupsPath gives "/<namespace>/<id>", the path ctr and
//     containerd's default spec use (with systemd: "system.slice:
//     <namespace>:<id>").
//
// Unlike runc, a path of the systemd form ("x.slice:prefix:name", not
// starting with "/") is read as systemd even when systemd is false: CRI
// picks the form from kubelet's cgroup driver, not from the runtime's
// options, and as a cgroupfs path it would make a directory named after the
// whole string.
func Path(cgroupsPath string, systemd bool, namespace, id string) (string, error) {
	if strings.IndexByte(cgroupsPath, 0) >= 0 {
		return "", fmt.Errorf("cgroups path %q contains a NUL byte: %w", cgroupsPath, errdefs.ErrInvalidArgument)
	}
	if cgroupsPath == "" {
		if err := checkName("namespace", namespace); err != nil {
			return "", err
		}
		if err := checkName("container id", id); err != nil {
			return "", err
		}
		if systemd {
			return systemdPath("", namespace, id)
		}
		return "/" + namespace + "/" + id, nil
	}
	if systemd || looksLikeSystemd(cgroupsPath) {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return "", fmt.Errorf("systemd cgroups path %q is not of the form slice:prefix:name: %w",
				cgroupsPath, errdefs.ErrInvalidArgument)
		}
		return systemdPath(parts[0], parts[1], parts[2])
	}
	return cgroupfsPath(cgroupsPath)
}

// looksLikeSystemd reports whether a path has the systemd form
// "x.slice:prefix:name".
func looksLikeSystemd(p string) bool {
	if strings.HasPrefix(p, "/") || strings.Count(p, ":") != 2 {
		return false
	}
	slice, _, _ := strings.Cut(p, ":")
	return strings.HasSuffix(slice, sliceSuffix) && !strings.Contains(slice, "/")
}

// cgroupfsPath cleans a cgroupfs path as runc does: ".." cannot climb above
// the root, and a relative path stays relative.
func cgroupfsPath(p string) (string, error) {
	var clean string
	if filepath.IsAbs(p) {
		clean = filepath.Clean(p)
	} else {
		// Anchoring at "/" first makes a leading ".." stop at the root.
		rel, err := filepath.Rel("/", filepath.Clean("/"+p))
		if err != nil {
			return "", fmt.Errorf("cgroups path %q: %w: %w", p, errdefs.ErrInvalidArgument, err)
		}
		clean = rel
	}
	if clean == "/" || clean == "." {
		// The container would share the root cgroup, whose limits are the
		// host's and which Delete could never remove.
		return "", fmt.Errorf("cgroups path %q names the root cgroup: %w", p, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// systemdPath is the cgroupfs path of the unit that runc's systemd driver
// would create for "slice:prefix:name".
func systemdPath(slice, prefix, name string) (string, error) {
	if slice == "" {
		slice = defaultSlice
	}
	parent, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("systemd unit name %q is empty or contains '/': %w", name, errdefs.ErrInvalidArgument)
	}
	if strings.Contains(prefix, "/") {
		return "", fmt.Errorf("systemd unit prefix %q contains '/': %w", prefix, errdefs.ErrInvalidArgument)
	}
	unit := name
	if !strings.HasSuffix(name, sliceSuffix) {
		// runc joins with a dash even when the prefix is empty.
		unit = prefix + "-" + name + scopeSuffix
	}
	return filepath.Join(parent, unit), nil
}

// expandSlice turns a slice name into its path: systemd nests slices by the
// dashes in their names, so "a-b-c.slice" is "/a.slice/a-b.slice/a-b-c.slice"
// and "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	invalid := func() (string, error) {
		return "", fmt.Errorf("invalid systemd slice name %q: %w", slice, errdefs.ErrInvalidArgument)
	}
	base, ok := strings.CutSuffix(slice, sliceSuffix)
	if !ok || base == "" || strings.Contains(slice, "/") {
		return invalid()
	}
	if base == "-" {
		return "/", nil
	}
	var path strings.Builder
	var prefix string
	for _, component := range strings.Split(base, "-") {
		// "a--b.slice", "-a.slice" and "a-.slice" have an empty component.
		if component == "" {
			return invalid()
		}
		path.WriteString("/" + prefix + component + sliceSuffix)
		prefix += component + "-"
	}
	return path.String(), nil
}

// checkName makes sure a namespace or container id can be one path element.
func checkName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%s %q cannot name a cgroup: %w", what, name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// checkPath makes sure a path given to New is one that Path could
// have produced: clean, not the root, not climbing out of it.
func checkPath(p string) error {
	switch {
	case p == "", p == "/", p == ".",
		strings.IndexByte(p, 0) >= 0,
		filepath.Clean(p) != p,
		p == "..", strings.HasPrefix(p, "../"):
		return fmt.Errorf("cgroup path %q is not a clean path below the root: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}
