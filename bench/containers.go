//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// taskTimeout bounds how long a short-lived task may take to exit.
const taskTimeout = time.Minute

// removeTimeout bounds the removal of one container, which must happen even
// after the bench was interrupted.
const removeTimeout = time.Minute

// namespaced returns ctx carrying d's namespace: client-side helpers (spec
// generation, snapshots) read it from the context.
func namespaced(ctx context.Context, d *harness.Daemon) context.Context {
	return namespaces.WithNamespace(ctx, d.Namespace)
}

// newContainer creates container id of p's image running args, on a fresh
// snapshot, as `ctr run` would.
func newContainer(ctx context.Context, c *client.Client, p runtimeProfile, id string, args []string) (client.Container, error) {
	return c.NewContainer(ctx, id,
		client.WithRuntime(p.runtime, nil),
		client.WithImage(p.image),
		client.WithNewSnapshot(id, p.image),
		client.WithNewSpec(oci.WithImageConfig(p.image), oci.WithProcessArgs(args...)),
	)
}

// removeContainer deletes ctr's task (killing it if it runs) and ctr with
// its snapshot. It ignores ctx's cancellation so that an interrupted bench
// still cleans up.
func removeContainer(ctx context.Context, ctr client.Container) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	var errs []error
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			errs = append(errs, fmt.Errorf("delete task %s: %w", ctr.ID(), err))
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		errs = append(errs, fmt.Errorf("delete container %s: %w", ctr.ID(), err))
	}
	return errors.Join(errs...)
}

// taskRun is the timing of one short-lived task.
type taskRun struct {
	// cycle is container create → task create, start, exit, delete →
	// container delete, as the client sees it.
	cycle time.Duration
	// createToExit is from the NewTask call to the exit time the shim
	// reports (the time in the TaskExit event).
	createToExit time.Duration
	// steps are the cycle's parts, in cycleSteps' order.
	steps [len(cycleSteps)]time.Duration
}

// cycleSteps name the parts of a task's cycle as the client times them.
// Creating and deleting the container are containerd's and its
// snapshotter's work alone; the runtime's shim takes part in the others.
var cycleSteps = [...]string{
	"new container",
	"new task (start action, Create)",
	"start (Wait, Start)",
	"run to exit",
	"delete task (Delete, delete action)",
	"delete container",
}

// runToExit runs p's hello in container id through the Go client and
// removes it again. Output goes through FIFOs to nowhere, as with a detached
// `ctr run`. A non-zero exit status is an error.
func runToExit(ctx context.Context, c *client.Client, p runtimeProfile, id string) (taskRun, error) {
	var run taskRun
	begin := time.Now()
	ctr, err := newContainer(ctx, c, p, id, p.hello)
	if err != nil {
		return run, fmt.Errorf("new container: %w", err)
	}
	fail := func(err error) (taskRun, error) {
		_ = removeContainer(ctx, ctr)
		return run, err
	}
	created := time.Now()
	run.steps[0] = created.Sub(begin)
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard)))
	if err != nil {
		return fail(fmt.Errorf("new task: %w", err))
	}
	taskCreated := time.Now()
	run.steps[1] = taskCreated.Sub(created)
	exitC, err := task.Wait(ctx)
	if err != nil {
		return fail(fmt.Errorf("wait: %w", err))
	}
	if err := task.Start(ctx); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	started := time.Now()
	run.steps[2] = started.Sub(taskCreated)
	var status client.ExitStatus
	select {
	case status = <-exitC:
	case <-time.After(taskTimeout):
		return fail(fmt.Errorf("task %s did not exit within %v", id, taskTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	seen := time.Now()
	run.steps[3] = seen.Sub(started)
	code, exitedAt, err := status.Result()
	if err != nil {
		return fail(fmt.Errorf("exit status: %w", err))
	}
	if code != 0 {
		return fail(fmt.Errorf("%s exited with status %d", id, code))
	}
	if _, err := task.Delete(ctx); err != nil {
		return fail(fmt.Errorf("delete task: %w", err))
	}
	taskDeleted := time.Now()
	run.steps[4] = taskDeleted.Sub(seen)
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		return run, fmt.Errorf("delete container: %w", err)
	}
	run.cycle = time.Since(begin)
	run.steps[5] = run.cycle - taskDeleted.Sub(begin)
	// A shim that reports no exit time, or one off our clock, falls back
	// to when the client learnt of the exit.
	if exitedAt.After(created) && !exitedAt.After(seen) {
		run.createToExit = exitedAt.Sub(created)
	} else {
		run.createToExit = seen.Sub(created)
	}
	return run, nil
}

// startIdle creates container id running p's sleeper and starts it; stdio
// is /dev/null, since an idle container writes nothing. On failure nothing
// is left behind.
func startIdle(ctx context.Context, c *client.Client, p runtimeProfile, id string) (client.Container, error) {
	ctr, err := newContainer(ctx, c, p, id, p.sleeper)
	if err != nil {
		return nil, fmt.Errorf("new container %s: %w", id, err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err == nil {
		err = task.Start(ctx)
		if err != nil {
			err = fmt.Errorf("start task %s: %w", id, err)
		}
	} else {
		err = fmt.Errorf("new task %s: %w", id, err)
	}
	if err != nil {
		return nil, errors.Join(err, removeContainer(ctx, ctr))
	}
	return ctr, nil
}

// rampResult is what startIdleMany achieved.
type rampResult struct {
	started  []client.Container
	duration time.Duration
	// err is the first failure (or the guard's refusal); nil when all
	// containers started.
	err error
}

// startIdleMany starts up to count idle containers of p, parallel at a time,
// with ids prefix-0, prefix-1, ... It stops issuing new ones at the first
// failure, or when guard (checked before each container, may be nil) returns
// an error, and lets those in flight finish.
func startIdleMany(ctx context.Context, c *client.Client, p runtimeProfile, prefix string, count, parallel int, guard func() error) rampResult {
	var (
		mu      sync.Mutex
		res     rampResult
		next    atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	stop := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if res.err == nil {
			res.err = err
		}
		stopped.Store(true)
	}
	begin := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() && ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				if guard != nil {
					if err := guard(); err != nil {
						stop(err)
						return
					}
				}
				ctr, err := startIdle(ctx, c, p, fmt.Sprintf("%s-%d", prefix, i))
				if err != nil {
					stop(err)
					return
				}
				mu.Lock()
				res.started = append(res.started, ctr)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.duration = time.Since(begin)
	if res.err == nil && ctx.Err() != nil {
		res.err = ctx.Err()
	}
	return res
}

// removeMany removes containers, parallel at a time, and returns how long it
// took and every error.
func removeMany(ctx context.Context, containers []client.Container, parallel int) (time.Duration, error) {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan client.Container)
	begin := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctr := range work {
				if err := removeContainer(ctx, ctr); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, ctr := range containers {
		work <- ctr
	}
	close(work)
	wg.Wait()
	return time.Since(begin), errors.Join(errs...)
}
