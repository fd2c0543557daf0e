//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// report is everything one run measured; it is printed as a table and saved
// as JSON.
type report struct {
	Time       time.Time      `json:"time"`
	Smoke      bool           `json:"smoke"`
	Machine    machineInfo    `json:"machine"`
	Containerd containerdInfo `json:"containerd"`
	// ShimSHA256 identifies the shim binary measured.
	ShimSHA256 string            `json:"shim_sha256"`
	Throughput *throughputResult `json:"throughput,omitempty"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	Memory     *memoryResult     `json:"memory,omitempty"`
	Density    *densityResult    `json:"density,omitempty"`
	IdleCPU    *idleCPUResult    `json:"idle_cpu,omitempty"`
	// Leftovers is what the harness's leak check still found after the last
	// measurement: containers, snapshots, shims, mounts, sockets.
	Leftovers []string `json:"leftovers,omitempty"`
}

// containerdInfo names the daemon the figures were taken on.
type containerdInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

// problems lists what went wrong in the run, one line each; a run with
// problems is a failed run. The density ramp stopping is its result, not a
// problem, unless it started nothing at all.
func (r *report) problems() []string {
	var out []string
	add := func(what, err string) {
		if err != "" {
			out = append(out, what+": "+err)
		}
	}
	if t := r.Throughput; t != nil {
		add("throughput wasm", failures(t.Wasm.Failed, t.Wasm.FirstError))
		add("throughput runc", failures(t.Runc.Failed, t.Runc.FirstError))
	}
	if l := r.Latency; l != nil {
		add("latency wasm", failures(l.Wasm.Failed, l.Wasm.FirstError))
		add("latency runc", failures(l.Runc.Failed, l.Runc.FirstError))
		add("latency shim records", l.Shim.Error)
		if l.Shim.Error == "" {
			add("latency shim first_instruction", l.Shim.FirstInstruction.countMismatch(l.Shim.Succeeded, l.Wasm.Failed))
			add("latency shim create", l.Shim.CreateRPC.countMismatch(l.Shim.Succeeded, l.Wasm.Failed))
		}
	}
	if m := r.Memory; m != nil {
		add("memory wasm", m.Wasm.Error)
		add("memory runc", m.Runc.Error)
	}
	if d := r.Density; d != nil {
		if d.Reached == 0 {
			add("density", d.StoppedBy)
		}
		add("density teardown", d.TeardownError)
	}
	if i := r.IdleCPU; i != nil {
		add("idle CPU wasm", i.Wasm.Error)
		add("idle CPU runc", i.Runc.Error)
	}
	for _, l := range r.Leftovers {
		out = append(out, "left behind: "+l)
	}
	return out
}

// failures describes failed tasks, or "" when none failed.
func failures(n int, first string) string {
	if n == 0 && first == "" {
		return ""
	}
	return fmt.Sprintf("%d failed, first: %s", n, first)
}

// printTable writes r for people: the machine, then one row per figure with
// wasm, runc and their ratio side by side.
func (r *report) printTable(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "containerd-shim-wasmedge bench, %s%s\n", r.Time.Format(time.RFC3339), map[bool]string{true: " (smoke sizes)"}[r.Smoke])
	fmt.Fprintf(w, "machine: %d cores (%s), %.1f GiB, cgroup v%d, kernel %s, load %s at start\n",
		m.Cores, m.CPUModel, float64(m.MemoryMiB)/1024, m.CgroupVersion, m.Kernel, m.LoadAverage)
	fmt.Fprintf(w, "containerd %s (%s), private daemon; shim sha256 %.12s\n\n", r.Containerd.Version, r.Containerd.Revision, r.ShimSHA256)

	// fmt pads by runes, so "→" and "×" keep the columns straight.
	row := func(name, wasm, runc, ratio string) {
		fmt.Fprintf(w, "%-42s %16s %16s %10s\n", name, wasm, runc, ratio)
	}
	row("measurement", "wasm", "runc", "wasm/runc")
	if t := r.Throughput; t != nil {
		row(fmt.Sprintf("throughput, %d tasks, %d in flight", t.N, t.Parallel),
			fmt.Sprintf("%.1f tasks/s", t.Wasm.TasksPerSec), fmt.Sprintf("%.1f tasks/s", t.Runc.TasksPerSec), times(t.Ratio))
		row("  task cycle p50", ms(t.Wasm.P50Ms), ms(t.Runc.P50Ms), times(ratio(t.Wasm.P50Ms, t.Runc.P50Ms)))
		row("  task cycle p95", ms(t.Wasm.P95Ms), ms(t.Runc.P95Ms), times(ratio(t.Wasm.P95Ms, t.Runc.P95Ms)))
		if len(t.Wasm.StepsP50Ms) == len(cycleSteps) && len(t.Runc.StepsP50Ms) == len(cycleSteps) {
			for k, name := range cycleSteps {
				w, r := t.Wasm.StepsP50Ms[k], t.Runc.StepsP50Ms[k]
				rel := ""
				if r >= 0.1 {
					// A ratio to next to nothing says nothing.
					rel = times(ratio(w, r))
				}
				row("    "+name, ms(w), ms(r), rel)
			}
		}
	}
	if l := r.Latency; l != nil {
		row(fmt.Sprintf("ctr run --rm, median of %d", l.Runs), ms(l.Wasm.CtrRunMs), ms(l.Runc.CtrRunMs), times(ratio(l.Wasm.CtrRunMs, l.Runc.CtrRunMs)))
		row(fmt.Sprintf("Create→exit, median of %d", l.Runs), ms(l.Wasm.CreateToExitMs), ms(l.Runc.CreateToExitMs),
			times(ratio(l.Wasm.CreateToExitMs, l.Runc.CreateToExitMs)))
		// The shims' own records: wasm only, runc's shim keeps none.
		row(fmt.Sprintf("Create→first instruction, p50 of %d (shim)", l.Shim.FirstInstruction.Samples),
			l.Shim.FirstInstruction.p50(l.Shim.Error), "-", "")
		row(fmt.Sprintf("Create RPC, p50 of %d (shim)", l.Shim.CreateRPC.Samples), l.Shim.CreateRPC.p50(l.Shim.Error), "-", "")
	}
	if mem := r.Memory; mem != nil {
		row(fmt.Sprintf("PSS per idle container, %d running", mem.K), mib(mem.Wasm.PerContainerMiB), mib(mem.Runc.PerContainerMiB), times(mem.Ratio))
		row("  shim + container processes", split(mem.Wasm.memorySample), split(mem.Runc.memorySample), "")
	}
	if d := r.Density; d != nil {
		row(fmt.Sprintf("density, idle wasm containers (max %d)", d.Target),
			fmt.Sprintf("%d in %.0f s", d.Reached, d.RampSeconds), "-", "")
		if d.Memory.Containers > 0 {
			row(fmt.Sprintf("  PSS per container at %d", d.Memory.Containers), mib(d.Memory.PerContainerMiB), "-", "")
		}
	}
	if i := r.IdleCPU; i != nil {
		row(fmt.Sprintf("idle CPU, %d sleeping, %.0f s", i.Containers, i.WindowSeconds),
			fmt.Sprintf("%.3f%% core", i.Wasm.CorePercent), fmt.Sprintf("%.3f%% core", i.Runc.CorePercent), "")
	}

	if d := r.Density; d != nil && d.StoppedBy != "" {
		fmt.Fprintf(w, "\ndensity stopped at %d: %s\n  (then: %d running, MemAvailable %d MiB, %d of %d threads)\n",
			d.Reached, d.StoppedBy, d.Running, d.AtPeak.MemAvailableMiB, d.AtPeak.Threads, d.AtPeak.ThreadLimit)
	}
	if p := r.problems(); len(p) > 0 {
		fmt.Fprintf(w, "\nproblems:\n  %s\n", strings.Join(p, "\n  "))
	}
}

func ms(v float64) string    { return fmt.Sprintf("%.1f ms", v) }
func mib(v float64) string   { return fmt.Sprintf("%.2f MiB", v) }
func times(v float64) string { return fmt.Sprintf("%.2f×", v) }
func split(s memorySample) string {
	return fmt.Sprintf("%.2f + %.2f", s.ShimMiB, s.GuestMiB)
}

// p50 shows a shim phase's median, or why there is none.
func (p shimPhase) p50(readErr string) string {
	switch {
	case readErr != "":
		return "not read"
	case p.Samples == 0:
		return "no samples"
	}
	return fmt.Sprintf("%.2f ms", p.P50Ms)
}

// unsafeFileChars are what a containerd version string may hold that has no
// place in a file name (1.6 from Debian is "1.6.20~ds1").
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// save writes r as indented JSON to dir/<UTC timestamp>-<containerd
// version>.json and returns the path.
func (r *report) save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := r.Time.UTC().Format("20060102T150405Z") + "-" +
		unsafeFileChars.ReplaceAllString(strings.TrimPrefix(r.Containerd.Version, "v"), "_") + ".json"
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, append(data, '\n'), 0o644)
}
