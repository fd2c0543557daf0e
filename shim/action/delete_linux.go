//go:build linux

package action

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// killedStatus is the exit status the delete action reports: containerd
// uses it only when the shim went away without reporting the task's exit,
// and the instance processes die with their shim (SIGKILL).
const killedStatus = 128 + uint32(unix.SIGKILL)

// Delete performs the delete action, which containerd runs after a shim went
// away and, on 1.6 and 2.4, after every normal task delete too: clean up
// what the task left behind and write a DeleteResponse to out. Problems
// that do not stop the cleanup are written to warnings (containerd logs
// them). It must be idempotent and must never signal a process by a stale
// pid: only the filesystem is left to clean.
func Delete(f Flags, out, warnings io.Writer) error {
	if f.ID == "" {
		return errors.New("delete: -id is required")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	for _, err := range Cleanup(BundleOf(cwd, f.ID)) {
		fmt.Fprintf(warnings, "%s: %v\n", f.ID, err)
	}
	_, err = out.Write(encodeDeleteResponse(0, killedStatus, time.Now()))
	return err
}

// Cleanup removes what a task of bundle may have left: its rootfs mounts,
// its cgroup and, if its shim is dead, the shim's socket. It goes on past
// failures and returns them all.
func Cleanup(bundle string) []error {
	var errs []error
	if err := UnmountAll(filepath.Join(bundle, "rootfs")); err != nil {
		errs = append(errs, fmt.Errorf("unmount rootfs: %w", err))
	}
	if err := removeCgroup(bundle); err != nil {
		errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
	}
	if err := removeDeadSocket(bundle); err != nil {
		errs = append(errs, fmt.Errorf("remove dead shim socket: %w", err))
	}
	return errs
}

// removeDeadSocket removes the socket of the bundle's shim if nothing
// listens there: a shim killed with SIGKILL leaves it behind. The socket
// may still serve other containers of the group, so only a dead one goes,
// and under the lock, lest it be a new server's of the same name.
func removeDeadSocket(bundle string) error {
	address, err := readAddress(bundle)
	if err != nil || canConnect(address) {
		return nil
	}
	unlock, err := lockSockets()
	if err != nil {
		return err
	}
	defer unlock()
	if canConnect(address) {
		return nil
	}
	return removeSocket(address)
}

// UnmountAll unmounts everything at and below target, deepest first; a
// target that is not mounted (already cleaned, or a --rootfs run) is not an
// error.
func UnmountAll(target string) error {
	if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(target))
	if err != nil {
		return err
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		err := unix.Unmount(m.Mountpoint, unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EBUSY) {
			// Something still uses it; detach it so that the bundle can go,
			// the kernel frees it when the last user is done.
			err = unix.Unmount(m.Mountpoint, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
		}
	}
	return nil
}

// WriteCgroupDirs records a container's cgroup directories in its bundle,
// for Cleanup. It is written in place, not renamed into place: Create
// writes it before anything can run Cleanup on the bundle, and a file
// creation less on Create's path is worth more than atomicity no reader
// needs (each one costs a millisecond where bundles are not on tmpfs).
func WriteCgroupDirs(bundle string, dirs []string) error {
	return os.WriteFile(filepath.Join(bundle, cgroupDirsFile), []byte(strings.Join(dirs, "\n")), 0o644)
}

// removeCgroup removes the cgroup directories recorded in bundle, if any.
func removeCgroup(bundle string) error {
	data, err := os.ReadFile(filepath.Join(bundle, cgroupDirsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var dirs []string
	for _, d := range strings.Split(string(data), "\n") {
		// Only what a shim could have written: an absolute path of a
		// cgroup file system, never the root of one.
		if d == "" {
			continue
		}
		if !isCgroupDir(d) {
			return fmt.Errorf("%s lists %q, not a cgroup directory", cgroupDirsFile, d)
		}
		dirs = append(dirs, d)
	}
	return cgroupfs.RemoveDirs(dirs...)
}

// isCgroupDir reports whether dir is a directory below the root of a cgroup
// file system (v1 or v2), or gone already.
func isCgroupDir(dir string) bool {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return errors.Is(err, unix.ENOENT)
	}
	if st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	var parent unix.Statfs_t
	return unix.Statfs(filepath.Dir(dir), &parent) == nil && parent.Type == st.Type
}
