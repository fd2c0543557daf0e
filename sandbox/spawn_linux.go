//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd/errdefs"
)

// Instance is an instance process whose guest is compiled and waits for
// Start. The process is never waited for here: the shim's reaper collects its
// exit status.
type Instance struct {
	process *os.Process

	mu sync.Mutex
	// control is the write end of the control pipe until Start sent the start
	// byte or Close ran.
	control *os.File
	started bool
	closed  bool
}

// Spawn starts the instance process for rc and waits until the module is
// compiled and the guest is ready to start, or failed. On failure it returns
// an error carrying the instance's own message (e.g. `compile module
// "/app.wasm": invalid magic number`), under errdefs.ErrInvalidArgument or
// errdefs.ErrNotFound when the instance said which; no process is left
// running: it is killed, and the caller's reaper collects it.
//
// The namespaces to join are opened before the child starts: a missing one
// fails with errdefs.ErrNotFound, a file that is no namespace of its type
// with errdefs.ErrInvalidArgument, one the binary cannot join (built
// without cgo) with errdefs.ErrNotImplemented.
//
// The child dies with SIGKILL when the thread that spawned it exits; Go keeps
// its threads alive unless a goroutine exits while locked to one, so do not
// call Spawn from a goroutine that uses runtime.LockOSThread.
func Spawn(ctx context.Context, rc *oci.RunConfig, stdio Stdio, opts Options) (*Instance, error) {
	if rc == nil {
		return nil, fmt.Errorf("spawn instance: no run configuration: %w", errdefs.ErrInvalidArgument)
	}
	shimMounts, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("spawn instance %q: shim's mount namespace: %w", rc.ID, err)
	}
	plan, err := planNamespaces(rc, opts)
	if err != nil {
		return nil, fmt.Errorf("spawn instance %q: %w", rc.ID, err)
	}
	defer plan.close()
	config, err := json.Marshal(instanceConfig{
		Run:                rc,
		CacheDir:           opts.CacheDir,
		MemoryLimitPages:   opts.MemoryLimitPages,
		ShimMountNamespace: shimMounts,
		MountsReady:        plan.mountsReady,
	})
	if err != nil {
		return nil, fmt.Errorf("spawn instance %q: encode configuration: %w", rc.ID, err)
	}
	controlRead, controlWrite, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawn instance %q: control pipe: %w", rc.ID, err)
	}
	statusRead, statusWrite, err := os.Pipe()
	if err != nil {
		controlRead.Close()
		controlWrite.Close()
		return nil, fmt.Errorf("spawn instance %q: status pipe: %w", rc.ID, err)
	}

	cmd := instanceCommand(rc, stdio, opts, plan)
	// The order of ExtraFiles makes them descriptors controlFD, statusFD,
	// then the plan's, from firstNamespaceFD on.
	cmd.ExtraFiles = append([]*os.File{controlRead, statusWrite}, plan.extraFiles()...)
	startErr := plan.start(cmd)
	// The child has its own copies; the shim must not keep the status pipe's
	// write end, or it would never see end of file if the child dies.
	controlRead.Close()
	statusWrite.Close()
	plan.closeChildEnds()
	if startErr != nil {
		controlWrite.Close()
		statusRead.Close()
		return nil, fmt.Errorf("spawn instance %q: %w", rc.ID, startErr)
	}
	pid := cmd.Process.Pid
	abort := func(err error) (*Instance, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Process.Release()
		controlWrite.Close()
		statusRead.Close()
		return nil, err
	}

	if opts.Setup != nil {
		if err := opts.Setup(pid); err != nil {
			return abort(fmt.Errorf("spawn instance %q: set up process %d: %w", rc.ID, pid, err))
		}
	}
	plan.placed()
	if err := ctx.Err(); err != nil {
		return abort(fmt.Errorf("spawn instance %q: %w", rc.ID, err))
	}
	if _, err := controlWrite.Write(append(config, '\n')); err != nil {
		return abort(fmt.Errorf("spawn instance %q: send configuration to process %d: %w", rc.ID, pid, err))
	}
	report, err := awaitStatus(ctx, statusRead)
	if err != nil {
		return abort(fmt.Errorf("spawn instance %q: process %d: %w", rc.ID, pid, err))
	}
	if report.Error != "" {
		return abort(&instanceError{message: report.Error, category: categoryOf(report.Kind)})
	}
	statusRead.Close()
	return &Instance{process: cmd.Process, control: controlWrite}, nil
}

// instanceCommand builds the command that re-executes the shim binary as an
// instance process.
func instanceCommand(rc *oci.RunConfig, stdio Stdio, opts Options, plan *namespacePlan) *exec.Cmd {
	exe, argv0 := opts.Exe, opts.Exe
	if exe == "" {
		exe, argv0 = "/proc/self/exe", os.Args[0]
	}
	// A plan only ever comes from Spawn, never from the shim's environment.
	env := slices.DeleteFunc(append(os.Environ(), opts.Env...), func(kv string) bool {
		return strings.HasPrefix(kv, nsenterPlanVar+"=")
	})
	if step := plan.env(); step != "" {
		env = append(env, step)
	}
	cmd := &exec.Cmd{
		Path: exe,
		// The container id is there only for people reading ps.
		Args: []string{argv0, InstanceCommand, rc.ID},
		Env:  env,
		SysProcAttr: &syscall.SysProcAttr{
			// The instance must not outlive the shim, which alone can report
			// its exit.
			Pdeathsig:  syscall.SIGKILL,
			Cloneflags: plan.cloneflags,
		},
	}
	if plan.otherPidNamespace() {
		// Go's child would compare getppid(2), 0 there, with the shim's
		// pid, take the shim for dead and kill itself. The instance sets
		// the signal itself (see init); should the shim die before, the
		// instance reads end of file on the control pipe and exits.
		cmd.SysProcAttr.Pdeathsig = 0
	}
	// A nil *os.File stored in an io.Reader or io.Writer would not compare
	// equal to nil, so only set the streams that exist; exec gives the
	// others /dev/null.
	if stdio.Stdin != nil {
		cmd.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		cmd.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		cmd.Stderr = stdio.Stderr
	}
	return cmd
}

// awaitStatus reads the instance's status report, which ends when the
// instance closes the pipe (or dies).
func awaitStatus(ctx context.Context, status *os.File) (statusReport, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(status, statusLimit))
		done <- result{data, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// Closing the pipe ends the read; the caller kills the child.
		status.Close()
		<-done
		return statusReport{}, fmt.Errorf("waiting for the guest to be ready: %w", ctx.Err())
	}
	if r.err != nil {
		return statusReport{}, fmt.Errorf("read status: %w", r.err)
	}
	if len(r.data) == 0 {
		return statusReport{}, errors.New("instance process ended before it was ready")
	}
	var report statusReport
	if err := json.Unmarshal(r.data, &report); err != nil {
		return statusReport{}, fmt.Errorf("unreadable status %q: %w", r.data, err)
	}
	return report, nil
}

// instanceError is an instance process's own explanation of why its guest
// cannot run; its text is exactly the instance's message.
type instanceError struct {
	message  string
	category error
}

func (e *instanceError) Error() string { return e.message }
func (e *instanceError) Unwrap() error { return e.category }

// categoryOf maps a failure kind to its errdefs sentinel (nil when unknown).
func categoryOf(kind failureKind) error {
	switch kind {
	case kindInvalid:
		return errdefs.ErrInvalidArgument
	case kindNotFound:
		return errdefs.ErrNotFound
	}
	return nil
}

// Pid returns the instance process's pid.
func (i *Instance) Pid() int {
	return i.process.Pid
}

// pidForJoin returns the instance process's pid if the process still runs,
// checked through its pidfd, so that the pid cannot be another process's.
func (i *Instance) pidForJoin() (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return 0, fmt.Errorf("join the namespaces of instance process %d: instance closed: %w", i.process.Pid, errdefs.ErrFailedPrecondition)
	}
	if err := i.process.Signal(syscall.Signal(0)); err != nil {
		return 0, fmt.Errorf("join the namespaces of instance process %d: it has exited: %w: %w", i.process.Pid, errdefs.ErrFailedPrecondition, err)
	}
	return i.process.Pid, nil
}

// Start lets the guest run. Calling it twice is an error.
func (i *Instance) Start() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.started:
		return fmt.Errorf("instance process %d: already started: %w", i.process.Pid, errdefs.ErrFailedPrecondition)
	case i.closed:
		return fmt.Errorf("instance process %d: closed before start: %w", i.process.Pid, errdefs.ErrFailedPrecondition)
	}
	i.started = true
	_, err := i.control.Write([]byte{startByte})
	// The instance reads nothing more from the control pipe.
	closeErr := i.control.Close()
	i.control = nil
	if err != nil {
		return fmt.Errorf("start instance process %d: %w", i.process.Pid, err)
	}
	if closeErr != nil {
		return fmt.Errorf("start instance process %d: %w", i.process.Pid, closeErr)
	}
	return nil
}

// Signal sends sig to the instance process. It goes through a pidfd, so it
// can never hit another process that reused the pid; once the process is gone
// (reaped) it fails with errdefs.ErrNotFound.
func (i *Instance) Signal(sig syscall.Signal) error {
	// Holding the lock keeps Close from releasing the pidfd mid-call.
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return fmt.Errorf("signal instance process %d: instance closed: %w", i.process.Pid, errdefs.ErrFailedPrecondition)
	}
	if err := i.process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal instance process %d: %w: %w", i.process.Pid, errdefs.ErrNotFound, err)
		}
		return fmt.Errorf("signal instance process %d: %w", i.process.Pid, err)
	}
	return nil
}

// Close releases the shim's ends of the control pipes and its handle on the
// process (Signal fails afterwards). Call it after the process exited, or to
// abort a never-started instance: the instance then exits with status 0
// without running the guest. Closing twice is harmless.
func (i *Instance) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil
	}
	i.closed = true
	var err error
	if i.control != nil {
		err = i.control.Close()
		i.control = nil
	}
	return errors.Join(err, i.process.Release())
}
