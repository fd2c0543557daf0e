//go:build linux

package guestfs

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// inRoot makes the kernel treat the directory descriptor as "/" for the whole
// walk, symlink bodies included, and refuses /proc/<pid>/{root,cwd,fd/N}
// style links, which would otherwise jump to any file the kernel can name.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// resolveRetries bounds retries of openat2 on EAGAIN, which the kernel
// returns when a rename or mount raced a ".." step and it could not prove the
// walk stayed inside the root.
const resolveRetries = 64

// OpenInRoot resolves name (absolute or relative, interpreted inside root with
// chroot semantics) under the root directory `root` and opens it with flags
// (unix.O_*), returning an *os.File. O_CLOEXEC is always added; mode is used
// only when flags create a file. Errors are *os.PathError values wrapping the
// system call's errno, so errors.Is(err, fs.ErrNotExist) and friends work.
func OpenInRoot(root *os.File, name string, flags int, mode uint32) (*os.File, error) {
	var fd int
	err := withFD(root, func(rootFD int) error {
		var openErr error
		fd, openErr = openat2(rootFD, name, flags, mode)
		return openErr
	})
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// withFD runs fn with the descriptor of f while holding a reference on it, so
// a concurrent Close cannot hand the number to another file mid-call.
func withFD(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		// Control fails only for a closed file, with an internal error
		// value; report what a closed descriptor reports.
		return unix.EBADF
	}
	return fnErr
}

// openat2 opens name below rootFD with chroot semantics.
func openat2(rootFD int, name string, flags int, mode uint32) (int, error) {
	if name == "" {
		name = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot}
	// openat2 rejects a mode unless the call can create a file.
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(mode)
	}
	for range resolveRetries {
		fd, err := unix.Openat2(rootFD, name, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// splitLast splits name into the directory holding its last component and
// that component. Trailing slashes stay on the component: the kernel uses them
// to demand a directory without following the name. The root itself ("", "/")
// comes back as (".", "."), which every *at call treats as the directory
// itself without looking anything up.
func splitLast(name string) (dir, base string) {
	trimmed := strings.TrimRight(name, "/")
	if trimmed == "" {
		return ".", "."
	}
	i := strings.LastIndexByte(trimmed, '/')
	base = name[i+1:]
	switch {
	case i < 0:
		dir = "."
	case i == 0:
		dir = "/"
	default:
		dir = trimmed[:i]
	}
	return dir, base
}

// namesDirectory reports whether a last component can only name a directory:
// "." and "..", or anything with a trailing slash.
func namesDirectory(base string) bool {
	trimmed := strings.TrimRight(base, "/")
	return trimmed != base || trimmed == "." || trimmed == ".."
}
