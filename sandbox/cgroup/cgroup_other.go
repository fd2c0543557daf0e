//go:build !linux

package cgroup

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// Cgroup is one container's cgroup; cgroups exist on Linux only.
type Cgroup struct{ path string }

var errNoCgroups = fmt.Errorf("cgroups exist on Linux only: %w", errdefs.ErrNotImplemented)

// New fails: cgroups exist on Linux only.
func New(path string, resources *specs.LinuxResources) (*Cgroup, error) { return nil, errNoCgroups }

// Path returns the cgroup's path.
func (c *Cgroup) Path() string { return c.path }

// AddProc fails: cgroups exist on Linux only.
func (c *Cgroup) AddProc(pid int) error { return errNoCgroups }

// Dirs returns nothing: cgroups exist on Linux only.
func (c *Cgroup) Dirs() []string { return nil }

// OpenEntry fails: cgroups exist on Linux only.
func (c *Cgroup) OpenEntry() (*cgroupfs.Entry, error) { return nil, errNoCgroups }

// Update fails: cgroups exist on Linux only.
func (c *Cgroup) Update(resources *specs.LinuxResources) error { return errNoCgroups }

// Stats fails: cgroups exist on Linux only.
func (c *Cgroup) Stats() (any, error) { return nil, errNoCgroups }

// Freeze fails: cgroups exist on Linux only.
func (c *Cgroup) Freeze() error { return errNoCgroups }

// Thaw fails: cgroups exist on Linux only.
func (c *Cgroup) Thaw() error { return errNoCgroups }

// Procs fails: cgroups exist on Linux only.
func (c *Cgroup) Procs() ([]int, error) { return nil, errNoCgroups }

// OOMEvents returns a channel that never receives.
func (c *Cgroup) OOMEvents() <-chan struct{} { return nil }

// OOMKilled reports false.
func (c *Cgroup) OOMKilled() bool { return false }

// Delete does nothing.
func (c *Cgroup) Delete() error { return nil }

// MemoryLimit reports no limit.
func (c *Cgroup) MemoryLimit() int64 { return 0 }
