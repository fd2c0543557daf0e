package metrics

import (
	"errors"
	"os"

	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"
)

// instanceLabels identify an instance's series. exec_id is empty for a
// container's init process, which Prometheus treats as no label at all, so
// container-wide series (cgroup) carry the same set with exec_id empty and
// join the init process's series without on().
var instanceLabels = []string{"namespace", "container_id", "exec_id", "pod", "pod_namespace", "container"}

// cgroupUnlimited: cgroup v1 reports "no limit" as the largest page-aligned
// int64; anything this large is no limit.
const cgroupUnlimited = 1 << 62

func instanceDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), instanceLabels...), extra...), nil)
}

var (
	instancesDesc = prometheus.NewDesc("wasmedge_shim_instances",
		"Instance processes this shim is running.", nil, nil)
	shimResidentDesc = prometheus.NewDesc("wasmedge_shim_resident_memory_bytes",
		"Resident memory (VmRSS) of the shim process.", nil, nil)
	shimPSSDesc = prometheus.NewDesc("wasmedge_shim_pss_bytes",
		"Proportional set size of the shim process: shared pages divided among their users.", nil, nil)
	shimCPUDesc = prometheus.NewDesc("wasmedge_shim_cpu_seconds_total",
		"User and system CPU time of the shim process.", nil, nil)

	instanceInfoDesc = instanceDesc("wasmedge_shim_instance_info",
		"Always 1; labels an instance with the module it runs.", "module")
	instanceResidentDesc = instanceDesc("wasmedge_shim_instance_resident_memory_bytes",
		"Resident memory (VmRSS) of the instance process.")
	instancePSSDesc = instanceDesc("wasmedge_shim_instance_pss_bytes",
		"Proportional set size of the instance process: shared pages divided among their users.")
	instanceCPUDesc = instanceDesc("wasmedge_shim_instance_cpu_seconds_total",
		"User and system CPU time of the instance process.")
	linearMemoryDesc = instanceDesc("wasmedge_shim_instance_linear_memory_bytes",
		"Size of the guest's wasm linear memory.")
	linearPeakDesc = instanceDesc("wasmedge_shim_instance_linear_memory_peak_bytes",
		"Largest size the guest's wasm linear memory has reached.")
	cgroupUsageDesc = instanceDesc("wasmedge_shim_instance_cgroup_memory_usage_bytes",
		"Memory usage of the container's cgroup (exec_id is empty: one series per container).")
	cgroupLimitDesc = instanceDesc("wasmedge_shim_instance_cgroup_memory_limit_bytes",
		"Memory limit of the container's cgroup; absent when there is none.")
)

// instanceCollector produces the series that are read at scrape time rather
// than updated as events happen: process usage from /proc, cgroup memory,
// and the instances' reported linear memory.
type instanceCollector struct{ r *Registry }

// Describe implements prometheus.Collector.
func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		instancesDesc, shimResidentDesc, shimPSSDesc, shimCPUDesc,
		instanceInfoDesc, instanceResidentDesc, instancePSSDesc, instanceCPUDesc,
		linearMemoryDesc, linearPeakDesc, cgroupUsageDesc, cgroupLimitDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	instances, readCgroup := c.r.snapshot()
	ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(len(instances)))
	collectUsage(ch, os.Getpid(), shimResidentDesc, shimPSSDesc, shimCPUDesc)

	// The cgroup belongs to the container: one reading per container, under
	// the init process's labels when it is among the instances.
	containers := make(map[instanceKey]InstanceInfo)
	for _, inst := range instances {
		values := labelValues(inst.info)
		ch <- prometheus.MustNewConstMetric(instanceInfoDesc, prometheus.GaugeValue, 1, append(values, inst.info.Module)...)
		collectUsage(ch, inst.pid, instanceResidentDesc, instancePSSDesc, instanceCPUDesc, values...)
		if inst.hasLinear {
			ch <- prometheus.MustNewConstMetric(linearMemoryDesc, prometheus.GaugeValue, float64(inst.linearBytes), values...)
			ch <- prometheus.MustNewConstMetric(linearPeakDesc, prometheus.GaugeValue, float64(inst.linearPeakBytes), values...)
		}
		key := instanceKey{namespace: inst.info.Namespace, containerID: inst.info.ContainerID}
		if _, seen := containers[key]; !seen || inst.info.ExecID == "" {
			info := inst.info
			info.ExecID = ""
			containers[key] = info
		}
	}
	if readCgroup == nil {
		return
	}
	for key, info := range containers {
		usage, limit, ok := readCgroup(key.namespace, key.containerID)
		if !ok {
			continue
		}
		values := labelValues(info)
		ch <- prometheus.MustNewConstMetric(cgroupUsageDesc, prometheus.GaugeValue, float64(usage), values...)
		if limit > 0 && limit < cgroupUnlimited {
			ch <- prometheus.MustNewConstMetric(cgroupLimitDesc, prometheus.GaugeValue, float64(limit), values...)
		}
	}
}

// collectUsage sends pid's memory and CPU series. A process that has just
// exited (its instance not yet removed) simply has none.
func collectUsage(ch chan<- prometheus.Metric, pid int, resident, pss, cpu *prometheus.Desc, values ...string) {
	u, err := readProcessUsage(pid)
	if err != nil {
		if !errors.Is(err, errdefs.ErrNotFound) && !errors.Is(err, errdefs.ErrNotImplemented) {
			ch <- prometheus.NewInvalidMetric(resident, err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(resident, prometheus.GaugeValue, float64(u.residentBytes), values...)
	if u.hasPSS {
		ch <- prometheus.MustNewConstMetric(pss, prometheus.GaugeValue, float64(u.pssBytes), values...)
	}
	ch <- prometheus.MustNewConstMetric(cpu, prometheus.CounterValue, u.cpuSeconds, values...)
}

// labelValues orders info's fields as instanceLabels.
func labelValues(info InstanceInfo) []string {
	return []string{info.Namespace, info.ContainerID, info.ExecID, info.PodName, info.PodNamespace, info.ContainerName}
}
