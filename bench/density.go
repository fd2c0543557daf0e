//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// errGuard marks a ramp the bench stopped itself, to spare the machine,
// before anything failed.
var errGuard = errors.New("stopped by the bench's guard")

// densityGuard is the head room the density ramp keeps on a shared machine.
type densityGuard struct {
	// MinAvailableMiB is the least MemAvailable the ramp leaves; the host
	// has no swap, so running out means the OOM killer picks someone.
	MinAvailableMiB uint64 `json:"min_available_mib"`
	// MaxThreadShare is the largest share of the thread (pid) limit the
	// machine may use: beyond it fork fails for every user.
	MaxThreadShare float64 `json:"max_thread_share"`
}

// check returns an errGuard error when the machine is past a limit.
func (g densityGuard) check() error {
	h, err := readHostLoad()
	if err != nil {
		return fmt.Errorf("host load: %w", err)
	}
	if h.MemAvailableMiB < g.MinAvailableMiB {
		return fmt.Errorf("%w: MemAvailable %d MiB < %d MiB", errGuard, h.MemAvailableMiB, g.MinAvailableMiB)
	}
	if limit := int(g.MaxThreadShare * float64(h.ThreadLimit)); h.Threads > limit {
		return fmt.Errorf("%w: %d threads > %.0f%% of the limit %d", errGuard, h.Threads, 100*g.MaxThreadShare, h.ThreadLimit)
	}
	return nil
}

// densityResult is how far idle wasm containers went.
type densityResult struct {
	Target int `json:"target"`
	// Reached is how many containers were started; Running how many of them
	// the daemon still listed as running once the ramp ended.
	Reached     int     `json:"reached"`
	Running     int     `json:"running"`
	RampSeconds float64 `json:"ramp_seconds"`
	// StoppedBy is the first failure (or the guard's reason); empty when the
	// target was reached.
	StoppedBy string       `json:"stopped_by,omitempty"`
	Guard     densityGuard `json:"guard"`
	// AtPeak is the machine and the containers' memory at the top of the
	// ramp.
	AtPeak          hostLoad     `json:"at_peak"`
	Memory          memorySample `json:"memory"`
	TeardownSeconds float64      `json:"teardown_seconds"`
	TeardownError   string       `json:"teardown_error,omitempty"`
}

// measureDensity starts idle wasm containers, parallel at a time, until
// target, a failure or the guard; samples; and removes them all.
func measureDensity(ctx context.Context, d *harness.Daemon, c *client.Client, wasm runtimeProfile, target, parallel int, guard densityGuard) densityResult {
	res := densityResult{Target: target, Guard: guard}
	ramp := startIdleMany(ctx, c, wasm, "density", target, parallel, guard.check)
	res.Reached = len(ramp.started)
	res.RampSeconds = ramp.duration.Seconds()
	if ramp.err != nil {
		res.StoppedBy = ramp.err.Error()
	}
	if h, err := readHostLoad(); err == nil {
		res.AtPeak = h
	}
	if n, err := runningTasks(namespaced(ctx, d), c); err == nil {
		res.Running = n
	} else if res.StoppedBy == "" {
		res.StoppedBy = "listing tasks: " + err.Error()
	}
	if res.Reached > 0 {
		if m, err := sampleMemory(wasm, d.Address, res.Reached); err == nil {
			res.Memory = m
		}
	}
	took, err := removeMany(ctx, ramp.started, parallel)
	res.TeardownSeconds = took.Seconds()
	if err == nil {
		err = waitShimsGone(wasm.shimExe, d.Address, shimExitTimeout)
	}
	if err != nil {
		res.TeardownError = err.Error()
	}
	return res
}

// runningTasks counts the tasks of the context's namespace that are running.
func runningTasks(ctx context.Context, c *client.Client) (int, error) {
	list, err := c.TaskService().List(ctx, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range list.Tasks {
		if t.Status == tasktypes.Status_RUNNING {
			n++
		}
	}
	return n, nil
}
