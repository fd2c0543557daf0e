//go:build linux

package guestfs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strconv"

	"github.com/containerd/errdefs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// FS is a guest filesystem confined to a host directory. It implements
// wazero's experimental/sys.FS; mount it with sysfs.FSConfig.WithSysFSMount.
// Every method is safe for concurrent use.
type FS struct {
	// UnimplementedFS answers ENOSYS for methods later wazero versions add.
	experimentalsys.UnimplementedFS

	dir  string
	root *os.File
}

var _ experimentalsys.FS = (*FS)(nil)

// New opens dir (a host path) as the root of a guest filesystem.
func New(dir string) (*FS, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		var category error = errdefs.ErrInvalidArgument
		if err == unix.ENOENT {
			category = errdefs.ErrNotFound
		}
		return nil, fmt.Errorf("open guest root %q: %w: %w", dir, category, err)
	}
	root := os.NewFile(uintptr(fd), dir)
	// Probe once so a kernel without openat2 fails here, not on the guest's
	// first file access.
	probe, err := OpenInRoot(root, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		_ = root.Close()
		if errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("guest root %q: openat2 unavailable: %w: %w", dir, errdefs.ErrNotImplemented, err)
		}
		return nil, fmt.Errorf("guest root %q: %w", dir, err)
	}
	_ = probe.Close()
	return &FS{dir: dir, root: root}, nil
}

// Close releases the root directory descriptor. Files already open stay
// usable; later path operations fail with EBADF.
func (f *FS) Close() error {
	return f.root.Close()
}

// String returns the host directory, as wazero's own DirFS does.
func (f *FS) String() string {
	return f.dir
}

// open resolves name inside the root and returns a raw descriptor.
func (f *FS) open(name string, flags int, mode uint32) (int, experimentalsys.Errno) {
	var fd int
	err := withFD(f.root, func(rootFD int) error {
		var openErr error
		fd, openErr = openat2(rootFD, name, flags, mode)
		return openErr
	})
	if err != nil {
		return -1, experimentalsys.UnwrapOSError(err)
	}
	return fd, 0
}

// withParent opens the directory holding name's last component inside the
// root and runs fn on it with that component.
func (f *FS) withParent(name string, fn func(dirFD int, base string) error) experimentalsys.Errno {
	dir, base := splitLast(name)
	dirFD, errno := f.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if errno != 0 {
		return errno
	}
	defer unix.Close(dirFD)
	return experimentalsys.UnwrapOSError(fn(dirFD, base))
}

// withTarget opens name itself as an O_PATH descriptor and runs fn on it.
// follow chooses whether a final symlink is resolved (inside the root) or
// is the object operated on.
func (f *FS) withTarget(name string, follow bool, fn func(fd int) error) experimentalsys.Errno {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, errno := f.open(name, flags, 0)
	if errno != 0 {
		return errno
	}
	defer unix.Close(fd)
	return experimentalsys.UnwrapOSError(fn(fd))
}

// OpenFile implements experimental/sys.FS.
func (f *FS) OpenFile(name string, flag experimentalsys.Oflag, perm iofs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	fd, errno := f.open(name, openFlags(flag), fileMode(perm))
	if errno != 0 {
		return nil, errno
	}
	return newFile(fd, flag), 0
}

// Lstat implements experimental/sys.FS.
func (f *FS) Lstat(name string) (sys.Stat_t, experimentalsys.Errno) {
	return f.stat(name, false)
}

// Stat implements experimental/sys.FS.
func (f *FS) Stat(name string) (sys.Stat_t, experimentalsys.Errno) {
	return f.stat(name, true)
}

func (f *FS) stat(name string, follow bool) (sys.Stat_t, experimentalsys.Errno) {
	var st unix.Stat_t
	errno := f.withTarget(name, follow, func(fd int) error {
		return unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH)
	})
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return statFromUnix(&st), 0
}

// Mkdir implements experimental/sys.FS.
func (f *FS) Mkdir(name string, perm iofs.FileMode) experimentalsys.Errno {
	errno := f.withParent(name, func(dirFD int, base string) error {
		return unix.Mkdirat(dirFD, base, fileMode(perm))
	})
	// Like wazero's DirFS: a missing parent is ENOENT even when a file is
	// in the way.
	if errno == experimentalsys.ENOTDIR {
		errno = experimentalsys.ENOENT
	}
	return errno
}

// Chmod implements experimental/sys.FS. Like chmod(2) it follows a final
// symlink, inside the root.
func (f *FS) Chmod(name string, perm iofs.FileMode) experimentalsys.Errno {
	return f.withTarget(name, true, func(fd int) error {
		// fchmod refuses O_PATH descriptors; fchmodat2 (Linux 6.6) takes them
		// with AT_EMPTY_PATH, older kernels through the descriptor's proc link.
		err := unix.Fchmodat(fd, "", fileMode(perm), unix.AT_EMPTY_PATH)
		if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
			err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), fileMode(perm))
		}
		return err
	})
}

// Rename implements experimental/sys.FS.
func (f *FS) Rename(from, to string) experimentalsys.Errno {
	return f.withParent(from, func(fromDir int, fromBase string) error {
		return errnoError(f.withParent(to, func(toDir int, toBase string) error {
			return unix.Renameat(fromDir, fromBase, toDir, toBase)
		}))
	})
}

// Rmdir implements experimental/sys.FS.
func (f *FS) Rmdir(name string) experimentalsys.Errno {
	return f.withParent(name, func(dirFD int, base string) error {
		return unix.Unlinkat(dirFD, base, unix.AT_REMOVEDIR)
	})
}

// Unlink implements experimental/sys.FS.
func (f *FS) Unlink(name string) experimentalsys.Errno {
	errno := f.withParent(name, func(dirFD int, base string) error {
		return unix.Unlinkat(dirFD, base, 0)
	})
	// Like wazero's DirFS: some systems report a directory as EPERM.
	if errno == experimentalsys.EPERM {
		errno = experimentalsys.EISDIR
	}
	return errno
}

// Link implements experimental/sys.FS. A symlink named by oldName is linked
// itself, not its target.
func (f *FS) Link(oldName, newName string) experimentalsys.Errno {
	_, oldBase := splitLast(oldName)
	if namesDirectory(oldBase) {
		// linkat would follow such a name with the host's rules before
		// refusing it; resolve it inside the root instead. Directories cannot
		// be hard-linked, so the answer is EPERM once it is found.
		errno := f.withTarget(oldName, true, func(int) error { return nil })
		if errno != 0 {
			return errno
		}
		return experimentalsys.EPERM
	}
	return f.withParent(oldName, func(oldDir int, oldBase string) error {
		return errnoError(f.withParent(newName, func(newDir int, newBase string) error {
			return unix.Linkat(oldDir, oldBase, newDir, newBase, 0)
		}))
	})
}

// Symlink implements experimental/sys.FS. Unlike wazero's DirFS, an absolute
// target is allowed: it resolves inside the root like any other.
func (f *FS) Symlink(target, linkName string) experimentalsys.Errno {
	return f.withParent(linkName, func(dirFD int, base string) error {
		return unix.Symlinkat(target, dirFD, base)
	})
}

// Readlink implements experimental/sys.FS.
func (f *FS) Readlink(name string) (string, experimentalsys.Errno) {
	var target string
	errno := f.withTarget(name, false, func(fd int) error {
		for size := 256; ; size *= 2 {
			buf := make([]byte, size)
			n, err := unix.Readlinkat(fd, "", buf)
			if err == unix.ENOENT {
				// The object exists (it was just opened); with an empty
				// name the kernel says ENOENT for "not a symlink".
				return unix.EINVAL
			}
			if err != nil {
				return err
			}
			if n < size {
				target = string(buf[:n])
				return nil
			}
		}
	})
	return target, errno
}

// Utimens implements experimental/sys.FS. A final symlink is followed, inside
// the root.
func (f *FS) Utimens(name string, atim, mtim int64) experimentalsys.Errno {
	return f.withTarget(name, true, func(fd int) error {
		return utimensFD(fd, atim, mtim)
	})
}

// errnoError turns a zero Errno into a nil error so it can travel through
// the error-returning callbacks unchanged.
func errnoError(errno experimentalsys.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}
