//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// v2Controller is a cgroup in the unified (v2) hierarchy.
type v2Controller struct {
	mountpoint string
	// dir is the cgroup's directory: mountpoint joined with its group path.
	dir string
	m   *cgroup2.Manager
}

// v2Group returns the absolute group path of path: as is when absolute; a
// relative one is placed, as runc's v2 cgroupfs driver does, under the
// parent of the caller's own cgroup (own, as in /proc/self/cgroup's "0::"
// line), because the own cgroup holds processes and so cannot have
// controllers enabled for children.
func v2Group(path, own string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(filepath.Join("/", own)), path)
}

// ownV2Cgroup reads the calling process's v2 cgroup.
func ownV2Cgroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if own, ok := strings.CutPrefix(line, "0::"); ok {
			return own, nil
		}
	}
	return "", fmt.Errorf("/proc/self/cgroup has no cgroup v2 entry: %w", errdefs.ErrNotFound)
}

// v2Locate returns the group path of path under mountpoint.
func v2Locate(path string) (string, error) {
	if filepath.IsAbs(path) {
		return path, nil
	}
	own, err := ownV2Cgroup()
	if err != nil {
		return "", err
	}
	return v2Group(path, own), nil
}

func newV2(mountpoint, path string, r *specs.LinuxResources) (*v2Controller, error) {
	group, err := v2Locate(path)
	if err != nil {
		return nil, err
	}
	writes, err := v2Writes(r)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(mountpoint, group)
	_, statErr := os.Stat(dir)
	existed := statErr == nil
	if err := makeV2Dirs(mountpoint, group); err != nil {
		return nil, err
	}
	m, err := cgroup2.Load(group, cgroup2.WithMountpoint(mountpoint))
	if err != nil {
		return nil, err
	}
	v := &v2Controller{mountpoint: mountpoint, dir: dir, m: m}
	if err := v.apply(r, writes, true); err != nil {
		if !existed {
			_ = v.remove()
		}
		return nil, err
	}
	return v, nil
}

// makeV2Dirs creates the directories of group and, like runc, enables in
// each parent every controller the parent has, so that the new cgroup gets
// all of them: memory statistics and OOM events need the memory controller
// even when the spec sets no memory limit. A parent that cannot enable a
// controller (it holds processes, or the controller is threaded) is left as
// is; setting a limit of that controller then fails with a clear error.
func makeV2Dirs(mountpoint, group string) error {
	current := mountpoint
	for _, elem := range strings.Split(strings.Trim(group, "/"), "/") {
		enableControllers(current)
		current = filepath.Join(current, elem)
		if err := os.Mkdir(current, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// enableControllers enables in dir's cgroup.subtree_control the controllers
// of dir's cgroup.controllers that are not enabled yet: all at once, or one
// by one if the kernel refuses the lot.
func enableControllers(dir string) {
	available, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	enabled, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	var missing []string
	for _, c := range strings.Fields(string(available)) {
		if !slices.Contains(strings.Fields(string(enabled)), c) {
			missing = append(missing, "+"+c)
		}
	}
	if len(missing) == 0 {
		return
	}
	control := filepath.Join(dir, "cgroup.subtree_control")
	if writeFile(control, strings.Join(missing, " ")) == nil {
		return
	}
	for _, c := range missing {
		_ = writeFile(control, c)
	}
}

// apply writes the file settings of writes, then what the cgroups library
// converts itself: I/O (weight only on update), hugepages, RDMA and, on
// creation, the device filter (an eBPF program, with runc's default
// devices).
func (v *v2Controller) apply(r *specs.LinuxResources, writes []fileWrite, create bool) error {
	if err := writeFiles(v.dir, writes); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	var lib cgroup2.Resources
	if create {
		converted := cgroup2.ToResources(r)
		lib.IO, lib.HugeTlb, lib.RDMA = converted.IO, converted.HugeTlb, converted.RDMA
		lib.Devices = completeDeviceRules(forCreate(r).Devices)
	} else if r.BlockIO != nil && r.BlockIO.Weight != nil {
		lib.IO = cgroup2.ToResources(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: r.BlockIO.Weight}}).IO
	}
	return v.m.Update(&lib)
}

// v2Writes converts CPU, memory, pids and unified settings to v2 file
// writes the way runc's v2 driver does (the cgroups library's conversion
// writes "-1" where the kernel wants "max", and turns a swap limit of -1
// into a negative number).
func v2Writes(r *specs.LinuxResources) ([]fileWrite, error) {
	if r == nil {
		return nil, nil
	}
	var out []fileWrite
	if c := r.CPU; c != nil {
		if c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
			return nil, fmt.Errorf("realtime CPU settings need cgroup v1: %w", errdefs.ErrInvalidArgument)
		}
		if c.Shares != nil && *c.Shares != 0 {
			weight := cgroup2.ConvertCPUSharesToCgroupV2Value(*c.Shares)
			out = append(out, fileWrite{file: "cpu.weight", value: strconv.FormatUint(weight, 10)})
		}
		if q, p := deref(c.Quota), c.Period; q != 0 || (p != nil && *p != 0) {
			max := "max"
			if q > 0 {
				max = strconv.FormatInt(q, 10)
			}
			if p != nil && *p != 0 {
				max += " " + strconv.FormatUint(*p, 10)
			}
			out = append(out, fileWrite{file: "cpu.max", value: max})
		}
		if c.Burst != nil {
			out = append(out, fileWrite{file: "cpu.max.burst", value: strconv.FormatUint(*c.Burst, 10)})
		}
		if c.Idle != nil {
			out = append(out, fileWrite{file: "cpu.idle", value: strconv.FormatInt(*c.Idle, 10)})
		}
		if c.Cpus != "" {
			out = append(out, fileWrite{file: "cpuset.cpus", value: c.Cpus})
		}
		if c.Mems != "" {
			out = append(out, fileWrite{file: "cpuset.mems", value: c.Mems})
		}
	}
	if m := r.Memory; m != nil {
		limit := deref(m.Limit)
		swap, err := v2Swap(deref(m.Swap), limit)
		if err != nil {
			return nil, err
		}
		if s := v2Number(swap); s != "" {
			out = append(out, fileWrite{file: "memory.swap.max", value: s, optional: true})
		} else if swap == 0 && deref(m.Swap) > 0 {
			// Swap equal to the limit: no swap at all.
			out = append(out, fileWrite{file: "memory.swap.max", value: "0", optional: true})
		}
		if s := v2Number(limit); s != "" {
			out = append(out, fileWrite{file: "memory.max", value: s})
		}
		if s := v2Number(deref(m.Reservation)); s != "" {
			out = append(out, fileWrite{file: "memory.low", value: s})
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		value := "max"
		if *p.Limit > 0 {
			value = strconv.FormatInt(*p.Limit, 10)
		}
		out = append(out, fileWrite{file: "pids.max", value: value})
	}
	// Unified settings come last, so that they win, as in runc.
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") {
			return nil, fmt.Errorf("unified setting %q is not a cgroup file name: %w", k, errdefs.ErrInvalidArgument)
		}
		out = append(out, fileWrite{file: k, value: r.Unified[k]})
	}
	return out, nil
}

// v2Swap converts the spec's memory+swap limit to v2's swap-only limit, as
// runc does: -1 is no limit, 0 leaves it as is, and an unlimited memory
// limit without a swap limit lifts swap too.
func v2Swap(memorySwap, memory int64) (int64, error) {
	switch {
	case memory == -1 && memorySwap == 0:
		return -1, nil
	case memorySwap == -1 || memorySwap == 0:
		return memorySwap, nil
	case memory == 0 || memory == -1:
		return 0, fmt.Errorf("a swap limit needs a memory limit: %w", errdefs.ErrInvalidArgument)
	case memory < 0:
		return 0, fmt.Errorf("memory limit %d: %w", memory, errdefs.ErrInvalidArgument)
	case memorySwap < memory:
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d: %w", memorySwap, memory, errdefs.ErrInvalidArgument)
	}
	return memorySwap - memory, nil
}

// v2Number renders a limit for a v2 file: 0 is "leave as is" (""), -1 is
// "max".
func v2Number(n int64) string {
	switch n {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

func (v *v2Controller) addProc(pid int) error {
	return v.m.AddProc(uint64(pid))
}

func (v *v2Controller) dirs() []string { return []string{v.dir} }

func (v *v2Controller) openEntry() (*cgroupfs.Entry, error) {
	dir, err := os.OpenFile(v.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &cgroupfs.Entry{Dir: dir}, nil
}

func (v *v2Controller) update(r *specs.LinuxResources) error {
	writes, err := v2Writes(forUpdateV2(r))
	if err != nil {
		return err
	}
	return v.apply(r, writes, false)
}

// forUpdateV2 is forUpdate with the memory limits kept: v2 has no ordering
// constraint between memory.max and memory.swap.max.
func forUpdateV2(r *specs.LinuxResources) *specs.LinuxResources {
	out := forUpdate(r)
	if r != nil && r.Memory != nil {
		out.Memory = &specs.LinuxMemory{Limit: r.Memory.Limit, Swap: r.Memory.Swap, Reservation: r.Memory.Reservation}
	}
	return out
}

func (v *v2Controller) stats() (any, error) {
	return v.m.Stat()
}

func (v *v2Controller) procs() ([]int, error) {
	list, err := v.m.Procs(true)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(list))
	for _, p := range list {
		pids = append(pids, int(p))
	}
	return pids, nil
}

// freeze writes cgroup.freeze and waits for cgroup.events to say frozen; at
// freezeTimeout it thaws again and fails.
func (v *v2Controller) freeze() error {
	if err := v.setFrozen(true); err != nil {
		if thawErr := writeFile(filepath.Join(v.dir, "cgroup.freeze"), "0"); thawErr != nil {
			return errors.Join(err, thawErr)
		}
		return err
	}
	return nil
}

func (v *v2Controller) thaw() error {
	return v.setFrozen(false)
}

func (v *v2Controller) setFrozen(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(filepath.Join(v.dir, "cgroup.freeze"), want); err != nil {
		return err
	}
	done, err := pollUntil(freezeTimeout, time.Millisecond, func() (bool, error) {
		state, err := readKeyed(filepath.Join(v.dir, "cgroup.events"), "frozen")
		return state == want, err
	})
	if err == nil && !done {
		err = fmt.Errorf("cgroup.freeze %s not reached within %s: %w", want, freezeTimeout, unix.EBUSY)
	}
	return err
}

func (v *v2Controller) oomKills() (uint64, error) {
	return readKeyedUint(filepath.Join(v.dir, "memory.events"), "oom_kill")
}

// oomNotifier watches memory.events with inotify, as containerd's v2 OOM
// watcher does; every change wakes it, so the caller compares counts.
func (v *v2Controller) oomNotifier() (*os.File, bool, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, false, fmt.Errorf("inotify: %w", err)
	}
	events := filepath.Join(v.dir, "memory.events")
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, false, &fs.PathError{Op: "inotify_add_watch", Path: events, Err: err}
	}
	return os.NewFile(uintptr(fd), "oom inotify"), false, nil
}

func (v *v2Controller) remove() error {
	return cgroupfs.RemoveDirs(v.dir)
}

// memoryLimit returns the smallest memory.max of the cgroup and its
// ancestors below the mountpoint (the root cgroup has none).
func (v *v2Controller) memoryLimit() int64 {
	var limit int64
	for dir := v.dir; dir != v.mountpoint && strings.HasPrefix(dir, v.mountpoint+"/"); dir = filepath.Dir(dir) {
		n, err := readUint(filepath.Join(dir, "memory.max"))
		if err != nil {
			// "max", or no memory controller at this level.
			continue
		}
		if n < unlimitedFrom && (limit == 0 || int64(n) < limit) {
			limit = int64(n)
		}
	}
	return limit
}
