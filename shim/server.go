//go:build linux

package shim

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/shim"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
)

// MetricsCommand is the first argument that runs the node's metrics
// exporter instead of a shim.
const MetricsCommand = "metrics"

// RunServer is the server binary's main: the shim server containerd talks
// to (spawned by the start action), and what containerd or an operator may
// run besides start and delete: -v, -info, the metrics exporter, and an
// instance process when there is no instance binary.
func RunServer() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InstanceCommand {
		sandbox.RunInstance()
		return
	}
	// The node exporter: `metrics serve --listen ADDR [--dir DIR]`, run by
	// the operator (e.g. as a DaemonSet), never by containerd.
	if len(os.Args) > 1 && os.Args[1] == MetricsCommand {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := metrics.RunExporter(ctx, os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "%s metrics: %s\n", RuntimeName, err)
			os.Exit(1)
		}
		return
	}
	RegisterPlugin()
	shim.RunShim(context.Background(), NewManager())
}
