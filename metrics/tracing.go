package metrics

import (
	"context"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the shim's spans.
const tracerName = "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge"

// serviceName is the default service.name of the shim's spans;
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it.
const serviceName = "containerd-shim-wasmedge"

// tracingWanted reads the environment the way the OpenTelemetry
// specification describes: an OTLP endpoint asks for traces, and
// OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none overrules it.
func tracingWanted() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// StartSpan starts a span named name under ctx's span. Until SetupTracing
// has enabled an exporter it returns a no-op span at next to no cost.
func StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return otel.Tracer(tracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// SpanAttributes describes an instance for a span, in OpenTelemetry's
// semantic convention names where one exists.
func (i InstanceInfo) SpanAttributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("containerd.namespace", i.Namespace),
		attribute.String("container.id", i.ContainerID),
	}
	for _, a := range []struct{ key, value string }{
		{"containerd.exec_id", i.ExecID},
		{"k8s.pod.name", i.PodName},
		{"k8s.namespace.name", i.PodNamespace},
		{"k8s.container.name", i.ContainerName},
		{"wasm.module", i.Module},
	} {
		if a.value != "" {
			attrs = append(attrs, attribute.String(a.key, a.value))
		}
	}
	return attrs
}
