//go:build linux

package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// throughputSide is one runtime's share of the throughput measurement.
type throughputSide struct {
	Tasks       int     `json:"tasks"`
	Failed      int     `json:"failed"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	TasksPerSec float64 `json:"tasks_per_sec"`
	P50Ms       float64 `json:"p50_ms"`
	P95Ms       float64 `json:"p95_ms"`
	// StepsP50Ms are the median of each part of the cycle, in cycleSteps'
	// order: which of them the runtime makes slow or fast.
	StepsP50Ms []float64 `json:"steps_p50_ms,omitempty"`
}

// throughputResult compares the two runtimes.
type throughputResult struct {
	N        int            `json:"n"`
	Parallel int            `json:"parallel"`
	Wasm     throughputSide `json:"wasm"`
	Runc     throughputSide `json:"runc"`
	// Ratio is wasm tasks/s over runc tasks/s.
	Ratio float64 `json:"ratio"`
}

// measureThroughput runs n short-lived tasks of each runtime, parallel in
// flight, wasm first, then runc.
func measureThroughput(ctx context.Context, c *client.Client, wasm, runc runtimeProfile, n, parallel int) throughputResult {
	res := throughputResult{N: n, Parallel: parallel}
	res.Wasm = runShortTasks(ctx, c, wasm, n, parallel)
	res.Runc = runShortTasks(ctx, c, runc, n, parallel)
	res.Ratio = ratio(res.Wasm.TasksPerSec, res.Runc.TasksPerSec)
	return res
}

// runShortTasks runs n hello tasks of p, parallel at a time, each one the
// full client cycle (runToExit). Tasks/s counts the successful ones over
// the wall time of the whole batch.
func runShortTasks(ctx context.Context, c *client.Client, p runtimeProfile, n, parallel int) throughputSide {
	var (
		mu      sync.Mutex
		cycles  []time.Duration
		steps   [len(cycleSteps)][]time.Duration
		side    = throughputSide{Tasks: n}
		next    atomic.Int64
		wg      sync.WaitGroup
		started = time.Now()
	)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				run, err := runToExit(ctx, c, p, fmt.Sprintf("tp-%s-%d", p.name, i))
				mu.Lock()
				if err != nil {
					side.Failed++
					if side.FirstError == "" {
						side.FirstError = err.Error()
					}
				} else {
					cycles = append(cycles, run.cycle)
					for k, d := range run.steps {
						steps[k] = append(steps[k], d)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	side.Seconds = elapsed.Seconds()
	side.TasksPerSec = float64(len(cycles)) / elapsed.Seconds()
	side.P50Ms = millis(quantile(cycles, 0.5))
	side.P95Ms = millis(quantile(cycles, 0.95))
	if len(cycles) > 0 {
		for _, s := range steps {
			side.StepsP50Ms = append(side.StepsP50Ms, millis(median(s)))
		}
	}
	if ctx.Err() != nil && side.FirstError == "" {
		side.FirstError = ctx.Err().Error()
	}
	return side
}
