package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startExporter serves an exporter for dir on a free loopback port and
// returns its base URL.
func startExporter(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- NewExporter(dir, time.Second).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("exporter: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, exporterMarkerName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("exporter marker left behind: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

// scrape fetches the exporter's /metrics as Prometheus would (text format)
// and parses it.
func scrape(t *testing.T, base string) []*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("exporter's exposition does not parse: %v", err)
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	return fams
}

func TestExporterMergesShims(t *testing.T) {
	dir := t.TempDir()
	base := startExporter(t, dir)
	a, b := startShim(t, dir), startShim(t, dir)
	a.do("instance a1", "cache hit", "cache hit", "exit exit 0", "phase first_instruction 3")
	b.do("instance b1", "instance b2", "cache miss", "exit trap 134", "phase first_instruction 40")

	fams := scrape(t, base)
	for _, id := range []string{"a1", "b1", "b2"} {
		if got := series(fams, "wasmedge_shim_instance_info", map[string]string{"container_id": id, "pod": "pod-" + id}); len(got) != 1 {
			t.Errorf("instance %s: %d info series", id, len(got))
		}
		if got := series(fams, "wasmedge_shim_instance_resident_memory_bytes", map[string]string{"container_id": id}); len(got) != 1 {
			t.Errorf("instance %s: %d resident series", id, len(got))
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{compileCacheName, map[string]string{"result": "hit"}, 2},
		{compileCacheName, map[string]string{"result": "miss"}, 1},
		{instanceExitsName, map[string]string{"reason": "exit", "failed": "false"}, 1},
		{instanceExitsName, map[string]string{"reason": "trap", "failed": "true"}, 1},
		{startupSecondsName, map[string]string{"phase": "first_instruction"}, 2},
		{"wasmedge_shim_instances", nil, 3},
		{"wasmedge_shim_exporter_shims", nil, 2},
		{"wasmedge_shim_exporter_scrape_errors_total", nil, 0},
	}
	for _, c := range checks {
		if got := mustValue(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	// Both shims' memory adds up to more than either.
	if got := len(series(fams, "wasmedge_shim_resident_memory_bytes", nil)); got != 1 {
		t.Errorf("%d shim memory series, want one node total", got)
	}

	// Killed: its instances vanish at once, its counts stay in the totals,
	// and the socket it left is cleared.
	b.kill()
	fams = scrape(t, base)
	if got := series(fams, "wasmedge_shim_instance_info", map[string]string{"container_id": "b1"}); len(got) != 0 {
		t.Errorf("killed shim's instance still exported: %v", got)
	}
	if got := len(series(fams, "wasmedge_shim_instance_info", nil)); got != 1 {
		t.Errorf("%d instances, want a1 only", got)
	}
	if got := mustValue(t, fams, compileCacheName, map[string]string{"result": "miss"}); got != 1 {
		t.Errorf("killed shim's cache miss count %g, want 1 kept", got)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_shims", nil); got != 1 {
		t.Errorf("shims %g, want 1", got)
	}
	if _, err := os.Stat(b.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead shim's socket not removed: %v", err)
	}

	// Deleting a container drops its series on the next scrape.
	a.do("instance a2")
	a.do("remove a1")
	fams = scrape(t, base)
	if len(series(fams, "wasmedge_shim_instance_info", map[string]string{"container_id": "a1"})) != 0 ||
		len(series(fams, "wasmedge_shim_instance_info", map[string]string{"container_id": "a2"})) != 1 {
		t.Errorf("after remove a1/add a2: %v", series(fams, "wasmedge_shim_instance_info", nil))
	}

	// A clean exit right after an event: no scrape saw it live, the final
	// file carries it.
	a.do("exit trap 134", "cache miss")
	a.quit()
	fams = scrape(t, base)
	if got := mustValue(t, fams, instanceExitsName, map[string]string{"reason": "trap"}); got != 2 {
		t.Errorf("trap exits %g, want 2 (one from the final file)", got)
	}
	if got := mustValue(t, fams, compileCacheName, map[string]string{"result": "miss"}); got != 2 {
		t.Errorf("cache misses %g, want 2", got)
	}
	if got := len(series(fams, "wasmedge_shim_instance_info", nil)); got != 0 {
		t.Errorf("%d instance series with no shim left", got)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_shims", nil); got != 0 {
		t.Errorf("shims %g, want 0", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != exporterMarkerName {
			t.Errorf("left in the directory: %s", e.Name())
		}
	}
	// And the totals stay put on later scrapes; shims that went away are
	// not scrape errors.
	fams = scrape(t, base)
	if got := mustValue(t, fams, instanceExitsName, map[string]string{"reason": "trap"}); got != 2 {
		t.Errorf("trap exits %g on a later scrape", got)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_scrape_errors_total", nil); got != 0 {
		t.Errorf("scrape errors %g, want 0", got)
	}
}

// A shim that answers badly is counted as a scrape error without costing
// the others their series.
func TestExporterBadShim(t *testing.T) {
	dir := t.TempDir()
	base := startExporter(t, dir)
	good := startShim(t, dir)
	good.do("instance g1")

	l, err := net.Listen("unix", filepath.Join(dir, "999999999.sock"))
	if err != nil {
		t.Fatal(err)
	}
	bad := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})}
	go bad.Serve(l)
	defer bad.Close()

	fams := scrape(t, base)
	if got := len(series(fams, "wasmedge_shim_instance_info", map[string]string{"container_id": "g1"})); got != 1 {
		t.Errorf("good shim's instance: %d series", got)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_scrape_errors_total", nil); got != 1 {
		t.Errorf("scrape errors %g, want 1", got)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_shims", nil); got != 1 {
		t.Errorf("shims %g, want 1", got)
	}
}

// A shim slower than the timeout does not hold up the node's scrape.
func TestExporterSlowShim(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, "999999998.sock"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slow := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release })}
	go slow.Serve(l)
	defer slow.Close()
	defer close(release)

	e := NewExporter(dir, 200*time.Millisecond)
	start := time.Now()
	if _, err := e.Gather(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape took %v", d)
	}
	fams := gather(t, e.own)
	if got := mustValue(t, fams, "wasmedge_shim_exporter_scrape_errors_total", nil); got != 1 {
		t.Errorf("scrape errors %g, want 1", got)
	}
}

func TestExporterHealthzAndEmptyDir(t *testing.T) {
	// The directory need not exist: no shim has run on the node yet.
	dir := filepath.Join(t.TempDir(), "none")
	e := NewExporter(dir, 0)
	fams, err := e.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := mustValue(t, fams, "wasmedge_shim_exporter_shims", nil); got != 0 {
		t.Errorf("shims %g", got)
	}
	base := startExporter(t, dir)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("healthz: %s %q", resp.Status, body)
	}
}
