package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestObservePhase(t *testing.T) {
	tests := []struct {
		name      string
		phase     Phase
		durations []time.Duration
		wantCount uint64
		wantSum   float64
		// bound and wantBelow: how many observations fall at or below it.
		bound     float64
		wantBelow uint64
	}{
		{"sub-millisecond instantiate", PhaseInstantiate, []time.Duration{300 * time.Microsecond, 700 * time.Microsecond}, 2, 0.001, 0.0005, 1},
		{"warm first instruction", PhaseFirstInstruction, []time.Duration{3200 * time.Microsecond, 4500 * time.Microsecond}, 2, 0.0077, 0.004, 1},
		{"cold compile", PhaseCompile, []time.Duration{1200 * time.Millisecond}, 1, 1.2, 1, 0},
		{"beyond the last bucket", PhaseCreate, []time.Duration{8 * time.Second}, 1, 8, 5, 0},
		{"negative clamps to zero", PhaseBundleLoad, []time.Duration{-time.Second}, 1, 0, 0.0005, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			for _, d := range tt.durations {
				r.ObservePhase(tt.phase, d)
			}
			fams := gather(t, r.Gatherer())
			got := series(fams, startupSecondsName, map[string]string{"phase": string(tt.phase)})
			if len(got) != 1 {
				t.Fatalf("%d series for phase %s", len(got), tt.phase)
			}
			h := got[0].GetHistogram()
			if h.GetSampleCount() != tt.wantCount || h.GetSampleSum() < tt.wantSum-1e-9 || h.GetSampleSum() > tt.wantSum+1e-9 {
				t.Errorf("count %d sum %g, want %d and %g", h.GetSampleCount(), h.GetSampleSum(), tt.wantCount, tt.wantSum)
			}
			found := false
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() != tt.bound {
					continue
				}
				found = true
				if b.GetCumulativeCount() != tt.wantBelow {
					t.Errorf("bucket le=%g holds %d, want %d", tt.bound, b.GetCumulativeCount(), tt.wantBelow)
				}
			}
			if !found {
				t.Errorf("no bucket le=%g", tt.bound)
			}
			if n := len(h.GetBucket()); n != len(startupBuckets) {
				t.Errorf("%d buckets, want %d", n, len(startupBuckets))
			}
			// The other phases exist at zero, with no per-container label.
			all := series(fams, startupSecondsName, nil)
			if len(all) != len(phases) {
				t.Errorf("%d phase series, want %d", len(all), len(phases))
			}
			for _, m := range all {
				if len(m.GetLabel()) != 1 {
					t.Errorf("startup series labels %v, want phase only", m.GetLabel())
				}
			}
		})
	}
}

// The startup buckets must resolve warm starts finely enough to judge the
// 5 ms Create→first instruction target, and keep every boundary the
// monitoring files compare against.
func TestStartupBuckets(t *testing.T) {
	for i := 1; i < len(startupBuckets); i++ {
		lo, hi := startupBuckets[i-1], startupBuckets[i]
		if hi <= lo {
			t.Fatalf("buckets not ascending at %g, %g", lo, hi)
		}
		if lo >= 0.002 && hi <= 0.05 && hi/lo > 1.5 {
			t.Errorf("buckets %g and %g are %.2f× apart; between 2 and 50 ms at most 1.5×", lo, hi, hi/lo)
		}
	}
	for _, want := range []float64{0.001, 0.005, 0.05} {
		if !slices.Contains(startupBuckets, want) {
			t.Errorf("no bucket at %g s", want)
		}
	}
	used := regexp.MustCompile(`le="([^"]+)"`)
	for _, name := range []string{"alerts.yaml", "alerts_test.yaml", "grafana-dashboard.json"} {
		data, err := os.ReadFile(filepath.Join(monitoringDir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(data), -1) {
			if m[1] == "+Inf" {
				continue
			}
			bound, err := strconv.ParseFloat(m[1], 64)
			if err != nil || !slices.Contains(startupBuckets, bound) {
				t.Errorf("%s uses le=%q, not a startup bucket", name, m[1])
			}
		}
	}
}

func TestObserveCache(t *testing.T) {
	r := NewRegistry()
	r.ObserveCache(true)
	r.ObserveCache(true)
	r.ObserveCache(false)
	want := `
# HELP wasmedge_shim_compile_cache_total Module compilations served from the compilation cache (hit) or compiled anew (miss).
# TYPE wasmedge_shim_compile_cache_total counter
wasmedge_shim_compile_cache_total{result="hit"} 2
wasmedge_shim_compile_cache_total{result="miss"} 1
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), compileCacheName); err != nil {
		t.Error(err)
	}
}

func TestObserveExit(t *testing.T) {
	info := InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", PodName: "web-0", PodNamespace: "shop", ContainerName: "app"}
	tests := []struct {
		name       string
		reason     ExitReason
		status     int
		wantReason string
		wantFailed string
	}{
		{"clean exit", ExitNormal, 0, "exit", "false"},
		{"proc_exit(3)", ExitNormal, 3, "exit", "true"},
		{"trap", ExitTrap, 134, "trap", "true"},
		{"killed", ExitSignal, 137, "signal", "true"},
		{"oom", ExitOOM, 137, "oom", "true"},
		{"unknown reason", ExitReason("segfault"), 139, "unknown", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.ObserveExit(info, tt.reason, tt.status)
			fams := gather(t, r.Gatherer())
			got := series(fams, instanceExitsName, map[string]string{"reason": tt.wantReason, "failed": tt.wantFailed})
			if len(got) != 1 || got[0].GetCounter().GetValue() != 1 {
				t.Fatalf("series %v, want one at 1", got)
			}
			if total := sumOf(series(fams, instanceExitsName, nil)); total != 1 {
				t.Errorf("all exits sum to %g, want 1", total)
			}
			for _, l := range got[0].GetLabel() {
				if l.GetName() != "reason" && l.GetName() != "failed" {
					t.Errorf("unexpected label %s on the exit counter", l.GetName())
				}
			}
			ex := got[0].GetCounter().GetExemplar()
			if ex == nil || !matches(&dto.Metric{Label: ex.GetLabel()}, map[string]string{"container_id": "c1", "pod": "web-0"}) {
				t.Errorf("exemplar %v, want container_id and pod", ex)
			}
		})
	}
}

// A container id and pod name beyond the exemplar's 128 runes must not
// panic; the id, most specific, is kept.
func TestObserveExitLongExemplar(t *testing.T) {
	r := NewRegistry()
	info := InstanceInfo{ContainerID: strings.Repeat("a", 64), PodName: strings.Repeat("p", 63), ContainerName: "c"}
	r.ObserveExit(info, ExitTrap, 134)
	got := series(gather(t, r.Gatherer()), instanceExitsName, map[string]string{"reason": "trap"})
	ex := got[0].GetCounter().GetExemplar()
	if ex == nil || !matches(&dto.Metric{Label: ex.GetLabel()}, map[string]string{"container_id": info.ContainerID, "container": "c"}) {
		t.Errorf("exemplar %v", ex)
	}
	if matches(&dto.Metric{Label: ex.GetLabel()}, map[string]string{"pod": info.PodName}) {
		t.Error("the pod name does not fit but is in the exemplar")
	}
}

func TestNewInstanceInfo(t *testing.T) {
	got := NewInstanceInfo("k8s.io", "c1", "e1", "/app.wasm", map[string]string{
		AnnotationSandboxName:              "web-0",
		AnnotationSandboxNamespace:         "shop",
		AnnotationContainerName:            "app",
		"io.kubernetes.cri.container-type": "container",
	})
	want := InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", ExecID: "e1", PodName: "web-0", PodNamespace: "shop", ContainerName: "app", Module: "/app.wasm"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := NewInstanceInfo("default", "c1", "", "m", nil); got.PodName != "" || got.ContainerName != "" {
		t.Errorf("without annotations: %+v", got)
	}
}

func sumOf(ms []*dto.Metric) float64 {
	var s float64
	for _, m := range ms {
		s += sampleValue(m)
	}
	return s
}
