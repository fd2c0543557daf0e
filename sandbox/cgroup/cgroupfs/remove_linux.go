//go:build linux

// Package cgroupfs is what needs cgroups but no cgroup library: removing
// cgroup directories, and the files through which a new process enters a
// cgroup. It stays small, for the binaries that must start fast: the
// shim's delete action and the instance process.
package cgroupfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// removeTimeout bounds how long RemoveDirs waits for a cgroup to empty.
const removeTimeout = 2 * time.Second

// RemoveDirs removes cgroup directories and any cgroups below them. A
// cgroup whose last process was just reaped can stay busy for a moment, so
// busy directories are retried until removeTimeout (one deadline for all of
// them); a missing one is not an error.
func RemoveDirs(dirs ...string) error {
	deadline := time.Now().Add(removeTimeout)
	delay := 10 * time.Millisecond
	for {
		var busy []string
		var errs []error
		for _, dir := range dirs {
			err := removeTree(dir)
			if errors.Is(err, unix.EBUSY) {
				busy = append(busy, dir)
				if time.Now().After(deadline) {
					err = fmt.Errorf("%w (processes are still in it)", err)
				} else {
					err = nil
				}
			}
			errs = append(errs, err)
		}
		if len(busy) == 0 || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		dirs = busy
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// removeTree removes dir after the directories below it: a cgroup can only
// be removed once it has no child cgroups. The control files need no
// removing (rmdir takes them along; unlink would fail). A container's
// cgroup rarely has children, so rmdir is tried first, and the directory
// is listed only when that fails.
func removeTree(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) {
		return &fs.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}
