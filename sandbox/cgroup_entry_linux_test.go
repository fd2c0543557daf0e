//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// unifiedRoot is where a hybrid host, as this one, mounts its cgroup v2
// hierarchy next to the v1 ones.
const unifiedRoot = "/sys/fs/cgroup/unified"

// recordingCgroup is a Cgroup whose entry comes from open and which
// records, in order, the calls of AddProc and of the spawn's Setup.
type recordingCgroup struct {
	open func() (*cgroupfs.Entry, error)
	// add, when set, does AddProc's work.
	add func(pid int) error

	mu    sync.Mutex
	calls []string
}

func (c *recordingCgroup) OpenEntry() (*cgroupfs.Entry, error) { return c.open() }

func (c *recordingCgroup) AddProc(pid int) error {
	c.record(fmt.Sprintf("AddProc(%d)", pid))
	if c.add != nil {
		return c.add(pid)
	}
	return nil
}

// setup is a Setup that records its call.
func (c *recordingCgroup) setup(pid int) error {
	c.record(fmt.Sprintf("Setup(%d)", pid))
	return nil
}

func (c *recordingCgroup) record(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

// addProcCalls returns the AddProc calls made so far.
func (c *recordingCgroup) addProcCalls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(c.calls), func(s string) bool { return !strings.HasPrefix(s, "AddProc") })
}

// procCgroups reads /proc/PID/cgroup, or a thread's under /proc/PID/task,
// as hierarchy → path; the key is the controller list ("cpu",
// "name=systemd"), "" for the v2 line.
func procCgroups(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			t.Fatalf("%s: malformed line %q", file, line)
		}
		out[fields[1]] = fields[2]
	}
	return out
}

// threadCgroupFiles lists the cgroup file of every thread of pid.
func threadCgroupFiles(t *testing.T, pid int) []string {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/cgroup", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	return files
}

// uniqueCgroupName names a cgroup for this test and process.
func uniqueCgroupName(t *testing.T) string {
	return fmt.Sprintf("sandbox-test-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
}

// TestSpawnEntersV1CgroupAtBirth spawns an instance with a real v1 cgroup:
// ready, every thread of it sits in the cgroup in every hierarchy, and with
// cgo it got there by itself (no AddProc), as the constructor's first step.
func TestSpawnEntersV1CgroupAtBirth(t *testing.T) {
	if mode := cgroups.Mode(); mode != cgroups.Legacy && mode != cgroups.Hybrid {
		t.Skip("needs cgroup v1 hierarchies")
	}
	path := "/" + uniqueCgroupName(t)
	cg, err := cgroup.New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before spawnReady's cleanup, so it runs after the reap.
	t.Cleanup(func() {
		if err := cg.Delete(); err != nil {
			t.Errorf("delete cgroup: %v", err)
		}
	})
	rec := &recordingCgroup{open: cg.OpenEntry, add: cg.AddProc}
	inst := spawnReady(t, runConfig(t, "hello"), Options{Cgroup: rec, Setup: rec.setup})
	pid := inst.Pid()

	files := append([]string{fmt.Sprintf("/proc/%d/cgroup", pid)}, threadCgroupFiles(t, pid)...)
	for _, file := range files {
		v1 := 0
		for hierarchy, at := range procCgroups(t, file) {
			if hierarchy == "" {
				// The v2 line of a hybrid host: the cgroup is v1 only.
				continue
			}
			v1++
			if at != path {
				t.Errorf("%s: %s at %s, want %s", file, hierarchy, at, path)
			}
		}
		if v1 == 0 {
			t.Errorf("%s shows no v1 hierarchy", file)
		}
	}
	if len(files) < 3 {
		// The instance runs Go: more than one thread by now, which is what
		// makes a move after the runtime started a partial one.
		t.Errorf("instance has %d threads; the check of every thread proves little", len(files)-1)
	}

	var want []string
	if !builtWithCgo {
		// No constructor to write the tasks files: moved from outside.
		want = []string{fmt.Sprintf("AddProc(%d)", pid)}
	}
	if got := rec.addProcCalls(); !slices.Equal(got, want) {
		t.Errorf("AddProc calls %q, want %q", got, want)
	}
	if status := startAndWait(t, inst); status != 0 {
		t.Errorf("guest exited with %d, want 0", status)
	}
}

// TestSpawnClonesIntoV2Cgroup spawns an instance whose entry is a directory
// of the real v2 hierarchy: it is cloned there (CLONE_INTO_CGROUP), every
// thread with it, and never moved from outside.
func TestSpawnClonesIntoV2Cgroup(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs(unifiedRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("%s is not a cgroup2 mount (%v)", unifiedRoot, err)
	}
	name := uniqueCgroupName(t)
	dir := filepath.Join(unifiedRoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroupfs.RemoveDirs(dir); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	rec := &recordingCgroup{open: func() (*cgroupfs.Entry, error) {
		f, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		return &cgroupfs.Entry{Dir: f}, nil
	}}
	inst := spawnReady(t, runConfig(t, "hello"), Options{Cgroup: rec, Setup: rec.setup})
	pid := inst.Pid()

	shim := procCgroups(t, "/proc/self/cgroup")
	for _, file := range append([]string{fmt.Sprintf("/proc/%d/cgroup", pid)}, threadCgroupFiles(t, pid)...) {
		for hierarchy, at := range procCgroups(t, file) {
			want := shim[hierarchy]
			if hierarchy == "" {
				want = "/" + name
			}
			if at != want {
				t.Errorf("%s: hierarchy %q at %s, want %s", file, hierarchy, at, want)
			}
		}
	}
	if got := rec.addProcCalls(); len(got) != 0 {
		t.Errorf("AddProc calls %q, want none", got)
	}
	if status := startAndWait(t, inst); status != 0 {
		t.Errorf("guest exited with %d, want 0", status)
	}
}

// TestSpawnMovesInWithoutEntry checks the way in of last resort: with
// nothing to enter by (an empty entry, or a v2 directory clone3(2) refuses),
// the instance is started where the shim is and moved in by AddProc, once,
// with its pid, after Setup.
func TestSpawnMovesInWithoutEntry(t *testing.T) {
	tests := []struct {
		name  string
		entry func(t *testing.T) *cgroupfs.Entry
	}{
		{"empty entry", func(*testing.T) *cgroupfs.Entry { return &cgroupfs.Entry{} }},
		{"clone into cgroup refused", func(t *testing.T) *cgroupfs.Entry {
			// Not a cgroup2 directory: clone3 fails with EBADF, as it
			// fails with ENOSYS or EINVAL on kernels before 5.7.
			f, err := os.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return &cgroupfs.Entry{Dir: f}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingCgroup{open: func() (*cgroupfs.Entry, error) { return tt.entry(t), nil }}
			inst := spawnReady(t, runConfig(t, "hello"), Options{Cgroup: rec, Setup: rec.setup})
			pid := inst.Pid()
			want := []string{fmt.Sprintf("Setup(%d)", pid), fmt.Sprintf("AddProc(%d)", pid)}
			rec.mu.Lock()
			got := slices.Clone(rec.calls)
			rec.mu.Unlock()
			if !slices.Equal(got, want) {
				t.Errorf("calls %q, want %q", got, want)
			}
			if status := startAndWait(t, inst); status != 0 {
				t.Errorf("guest exited with %d, want 0", status)
			}
		})
	}
}

// TestSpawnCgroupEntryFailures checks that a cgroup the instance cannot
// enter fails Spawn with an error that says so, and leaves no process.
func TestSpawnCgroupEntryFailures(t *testing.T) {
	errOpen := errors.New("no entry for you")
	errAdd := errors.New("no room for you")
	tests := []struct {
		name  string
		cgo   bool
		entry func(t *testing.T) (*cgroupfs.Entry, error)
		add   func(pid int) error
		// started says whether a process was started (and must be reaped).
		started bool
		check   func(t *testing.T, err error)
	}{
		{
			name: "tasks file refuses the instance",
			cgo:  true,
			// A new cpuset cgroup has no CPUs, and the kernel refuses it
			// any task (ENOSPC).
			entry: func(t *testing.T) (*cgroupfs.Entry, error) {
				return &cgroupfs.Entry{Tasks: []*os.File{emptyCpuset(t)}}, nil
			},
			started: true,
			check: func(t *testing.T, err error) {
				// strerror(3) capitalizes what Go's Errno does not.
				if msg := err.Error(); !strings.Contains(msg, "enter cgroup") || !strings.Contains(strings.ToLower(msg), unix.ENOSPC.Error()) {
					t.Errorf("Spawn error %q, want it to say the instance could not enter its cgroup (%v)", msg, unix.ENOSPC)
				}
			},
		},
		{
			name:  "entry cannot be opened",
			entry: func(*testing.T) (*cgroupfs.Entry, error) { return nil, errOpen },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errOpen) {
					t.Errorf("Spawn error %v, want it to wrap %v", err, errOpen)
				}
			},
		},
		{
			name:    "move from outside fails",
			entry:   func(*testing.T) (*cgroupfs.Entry, error) { return &cgroupfs.Entry{}, nil },
			add:     func(int) error { return errAdd },
			started: true,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errAdd) {
					t.Errorf("Spawn error %v, want it to wrap %v", err, errAdd)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cgo && !builtWithCgo {
				t.Skip("the instance writes tasks files itself only in the cgo build")
			}
			rec := &recordingCgroup{open: func() (*cgroupfs.Entry, error) { return tt.entry(t) }, add: tt.add}
			var pid int
			opts := testOptions(&pid)
			opts.Cgroup = rec
			inst, err := Spawn(context.Background(), runConfig(t, "hello"), Stdio{}, opts)
			if err == nil {
				inst.Close()
				waitExit(t, inst.Pid())
				t.Fatal("Spawn succeeded; want an error")
			}
			t.Logf("Spawn error: %v", err)
			tt.check(t, err)
			if !tt.started {
				if pid != 0 {
					t.Errorf("process %d was started", pid)
					waitExit(t, pid)
				}
				return
			}
			if pid == 0 {
				t.Fatal("no process was started")
			}
			// Killed by Spawn (137) or exited after its report (1); either
			// way reaped here, and at once.
			if status := waitExit(t, pid); status != 137 && status != notReadyExitStatus {
				t.Errorf("failed instance exited with %d, want 137 or %d", status, notReadyExitStatus)
			}
		})
	}
}

// emptyCpuset makes a v1 cpuset cgroup with no CPUs and returns its tasks
// file, open for writing; cleanup removes the cgroup.
func emptyCpuset(t *testing.T) *os.File {
	t.Helper()
	dir := filepath.Join("/sys/fs/cgroup/cpuset", uniqueCgroupName(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no cgroup v1 cpuset hierarchy to test with: %v", err)
	}
	t.Cleanup(func() {
		if err := cgroupfs.RemoveDirs(dir); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	if cpus, err := os.ReadFile(filepath.Join(dir, "cpuset.cpus")); err != nil || strings.TrimSpace(string(cpus)) != "" {
		t.Skipf("new cpuset cgroup has CPUs %q (%v): cgroup.clone_children is set", cpus, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
