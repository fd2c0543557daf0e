package cgroup

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fileWrite is one value written to one control file of a cgroup directory.
type fileWrite struct {
	file  string
	value string
	// optional writes are skipped when the file does not exist: swap limits
	// on kernels without swap accounting, where containerd's cgroups
	// library ignores them too.
	optional bool
}

// runcDevices are the device rules runc appends to every container's own,
// whatever the spec says, so a spec that denies all devices still lets the
// container use /dev/null, /dev/zero, ttys and the like. Doing the same
// keeps a wasm container's device access what it would be under runc.
var runcDevices = []specs.LinuxDeviceCgroup{
	// mknod of any device; opening it is what the rules below control.
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},    // /dev/null
	{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](8), Access: "rwm"},    // /dev/random
	{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](7), Access: "rwm"},    // /dev/full
	{Allow: true, Type: "c", Major: ptr[int64](5), Minor: ptr[int64](0), Access: "rwm"},    // /dev/tty
	{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](5), Access: "rwm"},    // /dev/zero
	{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](9), Access: "rwm"},    // /dev/urandom
	{Allow: true, Type: "c", Major: ptr[int64](136), Access: "rwm"},                        // /dev/pts/*
	{Allow: true, Type: "c", Major: ptr[int64](5), Minor: ptr[int64](2), Access: "rwm"},    // /dev/ptmx
	{Allow: true, Type: "c", Major: ptr[int64](10), Minor: ptr[int64](200), Access: "rwm"}, // /dev/net/tun
}

func ptr[T any](v T) *T { return &v }

// forCreate is what New applies: the spec's resources less what runc does
// not apply either (kernel memory limits, obsolete and refused by current
// kernels) and less the memory and swap limits, which need an order the
// cgroups library does not know (see v1MemoryLimitWrites); plus runc's
// device rules. It never returns nil: the library's controllers read it
// unconditionally.
func forCreate(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		return &specs.LinuxResources{}
	}
	out := *r
	out.Memory = withoutLimits(r.Memory)
	out.Devices = append(append([]specs.LinuxDeviceCgroup(nil), r.Devices...), runcDevices...)
	return &out
}

// completeDeviceRules fills in what a spec may leave out of a device rule:
// no type means all types, no major or minor number means any. The v2 device
// filter compiler of the cgroups library reads them unchecked; the v1 writer
// understands the gaps already.
func completeDeviceRules(rules []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, len(rules))
	for i, r := range rules {
		if r.Type == "" {
			r.Type = "a"
		}
		if r.Major == nil {
			r.Major = ptr[int64](-1)
		}
		if r.Minor == nil {
			r.Minor = ptr[int64](-1)
		}
		out[i] = r
	}
	return out
}

// forUpdate is what Update applies: what `runc update` changes on a running
// container (memory, CPU, pids, block I/O weight, unified), with the memory
// and swap limits left to v1MemoryLimitWrites as in forCreate. Devices,
// hugepages and network classes are fixed at creation, as with runc.
func forUpdate(r *specs.LinuxResources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	if r == nil {
		return out
	}
	if r.Memory != nil {
		out.Memory = &specs.LinuxMemory{Reservation: r.Memory.Reservation}
	}
	out.CPU = r.CPU
	out.Pids = r.Pids
	if r.BlockIO != nil && r.BlockIO.Weight != nil {
		out.BlockIO = &specs.LinuxBlockIO{Weight: r.BlockIO.Weight}
	}
	out.Unified = r.Unified
	return out
}

// withoutLimits copies m without its memory, swap and kernel limits.
func withoutLimits(m *specs.LinuxMemory) *specs.LinuxMemory {
	if m == nil {
		return nil
	}
	out := *m
	out.Limit, out.Swap, out.Kernel, out.KernelTCP = nil, nil, nil, nil
	return &out
}

// v1MemoryLimitWrites orders the writes of a v1 memory limit and memory+swap
// limit. The kernel refuses a memory limit above the memory+swap limit and a
// memory+swap limit below the memory limit, so raising both must write swap
// first and lowering both must write memory first; runc decides by comparing
// the current memory limit with the new swap limit, and so does this. As in
// runc, 0 means "leave as is", and an unlimited memory limit (-1) without a
// swap limit lifts the swap limit too (else the kernel would refuse it).
func v1MemoryLimitWrites(limit, swap *int64, currentLimit uint64) []fileWrite {
	l, s := deref(limit), deref(swap)
	if l == -1 && s == 0 {
		s = -1
	}
	limitWrite := fileWrite{file: "memory.limit_in_bytes", value: strconv.FormatInt(l, 10)}
	swapWrite := fileWrite{file: "memory.memsw.limit_in_bytes", value: strconv.FormatInt(s, 10), optional: true}
	if l != 0 && s != 0 && (s == -1 || currentLimit < uint64(s)) {
		return []fileWrite{swapWrite, limitWrite}
	}
	var out []fileWrite
	if l != 0 {
		out = append(out, limitWrite)
	}
	if s != 0 {
		out = append(out, swapWrite)
	}
	return out
}

// v1CPUWrites are the CPU settings the cgroups library's v1 cpu controller
// does not know and runc writes: the CFS burst and SCHED_IDLE.
func v1CPUWrites(c *specs.LinuxCPU) []fileWrite {
	if c == nil {
		return nil
	}
	var out []fileWrite
	if c.Burst != nil {
		out = append(out, fileWrite{file: "cpu.cfs_burst_us", value: strconv.FormatUint(*c.Burst, 10)})
	}
	if c.Idle != nil {
		out = append(out, fileWrite{file: "cpu.idle", value: strconv.FormatInt(*c.Idle, 10)})
	}
	return out
}

// pidsUnlimited reports whether the spec lifts the pids limit (a limit of
// zero or less), which the cgroups library's v1 pids controller ignores.
func pidsUnlimited(p *specs.LinuxPids) bool {
	return p != nil && p.Limit != nil && *p.Limit <= 0
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
