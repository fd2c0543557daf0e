//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// Instance is an instance process whose guest is compiled and waits for
// Start. The process is never waited for here: the shim's reaper collects its
// exit status.
type Instance struct {
	process *os.Process
	// report is what the instance measured while readying its guest.
	report Report
	// onStarted is Options.Started.
	onStarted func(time.Time)
	// onMemory is Options.Memory.
	onMemory func(size, peak uint64)

	mu sync.Mutex
	// control is the write end of the control pipe until Start sent the start
	// byte or Close ran.
	control *os.File
	// status is the read end of the status pipe, and statusLines its reader
	// positioned after the ready report. Start hands both to readRunEvents,
	// which closes status at end of file and then closes reportsDone.
	status      *os.File
	statusLines *bufio.Reader
	reportsDone chan struct{}
	// reading is the status pipe while readRunEvents reads it, for Close to
	// cut short a read that would not end.
	reading *os.File
	started bool
	closed  bool
	// startedAt and trapped are what the instance reported after Start.
	startedAt time.Time
	trapped   bool
}

// closeReportsWait bounds how long Close waits for the instance's last
// reports. The pipe reaches end of file as the process exits, so only a
// write end that leaked into another process would make it wait that long.
const closeReportsWait = time.Second

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
	entry, err := openCgroupEntry(opts.Cgroup)
	if err != nil {
		return nil, fmt.Errorf("spawn instance %q: %w", rc.ID, err)
	}
	defer entry.Close()
	if builtWithCgo {
		plan.cgroupTasks = entry.Tasks
	}
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

	// The order of ExtraFiles makes them descriptors controlFD, statusFD,
	// then the plan's, from firstPlanFD on.
	extraFiles := append([]*os.File{controlRead, statusWrite}, plan.extraFiles()...)
	cmd := instanceCommand(rc, stdio, opts, plan, extraFiles, entry.Dir)
	startErr := plan.start(cmd)
	if startErr != nil && entry.Dir != nil {
		// A kernel before 5.7 cannot clone into a cgroup: start the
		// process where the shim is and move it there from outside.
		cmd = instanceCommand(rc, stdio, opts, plan, extraFiles, nil)
		startErr = plan.start(cmd)
	}
	// The instance entered its cgroup at birth unless it had neither the v1
	// tasks files nor the v2 directory to do so with.
	moveIn := opts.Cgroup != nil && len(plan.cgroupTasks) == 0 && !cmd.SysProcAttr.UseCgroupFD
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
	if moveIn {
		if err := opts.Cgroup.AddProc(pid); err != nil {
			return abort(fmt.Errorf("spawn instance %q: %w", rc.ID, err))
		}
	}
	plan.placed()
	if err := ctx.Err(); err != nil {
		return abort(fmt.Errorf("spawn instance %q: %w", rc.ID, err))
	}
	if _, err := controlWrite.Write(append(config, '\n')); err != nil {
		return abort(fmt.Errorf("spawn instance %q: send configuration to process %d: %w", rc.ID, pid, err))
	}
	// One reader for the pipe's whole life: the ready report and the run
	// events after it. Its buffer is the longest line it takes.
	lines := bufio.NewReaderSize(statusRead, statusLineLimit)
	report, err := awaitStatus(ctx, statusRead, lines)
	if err != nil {
		return abort(fmt.Errorf("spawn instance %q: process %d: %w", rc.ID, pid, err))
	}
	if report.Error != "" {
		return abort(&instanceError{message: report.Error, category: categoryOf(report.Kind)})
	}
	inst := &Instance{
		process:     cmd.Process,
		onStarted:   opts.Started,
		onMemory:    opts.Memory,
		control:     controlWrite,
		status:      statusRead,
		statusLines: lines,
	}
	if report.Report != nil {
		inst.report = *report.Report
	}
	return inst, nil
}

// instanceCommand builds the command that re-executes the shim binary as an
// instance process, with extraFiles from descriptor 3 on and, when
// cgroupDir is not nil, cloned into that v2 cgroup.
func instanceCommand(rc *oci.RunConfig, stdio Stdio, opts Options, plan *namespacePlan, extraFiles []*os.File, cgroupDir *os.File) *exec.Cmd {
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
		ExtraFiles: extraFiles,
	}
	if cgroupDir != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cgroupDir.Fd())
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

// openCgroupEntry opens the entry to cg, empty when there is no cgroup.
func openCgroupEntry(cg Cgroup) (*cgroupfs.Entry, error) {
	if cg == nil {
		return &cgroupfs.Entry{}, nil
	}
	e, err := cg.OpenEntry()
	if e == nil && err == nil {
		e = &cgroupfs.Entry{}
	}
	return e, err
}

// awaitStatus reads the instance's status report, the first line on the
// status pipe. The instance closes the pipe after a failure report, or dies.
func awaitStatus(ctx context.Context, status *os.File, lines *bufio.Reader) (statusReport, error) {
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := readLine(lines)
		done <- result{line, err}
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
	if errors.Is(r.err, io.EOF) {
		return statusReport{}, errors.New("instance process ended before it was ready")
	}
	if r.err != nil {
		return statusReport{}, fmt.Errorf("read status: %w", r.err)
	}
	var report statusReport
	if err := json.Unmarshal(r.line, &report); err != nil {
		return statusReport{}, fmt.Errorf("unreadable status %q: %w", r.line, err)
	}
	return report, nil
}

// readLine reads one line from the status pipe, without its newline. A last
// line cut short by end of file is still a line; io.EOF comes only when no
// byte is left. A line longer than the reader's buffer is an error.
func readLine(lines *bufio.Reader) ([]byte, error) {
	line, err := lines.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("status line longer than %d bytes", lines.Size())
	}
	if len(line) > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	// The slice is the reader's buffer, which the next read overwrites.
	return bytes.Clone(bytes.TrimSuffix(line, []byte{'\n'})), err
}

// readRunEvents records what the instance reports after Start until it
// closes the status pipe (it exited), then closes the shim's end.
func (i *Instance) readRunEvents(status *os.File, lines *bufio.Reader, done chan<- struct{}) {
	defer close(done)
	defer status.Close()
	for {
		line, err := readLine(lines)
		if err != nil {
			return
		}
		var event runEvent
		if json.Unmarshal(line, &event) != nil {
			// Not from our instance code; nothing it says can be trusted.
			return
		}
		if event.StartedAt != 0 {
			at := time.Unix(0, event.StartedAt)
			i.mu.Lock()
			i.startedAt = at
			i.mu.Unlock()
			if i.onStarted != nil {
				i.onStarted(at)
			}
		}
		if event.Trap {
			i.mu.Lock()
			i.trapped = true
			i.mu.Unlock()
		}
		if event.Memory != nil && i.onMemory != nil {
			i.onMemory(*event.Memory, max(event.MemoryPeak, *event.Memory))
		}
	}
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
	i.reportsDone, i.reading = make(chan struct{}), i.status
	go i.readRunEvents(i.status, i.statusLines, i.reportsDone)
	i.status, i.statusLines = nil, nil
	return nil
}

// Report returns what the instance measured while it readied its guest.
func (i *Instance) Report() Report {
	return i.report
}

// StartedAt returns when the guest was about to run its first instruction,
// as the instance reported it after Start; false until it has (and for good
// if the instance never started or died first). Options.Started is told the
// moment the report arrives.
func (i *Instance) StartedAt() (time.Time, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.startedAt, !i.startedAt.IsZero()
}

// Trapped reports whether the instance said its guest trapped. The report
// comes just before the process exits; once Close has returned, the answer
// is final. It tells a trap from a SIGABRT, which both end with
// TrapExitStatus.
func (i *Instance) Trapped() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.trapped
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

// Close releases the shim's ends of the pipes and its handle on the process
// (Signal fails afterwards). Call it after the process exited, or to abort a
// never-started instance: the instance then exits with status 0 without
// running the guest. After Start it first lets the instance's last reports
// arrive (see Trapped), waiting at most closeReportsWait. Closing twice is
// harmless.
func (i *Instance) Close() error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	var err error
	if i.control != nil {
		err = i.control.Close()
		i.control = nil
	}
	status, reportsDone, reading := i.status, i.reportsDone, i.reading
	i.status, i.statusLines = nil, nil
	i.mu.Unlock()

	if status != nil {
		// Never started: there is nothing more to hear.
		status.Close()
	}
	if reportsDone != nil {
		select {
		case <-reportsDone:
		case <-time.After(closeReportsWait):
			// Closing ends the read; the reports that did not come are lost.
			reading.Close()
			<-reportsDone
		}
	}
	// Signal and pidForJoin check closed under the lock, so none of them
	// uses the process any more.
	return errors.Join(err, i.process.Release())
}
