//go:build no_otlp

package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/containerd/errdefs"
)

func TestSetupTracingWithoutOTLP(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if _, err := SetupTracing(context.Background()); err != nil {
		t.Errorf("without an endpoint: %v", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	shutdown, err := SetupTracing(context.Background())
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("error %v, want ErrNotImplemented", err)
	}
	if shutdown == nil || shutdown(context.Background()) != nil {
		t.Error("shutdown must be a usable no-op")
	}
}
