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
)

const (
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
