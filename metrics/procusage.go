package metrics

// processUsage is what the kernel says about one process's memory and CPU.
type processUsage struct {
	// residentBytes is VmRSS: every page mapped, shared ones included.
	residentBytes uint64
	// pssBytes is the proportional set size: shared pages divided among the
	// processes sharing them, so the sum over a node's shims and instances
	// is the memory they really cost. hasPSS is false when the kernel gave
	// no smaps_rollup.
	pssBytes uint64
	hasPSS   bool
	// cpuSeconds is user plus system time.
	cpuSeconds float64
}
