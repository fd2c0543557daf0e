package metrics

import (
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names of the shim-wide series, which the node exporter sums over
// the node's shims.
const (
	startupSecondsName = "wasmedge_shim_startup_seconds"
	compileCacheName   = "wasmedge_shim_compile_cache_total"
	instanceExitsName  = "wasmedge_shim_instance_exits_total"
)

// startupBuckets spans a cached instantiation (~0.5 ms) to a cold compile
// of a large module (seconds). Between 1 ms and 50 ms, where a warm start's
// Create→first instruction lies and its 5 ms target sits, they are at most
// 1.5× apart above 2 ms: histogram_quantile interpolates linearly inside a
// bucket, and with 2.5× steps a true p50 of 4 ms could read as anything
// from 2.5 to 5 ms.
// Outside that range 2.5× steps are enough. 0.005, 0.5, 1 and 2.5 stay
// boundaries: the alerts and their tests (packaging/monitoring) use them.
var startupBuckets = []float64{
	0.0005,
	0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008,
	0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5,
}

// CgroupReader returns the memory usage and limit, in bytes, of a
// container's cgroup; limit is 0 when there is none, and ok false when the
// cgroup cannot be read. It is called at scrape time, possibly from several
// goroutines at once.
type CgroupReader func(namespace, containerID string) (usage, limit uint64, ok bool)

// instanceKey identifies one instance process within a shim.
type instanceKey struct{ namespace, containerID, execID string }

// instance is what the registry knows about one live instance process.
type instance struct {
	info InstanceInfo
	pid  int
	// linearBytes and linearPeakBytes are the guest's linear memory as the
	// instance last reported it; hasLinear is false until it has.
	linearBytes, linearPeakBytes uint64
	hasLinear                    bool
}

// Registry holds the metrics of one shim process. All methods are safe for
// concurrent use.
type Registry struct {
	registry *prometheus.Registry
	startup  *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	exits    *prometheus.CounterVec

	mu        sync.Mutex
	instances map[instanceKey]*instance
	cgroup    CgroupReader

	serving serving
}

// NewRegistry returns an empty registry for one shim process.
func NewRegistry() *Registry {
	r := &Registry{
		registry: prometheus.NewRegistry(),
		startup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    startupSecondsName,
			Help:    "Duration of the phases of starting a wasm instance.",
			Buckets: startupBuckets,
		}, []string{"phase"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: compileCacheName,
			Help: "Module compilations served from the compilation cache (hit) or compiled anew (miss).",
		}, []string{"result"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: instanceExitsName,
			Help: "Instance processes that ended, by reason; failed is true for a non-zero exit status.",
		}, []string{"reason", "failed"}),
		instances: make(map[instanceKey]*instance),
	}
	// Zero series up front: a rate over a series that appears only at the
	// first event misses that event.
	for _, p := range phases {
		r.startup.WithLabelValues(string(p))
	}
	r.cache.WithLabelValues("hit")
	r.cache.WithLabelValues("miss")
	r.exits.WithLabelValues(string(ExitNormal), "false")
	r.exits.WithLabelValues(string(ExitNormal), "true")
	for _, reason := range []ExitReason{ExitTrap, ExitSignal, ExitOOM} {
		r.exits.WithLabelValues(string(reason), "true")
	}
	r.registry.MustRegister(r.startup, r.cache, r.exits, &instanceCollector{r: r})
	return r
}

// Gatherer returns the registry's metrics for exposition.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.registry }

// Handler serves the registry in any exposition format a scraper asks for.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{
		// A process that vanished mid-scrape must not cost the other series.
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// ObservePhase records how long one startup phase took.
func (r *Registry) ObservePhase(p Phase, d time.Duration) {
	r.startup.WithLabelValues(string(p)).Observe(max(d, 0).Seconds())
}

// ObserveCache records whether a compilation was served from the cache.
func (r *Registry) ObserveCache(hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	r.cache.WithLabelValues(result).Inc()
}

// ObserveExit counts an instance's exit. The counter has no per-container
// labels (crash loops would multiply series); info travels as an exemplar
// instead, so a scraper that keeps exemplars can name the last container.
func (r *Registry) ObserveExit(info InstanceInfo, reason ExitReason, status int) {
	if !reason.known() {
		reason = ExitUnknown
	}
	failed := "false"
	if status != 0 || reason != ExitNormal {
		failed = "true"
	}
	c := r.exits.WithLabelValues(string(reason), failed)
	if adder, ok := c.(prometheus.ExemplarAdder); ok {
		if exemplar := exitExemplar(info); len(exemplar) > 0 {
			adder.AddWithExemplar(1, exemplar)
			return
		}
	}
	c.Inc()
}

// exitExemplar labels an exit with as much of info as fits in an exemplar,
// most specific first; client_golang panics beyond ExemplarMaxRunes.
func exitExemplar(info InstanceInfo) prometheus.Labels {
	labels := prometheus.Labels{}
	runes := 0
	for _, l := range [][2]string{
		{"container_id", info.ContainerID},
		{"exec_id", info.ExecID},
		{"pod", info.PodName},
		{"pod_namespace", info.PodNamespace},
		{"container", info.ContainerName},
	} {
		if l[1] == "" {
			continue
		}
		n := utf8.RuneCountInString(l[0]) + utf8.RuneCountInString(l[1])
		if runes+n > prometheus.ExemplarMaxRunes {
			continue
		}
		labels[l[0]] = l[1]
		runes += n
	}
	return labels
}

// AddInstance starts the per-instance series of a new instance process.
// Adding an instance again replaces it (a restarted exec keeps its id).
func (r *Registry) AddInstance(info InstanceInfo, pid int) {
	key := instanceKey{info.Namespace, info.ContainerID, info.ExecID}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances[key] = &instance{info: info, pid: pid}
}

// RemoveInstance drops an instance's series; the next scrape no longer has
// them. Removing an unknown instance does nothing.
func (r *Registry) RemoveInstance(namespace, containerID, execID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.instances, instanceKey{namespace, containerID, execID})
}

// SetInstanceMemory records the guest's linear memory size, now and at its
// peak, as the instance reported it. The peak series never goes down, even
// if a report carries a lower peak than an earlier one.
func (r *Registry) SetInstanceMemory(namespace, containerID, execID string, linearBytes, linearPeakBytes uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.instances[instanceKey{namespace, containerID, execID}]
	if !ok {
		return
	}
	inst.linearBytes = linearBytes
	inst.linearPeakBytes = max(inst.linearPeakBytes, linearPeakBytes, linearBytes)
	inst.hasLinear = true
}

// SetCgroupReader installs the function that reads a container's cgroup
// memory at scrape time; nil removes it, and with it the cgroup series.
func (r *Registry) SetCgroupReader(read func(namespace, containerID string) (usage, limit uint64, ok bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cgroup = read
}

// snapshot copies the instances and the cgroup reader, so a scrape reads
// /proc and cgroups without holding the lock.
func (r *Registry) snapshot() ([]instance, CgroupReader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]instance, 0, len(r.instances))
	for _, inst := range r.instances {
		out = append(out, *inst)
	}
	return out, r.cgroup
}
