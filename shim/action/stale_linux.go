//go:build linux

package action

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The names InstallBinary is given for the binaries the shim embeds.
const (
	ServerBinaryName   = "wasmedge-shim-server"
	InstanceBinaryName = "wasmedge-instance"
)

// RemoveStaleBinaries removes from dir the binaries of other versions of
// the shim that nothing runs any more, and returns their names. BinDir is
// on tmpfs, so each upgrade would otherwise keep ~40 MB of memory until
// reboot. keep are the caller's own files. A server binary goes when no
// process runs it; an instance binary only when, besides, no server of
// another version runs, which could start one. Removing a file that is
// still wanted costs a rewrite, not a failure: InstallBinary writes a
// missing file again.
func RemoveStaleBinaries(dir string, keep []string, now time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	running := runningExecutables()
	otherServer := slices.ContainsFunc(running, func(p string) bool {
		return filepath.Dir(p) == dir && isBinary(filepath.Base(p), ServerBinaryName) && !slices.Contains(keep, p)
	})
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		server, instance := isBinary(name, ServerBinaryName), isBinary(name, InstanceBinaryName)
		switch {
		case !server && !instance:
			continue
		case slices.Contains(keep, path), slices.Contains(running, path):
			continue
		case instance && otherServer:
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleAfter {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// isBinary reports whether name is an installed binary called base, or a
// temporary file an install of it left behind.
func isBinary(name, base string) bool {
	return strings.HasPrefix(name, base+"-") || strings.HasPrefix(name, "."+base+"-")
}

// runningExecutables returns the executable of every process it can see.
func runningExecutables() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var exes []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if !slices.Contains(exes, exe) {
			exes = append(exes, exe)
		}
	}
	return exes
}
