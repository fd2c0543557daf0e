//go:build linux

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// metricsSetup is what the metrics tests scrape: the node exporter serving
// the shims of one daemon, and that daemon's own metrics endpoint.
type metricsSetup struct {
	// exporter and containerd are the URLs of the two /metrics pages.
	exporter, containerd string
}

// TestMetrics runs wasm containers on each containerd version with the
// shims' metrics directory and compilation cache private to the test, and
// checks what the node exporter (`containerd-shim-wasmedge-v1 metrics
// serve`) and containerd's own metrics endpoint say about them.
func TestMetrics(t *testing.T) {
	for _, version := range versions {
		t.Run("containerd-"+version, func(t *testing.T) {
			metricsDir := t.TempDir()
			containerdMetrics := freeLocalAddress(t)
			d := harness.StartDaemon(t, version,
				harness.WithEnv("WASMEDGE_SHIM_METRICS_DIR="+metricsDir, "WASMEDGE_SHIM_CACHE_DIR="+t.TempDir()),
				harness.WithMetricsAddress(containerdMetrics))
			importTestImage(t, d)
			c := d.Client(t)
			setup := metricsSetup{
				exporter:   startExporter(t, metricsDir),
				containerd: "http://" + containerdMetrics + "/v1/metrics",
			}
			for _, tc := range metricsTests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, d, c, setup)
					d.AssertClean(t)
					// Every shim has exited: each removed its socket.
					if sockets, _ := filepath.Glob(filepath.Join(metricsDir, "*.sock")); len(sockets) > 0 {
						t.Errorf("metrics sockets left behind: %v", sockets)
					}
				})
			}
		})
	}
}

var metricsTests = []struct {
	name string
	run  func(*testing.T, *harness.Daemon, *client.Client, metricsSetup)
}{
	{"instance-series", testInstanceSeries},
	{"startup-counts", testStartupCounts},
	{"compile-cache", testCompileCache},
	{"exit-reasons", testExitReasons},
	{"oom-exit", testOOMExit},
	{"first-instruction-latency", testFirstInstructionLatency},
}

// testInstanceSeries follows a long-lived container and an exec in it
// through the exporter and containerd's endpoint, until they are deleted.
func testInstanceSeries(t *testing.T, d *harness.Daemon, c *client.Client, m metricsSetup) {
	before := scrape(t, m.exporter)
	// The CRI's annotations, but for the sandbox id, which would group the
	// container with a pod's.
	pod := map[string]string{
		"io.kubernetes.cri.sandbox-name":      "web-0",
		"io.kubernetes.cri.sandbox-namespace": "shop",
		"io.kubernetes.cri.container-name":    "app",
	}
	tk := startTask(t, d, c, uniqueID("series"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"), oci.WithAnnotations(pod))
	id := tk.container.ID()
	init := map[string]string{"container_id": id, "exec_id": "", "namespace": d.Namespace,
		"pod": "web-0", "pod_namespace": "shop", "container": "app"}

	// The first instruction is reported by the instance after Start
	// returned, so it may reach the registry a moment later.
	firstInstructions := func(f families) int {
		return f.count("wasmedge_shim_startup_seconds", phase("first_instruction")) - before.count("wasmedge_shim_startup_seconds", phase("first_instruction"))
	}
	fams := waitForScrape(t, m.exporter, "the container's memory series and first instruction", func(f families) bool {
		return f.sum("wasmedge_shim_instance_resident_memory_bytes", init) > 0 &&
			f.sum("wasmedge_shim_instance_cgroup_memory_usage_bytes", init) > 0 &&
			f.sum("wasmedge_shim_instance_linear_memory_bytes", init) > 0 &&
			firstInstructions(f) >= 1
	})
	// The instance reports its guest's linear memory (wasitool, compiled C,
	// has some from the start) as soon as it exists.
	linear := fams.sum("wasmedge_shim_instance_linear_memory_bytes", init)
	if peak := fams.sum("wasmedge_shim_instance_linear_memory_peak_bytes", init); peak < linear {
		t.Errorf("linear memory peak %v B below its size %v B", peak, linear)
	}
	if linear < 64<<10 || int64(linear)%(64<<10) != 0 {
		t.Errorf("linear memory %v B is not a whole number of 64 KiB pages", linear)
	}
	if got := fams.sum("wasmedge_shim_instance_info", map[string]string{"container_id": id, "pod": "web-0", "module": "/wasitool.wasm"}); got != 1 {
		t.Errorf("wasmedge_shim_instance_info for %s: %v, want 1", id, got)
	}
	t.Logf("resident %v B, PSS %v B, cgroup usage %v B, linear memory %v B",
		fams.sum("wasmedge_shim_instance_resident_memory_bytes", init),
		fams.sum("wasmedge_shim_instance_pss_bytes", init),
		fams.sum("wasmedge_shim_instance_cgroup_memory_usage_bytes", init), linear)
	if grown := firstInstructions(fams); grown != 1 {
		t.Errorf("first_instruction observed %d more times, want 1", grown)
	}

	// containerd's cgroups task monitor asks the shim for Stats, as for
	// runc's tasks: v1 and v2 name the usage differently.
	waitForScrape(t, m.containerd, "containerd's memory series for the container", func(f families) bool {
		labels := map[string]string{"container_id": id, "namespace": d.Namespace}
		return f.sum("container_memory_usage_usage_bytes", labels)+f.sum("container_memory_usage_bytes", labels) > 0
	})

	// An exec has series of its own, which go with it.
	exec, execExit := tk.startExec("e1", "/wasitool.wasm", "sleep", "600")
	execLabels := map[string]string{"container_id": id, "exec_id": "e1"}
	waitForScrape(t, m.exporter, "the exec's series", func(f families) bool {
		return f.sum("wasmedge_shim_instance_resident_memory_bytes", execLabels) > 0 &&
			f.sum("wasmedge_shim_instance_linear_memory_bytes", execLabels) > 0
	})
	if err := exec.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-execExit
	if _, err := exec.Delete(tk.ctx); err != nil {
		t.Fatal(err)
	}
	fams = waitForScrape(t, m.exporter, "the exec's series to go", func(f families) bool {
		return !f.has(execLabels)
	})
	if fams.sum("wasmedge_shim_instance_resident_memory_bytes", init) == 0 {
		t.Error("the init's series went with the exec's")
	}

	signalled := before.sum("wasmedge_shim_instance_exits_total", map[string]string{"reason": "signal"})
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
	fams = waitForScrape(t, m.exporter, "the container's series to go", func(f families) bool {
		return !f.has(map[string]string{"container_id": id})
	})
	// The exec and the init, both killed.
	if got := fams.sum("wasmedge_shim_instance_exits_total", map[string]string{"reason": "signal"}) - signalled; got != 2 {
		t.Errorf("exits by signal grew by %v, want 2", got)
	}
	// The shim's log entries about the container name its pod; containerd
	// copies them into its own log.
	log, err := os.ReadFile(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "id="+id) && strings.Contains(line, "pod=web-0") && strings.Contains(line, "pod_namespace=shop") {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("no log entry of the shim's names container %s with its pod", id)
	}
}

// testStartupCounts runs short containers and checks that each Create is
// counted once, and that every started guest reports its first instruction.
func testStartupCounts(t *testing.T, d *harness.Daemon, _ *client.Client, m metricsSetup) {
	const runs = 3
	before := scrape(t, m.exporter)
	for range runs {
		if res := ctrRun(t, d, nil, uniqueID("count"), "/hello.wasm"); res.status != 0 {
			t.Fatalf("hello: status %d, stderr %q", res.status, res.stderr)
		}
	}
	// Shims that exited left their counts behind for the exporter.
	after := scrape(t, m.exporter)
	for _, p := range []string{"create", "bundle_load", "module_read", "compile", "instantiate", "first_instruction"} {
		if grown := after.count("wasmedge_shim_startup_seconds", phase(p)) - before.count("wasmedge_shim_startup_seconds", phase(p)); grown != runs {
			t.Errorf("phase %s observed %d more times, want %d", p, grown, runs)
		}
	}
	starts := after.count("wasmedge_shim_startup_seconds", phase("shim_start"))
	if starts == 0 {
		t.Fatal("no shim start observed")
	}
	mean := after.histogramSum("wasmedge_shim_startup_seconds", phase("shim_start")) / float64(starts)
	t.Logf("%d shim starts, %.1f ms on average", starts, mean*1000)
	if mean <= 0 || mean > 10 {
		t.Errorf("shim start took %vs on average", mean)
	}
}

// testCompileCache runs a module no cache has seen twice: the first run
// compiles it, the second finds it in the cache.
func testCompileCache(t *testing.T, d *harness.Daemon, _ *client.Client, m metricsSetup) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fresh.wasm"), uniqueModule(t, harness.WasmModule(t, "hello.wasm")), 0o755); err != nil {
		t.Fatal(err)
	}
	hit := map[string]string{"result": "hit"}
	miss := map[string]string{"result": "miss"}
	for _, want := range []struct {
		run          string
		hits, misses float64
	}{
		{run: "first", misses: 1},
		{run: "second", hits: 1},
	} {
		before := scrape(t, m.exporter)
		res := ctr(t, d, "run", "--rm", "--runtime", harness.RuntimeName, "--rootfs", dir, uniqueID("cache"), "/fresh.wasm")
		if res.status != 0 || res.stdout != "hello from wasm\n" {
			t.Fatalf("%s run: status %d, stdout %q, stderr %q", want.run, res.status, res.stdout, res.stderr)
		}
		after := scrape(t, m.exporter)
		hits := after.sum("wasmedge_shim_compile_cache_total", hit) - before.sum("wasmedge_shim_compile_cache_total", hit)
		misses := after.sum("wasmedge_shim_compile_cache_total", miss) - before.sum("wasmedge_shim_compile_cache_total", miss)
		if hits != want.hits || misses != want.misses {
			t.Errorf("%s run: %v hits and %v misses, want %v and %v", want.run, hits, misses, want.hits, want.misses)
		}
	}
}

// uniqueModule returns module with a custom section of random bytes added:
// the same program under a key no compilation cache has.
func uniqueModule(t *testing.T, module []byte) []byte {
	t.Helper()
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	const name = "nonce"
	payload := append(append([]byte{byte(len(name))}, name...), hex.EncodeToString(nonce)...)
	// Section id 0 (custom), then its size: one LEB128 byte, as it is < 128.
	return append(append(slices.Clone(module), 0, byte(len(payload))), payload...)
}

// testExitReasons checks that a trap, an exit status and a signal are told
// apart.
func testExitReasons(t *testing.T, d *harness.Daemon, c *client.Client, m metricsSetup) {
	exits := func(f families, reason, failed string) float64 {
		return f.sum("wasmedge_shim_instance_exits_total", map[string]string{"reason": reason, "failed": failed})
	}
	cases := []struct {
		name           string
		args           []string
		wantStatus     int
		reason, failed string
	}{
		{name: "trap", args: []string{"/wasitool.wasm", "trap"}, wantStatus: 134, reason: "trap", failed: "true"},
		{name: "proc_exit 3", args: []string{"/wasitool.wasm", "exit", "3"}, wantStatus: 3, reason: "exit", failed: "true"},
		{name: "return", args: []string{"/hello.wasm"}, wantStatus: 0, reason: "exit", failed: "false"},
	}
	for _, tc := range cases {
		before := scrape(t, m.exporter)
		res := ctrRun(t, d, nil, uniqueID("exit"), tc.args...)
		if res.status != tc.wantStatus {
			t.Fatalf("%s: status %d, want %d (stderr %q)", tc.name, res.status, tc.wantStatus, res.stderr)
		}
		after := scrape(t, m.exporter)
		if got := exits(after, tc.reason, tc.failed) - exits(before, tc.reason, tc.failed); got != 1 {
			t.Errorf("%s: exits{reason=%q,failed=%q} grew by %v, want 1", tc.name, tc.reason, tc.failed, got)
		}
		if tc.reason != "trap" {
			if got := exits(after, "trap", "true") - exits(before, "trap", "true"); got != 0 {
				t.Errorf("%s counted as a trap", tc.name)
			}
		}
	}
}

// testOOMExit makes the OOM killer strike, as testOOMKill does: two
// instances of one container each hold 36 MiB under a 64 MiB limit.
func testOOMExit(t *testing.T, d *harness.Daemon, c *client.Client, m metricsSetup) {
	oom := map[string]string{"reason": "oom", "failed": "true"}
	before := scrape(t, m.exporter).sum("wasmedge_shim_instance_exits_total", oom)
	limit := int64(64 << 20)
	hold := []string{"/wasitool.wasm", "alloc", "36", "hold"}
	tk := startTask(t, d, c, uniqueID("oomexit"), wasmImage(t, d, c), nil,
		oci.WithProcessArgs(hold...), withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
	exec, execExit := tk.startExec("hog", hold...)
	waitForScrape(t, m.exporter, "an exit by OOM kill", func(f families) bool {
		return f.sum("wasmedge_shim_instance_exits_total", oom) > before
	})
	// Whichever survived goes now.
	_ = exec.Kill(tk.ctx, syscall.SIGKILL)
	_ = tk.task.Kill(tk.ctx, syscall.SIGKILL)
	<-execExit
	tk.wait(10 * time.Second)
	if _, err := exec.Delete(tk.ctx); err != nil {
		t.Fatal(err)
	}
	tk.finish()
}

// testFirstInstructionLatency starts a small module with a warm cache 20
// times through the Go client and reports the shim's startup phases per
// run, read as the growth of each phase's histogram sum between scrapes.
func testFirstInstructionLatency(t *testing.T, d *harness.Daemon, c *client.Client, m metricsSetup) {
	const runs = 20
	img := wasmImage(t, d, c)
	phases := []string{"first_instruction", "create", "bundle_load", "module_read", "compile", "instantiate"}
	// Warm the cache and the shim.
	if _, _, status := runTask(t, d, c, uniqueID("warm"), img, oci.WithProcessArgs("/hello.wasm")); status != 0 {
		t.Fatalf("warm-up: status %d", status)
	}
	samples := map[string][]time.Duration{}
	for range runs {
		before := scrape(t, m.exporter)
		if _, _, status := runTask(t, d, c, uniqueID("lat"), img, oci.WithProcessArgs("/hello.wasm")); status != 0 {
			t.Fatalf("status %d", status)
		}
		after := scrape(t, m.exporter)
		for _, p := range phases {
			if n := after.count("wasmedge_shim_startup_seconds", phase(p)) - before.count("wasmedge_shim_startup_seconds", phase(p)); n != 1 {
				t.Fatalf("phase %s observed %d times in one run", p, n)
			}
			seconds := after.histogramSum("wasmedge_shim_startup_seconds", phase(p)) - before.histogramSum("wasmedge_shim_startup_seconds", phase(p))
			samples[p] = append(samples[p], time.Duration(seconds*float64(time.Second)))
		}
	}
	for _, p := range phases {
		s := slices.Clone(samples[p])
		slices.Sort(s)
		t.Logf("containerd %s, %-17s p50 %8v  min %8v  max %8v", d.Version, p, s[len(s)/2].Round(time.Microsecond), s[0].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
		if s[0] <= 0 || s[len(s)-1] > 10*time.Second {
			t.Errorf("phase %s: implausible durations %v", p, s)
		}
	}
}

func phase(name string) map[string]string { return map[string]string{"phase": name} }

// families is one scrape, by metric name.
type families map[string]*dto.MetricFamily

// series returns the series of name carrying every label in want (an empty
// value matches an absent label).
func (f families) series(name string, want map[string]string) []*dto.Metric {
	fam, ok := f[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range want {
			if have[k] != v {
				matches = false
			}
		}
		if matches {
			out = append(out, m)
		}
	}
	return out
}

// sum adds up the value of the matching series of a counter or gauge.
func (f families) sum(name string, want map[string]string) float64 {
	var total float64
	for _, m := range f.series(name, want) {
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// count adds up the observation counts of the matching histogram series.
func (f families) count(name string, want map[string]string) int {
	var total uint64
	for _, m := range f.series(name, want) {
		total += m.GetHistogram().GetSampleCount()
	}
	return int(total)
}

// histogramSum adds up the sums of the matching histogram series.
func (f families) histogramSum(name string, want map[string]string) float64 {
	var total float64
	for _, m := range f.series(name, want) {
		total += m.GetHistogram().GetSampleSum()
	}
	return total
}

// has reports whether any series of any family carries the labels.
func (f families) has(want map[string]string) bool {
	for name := range f {
		if len(f.series(name, want)) > 0 {
			return true
		}
	}
	return false
}

// scrape reads a /metrics page in the text format.
func scrape(t *testing.T, url string) families {
	t.Helper()
	fams, err := tryScrape(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func tryScrape(ctx context.Context, url string) (families, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return fams, nil
}

// waitForScrape scrapes url until ready holds (at most 10 s) and returns
// that scrape.
func waitForScrape(t *testing.T, url, what string, ready func(families) bool) families {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams := scrape(t, url)
		if ready(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s at %s", what, url)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeLocalAddress returns a loopback address with a port nothing listens
// on right now.
func freeLocalAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startExporter runs the shim binary's node exporter over dir and returns
// its /metrics URL once it serves; t.Cleanup stops it.
func startExporter(t *testing.T, dir string) string {
	t.Helper()
	address := freeLocalAddress(t)
	cmd := exec.Command(harness.ShimBinary(t), "metrics", "serve", "--listen", address, "--dir", dir)
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("exporter: %v\n%s", waitErr, stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("exporter ignored SIGTERM")
		}
		if strings.TrimSpace(stderr.String()) != "" {
			t.Logf("exporter output:\n%s", stderr.String())
		}
	})
	url := "http://" + address
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("exporter exited: %v\n%s", waitErr, stderr.String())
		default:
		}
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url + "/metrics"
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter did not serve within 10s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
