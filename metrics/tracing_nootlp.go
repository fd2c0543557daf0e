//go:build no_otlp

package metrics

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// SetupTracing would install an OTLP span exporter, but this binary was
// built with the no_otlp tag to keep the OpenTelemetry SDK out of it. An
// endpoint in the environment is reported as errdefs.ErrNotImplemented so
// the operator learns why no spans arrive; spans stay no-ops.
func SetupTracing(ctx context.Context) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if tracingWanted() {
		return noop, fmt.Errorf("OTLP tracing: binary built with no_otlp: %w", errdefs.ErrNotImplemented)
	}
	return noop, nil
}
