//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// unifiedMountpoint is where the cgroup v2 tree is mounted on a host in
// unified mode.
const unifiedMountpoint = "/sys/fs/cgroup"

// Cgroup is one container's cgroup. Its methods may be called from several
// goroutines.
type Cgroup struct {
	path string
	ctl  controller

	mu sync.Mutex
	// events is made by the first OOMEvents call; watch feeds it (nil if
	// watching could not start) and closes it when stopped.
	events  chan struct{}
	watch   *oomWatch
	deleted bool
}

// controller is what one cgroup version does for a Cgroup.
type controller interface {
	addProc(pid int) error
	openEntry() (*cgroupfs.Entry, error)
	// dirs are the cgroup's directories, one per v1 hierarchy.
	dirs() []string
	update(r *specs.LinuxResources) error
	stats() (any, error)
	freeze() error
	thaw() error
	procs() ([]int, error)
	// oomKills is the count of OOM kills the kernel has made in the cgroup.
	oomKills() (uint64, error)
	// oomNotifier returns a file that becomes readable when the kernel has
	// news about OOM in the cgroup. wakeIsOOM says whether a wakeup means an
	// OOM is under way (v1: the kill may not be counted yet) or only that
	// memory events changed (v2: the count is already up to date).
	oomNotifier() (f *os.File, wakeIsOOM bool, err error)
	remove() error
	memoryLimit() int64
}

// New creates the cgroup at path (a path from Path) and applies resources
// to it: memory limit, reservation and swap, CPU shares, quota, period and
// cpuset, pids limit, block I/O, hugepages, network classes, devices (with
// runc's always-allowed devices) and, on v2, unified settings. nil resources
// mean no limits and no device rules. The cgroup may exist already (CRI pods
// reuse their parents); its settings are then updated. If New fails on a
// cgroup it created, it removes it.
func New(path string, resources *specs.LinuxResources) (*Cgroup, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	var ctl controller
	var err error
	switch mode := cgroups.Mode(); mode {
	case cgroups.Legacy, cgroups.Hybrid:
		ctl, err = newV1(path, resources)
	case cgroups.Unified:
		ctl, err = newV2(unifiedMountpoint, path, resources)
	default:
		return nil, fmt.Errorf("create cgroup %s: no cgroup filesystem mounted: %w", path, errdefs.ErrNotImplemented)
	}
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, categorize(err))
	}
	return &Cgroup{path: path, ctl: ctl}, nil
}

// Path returns the cgroup's path, as given to New.
func (c *Cgroup) Path() string { return c.path }

// AddProc moves the process pid into the cgroup (every hierarchy on v1).
// Memory the process already uses stays charged where it was; what it
// allocates from now on is charged here.
func (c *Cgroup) AddProc(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, c.path, errdefs.ErrInvalidArgument)
	}
	if err := c.ctl.addProc(pid); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, c.path, categorize(err))
	}
	return nil
}

// Dirs returns the cgroup's directories: one on v2, one per hierarchy on
// v1. Removing them all (children first) removes the cgroup.
func (c *Cgroup) Dirs() []string { return c.ctl.dirs() }

// OpenEntry opens what a process about to be started needs to enter the
// cgroup by itself (see Entry). The caller closes it.
func (c *Cgroup) OpenEntry() (*cgroupfs.Entry, error) {
	e, err := c.ctl.openEntry()
	if err != nil {
		return nil, fmt.Errorf("open entry to cgroup %s: %w", c.path, categorize(err))
	}
	return e, nil
}

// Update applies new resources to the live cgroup: what `runc update`
// changes (memory limit, reservation and swap, CPU, pids, block I/O weight,
// unified). A memory limit below what the processes use makes the kernel
// reclaim at once; what it cannot reclaim, v1 refuses (the error is
// errdefs.ErrFailedPrecondition) and v2 settles by an OOM kill.
func (c *Cgroup) Update(resources *specs.LinuxResources) error {
	if err := c.ctl.update(resources); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, categorize(err))
	}
	return nil
}

// Stats returns the cgroup's metrics in the types containerd's CRI plugin
// and metrics collector decode: *v1.Metrics from
// github.com/containerd/cgroups/v3/cgroup1/stats on cgroup v1, *v2.Metrics
// from github.com/containerd/cgroups/v3/cgroup2/stats on v2. The shim sends
// them as typeurl.MarshalAny, as runc's shim does.
func (c *Cgroup) Stats() (any, error) {
	s, err := c.ctl.stats()
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", c.path, categorize(err))
	}
	return s, nil
}

// Freeze stops every process in the cgroup and returns once they are all
// stopped. If the kernel cannot freeze them within a few seconds (a process
// stuck in an uninterruptible wait), it thaws the cgroup again and fails.
func (c *Cgroup) Freeze() error {
	if err := c.ctl.freeze(); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", c.path, categorize(err))
	}
	return nil
}

// Thaw lets the processes of a frozen cgroup run again.
func (c *Cgroup) Thaw() error {
	if err := c.ctl.thaw(); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", c.path, categorize(err))
	}
	return nil
}

// Procs lists the pids of the processes in the cgroup and its children.
func (c *Cgroup) Procs() ([]int, error) {
	pids, err := c.ctl.procs()
	if err != nil {
		return nil, fmt.Errorf("processes of cgroup %s: %w", c.path, categorize(err))
	}
	return pids, nil
}

// OOMEvents returns a channel that receives a value for each OOM kill the
// memory controller makes in the cgroup. (An OOM that ends without a kill,
// with the OOM killer disabled, is not reported.) Watching starts with the
// first call, so call it before the process can run; later calls return the
// same channel. A value waits until it is received; Delete closes the
// channel. If the cgroup has no memory controller, the channel only closes.
func (c *Cgroup) OOMEvents() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events != nil {
		return c.events
	}
	c.events = make(chan struct{})
	if c.deleted {
		close(c.events)
		return c.events
	}
	w, err := startOOMWatch(c.ctl, c.events)
	if err != nil {
		// The container runs anyway, as with runc's shim; its exit will
		// still show an OOM kill through OOMKilled.
		log.L.WithError(err).WithField("cgroup", c.path).Warn("cannot watch for OOM kills")
		return c.events
	}
	c.watch = w
	return c.events
}

// OOMKilled reports whether the memory controller has OOM-killed a process
// in the cgroup. The kernel counts the kill before it sends SIGKILL, so once
// the shim has reaped a process killed by SIGKILL, this tells an OOM kill
// from a kill by someone else.
func (c *Cgroup) OOMKilled() bool {
	n, err := c.ctl.oomKills()
	return err == nil && n > 0
}

// Delete stops OOM watching and removes the cgroup's directories. It kills
// nothing: a cgroup still holding processes cannot be removed, so Delete
// retries for a moment (the kernel lists a dying process for a little while
// after it was reaped) and then fails with errdefs.ErrFailedPrecondition.
// Deleting a cgroup that is already gone is not an error.
func (c *Cgroup) Delete() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = true
	if c.watch != nil {
		c.watch.stop()
		c.watch = nil
	} else if c.events != nil {
		select {
		case <-c.events:
		default:
			close(c.events)
		}
	}
	if err := c.ctl.remove(); err != nil {
		return fmt.Errorf("delete cgroup %s: %w", c.path, categorize(err))
	}
	return nil
}

// MemoryLimit returns the memory limit in force for the cgroup, in bytes:
// the smallest of its own limit and its ancestors' (a CRI pod's limit can be
// lower than its containers'); 0 means no limit.
func (c *Cgroup) MemoryLimit() int64 {
	return c.ctl.memoryLimit()
}

// categorize adds the errdefs category that fits a cgroup file error.
func categorize(err error) error {
	switch {
	case err == nil:
		return nil
	case errdefs.IsNotFound(err), errdefs.IsInvalidArgument(err), errdefs.IsFailedPrecondition(err),
		errdefs.IsNotImplemented(err):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ERANGE):
		return fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %w", errdefs.ErrFailedPrecondition, err)
	}
	return err
}
