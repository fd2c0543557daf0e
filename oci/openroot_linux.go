//go:build linux

package oci

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openRoot opens the rootfs directory as the anchor of in-root lookups. An
// O_PATH descriptor is enough for openat2 and needs no read permission.
func openRoot(rootfs string) (*os.File, error) {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", &os.PathError{Op: "open", Path: rootfs, Err: err})
	}
	return os.NewFile(uintptr(fd), rootfs), nil
}

// openInRoot opens name for reading as if root were "/": the kernel resolves
// symlinks (absolute or relative) and ".." inside root, the way a chrooted
// guest would see them, and refuses /proc magic links that could point
// anywhere. O_NONBLOCK keeps a FIFO planted under the module's name from
// hanging the shim; it has no effect on regular files.
func openInRoot(root *os.File, name string) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(int(root.Fd()), name, &how)
		// RESOLVE_IN_ROOT gives up with EAGAIN when a rename elsewhere
		// in the tree races the ".." walk; the lookup is safe to retry.
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// isNotDir reports whether err is ENOTDIR: a path component that should be a
// directory is a file, which for a lookup means "not there".
func isNotDir(err error) bool {
	return errors.Is(err, unix.ENOTDIR)
}
