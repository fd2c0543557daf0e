//go:build linux

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// idleCPUSide is the CPU a runtime's sleeping containers cost.
type idleCPUSide struct {
	// CorePercent is the CPU time its shim and container processes spent
	// during the window, as a percentage of one core.
	CorePercent float64 `json:"core_percent"`
	Processes   int     `json:"processes"`
	Error       string  `json:"error,omitempty"`
}

// idleCPUResult compares the two runtimes.
type idleCPUResult struct {
	Containers    int         `json:"containers"`
	WindowSeconds float64     `json:"window_seconds"`
	Wasm          idleCPUSide `json:"wasm"`
	Runc          idleCPUSide `json:"runc"`
}

// measureIdleCPU runs count sleeping containers of each runtime in turn and
// measures their CPU over window, after settle.
func measureIdleCPU(ctx context.Context, d *harness.Daemon, c *client.Client, wasm, runc runtimeProfile, count, parallel int, settle, window time.Duration) idleCPUResult {
	res := idleCPUResult{Containers: count, WindowSeconds: window.Seconds()}
	res.Wasm = idleCPUOf(ctx, d, c, wasm, count, parallel, settle, window)
	res.Runc = idleCPUOf(ctx, d, c, runc, count, parallel, settle, window)
	return res
}

// idleCPUOf measures one runtime: the processes found after settle, and of
// them the threads alive at both ends of the window (an idle container's
// threads do not come and go).
func idleCPUOf(ctx context.Context, d *harness.Daemon, c *client.Client, p runtimeProfile, count, parallel int, settle, window time.Duration) (side idleCPUSide) {
	ramp := startIdleMany(ctx, c, p, "idle-"+p.name, count, parallel, nil)
	defer func() {
		if err := tearDown(ctx, d, p, ramp.started, parallel); err != nil && side.Error == "" {
			side.Error = err.Error()
		}
	}()
	if ramp.err != nil {
		side.Error = fmt.Sprintf("%d of %d started: %v", len(ramp.started), count, ramp.err)
		return side
	}
	if !sleepCtx(ctx, settle) {
		side.Error = ctx.Err().Error()
		return side
	}
	fam, err := shimFamilyNow(p.shimExe, d.Address)
	if err != nil {
		side.Error = err.Error()
		return side
	}
	before := familyCPU(fam)
	begin := time.Now()
	if !sleepCtx(ctx, window) {
		side.Error = ctx.Err().Error()
		return side
	}
	after := familyCPU(fam)
	elapsed := time.Since(begin)
	var spent uint64
	for tid, ns := range after {
		if was, ok := before[tid]; ok && ns >= was {
			spent += ns - was
		}
	}
	side.Processes = len(fam.processes)
	side.CorePercent = 100 * float64(spent) / float64(elapsed.Nanoseconds())
	return side
}

// familyCPU returns the CPU time of every thread of fam's processes, in
// nanoseconds by thread id (thread ids are unique across processes).
// Processes gone by now count as nothing.
func familyCPU(fam shimFamily) map[int]uint64 {
	out := map[int]uint64{}
	for pid := range fam.processes {
		threads, err := threadCPU(pid)
		if err != nil {
			continue
		}
		for tid, ns := range threads {
			out[tid] = ns
		}
	}
	return out
}

// sleepCtx sleeps for d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
