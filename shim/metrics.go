//go:build linux

package shim

import (
	"context"
	"os"
	"strconv"
	"time"

	cgroup1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/log"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// setUpTelemetry starts serving the shim's metrics on its socket in the
// node's metrics directory and sets up tracing; both stop with the shim.
// Neither is worth failing containers over: problems are logged.
func (s *Service) setUpTelemetry(ctx context.Context, sd shutdown.Service) {
	s.metrics.SetCgroupReader(s.cgroupMemory)
	if _, err := s.metrics.Serve(ctx, ""); err != nil {
		log.G(ctx).WithError(err).Warn("this shim's metrics will not be served")
	} else {
		sd.RegisterCallback(func(ctx context.Context) error {
			// An error here would cancel the other callbacks, among them
			// the one that publishes the last events.
			if err := s.metrics.Shutdown(ctx); err != nil {
				log.G(ctx).WithError(err).Warn("stop serving metrics")
			}
			return nil
		})
	}
	shutdownTracing, err := metrics.SetupTracing(ctx)
	if err != nil {
		log.G(ctx).WithError(err).Warn("tracing disabled")
	}
	sd.RegisterCallback(func(ctx context.Context) error {
		if err := shutdownTracing(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("flush traces")
		}
		return nil
	})
}

// observeShimStart records the shim_start phase once the server is about to
// serve: from the start action that spawned it to now. A server started
// some other way has no start time and records nothing.
func (s *Service) observeShimStart() {
	value, ok := os.LookupEnv(action.StartTimeEnv)
	if !ok {
		return
	}
	// The instance processes and runc's shim inherit the environment.
	_ = os.Unsetenv(action.StartTimeEnv)
	nanos, err := strconv.ParseInt(value, 10, 64)
	if err != nil || nanos <= 0 {
		return
	}
	s.metrics.ObservePhase(metrics.PhaseShimStart, time.Since(time.Unix(0, nanos)))
}

// observeReady records what readying an instance took, as the instance
// measured it, and starts its per-instance series.
func (s *Service) observeReady(p *process, inst *sandbox.Instance) {
	report := inst.Report()
	s.metrics.ObservePhase(metrics.PhaseModuleRead, report.ModuleRead)
	s.metrics.ObservePhase(metrics.PhaseCompile, report.Compile)
	s.metrics.ObservePhase(metrics.PhaseInstantiate, report.Instantiate)
	s.metrics.ObserveCache(report.CacheHit)
	s.metrics.AddInstance(p.info, inst.Pid())
}

// observeMemory returns the sandbox.Options.Memory of p's instance: it
// records the guest's linear memory in p's series. Like Started, it runs
// while the instance's Close may wait for it, so it takes no process lock.
func (s *Service) observeMemory(p *process) func(size, peak uint64) {
	return func(size, peak uint64) {
		s.metrics.SetInstanceMemory(p.info.Namespace, p.info.ContainerID, p.info.ExecID, size, peak)
	}
}

// observeExit counts an instance's exit under its reason. Call it after the
// instance was closed, when its trap report is final.
func (s *Service) observeExit(p *process, status int) {
	trapped := p.instance != nil && p.instance.Trapped()
	oomKilled := false
	if status == 128+int(unix.SIGKILL) && p.cgroup != nil {
		oomKilled = p.cgroup.OOMKilled()
	}
	s.metrics.ObserveExit(p.info, exitReason(status, trapped, oomKilled), status)
}

// exitReason says why an instance process ended. Its status alone cannot:
// a trap and SIGABRT both end with 134 (hence the instance's own trap
// report), and SIGKILL is the OOM killer's signal too (hence the cgroup's
// OOM count). Exit statuses above 128 are taken for signals, as shells do.
func exitReason(status int, trapped, oomKilled bool) metrics.ExitReason {
	switch {
	case status == 128+int(unix.SIGKILL) && oomKilled:
		return metrics.ExitOOM
	case status == sandbox.TrapExitStatus && trapped:
		return metrics.ExitTrap
	case status > 128:
		return metrics.ExitSignal
	}
	return metrics.ExitNormal
}

// cgroupMemory is the registry's CgroupReader: the memory usage and limit
// of a container's cgroup, read at scrape time.
func (s *Service) cgroupMemory(namespace, id string) (usage, limit uint64, ok bool) {
	s.mu.Lock()
	c := s.containers[id]
	s.mu.Unlock()
	if c == nil || c.cgroup == nil || c.init == nil || c.init.info.Namespace != namespace {
		return 0, 0, false
	}
	stats, err := c.cgroup.Stats()
	if err != nil {
		// Deleted meanwhile: the container's series go with it.
		return 0, 0, false
	}
	return memoryOf(stats)
}

// memoryOf picks memory usage and limit out of cgroup v1 or v2 metrics. A
// v1 limit of "none" is a huge number, which the registry leaves out.
func memoryOf(stats any) (usage, limit uint64, ok bool) {
	switch m := stats.(type) {
	case *cgroup1stats.Metrics:
		if m.GetMemory().GetUsage() == nil {
			return 0, 0, false
		}
		return m.Memory.Usage.GetUsage(), m.Memory.Usage.GetLimit(), true
	case *cgroup2stats.Metrics:
		if m.GetMemory() == nil {
			return 0, 0, false
		}
		return m.Memory.GetUsage(), m.Memory.GetUsageLimit(), true
	}
	return 0, 0, false
}

// endSpan ends a span, marking it failed when err is set.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// logger returns the logger for one container's request: its id and
// namespace and, for a container the CRI made, its pod and the pod's
// namespace, so that a pod's log lines can be found without its
// container ids.
func logger(ctx context.Context, id string, annotations map[string]string) *log.Entry {
	return log.G(ctx).WithFields(logFields(ctx, id, annotations))
}

// logFields are the fields of logger.
func logFields(ctx context.Context, id string, annotations map[string]string) log.Fields {
	ns, _ := namespaces.Namespace(ctx)
	fields := log.Fields{"id": id, "namespace": ns}
	if pod := annotations[metrics.AnnotationSandboxName]; pod != "" {
		fields["pod"] = pod
	}
	if podNamespace := annotations[metrics.AnnotationSandboxNamespace]; podNamespace != "" {
		fields["pod_namespace"] = podNamespace
	}
	return fields
}
