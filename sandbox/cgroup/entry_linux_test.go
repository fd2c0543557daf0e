//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// TestOpenEntryV1 checks that the entry of a v1 cgroup is one writable
// tasks file per hierarchy, through which a single-threaded process that
// writes "0" (what the instance's constructor does) lands in the cgroup in
// every hierarchy.
func TestOpenEntryV1(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.OpenEntry()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dir != nil {
		t.Errorf("v1 entry has a directory %s", e.Dir.Name())
	}

	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, h := range hs {
		want = append(want, filepath.Join(h, path, "tasks"))
	}
	for _, f := range e.Tasks {
		got = append(got, f.Name())
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err != nil || flags&unix.O_ACCMODE != unix.O_WRONLY {
			t.Errorf("%s is open with flags %#o (%v), want write-only", f.Name(), flags, err)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("tasks files:\n%s\nwant one per hierarchy:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A shell has one thread, so "0" moves all of it; cat inherits the
	// cgroups it was forked in. (bash: dash takes one-digit descriptors
	// only.)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip(err)
	}
	sh := exec.Command(bash, "-c", `for fd in $FDS; do echo 0 >&$fd || exit 1; done; exec cat /proc/self/cgroup`)
	var fds []string
	for i := range e.Tasks {
		fds = append(fds, fmt.Sprint(3+i))
	}
	sh.Env = append(os.Environ(), "FDS="+strings.Join(fds, " "))
	sh.ExtraFiles = e.Tasks
	var stderr strings.Builder
	sh.Stderr = &stderr
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("writing 0 to the tasks files: %v: %s", err, stderr.String())
	}
	v1Lines := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "0::") {
			continue
		}
		v1Lines++
		if !strings.HasSuffix(line, ":"+path) {
			t.Errorf("process that wrote 0 to the tasks files is at %q, want %s in every v1 hierarchy", line, path)
		}
	}
	if v1Lines != len(hs) {
		t.Errorf("/proc/self/cgroup has %d v1 lines, want %d:\n%s", v1Lines, len(hs), out)
	}
}

// TestOpenEntryV1Missing checks that an entry to a cgroup missing from one
// hierarchy fails as not found and keeps none of the files it opened before.
func TestOpenEntryV1Missing(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.OpenEntry()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(e.Tasks))
	for i, f := range e.Tasks {
		names[i] = f.Name()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Skipf("needs two hierarchies, has %d", len(names))
	}
	// The last one, so that the others are open when it fails.
	if err := os.Remove(filepath.Dir(names[len(names)-1])); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	e, err = c.OpenEntry()
	if err == nil {
		e.Close()
		t.Fatal("OpenEntry succeeded with the cgroup missing from a hierarchy")
	}
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), path) {
		t.Errorf("OpenEntry = %v, want not found naming %s", err, path)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after the failed OpenEntry, %d before", after, before)
	}
}

// TestOpenEntryV2 checks, on the real v2 hierarchy of a hybrid host, that
// the entry is the cgroup's directory and that a process cloned with it
// (CLONE_INTO_CGROUP, as Spawn does) starts in the cgroup.
func TestOpenEntryV2(t *testing.T) {
	unified := requireUnified(t)
	// The test's own directory stands in for the mountpoint, as in
	// TestV2OnUnifiedMount.
	mountpoint := filepath.Join(unified, testPrefix+"-entry")
	if err := os.Mkdir(mountpoint, 0o755); err != nil {
		t.Fatal(err)
	}
	const group = "/pod/c"
	t.Cleanup(func() {
		// The whole tree, deepest first; cat is reaped by then.
		if err := cgroupfs.RemoveDirs(mountpoint); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	v, err := newV2(mountpoint, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cgroup{path: group, ctl: v}
	e, err := c.OpenEntry()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.Tasks) != 0 || e.Dir == nil {
		t.Fatalf("v2 entry = %+v, want a directory and no tasks files", e)
	}
	var opened, dir unix.Stat_t
	if err := unix.Fstat(int(e.Dir.Fd()), &opened); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(mountpoint, group), &dir); err != nil {
		t.Fatal(err)
	}
	if opened.Dev != dir.Dev || opened.Ino != dir.Ino {
		t.Errorf("entry directory %s is not the cgroup's", e.Dir.Name())
	}

	cat := exec.Command("cat", "/proc/self/cgroup")
	cat.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(e.Dir.Fd())}
	out, err := cat.Output()
	if err != nil {
		t.Fatalf("clone into the cgroup: %v", err)
	}
	want := "0::" + strings.TrimPrefix(mountpoint, unified) + group
	if !slices.Contains(strings.Split(string(out), "\n"), want) {
		t.Errorf("process cloned into the cgroup sees:\n%swant the line %s", out, want)
	}
}

// TestEntryClose checks that Close closes every file of the entry, that a
// second Close reports them closed, and that an entry without files, nil
// included, closes without error.
func TestEntryClose(t *testing.T) {
	open := func(t *testing.T, name string, flag int) *os.File {
		f, err := os.OpenFile(name, flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	tests := []struct {
		name  string
		entry func(t *testing.T) *cgroupfs.Entry
	}{
		{"nil", func(*testing.T) *cgroupfs.Entry { return nil }},
		{"empty", func(*testing.T) *cgroupfs.Entry { return &cgroupfs.Entry{} }},
		{"tasks", func(t *testing.T) *cgroupfs.Entry {
			return &cgroupfs.Entry{Tasks: []*os.File{open(t, os.DevNull, os.O_WRONLY), open(t, os.DevNull, os.O_WRONLY)}}
		}},
		{"dir", func(t *testing.T) *cgroupfs.Entry {
			return &cgroupfs.Entry{Dir: open(t, t.TempDir(), os.O_RDONLY)}
		}},
		{"tasks and dir", func(t *testing.T) *cgroupfs.Entry {
			return &cgroupfs.Entry{Tasks: []*os.File{open(t, os.DevNull, os.O_WRONLY)}, Dir: open(t, t.TempDir(), os.O_RDONLY)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.entry(t)
			var files []*os.File
			if e != nil {
				files = append(files, e.Tasks...)
				if e.Dir != nil {
					files = append(files, e.Dir)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, f := range files {
				if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("%s after Close: %v, want it closed", f.Name(), err)
				}
			}
			err := e.Close()
			switch {
			case len(files) == 0 && err != nil:
				t.Errorf("second Close of an entry without files: %v", err)
			case len(files) > 0 && !errors.Is(err, os.ErrClosed):
				t.Errorf("second Close = %v, want os.ErrClosed", err)
			}
		})
	}
}

// openFDs counts the test process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
