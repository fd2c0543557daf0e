//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/guestfs"
)

// Mount points are made inside the rootfs, which belongs to the image and may
// hold any symlink: every path is resolved by guestfs.OpenInRoot, which keeps
// the walk inside the root, and every new name is created with an *at call on
// a directory resolved that way, so nothing is ever created on the host.

// createMountPoint makes sure dest exists in root as a directory (isDir) or
// as a file to bind a file onto.
func createMountPoint(root *os.File, dest string, isDir bool) error {
	if isDir {
		dir, err := mkdirAllInRoot(root, dest)
		if err != nil {
			return err
		}
		return dir.Close()
	}
	existing, err := guestfs.OpenInRoot(root, dest, unix.O_PATH, 0)
	if err == nil {
		defer existing.Close()
		info, err := existing.Stat()
		if err != nil {
			return fmt.Errorf("mount point %q: %w", dest, err)
		}
		if info.IsDir() {
			return invalidf("mount point %q is a directory, but the mount source is a file", dest)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mount point %q: %w", dest, err)
	}
	parent, err := mkdirAllInRoot(root, path.Dir(dest))
	if err != nil {
		return err
	}
	defer parent.Close()
	// O_EXCL|O_NOFOLLOW: the last name is created here or the call fails; a
	// dangling symlink found there is not followed.
	fd, err := unix.Openat(int(parent.Fd()), path.Base(dest),
		unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("create mount point %q: %w", dest, err)
	}
	return unix.Close(fd)
}

// mkdirAllInRoot creates dir and its missing parents inside root and returns
// it opened O_PATH.
func mkdirAllInRoot(root *os.File, dir string) (*os.File, error) {
	dir = path.Clean("/" + dir)
	if f, err := guestfs.OpenInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		return f, nil
	} else if errors.Is(err, unix.ENOTDIR) {
		return nil, invalidf("mount point %q is not a directory, but the mount needs one: %w", dir, err)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mount point %q: %w", dir, err)
	}
	current, err := guestfs.OpenInRoot(root, "/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	walked := "/"
	for _, name := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		walked = path.Join(walked, name)
		next, err := guestfs.OpenInRoot(root, walked, unix.O_PATH|unix.O_DIRECTORY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// mkdirat never follows the name it creates.
			if err := unix.Mkdirat(int(current.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				current.Close()
				return nil, fmt.Errorf("create mount point %q: mkdir %q: %w", dir, walked, err)
			}
			next, err = guestfs.OpenInRoot(root, walked, unix.O_PATH|unix.O_DIRECTORY, 0)
		}
		current.Close()
		if err != nil {
			return nil, fmt.Errorf("create mount point %q: %w", dir, err)
		}
		current = next
	}
	return current, nil
}
