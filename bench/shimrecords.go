//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
)

// startupFamily is the shims' histogram of startup phases, by label phase.
const startupFamily = "wasmedge_shim_startup_seconds"

// shimRecords reads what the daemon's wasm shims recorded themselves, the
// startup histograms, through a node exporter of the bench's own on their
// private metrics directory. Shims exit a moment after their last task, so
// one reading alone would miss most of them; the exporter keeps the totals
// of shims that exited, which makes its histograms cumulative over the
// directory, and two snapshots bracket a measurement.
type shimRecords struct {
	exporter *metrics.Exporter
	stop     context.CancelFunc
	served   chan error
}

// startShimRecords starts an exporter for the metrics directory dir and
// waits until it serves. Serving announces it in dir, and only shims that
// see it there leave their final counts as they exit: without them, a shim
// that came and went between two snapshots would not be counted.
func startShimRecords(dir string) (*shimRecords, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("exporter listener: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &shimRecords{exporter: metrics.NewExporter(dir, 0), stop: stop, served: make(chan error, 1)}
	go func() { r.served <- r.exporter.Serve(ctx, l) }()

	// Serve announces itself before it answers, so an answer means the
	// announcement is there.
	healthz := "http://" + l.Addr().String() + "/healthz"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(healthz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case serveErr := <-r.served:
			stop()
			return nil, fmt.Errorf("exporter for %s: %w", dir, serveErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = r.Close()
			return nil, fmt.Errorf("exporter for %s did not come up: %w", dir, err)
		}
	}
}

// snapshot returns the startup histograms summed over every shim the
// directory has had since the exporter started, by phase.
func (r *shimRecords) snapshot() (map[metrics.Phase]histogram, error) {
	families, err := r.exporter.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather shim metrics: %w", err)
	}
	out := map[metrics.Phase]histogram{}
	for _, f := range families {
		if f.GetName() != startupFamily {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					out[metrics.Phase(l.GetValue())] = histogramFromProto(m.GetHistogram())
				}
			}
		}
	}
	return out, nil
}

// Close stops the exporter, which withdraws its announcement.
func (r *shimRecords) Close() error {
	r.stop()
	return <-r.served
}
