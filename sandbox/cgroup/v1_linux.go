//go:build linux

package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// v1Controller is a cgroup on cgroup v1: one directory per hierarchy, all
// with the same path relative to the hierarchy's root (or, for a relative
// path, to the shim's own cgroup in that hierarchy).
type v1Controller struct {
	at cgroup1.Path
	cg cgroup1.Cgroup
}

// pather is what every cgroup1 subsystem with a directory implements.
type pather interface {
	Path(path string) string
}

// v1At returns where path lives in each hierarchy, as runc's cgroupfs
// driver places it.
func v1At(path string) cgroup1.Path {
	if filepath.IsAbs(path) {
		return cgroup1.StaticPath(path)
	}
	return cgroup1.NestedPath(path)
}

// v1Subsystems caches v1Hierarchy's subsystems: finding them parses
// /proc/self/mountinfo, and the library asks twice on every New, which was
// most of the cost of creating a cgroup. The hierarchies' mount points
// do not move while a shim runs.
var v1Subsystems struct {
	once sync.Once
	list []cgroup1.Subsystem
	err  error
}

// v1Hierarchy is the cgroups library's default set of v1 subsystems, with
// the memory controller told to do without swap files on kernels that lack
// swap accounting (else Stats would fail on them). Each call gets a slice
// of its own; the subsystems themselves hold only their mount points.
func v1Hierarchy() ([]cgroup1.Subsystem, error) {
	v1Subsystems.once.Do(func() {
		subsystems, err := cgroup1.Default()
		if err != nil {
			v1Subsystems.err = err
			return
		}
		for i, s := range subsystems {
			if p, ok := s.(pather); ok && s.Name() == cgroup1.Memory {
				root := filepath.Dir(p.Path("/"))
				subsystems[i] = cgroup1.NewMemory(root, cgroup1.OptionalSwap())
			}
		}
		v1Subsystems.list = subsystems
	})
	return slices.Clone(v1Subsystems.list), v1Subsystems.err
}

func newV1(path string, r *specs.LinuxResources) (*v1Controller, error) {
	if r != nil && len(r.Unified) > 0 {
		return nil, fmt.Errorf("unified cgroup settings need cgroup v2: %w", errdefs.ErrInvalidArgument)
	}
	at := v1At(path)
	_, loadErr := cgroup1.Load(at, cgroup1.WithHierarchy(v1Hierarchy))
	existed := loadErr == nil
	cg, err := cgroup1.New(at, forCreate(r), cgroup1.WithHierarchy(v1Hierarchy))
	if err != nil {
		if !existed {
			// New stops at the first failure; remove what it made so far.
			if made, loadErr := cgroup1.Load(at, cgroup1.WithHierarchy(v1Hierarchy)); loadErr == nil {
				_ = (&v1Controller{at: at, cg: made}).remove()
			}
		}
		return nil, err
	}
	v := &v1Controller{at: at, cg: cg}
	if err := v.setLimits(r); err != nil {
		if !existed {
			_ = v.remove()
		}
		return nil, err
	}
	return v, nil
}

// dir returns the cgroup's directory in the hierarchy of subsystem name.
func (v *v1Controller) dir(name cgroup1.Name) (string, bool) {
	for _, s := range v.cg.Subsystems() {
		p, ok := s.(pather)
		if !ok || s.Name() != name {
			continue
		}
		rel, err := v.at(name)
		if err != nil {
			return "", false
		}
		return p.Path(rel), true
	}
	return "", false
}

// dirs returns the cgroup's directory in every hierarchy, each once
// (co-mounted controllers such as cpu,cpuacct share one).
func (v *v1Controller) dirs() []string {
	var out []string
	for _, s := range v.cg.Subsystems() {
		if d, ok := v.dir(s.Name()); ok && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// setLimits applies what the cgroups library does not apply, or not in the
// right way: the memory and swap limits in an order the kernel accepts, CPU
// burst and idle, and a lifted pids limit.
func (v *v1Controller) setLimits(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil && (deref(m.Limit) != 0 || deref(m.Swap) != 0) {
		dir, ok := v.dir(cgroup1.Memory)
		if !ok {
			return fmt.Errorf("memory limit asked for, but there is no memory cgroup: %w", errdefs.ErrNotImplemented)
		}
		current, err := readUint(filepath.Join(dir, "memory.limit_in_bytes"))
		if err != nil {
			return err
		}
		if err := writeFiles(dir, v1MemoryLimitWrites(m.Limit, m.Swap, current)); err != nil {
			return err
		}
	}
	if writes := v1CPUWrites(r.CPU); len(writes) > 0 {
		dir, ok := v.dir(cgroup1.Cpu)
		if !ok {
			return fmt.Errorf("CPU burst or idle asked for, but there is no cpu cgroup: %w", errdefs.ErrNotImplemented)
		}
		if err := writeFiles(dir, writes); err != nil {
			return err
		}
	}
	if pidsUnlimited(r.Pids) {
		if dir, ok := v.dir(cgroup1.Pids); ok {
			if err := writeFile(filepath.Join(dir, "pids.max"), "max"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *v1Controller) addProc(pid int) error {
	return v.cg.AddProc(uint64(pid))
}

// openEntry opens the tasks file of every hierarchy. tasks, not
// cgroup.procs: the kernel skips the global lock only for a thread that
// moves itself alone, and the instance has one thread when it writes.
func (v *v1Controller) openEntry() (*cgroupfs.Entry, error) {
	e := &cgroupfs.Entry{}
	for _, dir := range v.dirs() {
		f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.Tasks = append(e.Tasks, f)
	}
	return e, nil
}

func (v *v1Controller) update(r *specs.LinuxResources) error {
	if r != nil && len(r.Unified) > 0 {
		return fmt.Errorf("unified cgroup settings need cgroup v2: %w", errdefs.ErrInvalidArgument)
	}
	if err := v.cg.Update(forUpdate(r)); err != nil {
		return err
	}
	return v.setLimits(r)
}

func (v *v1Controller) stats() (any, error) {
	// As runc's shim: files a kernel lacks leave their metrics at zero.
	return v.cg.Stat(cgroup1.IgnoreNotExist)
}

func (v *v1Controller) procs() ([]int, error) {
	// Any hierarchy lists them all; prefer ones every container has.
	for _, name := range []cgroup1.Name{cgroup1.Pids, cgroup1.Memory, cgroup1.Freezer, cgroup1.Cpu} {
		if _, ok := v.dir(name); !ok {
			continue
		}
		list, err := v.cg.Processes(name, true)
		if err != nil {
			return nil, err
		}
		var pids []int
		for _, p := range list {
			if !slices.Contains(pids, p.Pid) {
				pids = append(pids, p.Pid)
			}
		}
		return pids, nil
	}
	return nil, fmt.Errorf("no pids, memory, freezer or cpu cgroup: %w", errdefs.ErrNotImplemented)
}

// freeze writes FROZEN and waits for the state to follow. A task in the
// middle of something the freezer must wait out can keep the cgroup in
// FREEZING; like runc, thaw and try again now and then rather than wait on
// it, and give up (thawed) at freezeTimeout.
func (v *v1Controller) freeze() error {
	dir, ok := v.dir(cgroup1.Freezer)
	if !ok {
		return fmt.Errorf("no freezer cgroup: %w", errdefs.ErrNotImplemented)
	}
	state := filepath.Join(dir, "freezer.state")
	deadline := time.Now().Add(freezeTimeout)
	for time.Now().Before(deadline) {
		if err := writeFile(state, "FROZEN"); err != nil {
			return err
		}
		frozen, err := pollUntil(50*time.Millisecond, time.Millisecond, func() (bool, error) {
			return v1FreezerIs(state, "FROZEN")
		})
		if frozen || err != nil {
			return err
		}
		if err := writeFile(state, "THAWED"); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	if err := writeFile(state, "THAWED"); err != nil {
		return err
	}
	return fmt.Errorf("processes did not freeze within %s: %w", freezeTimeout, unix.EBUSY)
}

func (v *v1Controller) thaw() error {
	dir, ok := v.dir(cgroup1.Freezer)
	if !ok {
		return fmt.Errorf("no freezer cgroup: %w", errdefs.ErrNotImplemented)
	}
	state := filepath.Join(dir, "freezer.state")
	if err := writeFile(state, "THAWED"); err != nil {
		return err
	}
	thawed, err := pollUntil(freezeTimeout, time.Millisecond, func() (bool, error) {
		return v1FreezerIs(state, "THAWED")
	})
	if err == nil && !thawed {
		err = fmt.Errorf("processes did not thaw within %s: %w", freezeTimeout, unix.EBUSY)
	}
	return err
}

// v1FreezerIs reports whether freezer.state reads want.
func v1FreezerIs(state, want string) (bool, error) {
	data, err := os.ReadFile(state)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(data)) == want, nil
}

func (v *v1Controller) oomKills() (uint64, error) {
	dir, ok := v.dir(cgroup1.Memory)
	if !ok {
		return 0, fmt.Errorf("no memory cgroup: %w", errdefs.ErrNotImplemented)
	}
	return readKeyedUint(filepath.Join(dir, "memory.oom_control"), "oom_kill")
}

// oomNotifier registers an eventfd for the memory cgroup's OOM notification
// (memory.oom_control through cgroup.event_control, as containerd's v1 OOM
// watcher does) and hands it to Go's poller.
func (v *v1Controller) oomNotifier() (*os.File, bool, error) {
	fd, err := v.cg.RegisterMemoryEvent(cgroup1.OOMEvent())
	if err != nil {
		return nil, false, err
	}
	if err := unix.SetNonblock(int(fd), true); err != nil {
		unix.Close(int(fd))
		return nil, false, err
	}
	return os.NewFile(fd, "oom eventfd"), true, nil
}

func (v *v1Controller) remove() error {
	return cgroupfs.RemoveDirs(v.dirs()...)
}

// memoryLimit reads the hierarchical limit, which the kernel computes as the
// smallest limit of the cgroup and its ancestors.
func (v *v1Controller) memoryLimit() int64 {
	dir, ok := v.dir(cgroup1.Memory)
	if !ok {
		return 0
	}
	limit, err := readKeyed(filepath.Join(dir, "memory.stat"), "hierarchical_memory_limit")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(limit, 10, 64)
	if err != nil || n >= unlimitedFrom {
		return 0
	}
	return int64(n)
}
