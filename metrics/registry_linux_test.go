//go:build linux

package metrics

import (
	"os"
	"os/exec"
	"testing"
)

// instanceFamilies are the per-instance series the registry reads at scrape
// time, each with the instance label set (info adds module).
var instanceFamilies = []string{
	"wasmedge_shim_instance_info",
	"wasmedge_shim_instance_resident_memory_bytes",
	"wasmedge_shim_instance_pss_bytes",
	"wasmedge_shim_instance_cpu_seconds_total",
	"wasmedge_shim_instance_linear_memory_bytes",
	"wasmedge_shim_instance_linear_memory_peak_bytes",
	"wasmedge_shim_instance_cgroup_memory_usage_bytes",
	"wasmedge_shim_instance_cgroup_memory_limit_bytes",
}

func TestInstanceSeries(t *testing.T) {
	r := NewRegistry()
	info := InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", PodName: "web-0", PodNamespace: "shop", ContainerName: "app", Module: "/app.wasm"}
	// The test process stands in for the instance process: /proc is real.
	r.AddInstance(info, os.Getpid())
	r.SetInstanceMemory("k8s.io", "c1", "", 2<<20, 3<<20)
	var asked []string
	r.SetCgroupReader(func(ns, id string) (uint64, uint64, bool) {
		asked = append(asked, ns+"/"+id)
		return 5 << 20, 64 << 20, true
	})

	fams := gather(t, r.Gatherer())
	labels := map[string]string{"namespace": "k8s.io", "container_id": "c1", "exec_id": "", "pod": "web-0", "pod_namespace": "shop", "container": "app"}
	for _, name := range instanceFamilies {
		got := series(fams, name, labels)
		if len(got) != 1 {
			t.Errorf("%s: %d series, want 1", name, len(got))
			continue
		}
		// exec_id is there, empty: Prometheus drops it at ingestion.
		wantLabels := len(instanceLabels)
		if name == "wasmedge_shim_instance_info" {
			wantLabels++
		}
		if n := len(got[0].GetLabel()); n != wantLabels {
			t.Errorf("%s has %d labels %v, want %d", name, n, got[0].GetLabel(), wantLabels)
		}
	}
	if v := mustValue(t, fams, "wasmedge_shim_instance_linear_memory_bytes", labels); v != 2<<20 {
		t.Errorf("linear memory %g", v)
	}
	if v := mustValue(t, fams, "wasmedge_shim_instance_cgroup_memory_limit_bytes", labels); v != 64<<20 {
		t.Errorf("cgroup limit %g", v)
	}
	if v := mustValue(t, fams, "wasmedge_shim_instance_resident_memory_bytes", labels); v < 1<<20 {
		t.Errorf("resident memory of the test process %g, want at least 1 MiB", v)
	}
	if len(series(fams, "wasmedge_shim_instance_info", map[string]string{"module": "/app.wasm"})) != 1 {
		t.Error("info series lacks the module")
	}
	if v := mustValue(t, fams, "wasmedge_shim_instances", nil); v != 1 {
		t.Errorf("instances %g, want 1", v)
	}
	for _, name := range []string{"wasmedge_shim_resident_memory_bytes", "wasmedge_shim_pss_bytes", "wasmedge_shim_cpu_seconds_total"} {
		if len(series(fams, name, nil)) != 1 {
			t.Errorf("shim's own %s missing", name)
		}
	}
	if len(asked) != 1 || asked[0] != "k8s.io/c1" {
		t.Errorf("cgroup reader asked for %v", asked)
	}

	r.RemoveInstance("k8s.io", "c1", "")
	fams = gather(t, r.Gatherer())
	for _, name := range instanceFamilies {
		if n := len(series(fams, name, nil)); n != 0 {
			t.Errorf("%s: %d series left after RemoveInstance", name, n)
		}
	}
	if v := mustValue(t, fams, "wasmedge_shim_instances", nil); v != 0 {
		t.Errorf("instances %g after removal", v)
	}
}

// The cgroup is the container's: one series under the init process's
// labels, however many execs run, and none for a limitless cgroup.
func TestCgroupSeriesPerContainer(t *testing.T) {
	tests := []struct {
		name      string
		execs     []string
		limit     uint64
		wantLimit bool
	}{
		{"init and two execs", []string{"", "e1", "e2"}, 64 << 20, true},
		{"execs only", []string{"e1", "e2"}, 64 << 20, true},
		{"no limit (v1 reports 2^63-4096)", []string{""}, 0x7FFFFFFFFFFFF000, false},
		{"no limit (0)", []string{""}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			for _, e := range tt.execs {
				r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "c1", ExecID: e, ContainerName: "app"}, os.Getpid())
			}
			r.SetCgroupReader(func(string, string) (uint64, uint64, bool) { return 1 << 20, tt.limit, true })
			fams := gather(t, r.Gatherer())
			usage := series(fams, "wasmedge_shim_instance_cgroup_memory_usage_bytes", nil)
			if len(usage) != 1 || !matches(usage[0], map[string]string{"container_id": "c1", "exec_id": "", "container": "app"}) {
				t.Errorf("usage series %v, want one without exec_id", usage)
			}
			if got := len(series(fams, "wasmedge_shim_instance_cgroup_memory_limit_bytes", nil)) == 1; got != tt.wantLimit {
				t.Errorf("limit series present %v, want %v", got, tt.wantLimit)
			}
			if n := len(series(fams, "wasmedge_shim_instance_resident_memory_bytes", nil)); n != len(tt.execs) {
				t.Errorf("%d resident series, want one per instance (%d)", n, len(tt.execs))
			}
		})
	}
}

func TestCgroupReaderUnavailable(t *testing.T) {
	r := NewRegistry()
	r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "c1"}, os.Getpid())
	r.SetCgroupReader(func(string, string) (uint64, uint64, bool) { return 0, 0, false })
	if n := len(series(gather(t, r.Gatherer()), "wasmedge_shim_instance_cgroup_memory_usage_bytes", nil)); n != 0 {
		t.Errorf("%d cgroup series from a reader that failed", n)
	}
	r.SetCgroupReader(nil)
	if n := len(series(gather(t, r.Gatherer()), "wasmedge_shim_instance_cgroup_memory_usage_bytes", nil)); n != 0 {
		t.Errorf("%d cgroup series without a reader", n)
	}
}

// An instance whose process has exited but which the shim has not removed
// yet keeps its info and linear memory but has no process series, and the
// scrape does not fail.
func TestInstanceProcessGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry()
	r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "gone"}, cmd.Process.Pid)
	r.SetInstanceMemory("default", "gone", "", 1<<16, 1<<16)
	fams := gather(t, r.Gatherer())
	if n := len(series(fams, "wasmedge_shim_instance_resident_memory_bytes", map[string]string{"container_id": "gone"})); n != 0 {
		t.Errorf("%d resident series for a dead process", n)
	}
	if n := len(series(fams, "wasmedge_shim_instance_linear_memory_bytes", map[string]string{"container_id": "gone"})); n != 1 {
		t.Errorf("%d linear memory series, want 1", n)
	}
}

func TestSetInstanceMemory(t *testing.T) {
	type report struct{ now, peak uint64 }
	tests := []struct {
		name              string
		reports           []report
		wantNow, wantPeak float64
	}{
		{"one report", []report{{1 << 16, 2 << 16}}, 1 << 16, 2 << 16},
		{"peak never drops", []report{{4 << 16, 4 << 16}, {1 << 16, 1 << 16}}, 1 << 16, 4 << 16},
		{"peak at least now", []report{{3 << 16, 0}}, 3 << 16, 3 << 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "c1"}, os.Getpid())
			for _, rep := range tt.reports {
				r.SetInstanceMemory("default", "c1", "", rep.now, rep.peak)
			}
			// Reports for unknown instances are ignored.
			r.SetInstanceMemory("default", "other", "", 1, 1)
			fams := gather(t, r.Gatherer())
			if v := mustValue(t, fams, "wasmedge_shim_instance_linear_memory_bytes", nil); v != tt.wantNow {
				t.Errorf("now %g, want %g", v, tt.wantNow)
			}
			if v := mustValue(t, fams, "wasmedge_shim_instance_linear_memory_peak_bytes", nil); v != tt.wantPeak {
				t.Errorf("peak %g, want %g", v, tt.wantPeak)
			}
		})
	}
}

// A registry that never heard from an instance has no linear memory series
// rather than a misleading zero.
func TestLinearMemoryUnreported(t *testing.T) {
	r := NewRegistry()
	r.AddInstance(InstanceInfo{Namespace: "default", ContainerID: "c1"}, os.Getpid())
	fams := gather(t, r.Gatherer())
	if n := len(series(fams, "wasmedge_shim_instance_linear_memory_bytes", nil)); n != 0 {
		t.Errorf("%d linear memory series before any report", n)
	}
}
