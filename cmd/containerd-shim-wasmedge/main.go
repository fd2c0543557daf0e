//go:build linux

// Command containerd-shim-wasmedge-v1 is the containerd runtime shim for
// io.containerd.wasmedge.v1. The same binary also serves as each
// container's wasm instance process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/shim"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
	wasmshim "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim"
)

// metricsCommand is the first argument that runs the node's metrics
// exporter instead of a shim.
const metricsCommand = "metrics"

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InstanceCommand {
		sandbox.RunInstance()
		return
	}
	// The node exporter: `metrics serve --listen ADDR [--dir DIR]`, run by
	// the operator (e.g. as a DaemonSet), never by containerd.
	if len(os.Args) > 1 && os.Args[1] == metricsCommand {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := metrics.RunExporter(ctx, os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "%s metrics: %s\n", wasmshim.RuntimeName, err)
			os.Exit(1)
		}
		return
	}
	// pkg/shim refuses the start protocol of containerd before 2.3, so
	// start is answered here for every version.
	if flags, err := wasmshim.ParseStartFlags(os.Args[1:]); err == nil && flags.Action == "start" {
		if err := wasmshim.RunStart(context.Background(), flags, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s\n", wasmshim.RuntimeName, err)
			os.Exit(1)
		}
		return
	}
	wasmshim.RegisterPlugin()
	shim.RunShim(context.Background(), wasmshim.NewManager())
}
