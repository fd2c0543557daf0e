//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
)

// latencySide is one runtime's single-task latencies, one task at a time.
type latencySide struct {
	// CtrRunMs is the median wall time of `ctr run --rm` (the ctr process
	// included, as a user sees it).
	CtrRunMs float64 `json:"ctr_run_ms"`
	// CreateToExitMs is the median time from the NewTask call to the exit
	// time the shim reports.
	CreateToExitMs float64 `json:"create_to_exit_ms"`
	Failed         int     `json:"failed"`
	FirstError     string  `json:"first_error,omitempty"`
}

// latencyResult compares the two runtimes.
type latencyResult struct {
	Runs int         `json:"runs"`
	Wasm latencySide `json:"wasm"`
	Runc latencySide `json:"runc"`
	// Shim is what the wasm shims recorded of the same runs; runc's shim
	// keeps no such records.
	Shim shimLatency `json:"shim"`
}

// shimLatency is the wasm shims' own startup histograms over the latency
// runs: the difference between a snapshot before and one after.
type shimLatency struct {
	// Succeeded is how many wasm runs (ctr and client alike) succeeded;
	// each phase should hold one sample per run, failed runs may add one.
	Succeeded int `json:"succeeded"`
	// FirstInstruction is phase first_instruction, from the Create request
	// to the guest's first instruction.
	FirstInstruction shimPhase `json:"first_instruction"`
	// CreateRPC is phase create, the Create RPC itself.
	CreateRPC shimPhase `json:"create_rpc"`
	// Error says why the shims' records could not be read.
	Error string `json:"error,omitempty"`
}

// shimPhase is one startup phase over the latency runs.
type shimPhase struct {
	Samples uint64 `json:"samples"`
	// P50Ms is the median estimated from the buckets as PromQL's
	// histogram_quantile does; 0 without samples.
	P50Ms float64 `json:"p50_ms"`
}

// countMismatch describes a sample count that does not fit the runs: each
// of succeeded runs adds one sample, each of failed ones at most one. It is
// "" when the count fits.
func (p shimPhase) countMismatch(succeeded, failed int) string {
	if p.Samples >= uint64(succeeded) && p.Samples <= uint64(succeeded+failed) {
		return ""
	}
	return fmt.Sprintf("%d samples for %d successful runs (%d failed)", p.Samples, succeeded, failed)
}

// measureLatency times runs sequential tasks of each kind. The runtimes take
// turns, so that load from elsewhere on the machine falls on both alike.
// The wasm shims' own records of the runs come from their metrics directory.
func measureLatency(ctx context.Context, d *harness.Daemon, c *client.Client, wasm, runc runtimeProfile, runs int) latencyResult {
	res := latencyResult{Runs: runs}
	records, before, err := startShimSnapshot(wasm.metricsDir)
	if err != nil {
		res.Shim.Error = err.Error()
	} else {
		defer records.Close()
	}
	sides := []*latencySide{&res.Wasm, &res.Runc}
	profiles := []runtimeProfile{wasm, runc}
	ctrRuns := make([][]time.Duration, 2)
	toExit := make([][]time.Duration, 2)
	failed := func(s *latencySide, err error) {
		s.Failed++
		if s.FirstError == "" {
			s.FirstError = err.Error()
		}
	}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		for k, p := range profiles {
			if took, err := ctrRunRm(ctx, d, p, fmt.Sprintf("lat-ctr-%s-%d", p.name, i)); err != nil {
				failed(sides[k], err)
			} else {
				ctrRuns[k] = append(ctrRuns[k], took)
			}
			if run, err := runToExit(ctx, c, p, fmt.Sprintf("lat-client-%s-%d", p.name, i)); err != nil {
				failed(sides[k], err)
			} else {
				toExit[k] = append(toExit[k], run.createToExit)
			}
		}
	}
	for k, s := range sides {
		s.CtrRunMs = millis(median(ctrRuns[k]))
		s.CreateToExitMs = millis(median(toExit[k]))
	}
	res.Shim.Succeeded = len(ctrRuns[0]) + len(toExit[0])
	if records != nil {
		// A shim records the first instruction as the instance reports
		// it, possibly after the exit; once the shims are gone, every
		// record is in: each left its final counts.
		if err := waitShimsGone(wasm.shimExe, d.Address, shimExitTimeout); err != nil {
			res.Shim.Error = err.Error()
		} else if err := res.Shim.read(records, before); err != nil {
			res.Shim.Error = err.Error()
		}
	}
	return res
}

// startShimSnapshot starts reading the shims' records in dir and takes the
// snapshot that later ones are compared with.
func startShimSnapshot(dir string) (*shimRecords, map[metrics.Phase]histogram, error) {
	if dir == "" {
		return nil, nil, errors.New("the wasm runtime has no metrics directory")
	}
	records, err := startShimRecords(dir)
	if err != nil {
		return nil, nil, err
	}
	before, err := records.snapshot()
	if err != nil {
		_ = records.Close()
		return nil, nil, err
	}
	return records, before, nil
}

// read fills in the phases from a snapshot taken now, less before.
func (s *shimLatency) read(records *shimRecords, before map[metrics.Phase]histogram) error {
	after, err := records.snapshot()
	if err != nil {
		return err
	}
	for phase, into := range map[metrics.Phase]*shimPhase{
		metrics.PhaseFirstInstruction: &s.FirstInstruction,
		metrics.PhaseCreate:           &s.CreateRPC,
	} {
		h, err := after[phase].since(before[phase])
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase, err)
		}
		into.Samples = h.count()
		// NaN (no samples) has no JSON form: 0 stands for none.
		if p50 := h.quantile(0.5); !math.IsNaN(p50) {
			into.P50Ms = p50 * 1000
		}
	}
	return nil
}

// ctrRunRm times `ctr run --rm` of p's image (its entrypoint is the hello
// program) and checks that it succeeded.
func ctrRunRm(ctx context.Context, d *harness.Daemon, p runtimeProfile, id string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, taskTimeout)
	defer cancel()
	args := append([]string{"run", "--rm"}, p.ctrFlags...)
	args = append(args, p.ref, id)
	cmd := d.CtrCommand(ctx, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	begin := time.Now()
	err := cmd.Run()
	took := time.Since(begin)
	if err != nil {
		return 0, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, lastLine(out.String()))
	}
	if !strings.Contains(out.String(), "hello") {
		return 0, fmt.Errorf("ctr %s printed %q, no hello", strings.Join(args, " "), out.String())
	}
	return took, nil
}

// lastLine returns the last non-empty line of s, where ctr puts its error.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
