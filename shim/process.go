//go:build linux

package shim

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup"
)

// processState is where a process is in its life.
type processState int

const (
	stateCreated processState = iota
	stateRunning
	stateStopped
)

func (s processState) status() task.Status {
	switch s {
	case stateCreated:
		return task.Status_CREATED
	case stateRunning:
		return task.Status_RUNNING
	default:
		return task.Status_STOPPED
	}
}

// process is one wasm instance of a container: its init process or an
// exec. All state changes happen under mu, which also orders the events a
// process publishes (TaskStart before its TaskExit).
type process struct {
	id       string // container id
	execID   string // "" for the init process
	paths    stdioPaths
	run      *oci.RunConfig
	io       *processIO
	instance *sandbox.Instance
	// info names the instance in metrics and spans.
	info metrics.InstanceInfo
	// requested is when the Create or Exec request for the process came,
	// where its time to first instruction starts.
	requested time.Time
	// cgroup is the container's, which says whether the OOM killer struck.
	cgroup *cgroup.Cgroup

	mu         sync.Mutex
	state      processState
	pid        int
	exitStatus uint32
	exitedAt   time.Time
	// exited is closed once the process has exited (or will never run).
	exited chan struct{}
}

func newProcess(id, execID string, paths stdioPaths, run *oci.RunConfig, info metrics.InstanceInfo, requested time.Time) *process {
	return &process{
		id: id, execID: execID, paths: paths, run: run,
		info: info, requested: requested,
		exited: make(chan struct{}),
	}
}

// Pid returns the instance process's pid (0 before it exists).
func (p *process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// start releases the guest. publish runs under the process lock, so that an
// exit handled concurrently is published after it.
func (p *process) start(publish func(pid int)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case stateRunning:
		return fmt.Errorf("process %s already started: %w", p.name(), errdefs.ErrFailedPrecondition)
	case stateStopped:
		return fmt.Errorf("process %s already exited: %w", p.name(), errdefs.ErrFailedPrecondition)
	}
	if err := p.instance.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name(), err)
	}
	p.state = stateRunning
	publish(p.pid)
	return nil
}

// setExited records the exit; it returns false when the process was already
// stopped (the exit was seen before).
func (p *process) setExited(status int, at time.Time, publish func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateStopped {
		return false
	}
	p.state = stateStopped
	p.exitStatus = uint32(status)
	p.exitedAt = at
	close(p.exited)
	if p.instance != nil {
		_ = p.instance.Close()
	}
	publish()
	return true
}

// kill signals the instance process. A process that already exited is
// ErrNotFound, as containerd expects.
func (p *process) kill(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateStopped || p.instance == nil {
		return fmt.Errorf("process %s already finished: %w", p.name(), errdefs.ErrNotFound)
	}
	if err := p.instance.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.name(), err)
	}
	return nil
}

// wait blocks until the process exited or ctx ends.
func (p *process) wait(ctx context.Context) (uint32, time.Time, error) {
	select {
	case <-p.exited:
	case <-ctx.Done():
		return 0, time.Time{}, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitStatus, p.exitedAt, nil
}

// snapshot returns state fields under the lock.
func (p *process) snapshot() (processState, int, uint32, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.pid, p.exitStatus, p.exitedAt
}

func (p *process) name() string {
	if p.execID == "" {
		return p.id
	}
	return p.id + "/" + p.execID
}
