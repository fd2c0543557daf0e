//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These tests make real cgroups on a cgroup v1 host, under testPrefix.

func newCgroup(t *testing.T, path string, r *specs.LinuxResources) *Cgroup {
	t.Helper()
	c, err := New(path, r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// v1File is the path of a control file of path in the hierarchy of
// controller.
func v1File(controller, path, file string) string {
	return filepath.Join(v1Root, controller, path, file)
}

func TestNewAppliesResources(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory: &specs.LinuxMemory{
			Limit: ptr[int64](64 * mib), Reservation: ptr[int64](32 * mib), Swap: ptr[int64](96 * mib),
			Kernel: ptr[int64](16 * mib), // ignored, as by runc: the kernel refuses it
		},
		CPU: &specs.LinuxCPU{
			Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Burst: ptr[uint64](10000), Idle: ptr[int64](0), Cpus: "0", Mems: "0",
		},
		Pids: &specs.LinuxPids{Limit: ptr[int64](50)},
	}
	c := newCgroup(t, path, r)
	if c.Path() != path {
		t.Errorf("Path() = %q, want %q", c.Path(), path)
	}
	files := []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.memsw.limit_in_bytes", "100663296"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_burst_us", "10000"},
		{"cpu", "cpu.idle", "0"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"pids", "pids.max", "50"},
	}
	for _, f := range files {
		if got := readTrimmed(t, v1File(f.controller, path, f.file)); got != f.want {
			t.Errorf("%s = %q, want %q", f.file, got, f.want)
		}
	}
	// The spec denies all devices; runc's default devices are allowed again.
	devices := strings.Split(readTrimmed(t, v1File("devices", path, "devices.list")), "\n")
	for _, want := range []string{"c 1:3 rwm", "c 1:9 rwm", "c 136:* rwm"} {
		if !slices.Contains(devices, want) {
			t.Errorf("devices.list %q lacks %q", devices, want)
		}
	}
	if slices.Contains(devices, "a *:* rwm") {
		t.Errorf("devices.list %q still allows every device", devices)
	}
	if got := c.MemoryLimit(); got != 64*mib {
		t.Errorf("MemoryLimit() = %d, want %d", got, 64*mib)
	}
	// The cgroup exists in every hierarchy, named=systemd included.
	dirs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range dirs {
		if _, err := os.Stat(filepath.Join(h, path)); err != nil {
			t.Errorf("not created in %s: %v", h, err)
		}
	}

	// Creating it again (as CRI does with a pod's parent) updates it, here
	// raising memory and swap together, which only works in the right order.
	r.Memory.Limit, r.Memory.Swap = ptr[int64](128*mib), ptr[int64](128*mib)
	if _, err := New(path, r); err != nil {
		t.Fatalf("New on an existing cgroup: %v", err)
	}
	if got := readTrimmed(t, v1File("memory", path, "memory.limit_in_bytes")); got != "134217728" {
		t.Errorf("after second New, memory.limit_in_bytes = %s", got)
	}
}

func TestNewWithoutResources(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, nil)
	if got := c.MemoryLimit(); got != 0 {
		t.Errorf("MemoryLimit() = %d, want 0 (none)", got)
	}
	if got := readTrimmed(t, v1File("devices", path, "devices.list")); got != "a *:* rwm" {
		t.Errorf("devices.list = %q, want everything allowed", got)
	}
	if got := readTrimmed(t, v1File("pids", path, "pids.max")); got != "max" {
		t.Errorf("pids.max = %q", got)
	}
}

func TestNewFailures(t *testing.T) {
	requireV1(t)
	tests := []struct {
		name      string
		resources *specs.LinuxResources
		category  func(error) bool
	}{
		{"unified on v1", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, errdefs.IsInvalidArgument},
		{"cpu the host lacks", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4095"}}, errdefs.IsInvalidArgument},
		{"swap below memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Swap: ptr[int64](32 * mib)}},
			errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t, "c")
			_, err := New(path, tt.resources)
			if err == nil || !tt.category(err) {
				t.Fatalf("New = %v, want a categorized error", err)
			}
			// A cgroup New made is not left behind.
			for _, controller := range []string{"memory", "cpu", "pids", "systemd"} {
				if _, err := os.Stat(filepath.Join(v1Root, controller, path)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s cgroup left behind: %v", controller, err)
				}
			}
		})
	}
	for _, bad := range []string{"", "/", "/a/../b", "../x"} {
		if _, err := New(bad, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("New(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestAddProcAndProcs(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, nil)
	h := startHelper(t, "sleep")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	pids, err := c.Procs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{h.pid()}) {
		t.Errorf("Procs() = %v, want [%d]", pids, h.pid())
	}
	// /proc/PID/cgroup shows the process in the cgroup in every hierarchy.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", h.pid()))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if parts[1] == "" {
			continue // the empty v2 hierarchy
		}
		if parts[2] != path {
			t.Errorf("/proc/%d/cgroup: %s, want path %s", h.pid(), line, path)
		}
		for _, c := range strings.Split(parts[1], ",") {
			in[c] = true
		}
	}
	for _, want := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio", "name=systemd"} {
		if !in[want] {
			t.Errorf("/proc/%d/cgroup has no %s line: %s", h.pid(), want, data)
		}
	}
	if err := c.AddProc(0); !errdefs.IsInvalidArgument(err) {
		t.Errorf("AddProc(0) = %v, want ErrInvalidArgument", err)
	}
	if err := c.AddProc(1 << 30); err == nil {
		t.Errorf("AddProc of a pid that does not exist succeeded")
	}
}

func TestUpdateLive(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	// The limits stay well above what the helper uses, even when built with
	// the race detector.
	c := newCgroup(t, path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](128 * mib), Swap: ptr[int64](128 * mib)},
		CPU:    &specs.LinuxCPU{Quota: ptr[int64](20000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](20)},
	})
	h := startHelper(t, "alloc", mibEnv+"=8")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	h.ready(t)

	steps := []struct {
		name      string
		resources *specs.LinuxResources
		files     map[string]string // "controller/file" → value
		limit     int64
	}{
		{
			name:      "raise memory and swap",
			resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](256 * mib), Swap: ptr[int64](256 * mib)}},
			files:     map[string]string{"memory/memory.limit_in_bytes": "268435456", "memory/memory.memsw.limit_in_bytes": "268435456"},
			limit:     256 * mib,
		},
		{
			name:      "lower memory and swap",
			resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](160 * mib), Swap: ptr[int64](160 * mib)}},
			files:     map[string]string{"memory/memory.limit_in_bytes": "167772160", "memory/memory.memsw.limit_in_bytes": "167772160"},
			limit:     160 * mib,
		},
		{
			name:      "lift memory",
			resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)}},
			files:     map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712"},
			limit:     0,
		},
		{
			name: "cpu and pids",
			resources: &specs.LinuxResources{
				CPU:  &specs.LinuxCPU{Quota: ptr[int64](-1), Shares: ptr[uint64](256)},
				Pids: &specs.LinuxPids{Limit: ptr[int64](-1)},
			},
			files: map[string]string{"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.shares": "256", "pids/pids.max": "max"},
		},
	}
	for _, s := range steps {
		if err := c.Update(s.resources); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for f, want := range s.files {
			controller, file, _ := strings.Cut(f, "/")
			if got := readTrimmed(t, v1File(controller, path, file)); got != want {
				t.Errorf("%s: %s = %s, want %s", s.name, f, got, want)
			}
		}
		if s.resources.Memory != nil {
			if got := c.MemoryLimit(); got != s.limit {
				t.Errorf("%s: MemoryLimit() = %d, want %d", s.name, got, s.limit)
			}
		}
	}
	if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{h.pid()}) {
		t.Errorf("after updates, Procs() = %v, %v; the process should live on", pids, err)
	}
	if err := c.Update(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Update with unified settings on v1 = %v, want ErrInvalidArgument", err)
	}
}

func TestStats(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](30)}})
	h := startHelper(t, "alloc", mibEnv+"=8")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	h.ready(t)
	got, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := got.(*v1stats.Metrics)
	if !ok {
		t.Fatalf("Stats() is a %T, want *v1stats.Metrics", got)
	}
	if m.Memory == nil || m.Memory.Usage.Usage < 8*mib {
		t.Errorf("memory usage %+v, want at least the 8 MiB the process touched", m.Memory)
	}
	if m.Pids == nil || m.Pids.Current < 1 || m.Pids.Limit != 30 {
		t.Errorf("pids %+v, want at least 1 of 30", m.Pids)
	}
	if m.CPU == nil || m.CPU.Usage.Total == 0 {
		t.Errorf("cpu %+v, want some usage", m.CPU)
	}
}

func TestFreezeThaw(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, nil)
	h := startHelper(t, "spin")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	// cpuTime is in clock ticks (10 ms); a spinning process gains ~30 in 300 ms.
	usedDuring := func() uint64 {
		before := cpuTime(t, h.pid())
		time.Sleep(300 * time.Millisecond)
		return cpuTime(t, h.pid()) - before
	}
	if used := usedDuring(); used < 5 {
		t.Fatalf("helper used %d ticks in 300 ms before Freeze; it should spin", used)
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readTrimmed(t, v1File("freezer", path, "freezer.state")); got != "FROZEN" {
		t.Errorf("freezer.state = %s after Freeze", got)
	}
	if used := usedDuring(); used != 0 {
		t.Errorf("helper used %d ticks while frozen", used)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if used := usedDuring(); used < 5 {
		t.Errorf("helper used %d ticks in 300 ms after Thaw", used)
	}
}

func TestOOMKill(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](32 * mib), Swap: ptr[int64](32 * mib)},
	})
	h := startHelper(t, "alloc", mibEnv+"=256")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	events := c.OOMEvents()
	if c.OOMEvents() != events {
		t.Errorf("OOMEvents returns a new channel on a second call")
	}
	if c.OOMKilled() {
		t.Fatal("OOMKilled before any allocation")
	}
	h.start(t)
	status := h.wait(t, 30*time.Second)
	if !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("helper exited with %v, want killed by SIGKILL", status)
	}
	select {
	case _, ok := <-events:
		if !ok {
			t.Fatal("OOM channel closed instead of reporting the kill")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OOM event within 5 s of the kill")
	}
	if !c.OOMKilled() {
		t.Error("OOMKilled() = false after the kernel killed the process")
	}
	select {
	case <-events:
		t.Error("a second OOM event for one kill")
	case <-time.After(time.Second):
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an OOM event after Delete")
		}
	case <-time.After(time.Second):
		t.Error("Delete did not close the OOM channel")
	}
}

func TestOOMEventsQuietWithoutOOM(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib)}})
	h := startHelper(t, "alloc", mibEnv+"=8")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	events := c.OOMEvents()
	h.start(t)
	h.ready(t)
	_ = h.cmd.Process.Kill()
	if status := h.wait(t, 10*time.Second); status.Signal() != syscall.SIGKILL {
		t.Fatalf("helper: %v", status)
	}
	select {
	case <-events:
		t.Fatal("OOM event for a process killed by someone else")
	case <-time.After(500 * time.Millisecond):
	}
	if c.OOMKilled() {
		t.Error("OOMKilled() = true for a SIGKILL that was not the OOM killer's")
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestDelete(t *testing.T) {
	requireV1(t)
	path := testPath(t, "c")
	c := newCgroup(t, path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 * mib)}})
	// A child cgroup goes with its parent.
	if err := os.Mkdir(v1File("memory", path, "child"), 0o755); err != nil {
		t.Fatal(err)
	}

	h := startHelper(t, "sleep")
	if err := c.AddProc(h.pid()); err != nil {
		t.Fatal(err)
	}
	// With a live process Delete fails (after retrying) and kills nothing.
	if err := c.Delete(); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Delete with a live process = %v, want ErrFailedPrecondition", err)
	}
	if pids, err := c.Procs(); err != nil || !slices.Equal(pids, []int{h.pid()}) {
		t.Fatalf("after a failed Delete, Procs() = %v, %v", pids, err)
	}

	// Right after the process is reaped, Delete succeeds everywhere.
	_ = h.cmd.Process.Kill()
	h.wait(t, 10*time.Second)
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	dirs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, path)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there: %v", filepath.Join(d, path), err)
		}
	}
	if err := c.Delete(); err != nil {
		t.Errorf("Delete of a deleted cgroup: %v", err)
	}
	select {
	case _, ok := <-c.OOMEvents():
		if ok {
			t.Error("OOM event from a deleted cgroup")
		}
	case <-time.After(time.Second):
		t.Error("OOMEvents of a deleted cgroup is not closed")
	}
}

func TestMemoryLimitHierarchical(t *testing.T) {
	requireV1(t)
	parent := testPath(t, "pod")
	newCgroup(t, parent, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](48 * mib)}})
	tests := []struct {
		name  string
		limit *int64
		want  int64
	}{
		{"no own limit", nil, 48 * mib},
		{"higher own limit", ptr[int64](64 * mib), 48 * mib},
		{"lower own limit", ptr[int64](32 * mib), 32 * mib},
	}
	for i, tt := range tests {
		c := newCgroup(t, fmt.Sprintf("%s/c%d", parent, i), &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: tt.limit}})
		if got := c.MemoryLimit(); got != tt.want {
			t.Errorf("%s: MemoryLimit() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestRelativePathNestsUnderOwnCgroup checks where a relative path would go,
// without creating it: this process's own cgroups belong to whoever runs the
// tests.
func TestRelativePathNestsUnderOwnCgroup(t *testing.T) {
	requireV1(t)
	own, err := cgroup1.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	at := v1At("pods/abc")
	for _, name := range []cgroup1.Name{cgroup1.Memory, cgroup1.Cpu, cgroup1.Pids} {
		got, err := at(name)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(own[string(name)], "pods/abc"); got != want {
			t.Errorf("%s: relative path at %q, want %q", name, got, want)
		}
	}
	if got, _ := v1At("/pods/abc")(cgroup1.Memory); got != "/pods/abc" {
		t.Errorf("absolute path at %q", got)
	}
}

// TestWasmMemoryPagesUnderCgroup runs a guest that grows its memory to 512
// MiB in a process under a 64 MiB memory cgroup: capped by WasmMemoryPages
// it must see memory.grow fail and exit with 3; capped at the limit itself
// it is OOM-killed, which shows the headroom is needed.
func TestWasmMemoryPagesUnderCgroup(t *testing.T) {
	requireV1(t)
	wasm := buildWasm(t, "grow")
	const limit = 64 * mib
	tests := []struct {
		name   string
		pages  uint32
		wantOK bool
	}{
		{"WasmMemoryPages", WasmMemoryPages(limit), true},
		{"no headroom", limit / wasmPageSize, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t, "c")
			c := newCgroup(t, path, &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr[int64](limit), Swap: ptr[int64](limit)},
			})
			h := startHelper(t, "wasm", wasmEnv+"="+wasm, pagesEnv+"="+strconv.Itoa(int(tt.pages)))
			if err := c.AddProc(h.pid()); err != nil {
				t.Fatal(err)
			}
			h.start(t)
			status := h.wait(t, time.Minute)
			peak := readTrimmed(t, v1File("memory", path, "memory.max_usage_in_bytes"))
			t.Logf("cap %d pages: exit status %d, signal %v, peak usage %s bytes, OOM killed %v",
				tt.pages, status.ExitStatus(), status.Signal(), peak, c.OOMKilled())
			if tt.wantOK {
				if status.Signaled() || status.ExitStatus() != 3 || c.OOMKilled() {
					t.Errorf("guest under a %d-page cap: %v, want exit status 3 (memory.grow failed)", tt.pages, status)
				}
			} else if !status.Signaled() || !c.OOMKilled() {
				t.Errorf("guest capped at the limit: %v, want OOM-killed", status)
			}
		})
	}
}
