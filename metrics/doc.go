// Package metrics exposes what operators need to watch wasm containers in
// Prometheus: startup phase latencies, compilation cache use, exits by
// cause, and per-instance memory and CPU.
//
// Each shim process keeps one Registry and serves it on a unix socket in a
// node-wide directory (Serve). A node exporter (RunExporter) scrapes every
// live shim socket in that directory and serves the merged result on a TCP
// port for Prometheus. Per-instance series pass through unchanged; the
// shim-wide counters and histograms are summed into node totals that stay
// monotonic when shims exit, because shims come and go with pods while
// Prometheus needs counters that only reset when the exporter restarts.
//
// SetupTracing optionally sends OpenTelemetry spans over OTLP.
package metrics
