//go:build linux

package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// removeTimeout bounds how long Delete waits for a cgroup to empty.
	removeTimeout = 2 * time.Second
	// unlimitedFrom is where a v1 limit file's "no limit" begins: the kernel
	// shows it as its page counter maximum (9223372036854771712 with 4 KiB
	// pages), never as -1.
	unlimitedFrom = 1 << 62
)

// freezeTimeout bounds Freeze and Thaw; a variable so tests can shorten it.
var freezeTimeout = 5 * time.Second

// writeFiles applies writes to the cgroup directory dir, in order.
func writeFiles(dir string, writes []fileWrite) error {
	for _, w := range writes {
		path := filepath.Join(dir, w.file)
		if w.optional {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err := writeFile(path, w.value); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes one value to a control file, which must exist: cgroupfs
// makes the files, and creating one would hide a missing controller.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", value, err)
	}
	return nil
}

// readKeyed reads a file of "key value" lines (memory.stat,
// memory.oom_control, memory.events, cgroup.events) and returns the value of
// key.
func readKeyed(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if ok && k == key {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s has no %q: %w", path, key, fs.ErrNotExist)
}

// readKeyedUint is readKeyed for a counter.
func readKeyedUint(path, key string) (uint64, error) {
	v, err := readKeyed(path, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", path, key, err)
	}
	return n, nil
}

// readUint reads a file holding one unsigned number.
func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
}

// removeDirs removes cgroup directories and any cgroups below them. A
// cgroup whose last process was just reaped can stay busy for a moment, so
// busy directories are retried until removeTimeout (one deadline for all of
// them); a missing one is not an error.
func removeDirs(dirs ...string) error {
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
// removing (rmdir takes them along; unlink would fail).
func removeTree(dir string) error {
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

// pollUntil calls done every interval until it reports true, fails, or
// timeout passes; it reports whether done became true.
func pollUntil(timeout, interval time.Duration, done func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(interval)
	}
}
