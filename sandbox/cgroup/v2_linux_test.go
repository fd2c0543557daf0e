//go:build linux

package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// This machine has no cgroup v2 controllers, so most v2 code runs here
// against a fake tree: plain files where cgroupfs would have control files.
// TestV2OnUnifiedMount covers what v2 does without controllers with the real
// kernel; limits and OOM kills under v2 are not covered.

func TestV2Group(t *testing.T) {
	tests := []struct{ path, own, want string }{
		{"/default/abc", "/user.slice/session-1.scope", "/default/abc"},
		{"pods/abc", "/system.slice/containerd.service", "/system.slice/pods/abc"},
		{"abc", "/", "/abc"},
		{"abc", "", "/abc"},
	}
	for _, tt := range tests {
		if got := v2Group(tt.path, tt.own); got != tt.want {
			t.Errorf("v2Group(%q, %q) = %q, want %q", tt.path, tt.own, got, tt.want)
		}
	}
}

func TestV2Writes(t *testing.T) {
	w := func(file, value string) fileWrite { return fileWrite{file: file, value: value} }
	swap := func(value string) fileWrite { return fileWrite{file: "memory.swap.max", value: value, optional: true} }
	tests := []struct {
		name      string
		resources *specs.LinuxResources
		want      []fileWrite
		invalid   bool
	}{
		{name: "nil"},
		{name: "cpu", resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{
			Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Burst: ptr[uint64](1000), Idle: ptr[int64](1), Cpus: "0-1", Mems: "0",
		}}, want: []fileWrite{
			w("cpu.weight", "100"), w("cpu.max", "50000 100000"), w("cpu.max.burst", "1000"),
			w("cpu.idle", "1"), w("cpuset.cpus", "0-1"), w("cpuset.mems", "0"),
		}},
		{name: "quota only", resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](20000)}},
			want: []fileWrite{w("cpu.max", "20000")}},
		{name: "period only", resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](50000)}},
			want: []fileWrite{w("cpu.max", "max 50000")}},
		{name: "quota lifted", resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](-1)}},
			want: []fileWrite{w("cpu.max", "max")}},
		{name: "realtime", resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1)}}, invalid: true},
		{name: "memory and swap", resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: ptr[int64](64 * mib), Swap: ptr[int64](96 * mib), Reservation: ptr[int64](mib),
		}}, want: []fileWrite{swap("33554432"), w("memory.max", "67108864"), w("memory.low", "1048576")}},
		{name: "swap equal to memory", resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: ptr[int64](64 * mib), Swap: ptr[int64](64 * mib),
		}}, want: []fileWrite{swap("0"), w("memory.max", "67108864")}},
		{name: "memory lifted", resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)}},
			want: []fileWrite{swap("max"), w("memory.max", "max")}},
		{name: "swap below memory", resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{
			Limit: ptr[int64](64 * mib), Swap: ptr[int64](32 * mib),
		}}, invalid: true},
		{name: "swap without memory", resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr[int64](mib)}}, invalid: true},
		{name: "pids", resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](42)}},
			want: []fileWrite{w("pids.max", "42")}},
		{name: "pids lifted", resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](-1)}},
			want: []fileWrite{w("pids.max", "max")}},
		{name: "unified last and sorted", resources: &specs.LinuxResources{
			Pids:    &specs.LinuxPids{Limit: ptr[int64](1)},
			Unified: map[string]string{"pids.max": "7", "memory.high": "100"},
		}, want: []fileWrite{w("pids.max", "1"), w("memory.high", "100"), w("pids.max", "7")}},
		{name: "unified path", resources: &specs.LinuxResources{Unified: map[string]string{"../cgroup.procs": "1"}}, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v2Writes(tt.resources)
			if tt.invalid {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("v2Writes = %+v, %v; want ErrInvalidArgument", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("v2Writes = %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

// TestV2DeviceFilter compiles the device filter New would load for a spec
// that denies all devices: every rule, runc's included, must be complete
// enough for the cgroups library's compiler.
func TestV2DeviceFilter(t *testing.T) {
	rules := completeDeviceRules(forCreate(&specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}).Devices)
	insts, license, err := cgroup2.DeviceFilter(rules)
	if err != nil || len(insts) == 0 || license == "" {
		t.Fatalf("DeviceFilter: %d instructions, license %q, %v", len(insts), license, err)
	}
}

// fakeV2 makes a fake unified tree at a temporary mountpoint holding the
// group path with the files the kernel would have made, and returns the
// mountpoint.
func fakeV2(t *testing.T, group string) string {
	t.Helper()
	mountpoint := t.TempDir()
	write := func(dir, file, content string) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := mountpoint
	levels := append([]string{""}, strings.Split(strings.Trim(group, "/"), "/")...)
	for i, elem := range levels {
		dir = filepath.Join(dir, elem)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(dir, "cgroup.controllers", "cpuset cpu io memory pids\n")
		write(dir, "cgroup.subtree_control", "")
		if i == 0 {
			continue // the root has no limits
		}
		for _, f := range []string{"cgroup.procs", "cgroup.freeze", "cpu.weight", "cpu.max", "memory.low", "memory.swap.max", "pids.max"} {
			write(dir, f, "")
		}
		write(dir, "memory.max", "max\n")
		write(dir, "memory.current", "12345\n")
		write(dir, "memory.stat", "anon 4096\nfile 0\n")
		write(dir, "cgroup.events", "populated 1\nfrozen 0\n")
		write(dir, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
	}
	return mountpoint
}

func TestV2Controller(t *testing.T) {
	const group = "/pod/c"
	mountpoint := fakeV2(t, group)
	dir := filepath.Join(mountpoint, group)
	v, err := newV2(mountpoint, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	// Every parent enables all its controllers for its children.
	for _, parent := range []string{mountpoint, filepath.Join(mountpoint, "pod")} {
		if got := read(filepath.Join(parent, "cgroup.subtree_control")); got != "+cpuset +cpu +io +memory +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", parent, got)
		}
	}
	if got := read(filepath.Join(dir, "cgroup.subtree_control")); got != "" {
		t.Errorf("the leaf's cgroup.subtree_control was written: %q", got)
	}

	err = v.update(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Swap: ptr[int64](64 * mib)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](2), Quota: ptr[int64](10000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](9)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "0", "cpu.weight": "1", "cpu.max": "10000 100000", "pids.max": "9",
	} {
		if got := read(filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got := v.memoryLimit(); got != 64*mib {
		t.Errorf("memoryLimit() = %d, want %d", got, 64*mib)
	}
	// A lower limit on the pod wins.
	if err := os.WriteFile(filepath.Join(mountpoint, "pod", "memory.max"), []byte("33554432\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := v.memoryLimit(); got != 32*mib {
		t.Errorf("memoryLimit() under a 32 MiB pod = %d", got)
	}

	if err := v.addProc(4242); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(dir, "cgroup.procs")); got != "4242" {
		t.Errorf("cgroup.procs = %q", got)
	}
	stats, err := v.stats()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := stats.(*v2stats.Metrics); !ok || m.Memory == nil || m.Memory.Usage != 12345 {
		t.Errorf("stats() = %#v, want *v2stats.Metrics with the memory.current usage", stats)
	}

}

func TestV2Freeze(t *testing.T) {
	const group = "/c"
	mountpoint := fakeV2(t, group)
	dir := filepath.Join(mountpoint, group)
	v, err := newV2(mountpoint, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Play the kernel: cgroup.events follows cgroup.freeze a little later.
	scratch := t.TempDir()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			want, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze"))
			state := "0"
			if strings.TrimSpace(string(want)) == "1" {
				state = "1"
			}
			// Replace the file whole: the kernel's files never read half-written.
			tmp := filepath.Join(scratch, "events")
			_ = os.WriteFile(tmp, []byte("populated 1\nfrozen "+state+"\n"), 0o644)
			_ = os.Rename(tmp, filepath.Join(dir, "cgroup.events"))
		}
	}()
	if err := v.freeze(); err != nil {
		t.Errorf("freeze: %v", err)
	}
	if err := v.thaw(); err != nil {
		t.Errorf("thaw: %v", err)
	}
	close(stop)
	<-done

	// With nobody to freeze the processes, Freeze gives up and thaws.
	defer func(timeout time.Duration) { freezeTimeout = timeout }(freezeTimeout)
	freezeTimeout = 50 * time.Millisecond
	c := &Cgroup{path: group, ctl: v}
	if err := c.Freeze(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Freeze that never completes = %v, want ErrFailedPrecondition", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); strings.TrimSpace(string(got)) != "0" {
		t.Errorf("cgroup.freeze = %q after a failed Freeze, want thawed", got)
	}
}

func TestV2OOMEvents(t *testing.T) {
	const group = "/c"
	mountpoint := fakeV2(t, group)
	events := filepath.Join(mountpoint, group, "memory.events")
	v, err := newV2(mountpoint, group, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cgroup{path: group, ctl: v}
	// A kill from before the watch started is not reported again.
	if err := os.WriteFile(events, []byte("max 1\noom 1\noom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ch := c.OOMEvents()
	if !c.OOMKilled() {
		t.Error("OOMKilled() = false with oom_kill 1")
	}
	expect := func(content string, want int) {
		t.Helper()
		if err := os.WriteFile(events, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < want; i++ {
			select {
			case <-ch:
			case <-time.After(2 * time.Second):
				t.Fatalf("after %q: %d of %d OOM events", content, i, want)
			}
		}
		select {
		case <-ch:
			t.Fatalf("after %q: more than %d OOM events", content, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
	expect("max 2\noom 1\noom_kill 1\n", 0)
	expect("max 3\noom 2\noom_kill 2\n", 1)
	expect("max 5\noom 4\noom_kill 4\n", 2)

	// Delete cannot remove a fake tree (plain files), but it stops the watch.
	_ = c.Delete()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("OOM event after Delete")
		}
	case <-time.After(time.Second):
		t.Error("Delete did not close the OOM channel")
	}
}

// TestV2OnUnifiedMount runs the v2 code against the real kernel where this
// v1 host has a v2 hierarchy: /sys/fs/cgroup/unified, with no controllers
// but with what v2 has built in (cgroup.procs, cgroup.freeze, eBPF device
// filters). The test's own directory stands in for the mountpoint, so no
// file above it is written.
func TestV2OnUnifiedMount(t *testing.T) {
	unified := requireUnified(t)
	mountpoint := filepath.Join(unified, testPrefix)
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroupfs.RemoveDirs(mountpoint); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	const group = "/pod/c"
	v, err := newV2(mountpoint, group, &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cgroup{path: group, ctl: v}

	// The device filter lets the process open runc's default devices only.
	h := startHelper(t, "open", openEnv+"=/dev/null,/dev/kmsg")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{h.pid()}) {
		t.Errorf("Procs() = %v, %v", pids, err)
	}
	h.start(t)
	for _, want := range []string{"ok", unix.EPERM.Error()} {
		line, err := h.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Errorf("helper opening a device: %q, %v; want %q", line, err, want)
		}
	}

	// Freezing stops a spinning process.
	spinner := startHelper(t, "spin")
	if err := c.AddProc(spinner.pid()); err != nil {
		t.Fatal(err)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	before := cpuTime(t, spinner.pid())
	time.Sleep(300 * time.Millisecond)
	if used := cpuTime(t, spinner.pid()) - before; used != 0 {
		t.Errorf("spinner used %d ticks while frozen", used)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	before = cpuTime(t, spinner.pid())
	time.Sleep(300 * time.Millisecond)
	if used := cpuTime(t, spinner.pid()) - before; used < 5 {
		t.Errorf("spinner used %d ticks in 300 ms after Thaw", used)
	}
	if _, err := c.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}

	// Delete fails while processes live, and succeeds once they are reaped.
	if err := c.Delete(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Delete with live processes = %v, want ErrFailedPrecondition", err)
	}
	for _, p := range []*helper{h, spinner} {
		_ = p.cmd.Process.Kill()
		p.wait(t, 10*time.Second)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mountpoint, group)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cgroup still there after Delete: %v", err)
	}
}
