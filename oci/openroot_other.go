//go:build !linux

package oci

import (
	"fmt"
	"os"

	"github.com/containerd/errdefs"
)

// openRoot fails off Linux: chroot-style lookup needs openat2's
// RESOLVE_IN_ROOT, and a lookup that could escape the rootfs is worse than
// none.
func openRoot(rootfs string) (*os.File, error) {
	return nil, fmt.Errorf("resolving paths inside rootfs %s needs Linux openat2: %w", rootfs, errdefs.ErrNotImplemented)
}

// openInRoot is never reached off Linux, because openRoot fails first.
func openInRoot(root *os.File, name string) (*os.File, error) {
	return nil, fmt.Errorf("open %q in rootfs: %w", name, errdefs.ErrNotImplemented)
}

// isNotDir is false off Linux, where no lookup gets that far.
func isNotDir(error) bool { return false }
