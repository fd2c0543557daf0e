package metrics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/containerd/errdefs"
)

// DefaultExporterListen is the node exporter's address when --listen is
// not given.
const DefaultExporterListen = ":9795"

const exporterUsage = `usage: containerd-shim-wasmedge-v1 metrics serve [--listen ADDR] [--dir DIR] [--timeout D]

Serves the merged metrics of every shim on this node at http://ADDR/metrics
(and /healthz) for Prometheus.
`

// RunExporter runs the node exporter command line: args are what follows
// "metrics", i.e. "serve" and its flags. It serves until ctx ends.
func RunExporter(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprint(os.Stderr, exporterUsage)
		return fmt.Errorf("metrics: want the serve command: %w", errdefs.ErrInvalidArgument)
	}
	fs := flag.NewFlagSet("metrics serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", DefaultExporterListen, "address to serve /metrics and /healthz on")
	dir := fs.String("dir", "", "directory of the shims' metrics sockets (default $"+MetricsDirEnv+" or "+DefaultMetricsDir+")")
	timeout := fs.Duration("timeout", DefaultShimTimeout, "how long one shim's scrape may take")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprint(os.Stderr, exporterUsage)
			fs.PrintDefaults()
			return nil
		}
		return fmt.Errorf("metrics serve: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("metrics serve: unexpected arguments %q: %w", fs.Args(), errdefs.ErrInvalidArgument)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("metrics serve: %w", err)
	}
	return NewExporter(*dir, *timeout).Serve(ctx, l)
}
