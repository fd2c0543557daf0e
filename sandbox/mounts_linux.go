//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/guestfs"
)

// setUpMounts presents the container's mounts inside its rootfs. The
// instance runs in a mount namespace of its own, so the mounts vanish with it
// and there is nothing to undo.
//
// Mounts are made in spec order, each mount point created just before its
// mount, so that a mount inside an earlier one (/dev, then /dev/shm) finds
// its mount point in the filesystem it lands on. Each mount is made through
// /proc/self/fd on a descriptor resolved inside the rootfs, so that a symlink
// swapped in between cannot redirect it. A read-only rootfs is made last: a
// recursive bind of the rootfs onto itself takes the mounts along, and only
// its top is remounted read-only, so mount points could still be created and
// the mounts keep their own flags.
func setUpMounts(rc *oci.RunConfig, shimMounts string) error {
	if !needsMountNamespace(rc) {
		return nil
	}
	if err := checkOwnMountNamespace(shimMounts); err != nil {
		return err
	}
	// The namespace starts as a copy of the shim's, sharing propagation with
	// the host: without this, every mount below would appear there too.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root, err := openRootfs(rc.Rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, m := range rc.Mounts {
		if err := createMountPointFor(root, m); err != nil {
			return err
		}
		if err := mount(root, m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	if rc.RootReadonly {
		if err := unix.Mount(rc.Rootfs, rc.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind rootfs onto itself: %w", err)
		}
		if err := remount(rc.Rootfs, unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	return nil
}

// needsMountNamespace says whether the instance mounts anything, and so
// needs a mount namespace of its own even if the spec asks for none.
func needsMountNamespace(rc *oci.RunConfig) bool {
	return len(rc.Mounts) > 0 || rc.RootReadonly
}

// checkOwnMountNamespace refuses to go on unless the instance has a mount
// namespace other than the shim's (Spawn asks for one when there are
// mounts), so that a mistake there can never put the container's mounts on
// the host, nor leave an exec without the container's mounts. shim is the
// text of the shim's /proc/self/ns/mnt link.
func checkOwnMountNamespace(shim string) error {
	mine, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("own mount namespace: %w", err)
	}
	if shim == "" || mine == shim {
		return errors.New("the instance shares the shim's mount namespace: refusing to mount")
	}
	return nil
}

// createMountPointFor creates m's mount point in the rootfs.
func createMountPointFor(root *os.File, m oci.Mount) error {
	isDir := true
	switch m.Kind {
	case oci.MountTmpfs:
	case oci.MountBind:
		// The source is a host path from the spec, trusted like the rest of
		// it; a file is bound onto a file, anything else onto a directory.
		info, err := os.Stat(m.Source)
		if err != nil {
			return tagged(kindOfPathError(err), fmt.Errorf("bind mount %s: source: %w", m.Destination, err))
		}
		isDir = info.IsDir()
	default:
		return invalidf("mount %s: unsupported kind %q", m.Destination, m.Kind)
	}
	return createMountPoint(root, m.Destination, isDir)
}

// openRootfs opens the rootfs directory as the root for in-root lookups.
func openRootfs(rootfs string) (*os.File, error) {
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, tagged(kindOfPathError(err), fmt.Errorf("open rootfs: %w", err))
	}
	return root, nil
}

// mount makes one mount on its (existing) mount point.
func mount(root *os.File, m oci.Mount) error {
	flags, data := mountOptions(m.Options)
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	target, err := guestfs.OpenInRoot(root, m.Destination, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer target.Close()
	switch m.Kind {
	case oci.MountTmpfs:
		if err := unix.Mount("tmpfs", fdPath(target), "tmpfs", flags, data); err != nil {
			return fmt.Errorf("tmpfs: %w", err)
		}
		return nil
	case oci.MountBind:
		if err := unix.Mount(m.Source, fdPath(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", m.Source, err)
		}
		if flags == 0 {
			return nil
		}
		// A bind takes the source's flags; others need a remount, on the new
		// mount, which only a fresh lookup reaches (target is the directory
		// underneath it).
		bound, err := guestfs.OpenInRoot(root, m.Destination, unix.O_PATH, 0)
		if err != nil {
			return err
		}
		defer bound.Close()
		return remount(fdPath(bound), flags)
	}
	return invalidf("unsupported kind %q", m.Kind)
}

// remount changes the flags of the bind mount at target, keeping the flags
// it already has (nosuid, nodev, ...), which a bind remount would otherwise
// clear.
func remount(target string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	const kept = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
		unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME
	flags |= uintptr(st.Flags) & kept
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// fdPath names an open file by its /proc/self/fd link, which the kernel
// resolves to the very file, whatever happened to its path since.
func fdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// mountFlag is the effect of a mount(8) option that is a flag.
type mountFlag struct {
	flag  uintptr
	clear bool
}

var mountFlags = map[string]mountFlag{
	"ro":            {flag: unix.MS_RDONLY},
	"rw":            {flag: unix.MS_RDONLY, clear: true},
	"nosuid":        {flag: unix.MS_NOSUID},
	"suid":          {flag: unix.MS_NOSUID, clear: true},
	"nodev":         {flag: unix.MS_NODEV},
	"dev":           {flag: unix.MS_NODEV, clear: true},
	"noexec":        {flag: unix.MS_NOEXEC},
	"exec":          {flag: unix.MS_NOEXEC, clear: true},
	"sync":          {flag: unix.MS_SYNCHRONOUS},
	"async":         {flag: unix.MS_SYNCHRONOUS, clear: true},
	"dirsync":       {flag: unix.MS_DIRSYNC},
	"noatime":       {flag: unix.MS_NOATIME},
	"atime":         {flag: unix.MS_NOATIME, clear: true},
	"nodiratime":    {flag: unix.MS_NODIRATIME},
	"diratime":      {flag: unix.MS_NODIRATIME, clear: true},
	"relatime":      {flag: unix.MS_RELATIME},
	"norelatime":    {flag: unix.MS_RELATIME, clear: true},
	"strictatime":   {flag: unix.MS_STRICTATIME},
	"nostrictatime": {flag: unix.MS_STRICTATIME, clear: true},
}

// ignoredMountOptions say how to bind or how to propagate; the kind already
// says the first, and the instance's private namespace has no peers for the
// second.
var ignoredMountOptions = map[string]bool{
	"defaults": true, "bind": true, "rbind": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
}

// mountOptions splits mount(8) options into flags and the filesystem's data
// string (size=, mode=, ...), applying flags in order.
func mountOptions(options []string) (flags uintptr, data string) {
	var rest []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if ignoredMountOptions[o] {
			continue
		}
		rest = append(rest, o)
	}
	return flags, strings.Join(rest, ",")
}
