//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// freeMemoryAbove is the module size from which the instance returns the
// compiler's garbage to the kernel before it waits for Start. Measured with a
// 2.6 MB Go module: 5 MiB less resident memory, no slower. For a small module
// the collection touches more memory than it frees (+0.3 MiB).
const freeMemoryAbove = 256 << 10

// notReadyExitStatus is the instance's exit status when it reported a
// failure instead of ready (the shim kills it anyway).
const notReadyExitStatus = 1

func init() {
	if len(os.Args) < 2 || os.Args[1] != InstanceCommand {
		return
	}
	// The guest runs on the main goroutine; locked to the main thread
	// from the start, it makes every system call there, on the thread
	// whose credentials applyProcessSettings sets when Go cannot set them
	// on all (cgo) and whose values /proc/PID/status shows.
	runtime.LockOSThread()
	// Spawn cannot have the signal set for an instance in another pid
	// namespace (see instanceCommand); the kernel keeps it on the main
	// thread, the one its parent knows.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
}

// RunInstance is the whole life of an instance process; main calls it when
// os.Args[1] is InstanceCommand. It reads its configuration from the shim,
// mounts the container's volumes in its own mount namespace, compiles the
// module, reports ready, waits for Start, runs the guest and exits with the
// guest's status: the proc_exit code, 0 on return, TrapExitStatus on a trap.
// A signal ends it with the signal's default action, so the shim sees
// 128+signal (as pid 1 of a new pid namespace, where the kernel ignores
// default actions, it exits with 128+signal itself). It never returns.
func RunInstance() {
	os.Exit(runInstance())
}

// runInstance returns the instance's exit status.
func runInstance() int {
	// Registering the handlers costs the runtime a round trip to its
	// signal thread per signal, about 0.5 ms in all: do it while the
	// instance prepares, and wait for it only before the guest runs. A
	// signal that comes sooner still ends the process, with status 2.
	signalsReady := make(chan struct{})
	go func() {
		if os.Getpid() == 1 {
			exitOnTerminationSignals()
		}
		close(signalsReady)
	}()
	control := os.NewFile(controlFD, "control")
	status := &statusWriter{file: os.NewFile(statusFD, "status")}
	commands := bufio.NewReader(control)
	ctx := context.Background()

	g, err := prepareInstance(ctx, commands)
	var ready Report
	if g != nil {
		ready = g.report
	}
	if sendErr := sendLine(status, reportFor(ready, err)); sendErr != nil && err == nil {
		// The shim gave up on us before we could say we are ready.
		return notReadyExitStatus
	}
	if err != nil {
		status.file.Close()
		return notReadyExitStatus
	}
	if g.moduleSize >= freeMemoryAbove {
		// What compiling left behind is garbage now; give it back before
		// idling until Start, which may be a long time.
		debug.FreeOSMemory()
	}

	if _, err := commands.ReadByte(); err != nil {
		// End of file: the shim aborted the container before Start.
		return 0
	}
	control.Close()
	<-signalsReady
	// The shim may have stopped listening (it only reads while it cares);
	// a failed report must not keep the guest from running.
	meter := newMemoryMeter()
	stopReports := make(chan struct{})
	code, trapped := g.run(withMemoryMeter(ctx, meter), func() {
		_ = sendLine(status, runEvent{StartedAt: time.Now().UnixNano()})
		go meter.report(stopReports, memoryReportInterval, func(size, peak uint64) {
			_ = sendLine(status, runEvent{Memory: &size, MemoryPeak: peak})
		})
	})
	close(stopReports)
	if trapped {
		_ = sendLine(status, runEvent{Trap: true})
	}
	// Not closed: a memory report still being written must not find the
	// descriptor closed, or reused. The exit closes it.
	return code
}

// prepareInstance reads the configuration, sets up the mounts and the
// kernel parameters, readies the guest, and only then, all the work that
// needs root done, takes on the guest's credentials and limits.
func prepareInstance(ctx context.Context, commands *bufio.Reader) (*guest, error) {
	if err := nsenterFailure(); err != nil {
		return nil, err
	}
	line, err := commands.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var config instanceConfig
	if err := json.Unmarshal(line, &config); err != nil {
		return nil, fmt.Errorf("decode configuration: %w", err)
	}
	rc := config.Run
	if rc == nil {
		return nil, errors.New("configuration without a run configuration")
	}
	if config.MountsReady {
		err = checkOwnMountNamespace(config.ShimMountNamespace)
	} else {
		err = setUpMounts(rc, config.ShimMountNamespace)
	}
	if err != nil {
		return nil, err
	}
	if err := setKernelParams(rc); err != nil {
		return nil, err
	}
	g, err := newGuest(ctx, rc, config.CacheDir, config.MemoryLimitPages)
	if err != nil {
		return nil, err
	}
	if !config.MountsReady {
		// The container's own guest gets its listeners; an exec, which
		// joined the running instance's namespaces, would find the ports
		// taken.
		g.listenEnv = rc.Env
	}
	if err := applyProcessSettings(rc); err != nil {
		return nil, err
	}
	return g, nil
}

// statusWriter is the instance's end of the status pipe. The guest's
// goroutine and the memory reports write on it; the lock keeps their lines
// whole.
type statusWriter struct {
	mu   sync.Mutex
	file *os.File
}

// sendLine writes one line of JSON on the status pipe.
func sendLine(status *statusWriter, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	status.mu.Lock()
	defer status.mu.Unlock()
	_, err = status.file.Write(append(data, '\n'))
	return err
}
