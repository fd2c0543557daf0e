//go:build !no_otlp

package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
)

// clearOTelEnv unsets the variables SetupTracing reads, for the test.
func clearOTelEnv(t *testing.T) {
	for _, v := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	} {
		t.Setenv(v, "")
	}
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
}

func TestSetupTracingDisabled(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no endpoint", nil},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			shutdown, err := SetupTracing(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			_, span := StartSpan(context.Background(), "create")
			if span.IsRecording() {
				t.Error("span records with tracing off")
			}
			span.End()
			if err := shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSetupTracingUnsupportedProtocol(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := SetupTracing(context.Background()); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("error %v, want ErrNotImplemented", err)
	}
}

// With an endpoint, a span reaches an OTLP/HTTP collector by shutdown.
func TestSetupTracingExportsOverHTTP(t *testing.T) {
	clearOTelEnv(t)
	var mu sync.Mutex
	var bodies [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			bodies = append(bodies, body)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	shutdown, err := SetupTracing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	info := InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", PodName: "web-0"}
	_, span := StartSpan(context.Background(), "metrics-test-create", info.SpanAttributes()...)
	if !span.IsRecording() {
		t.Error("span not recording with an endpoint set")
	}
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var found bool
	for _, b := range bodies {
		// Protobuf keeps strings verbatim.
		found = found || (bytes.Contains(b, []byte("metrics-test-create")) && bytes.Contains(b, []byte("web-0")) &&
			bytes.Contains(b, []byte(serviceName)))
	}
	if !found {
		t.Errorf("collector got %d requests, none with the span", len(bodies))
	}
}

// The gRPC transport is chosen by the protocol variable; it connects
// lazily, so an unreachable collector is no error until spans are sent.
func TestSetupTracingGRPC(t *testing.T) {
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
	shutdown, err := SetupTracing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Error(err)
	}
}

func TestSpanAttributes(t *testing.T) {
	tests := []struct {
		info InstanceInfo
		want int
	}{
		{InstanceInfo{Namespace: "default", ContainerID: "c1"}, 2},
		{InstanceInfo{Namespace: "k8s.io", ContainerID: "c1", ExecID: "e", PodName: "p", PodNamespace: "n", ContainerName: "c", Module: "/m.wasm"}, 7},
	}
	for _, tt := range tests {
		if got := tt.info.SpanAttributes(); len(got) != tt.want {
			t.Errorf("%+v: %d attributes %v, want %d", tt.info, len(got), got, tt.want)
		}
	}
}
