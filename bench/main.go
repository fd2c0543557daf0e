//go:build linux

// Command bench measures wasm containers side by side with runc on one
// private containerd, in one run: task throughput, single-task latency,
// memory per idle container, how many idle containers fit, and the CPU idle
// containers burn. It prints a table and saves the figures as JSON under
// bench/results, so that committed results show regressions.
//
// Run it as root through `make bench` (or `make bench-smoke` for tiny
// sizes): it needs the shim built (`make build`) and the test modules
// (`make wasm`), and finds them as the integration tests do.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
)

// cacheDirEnv is the shim's setting for its compilation cache; the bench
// gives it a private one so that it neither reads nor fills the node's.
const cacheDirEnv = "WASMEDGE_SHIM_CACHE_DIR"

// allPhases are the measurements, in the order they run.
var allPhases = []string{"throughput", "latency", "memory", "density", "idle"}

// config is the bench's flags.
type config struct {
	containerd     string
	n, parallel    int
	latencyRuns    int
	k, m, idle     int
	settle, window time.Duration
	minAvailMiB    uint64
	maxThreadShare float64
	phases         []string
	results        string
	smoke          bool
}

// parseFlags reads the flags. -smoke shrinks every size that is not given
// explicitly, and keeps results out of bench/results unless -results is.
func parseFlags() (config, error) {
	var cfg config
	var phases string
	flag.StringVar(&cfg.containerd, "containerd", harness.Version24, "containerd to start: "+harness.Version24+" or "+harness.Version16)
	flag.IntVar(&cfg.n, "n", 200, "throughput: short-lived tasks per runtime")
	flag.IntVar(&cfg.parallel, "p", 4, "tasks or container starts in flight")
	flag.IntVar(&cfg.latencyRuns, "latency-runs", 20, "latency: sequential runs per runtime and method")
	flag.IntVar(&cfg.k, "k", 100, "memory: idle containers per runtime")
	flag.IntVar(&cfg.m, "m", 1000, "density: most idle wasm containers to start")
	flag.IntVar(&cfg.idle, "idle", 50, "idle CPU: sleeping containers per runtime")
	flag.DurationVar(&cfg.window, "idle-window", 10*time.Second, "idle CPU: measuring window")
	flag.DurationVar(&cfg.settle, "settle", 5*time.Second, "wait after a ramp before sampling")
	flag.Uint64Var(&cfg.minAvailMiB, "min-available-mib", 2048, "density: stop when MemAvailable falls below this")
	flag.Float64Var(&cfg.maxThreadShare, "max-thread-share", 0.8, "density: stop when threads exceed this share of the pid limit")
	flag.StringVar(&phases, "phases", strings.Join(allPhases, ","), "measurements to run, comma-separated")
	flag.StringVar(&cfg.results, "results", "bench/results", "directory for the JSON results (empty: do not save)")
	flag.BoolVar(&cfg.smoke, "smoke", false, "tiny sizes (n=10, k=5, m=10, idle=5, 3 s window), results not saved")
	flag.Parse()

	if cfg.smoke {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		smallest := map[string]string{
			"n": "10", "latency-runs": "5", "k": "5", "m": "10", "idle": "5",
			"idle-window": "3s", "settle": "1s", "results": "",
		}
		for name, value := range smallest {
			if !set[name] {
				if err := flag.Set(name, value); err != nil {
					return cfg, err
				}
			}
		}
	}
	for _, p := range strings.Split(phases, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			return cfg, fmt.Errorf("unknown phase %q (have %s)", p, strings.Join(allPhases, ", "))
		}
		cfg.phases = append(cfg.phases, p)
	}
	if cfg.parallel < 1 || cfg.n < 1 || cfg.latencyRuns < 1 || cfg.k < 1 || cfg.m < 1 || cfg.idle < 1 {
		return cfg, fmt.Errorf("sizes must be at least 1")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	os.Exit(run(cfg))
}

// run measures everything cfg asks for and returns the exit status: 0 when
// every measurement ran without failures and nothing was left behind.
func run(cfg config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tb := newBenchTB(ctx, os.Stderr)
	defer tb.Close()

	rep := &report{Time: time.Now().UTC(), Smoke: cfg.smoke, Machine: describeMachine()}
	shim := usePrivateShim(tb)
	rep.ShimSHA256 = shim.sha256

	progress("starting containerd %s", cfg.containerd)
	// The harness names a metrics directory of its own after the inherited
	// environment; an explicit one wins, and the bench knows where it is.
	d := harness.StartDaemon(tb, cfg.containerd, harness.WithEnv(metrics.MetricsDirEnv+"="+shim.metricsDir))
	c := d.Client(tb)
	nctx := namespaced(ctx, d)
	v, err := c.Version(nctx)
	if err != nil {
		tb.Fatalf("containerd version: %v", err)
	}
	rep.Containerd = containerdInfo{Version: v.Version, Revision: v.Revision}

	progress("building and importing images")
	wasm, runc, err := prepareProfiles(tb, d, c)
	if err != nil {
		tb.Fatalf("images: %v", err)
	}
	wasm.metricsDir = shim.metricsDir
	warmUp(nctx, tb, c, wasm, runc)

	for _, phase := range cfg.phases {
		if ctx.Err() != nil {
			break
		}
		runPhase(nctx, d, c, cfg, phase, wasm, runc, rep)
		for _, p := range []runtimeProfile{wasm, runc} {
			if err := waitShimsGone(p.shimExe, d.Address, shimExitTimeout); err != nil {
				progress("after %s: %v", phase, err)
			}
		}
	}

	rep.Leftovers = leftovers(tb, d)
	fmt.Println()
	rep.printTable(os.Stdout)
	if cfg.results != "" && ctx.Err() == nil {
		path, err := rep.save(cfg.results)
		if err != nil {
			tb.Errorf("save results: %v", err)
		} else {
			fmt.Printf("\nresults: %s\n", path)
		}
	}
	if ctx.Err() != nil || len(rep.problems()) > 0 || tb.Failed() {
		return 1
	}
	return 0
}

// warmUp runs each runtime's hello and sleeper once: the first container of
// each kind fills the shim's compilation cache and the page cache, and no
// figure should include that.
func warmUp(ctx context.Context, tb *benchTB, c *client.Client, profiles ...runtimeProfile) {
	for _, p := range profiles {
		if _, err := runToExit(ctx, c, p, "warmup-hello-"+p.name); err != nil {
			tb.Fatalf("warm-up %s hello: %v", p.name, err)
		}
		ctr, err := startIdle(ctx, c, p, "warmup-sleeper-"+p.name)
		if err != nil {
			tb.Fatalf("warm-up %s sleeper: %v", p.name, err)
		}
		if err := removeContainer(ctx, ctr); err != nil {
			tb.Fatalf("warm-up %s sleeper: %v", p.name, err)
		}
	}
}

// runPhase runs one measurement and files its result in rep.
func runPhase(ctx context.Context, d *harness.Daemon, c *client.Client, cfg config, phase string, wasm, runc runtimeProfile, rep *report) {
	switch phase {
	case "throughput":
		progress("throughput: %d tasks per runtime, %d in flight", cfg.n, cfg.parallel)
		r := measureThroughput(ctx, c, wasm, runc, cfg.n, cfg.parallel)
		rep.Throughput = &r
	case "latency":
		progress("latency: %d runs per runtime", cfg.latencyRuns)
		r := measureLatency(ctx, d, c, wasm, runc, cfg.latencyRuns)
		rep.Latency = &r
	case "memory":
		progress("memory: %d idle containers per runtime", cfg.k)
		r := measureMemory(ctx, d, c, wasm, runc, cfg.k, cfg.parallel, cfg.settle)
		rep.Memory = &r
	case "density":
		progress("density: up to %d idle wasm containers", cfg.m)
		r := measureDensity(ctx, d, c, wasm, cfg.m, cfg.parallel,
			densityGuard{MinAvailableMiB: cfg.minAvailMiB, MaxThreadShare: cfg.maxThreadShare})
		rep.Density = &r
	case "idle":
		progress("idle CPU: %d sleeping containers per runtime, %v window", cfg.idle, cfg.window)
		r := measureIdleCPU(ctx, d, c, wasm, runc, cfg.idle, cfg.parallel, cfg.settle, cfg.window)
		rep.IdleCPU = &r
	}
}

// privateShim is the copy of the shim under test the daemon runs.
type privateShim struct {
	sha256 string
	// metricsDir is where its shims serve their metrics, a directory of
	// the bench's own, so that the node's exporter neither counts the
	// bench's containers nor leaves counts of its own in the bench's.
	metricsDir string
}

// usePrivateShim copies the shim under test into a directory of its own and
// points the harness (SHIM_BIN_DIR) and the shim's compilation cache there,
// so that a rebuild of bin/ during the run cannot change what is measured.
// The cache reaches the shims through the environment the daemon inherits;
// the metrics directory it makes there needs harness.WithEnv.
func usePrivateShim(tb *benchTB) privateShim {
	data, err := os.ReadFile(harness.ShimBinary(tb))
	if err != nil {
		tb.Fatalf("read shim: %v", err)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, harness.ShimBinaryName), data, 0o755); err != nil {
		tb.Fatalf("copy shim: %v", err)
	}
	cache := filepath.Join(dir, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		tb.Fatalf("cache dir: %v", err)
	}
	// Root only, as the shims would make it: the series name containers.
	metricsDir := filepath.Join(dir, "metrics")
	if err := os.Mkdir(metricsDir, 0o700); err != nil {
		tb.Fatalf("metrics dir: %v", err)
	}
	for name, value := range map[string]string{"SHIM_BIN_DIR": dir, cacheDirEnv: cache} {
		if err := os.Setenv(name, value); err != nil {
			tb.Fatalf("setenv %s: %v", name, err)
		}
	}
	sum := sha256.Sum256(data)
	return privateShim{sha256: hex.EncodeToString(sum[:]), metricsDir: metricsDir}
}

// leftovers returns what the harness's leak check still finds after giving
// shims the same 10 s to exit that AssertClean gives them.
func leftovers(tb *benchTB, d *harness.Daemon) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := d.Leftovers(tb)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// progress reports what the bench is doing on stderr, so a long run shows
// where it is.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
