package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specFile is the name of the runtime spec inside a bundle.
const specFile = "config.json"

// bundleRootfs is where the shim mounts the rootfs mounts of a create request.
const bundleRootfs = "rootfs"

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	name := filepath.Join(bundle, specFile)
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s has no %s: %w", bundle, specFile, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read OCI spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse OCI spec %s: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return &spec, nil
}

// RootfsPath is where the container's root filesystem is: bundle/rootfs when
// the create request carried rootfs mounts (the shim mounts them there), else
// spec.Root.Path (relative paths are relative to the bundle). The result is
// absolute, because the instance process that uses it may run elsewhere.
func RootfsPath(bundle string, spec *specs.Spec, haveMounts bool) (string, error) {
	var p string
	switch {
	case haveMounts:
		p = filepath.Join(bundle, bundleRootfs)
	case spec == nil || spec.Root == nil || spec.Root.Path == "":
		return "", fmt.Errorf("no rootfs: the create request has no rootfs mounts and the spec no root.path: %w", errdefs.ErrInvalidArgument)
	case filepath.IsAbs(spec.Root.Path):
		p = spec.Root.Path
	default:
		p = filepath.Join(bundle, spec.Root.Path)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", p, err)
	}
	return abs, nil
}
