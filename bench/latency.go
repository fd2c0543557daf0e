//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
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
}

// measureLatency times runs sequential tasks of each kind. The runtimes take
// turns, so that load from elsewhere on the machine falls on both alike.
func measureLatency(ctx context.Context, d *harness.Daemon, c *client.Client, wasm, runc runtimeProfile, runs int) latencyResult {
	res := latencyResult{Runs: runs}
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
	return res
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
