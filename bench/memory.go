//go:build linux

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// shimExitTimeout is how long shims get to exit after their last container
// is removed, before the next measurement starts.
const shimExitTimeout = 30 * time.Second

// memorySample is the PSS of a runtime's processes shared out over its
// containers.
type memorySample struct {
	Containers int `json:"containers"`
	// PerContainerMiB is the PSS of every shim process of the runtime
	// serving this daemon and of all their descendants, over Containers.
	PerContainerMiB float64 `json:"per_container_mib"`
	// ShimMiB and GuestMiB split PerContainerMiB into the shim servers and
	// what runs below them (wasm instance processes; runc's container
	// processes).
	ShimMiB   float64 `json:"shim_mib"`
	GuestMiB  float64 `json:"guest_mib"`
	Processes int     `json:"processes"`
}

// sampleMemory measures p's processes on the daemon at address, shared over
// containers.
func sampleMemory(p runtimeProfile, address string, containers int) (memorySample, error) {
	fam, err := shimFamilyNow(p.shimExe, address)
	if err != nil {
		return memorySample{}, err
	}
	shim, guest := sumPSS(fam.shims), sumPSS(fam.children)
	perMiB := func(b uint64) float64 { return float64(b) / float64(containers) / (1 << 20) }
	return memorySample{
		Containers:      containers,
		PerContainerMiB: perMiB(shim + guest),
		ShimMiB:         perMiB(shim),
		GuestMiB:        perMiB(guest),
		Processes:       len(fam.processes),
	}, nil
}

// memorySide is one runtime's memory figure, or why there is none.
type memorySide struct {
	memorySample
	Error string `json:"error,omitempty"`
}

// memoryResult compares the two runtimes.
type memoryResult struct {
	K        int        `json:"k"`
	SettleMs float64    `json:"settle_ms"`
	Wasm     memorySide `json:"wasm"`
	Runc     memorySide `json:"runc"`
	// Ratio is wasm PSS per container over runc's.
	Ratio float64 `json:"ratio"`
}

// measureMemory runs k idle containers of each runtime in turn, lets them
// settle, samples their PSS and removes them.
func measureMemory(ctx context.Context, d *harness.Daemon, c *client.Client, wasm, runc runtimeProfile, k, parallel int, settle time.Duration) memoryResult {
	res := memoryResult{K: k, SettleMs: millis(settle)}
	res.Wasm = memoryOf(ctx, d, c, wasm, k, parallel, settle)
	res.Runc = memoryOf(ctx, d, c, runc, k, parallel, settle)
	res.Ratio = ratio(res.Wasm.PerContainerMiB, res.Runc.PerContainerMiB)
	return res
}

// memoryOf measures one runtime. A ramp that stops short is an error: a
// figure over fewer containers than asked is not comparable.
func memoryOf(ctx context.Context, d *harness.Daemon, c *client.Client, p runtimeProfile, k, parallel int, settle time.Duration) (side memorySide) {
	ramp := startIdleMany(ctx, c, p, "mem-"+p.name, k, parallel, nil)
	defer func() {
		if err := tearDown(ctx, d, p, ramp.started, parallel); err != nil && side.Error == "" {
			side.Error = err.Error()
		}
	}()
	if ramp.err != nil {
		side.Error = fmt.Sprintf("%d of %d started: %v", len(ramp.started), k, ramp.err)
		return side
	}
	if !sleepCtx(ctx, settle) {
		side.Error = ctx.Err().Error()
		return side
	}
	sample, err := sampleMemory(p, d.Address, len(ramp.started))
	if err != nil {
		side.Error = err.Error()
		return side
	}
	side.memorySample = sample
	return side
}

// tearDown removes containers and waits for p's shims to exit.
func tearDown(ctx context.Context, d *harness.Daemon, p runtimeProfile, containers []client.Container, parallel int) error {
	if _, err := removeMany(ctx, containers, parallel); err != nil {
		return err
	}
	return waitShimsGone(p.shimExe, d.Address, shimExitTimeout)
}
