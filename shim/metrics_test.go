//go:build linux

package shim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	cgroup1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	dto "github.com/prometheus/client_model/go"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

func TestExitReason(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		trapped   bool
		oomKilled bool
		want      metrics.ExitReason
	}{
		{name: "return", status: 0, want: metrics.ExitNormal},
		{name: "proc_exit 3", status: 3, want: metrics.ExitNormal},
		{name: "proc_exit 128", status: 128, want: metrics.ExitNormal},
		{name: "trap", status: 134, trapped: true, want: metrics.ExitTrap},
		{name: "SIGABRT, no trap report", status: 134, want: metrics.ExitSignal},
		{name: "trap report with another status", status: 1, trapped: true, want: metrics.ExitNormal},
		{name: "SIGTERM", status: 143, want: metrics.ExitSignal},
		{name: "SIGKILL", status: 137, want: metrics.ExitSignal},
		{name: "OOM kill", status: 137, oomKilled: true, want: metrics.ExitOOM},
		{name: "OOM in the cgroup, this one ended by SIGTERM", status: 143, oomKilled: true, want: metrics.ExitSignal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitReason(tt.status, tt.trapped, tt.oomKilled); got != tt.want {
				t.Errorf("exitReason(%d, trapped %v, oom %v) = %q, want %q", tt.status, tt.trapped, tt.oomKilled, got, tt.want)
			}
		})
	}
}

func TestMemoryOf(t *testing.T) {
	tests := []struct {
		name               string
		stats              any
		wantUsage, wantLim uint64
		wantOK             bool
	}{
		{name: "v1", stats: &cgroup1stats.Metrics{Memory: &cgroup1stats.MemoryStat{
			Usage: &cgroup1stats.MemoryEntry{Usage: 5 << 20, Limit: 64 << 20},
		}}, wantUsage: 5 << 20, wantLim: 64 << 20, wantOK: true},
		{name: "v1 without memory controller", stats: &cgroup1stats.Metrics{}},
		{name: "v1 without usage", stats: &cgroup1stats.Metrics{Memory: &cgroup1stats.MemoryStat{}}},
		{name: "v2", stats: &cgroup2stats.Metrics{Memory: &cgroup2stats.MemoryStat{Usage: 7 << 20, UsageLimit: 32 << 20}},
			wantUsage: 7 << 20, wantLim: 32 << 20, wantOK: true},
		{name: "v2 without memory controller", stats: &cgroup2stats.Metrics{}},
		{name: "something else", stats: "not metrics"},
		{name: "nil", stats: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usage, limit, ok := memoryOf(tt.stats)
			if usage != tt.wantUsage || limit != tt.wantLim || ok != tt.wantOK {
				t.Errorf("memoryOf = %d, %d, %v; want %d, %d, %v", usage, limit, ok, tt.wantUsage, tt.wantLim, tt.wantOK)
			}
		})
	}
}

func TestLogFields(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	tests := []struct {
		name        string
		annotations map[string]string
		want        log.Fields
	}{
		{name: "outside Kubernetes", want: log.Fields{"id": "c1", "namespace": "k8s.io"}},
		{name: "CRI container", annotations: map[string]string{
			metrics.AnnotationSandboxName:      "web-0",
			metrics.AnnotationSandboxNamespace: "shop",
			metrics.AnnotationContainerName:    "app",
		}, want: log.Fields{"id": "c1", "namespace": "k8s.io", "pod": "web-0", "pod_namespace": "shop"}},
		{name: "pod name only", annotations: map[string]string{metrics.AnnotationSandboxName: "web-0"},
			want: log.Fields{"id": "c1", "namespace": "k8s.io", "pod": "web-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logFields(ctx, "c1", tt.annotations)
			if len(got) != len(tt.want) {
				t.Fatalf("fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("field %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// phaseCount returns the observation count and sum of one startup phase.
func phaseCount(t *testing.T, r *metrics.Registry, phase metrics.Phase) (uint64, float64) {
	t.Helper()
	families, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "wasmedge_shim_startup_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "phase") == string(phase) {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no startup series for phase %s", phase)
	return 0, 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestObserveShimStart(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		set       bool
		wantCount uint64
		// wantAtLeast is the smallest duration the observation may have.
		wantAtLeast time.Duration
	}{
		{name: "started 50ms ago", value: strconv.FormatInt(time.Now().Add(-50*time.Millisecond).UnixNano(), 10), set: true,
			wantCount: 1, wantAtLeast: 50 * time.Millisecond},
		{name: "not started by the start action"},
		{name: "garbage", value: "yesterday", set: true},
		{name: "zero", value: "0", set: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set {
				t.Setenv(action.StartTimeEnv, tt.value)
			}
			s := &Service{metrics: metrics.NewRegistry()}
			s.observeShimStart()
			count, sum := phaseCount(t, s.metrics, metrics.PhaseShimStart)
			if count != tt.wantCount {
				t.Fatalf("shim_start observed %d times, want %d", count, tt.wantCount)
			}
			if count > 0 && (sum < tt.wantAtLeast.Seconds() || sum > 10) {
				t.Errorf("shim_start took %vs, want at least %v", sum, tt.wantAtLeast)
			}
			if _, ok := os.LookupEnv(action.StartTimeEnv); ok {
				t.Errorf("%s still set: the shim's children would inherit it", action.StartTimeEnv)
			}
		})
	}
}

func TestCgroupMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	cg, err := cgroup.New("/wasmedge-shim-metrics-test-"+hex.EncodeToString(b[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	s := &Service{containers: map[string]*container{
		"c1": {id: "c1", cgroup: cg, init: &process{info: metrics.InstanceInfo{Namespace: "ns1", ContainerID: "c1"}}},
	}}
	tests := []struct {
		name, namespace, id string
		wantOK              bool
	}{
		{name: "the container", namespace: "ns1", id: "c1", wantOK: true},
		{name: "another namespace", namespace: "ns2", id: "c1"},
		{name: "unknown container", namespace: "ns1", id: "c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, ok := s.cgroupMemory(tt.namespace, tt.id); ok != tt.wantOK {
				t.Errorf("cgroupMemory(%s, %s) ok = %v, want %v", tt.namespace, tt.id, ok, tt.wantOK)
			}
		})
	}
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.cgroupMemory("ns1", "c1"); ok {
		t.Error("a deleted cgroup still reads")
	}
}
