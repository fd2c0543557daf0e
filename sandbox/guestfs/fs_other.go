//go:build !linux

package guestfs

import (
	"fmt"
	"os"

	"github.com/containerd/errdefs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// FS is a guest filesystem confined to a host directory. Confinement relies
// on Linux openat2(2), so on this system New always fails and every method
// answers ENOSYS.
type FS struct {
	experimentalsys.UnimplementedFS
	dir string
}

// New reports errdefs.ErrNotImplemented: openat2(2) is Linux-only.
func New(dir string) (*FS, error) {
	return nil, fmt.Errorf("guest root %q: %w: needs Linux openat2", dir, errdefs.ErrNotImplemented)
}

// Close does nothing: no FS can be opened here.
func (f *FS) Close() error { return nil }

// String returns the host directory.
func (f *FS) String() string { return f.dir }

// OpenInRoot reports errdefs.ErrNotImplemented: openat2(2) is Linux-only.
func OpenInRoot(root *os.File, name string, flags int, mode uint32) (*os.File, error) {
	return nil, fmt.Errorf("open %q in root: %w: needs Linux openat2", name, errdefs.ErrNotImplemented)
}
