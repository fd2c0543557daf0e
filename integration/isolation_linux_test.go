//go:build linux

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cgroupstats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// TestIsolation checks that a wasm container is a real container for the
// kernel and for containerd: its own cgroup with the spec's limits, stats,
// pause/resume, live updates, kill --all, and nothing left after delete.
func TestIsolation(t *testing.T) {
	runOnEachDaemon(t, isolationTests)
}

var isolationTests = []daemonTest{
	{"cgroup-limits", testCgroupLimits},
	{"stats-and-pids", testStatsAndPids},
	{"pause-resume", testPauseResume},
	{"update", testUpdate},
	{"kill-all", testKillAll},
	{"memory-limit", testMemoryLimit},
	{"credentials", testCredentials},
	{"oom-kill", testOOMKill},
}

// v1 is where this machine's cgroup v1 hierarchies are mounted.
const v1 = "/sys/fs/cgroup"

// cgroupOf returns pid's cgroup path in the v1 hierarchy named controller.
func cgroupOf(t *testing.T, pid uint32, controller string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") {
			return parts[2]
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, data)
	return ""
}

func readCgroupFile(t *testing.T, controller, path, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(v1, controller, path, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func withResources(res *specs.LinuxResources) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containersContainer, s *specs.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Resources = res
		return nil
	}
}

func testCgroupLimits(t *testing.T, d *harness.Daemon, c *client.Client) {
	limit := int64(64 << 20)
	quota, period := int64(50000), uint64(100000)
	shares := uint64(512)
	pidsLimit := int64(32)
	tk := startTask(t, d, c, uniqueID("limits"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"),
		withResources(&specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: &limit},
			CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
			Pids:   &specs.LinuxPids{Limit: &pidsLimit},
		}))
	pid := tk.task.Pid()
	mem := cgroupOf(t, pid, "memory")
	cpu := cgroupOf(t, pid, "cpu")
	if want := "/" + d.Namespace + "/" + tk.container.ID(); mem != want {
		t.Errorf("memory cgroup %s, want ctr's default %s", mem, want)
	}
	for _, check := range []struct{ controller, path, file, want string }{
		{"memory", mem, "memory.limit_in_bytes", strconv.FormatInt(limit, 10)},
		{"cpu", cpu, "cpu.cfs_quota_us", "50000"},
		{"cpu", cpu, "cpu.cfs_period_us", "100000"},
		{"cpu", cpu, "cpu.shares", "512"},
		{"pids", cgroupOf(t, pid, "pids"), "pids.max", "32"},
	} {
		if got := readCgroupFile(t, check.controller, check.path, check.file); got != check.want {
			t.Errorf("%s: %s, want %s", check.file, got, check.want)
		}
	}
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
	for _, controller := range []string{"memory", "cpu", "pids", "freezer"} {
		if _, err := os.Stat(filepath.Join(v1, controller, mem)); err == nil {
			t.Errorf("%s cgroup %s left after delete", controller, mem)
		}
	}
}

func testStatsAndPids(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("stats"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	metrics, err := tk.task.Metrics(tk.ctx)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	v, err := typeurl.UnmarshalAny(metrics.Data)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(*cgroupstats.Metrics)
	if !ok {
		t.Fatalf("metrics of type %T", v)
	}
	if m.GetMemory().GetUsage().GetUsage() == 0 {
		t.Errorf("memory usage 0 for a running task: %+v", m.GetMemory())
	}
	if m.GetPids().GetCurrent() == 0 {
		t.Errorf("no pids in the metrics")
	}
	pids, err := tk.task.Pids(tk.ctx)
	if err != nil || len(pids) != 1 || pids[0].Pid != tk.task.Pid() {
		t.Errorf("pids %+v (%v), want the instance %d", pids, err, tk.task.Pid())
	}
	// ctr sees the same.
	res := ctr(t, d, "task", "metrics", tk.container.ID())
	if res.status != 0 || !strings.Contains(res.stdout, "memory.usage_in_bytes") {
		t.Errorf("ctr task metrics: %d %s %s", res.status, res.stdout, res.stderr)
	}
	t.Logf("ctr task metrics:\n%s", res.stdout)
	res = ctr(t, d, "task", "ps", tk.container.ID())
	if res.status != 0 || !strings.Contains(res.stdout, strconv.Itoa(int(tk.task.Pid()))) {
		t.Errorf("ctr task ps: %d %s %s", res.status, res.stdout, res.stderr)
	}
	t.Logf("ctr task ps:\n%s", res.stdout)
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
}

// cpuTicks is the user+system CPU time of pid, in clock ticks.
func cpuTicks(t *testing.T, pid uint32) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}

func testPauseResume(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("pause"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "spin"))
	pid := tk.task.Pid()
	time.Sleep(200 * time.Millisecond)
	if err := tk.task.Pause(tk.ctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if st, _ := tk.task.Status(tk.ctx); st.Status != client.Paused {
		t.Errorf("status after pause: %s", st.Status)
	}
	before := cpuTicks(t, pid)
	time.Sleep(500 * time.Millisecond)
	if after := cpuTicks(t, pid); after-before > 2 {
		t.Errorf("paused guest used %d ticks of CPU", after-before)
	}
	if err := tk.task.Resume(tk.ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if st, _ := tk.task.Status(tk.ctx); st.Status != client.Running {
		t.Errorf("status after resume: %s", st.Status)
	}
	before = cpuTicks(t, pid)
	time.Sleep(500 * time.Millisecond)
	if after := cpuTicks(t, pid); after-before < 10 {
		t.Errorf("resumed guest used only %d ticks of CPU", after-before)
	}
	// SIGKILL reaches a paused guest too.
	if err := tk.task.Pause(tk.ctx); err != nil {
		t.Fatal(err)
	}
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if status := tk.wait(5 * time.Second); status != 137 {
		t.Errorf("killed paused guest: status %d", status)
	}
	tk.finish()
}

func testUpdate(t *testing.T, d *harness.Daemon, c *client.Client) {
	limit := int64(256 << 20)
	tk := startTask(t, d, c, uniqueID("update"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"),
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	mem := cgroupOf(t, tk.task.Pid(), "memory")
	newLimit := int64(128 << 20)
	quota := int64(20000)
	if err := tk.task.Update(tk.ctx, client.WithResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &newLimit},
		CPU:    &specs.LinuxCPU{Quota: &quota},
	})); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := readCgroupFile(t, "memory", mem, "memory.limit_in_bytes"); got != strconv.FormatInt(newLimit, 10) {
		t.Errorf("memory limit after update %s", got)
	}
	if got := readCgroupFile(t, "cpu", cgroupOf(t, tk.task.Pid(), "cpu"), "cpu.cfs_quota_us"); got != "20000" {
		t.Errorf("cpu quota after update %s", got)
	}
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
}

// testKillAll signals the container's init and its execs at once.
func testKillAll(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("killall"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	exec, execExit := tk.startExec("spinner", "/wasitool.wasm", "spin")
	res := ctr(t, d, "task", "kill", "--all", "-s", "SIGKILL", tk.container.ID())
	if res.status != 0 {
		t.Fatalf("ctr task kill --all: %s", res.stderr)
	}
	select {
	case st := <-execExit:
		if st.ExitCode() != 137 {
			t.Errorf("exec exit %d", st.ExitCode())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exec survived kill --all")
	}
	if status := tk.wait(5 * time.Second); status != 137 {
		t.Errorf("init exit %d", status)
	}
	if _, err := exec.Delete(tk.ctx); err != nil {
		t.Fatal(err)
	}
	tk.finish()
}

// testMemoryLimit runs a guest that allocates 512 MiB under a 64 MiB limit:
// it must fail cleanly — the guest sees its allocation fail, or the task
// ends OOM-killed with TaskOOM published — and never succeed.
func testMemoryLimit(t *testing.T, d *harness.Daemon, c *client.Client) {
	ctx, cancel := context.WithCancel(d.Context(t))
	defer cancel()
	evC, _ := c.Subscribe(ctx, `topic=="/tasks/oom"`)
	limit := int64(64 << 20)
	tk := startTask(t, d, c, uniqueID("oom"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "alloc", "512"),
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	status := tk.wait(time.Minute)
	tk.finish()
	switch status {
	case 3:
		if !strings.Contains(tk.stderr.String(), "alloc failed") {
			t.Errorf("exit 3 without the guest's failure message: %q", tk.stderr.String())
		}
		t.Logf("guest saw the allocation fail: %s", strings.TrimSpace(tk.stderr.String()))
	case 137:
		select {
		case <-evC:
			t.Logf("OOM-killed, TaskOOM published")
		case <-time.After(5 * time.Second):
			t.Errorf("exit 137 without a TaskOOM event")
		}
	default:
		t.Errorf("512 MiB under a 64 MiB limit: exit %d, stdout %q, stderr %q", status, tk.stdout.String(), tk.stderr.String())
	}
}

// testCredentials checks the instance process carries the spec's user,
// no_new_privs and capability sets, as runc would give a native process.
func testCredentials(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("creds"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"),
		oci.WithUIDGID(1000, 1000), oci.WithAdditionalGIDs("root"), oci.WithNoNewPrivileges,
		oci.WithCapabilities([]string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tk.task.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	// CAP_KILL is bit 5, CAP_NET_BIND_SERVICE bit 10.
	const caps = "0000000000000420"
	for key, want := range map[string]string{
		"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000",
		"NoNewPrivs": "1", "CapEff": caps, "CapPrm": caps, "CapBnd": caps,
	} {
		if fields[key] != want {
			t.Errorf("%s: %q, want %q", key, fields[key], want)
		}
	}
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
}

// testOOMKill makes the kernel's OOM killer strike: two instances of one
// container each hold 36 MiB under a 64 MiB limit (each alone fits under its
// linear-memory cap). The killed one exits 137 and TaskOOM is published.
func testOOMKill(t *testing.T, d *harness.Daemon, c *client.Client) {
	ctx, cancel := context.WithCancel(d.Context(t))
	defer cancel()
	evC, errC := c.Subscribe(ctx, `topic=="/tasks/oom"`)
	limit := int64(64 << 20)
	tk := startTask(t, d, c, uniqueID("oomkill"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "alloc", "36", "hold"),
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	exec, execExit := tk.startExec("hog", "/wasitool.wasm", "alloc", "36", "hold")
	select {
	case env := <-evC:
		if !strings.Contains(string(env.Event.GetValue()), tk.container.ID()) {
			t.Errorf("TaskOOM for another container: %v", env)
		}
	case err := <-errC:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("no TaskOOM within 30 s")
	}
	// One of the two was killed; the other is killed now.
	var execStatus, initStatus uint32
	select {
	case st := <-execExit:
		execStatus = st.ExitCode()
		_ = tk.task.Kill(tk.ctx, syscall.SIGKILL)
		initStatus = tk.wait(10 * time.Second)
		if execStatus != 137 {
			t.Errorf("OOM-killed exec exited %d, want 137", execStatus)
		}
	case st := <-tk.exitC:
		code, _, _ := st.Result()
		initStatus = code
		tk.exitC = nil
		if initStatus != 137 {
			t.Errorf("OOM-killed init exited %d, want 137", initStatus)
		}
		if st, err := tk.task.Status(tk.ctx); err != nil || st.ExitStatus != 137 || st.Status != client.Stopped {
			t.Errorf("state after OOM: %+v %v", st, err)
		}
		_ = exec.Kill(tk.ctx, syscall.SIGKILL)
		<-execExit
	case <-time.After(30 * time.Second):
		t.Fatal("nobody was OOM-killed")
	}
	if _, err := exec.Delete(tk.ctx); err != nil {
		t.Fatal(err)
	}
	tk.finish()
}
