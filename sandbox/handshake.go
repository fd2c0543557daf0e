package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// The shim and its instance process talk over two pipes, set up by Spawn:
//
//   - control, shim → instance, the instance's descriptor 3: one line of JSON
//     (instanceConfig), then, once the guest may run, the single byte
//     startByte. End of file instead of the start byte means the shim gave up
//     on the instance: it exits with status 0 without running the guest.
//   - status, instance → shim, the instance's descriptor 4: lines of JSON.
//     The first (statusReport) says the guest is ready, with what readying it
//     took (Report), or why it cannot run, and then the pipe is closed. After
//     ready the pipe stays open: once the start byte has arrived the instance
//     writes a runEvent with StartedAt just before the guest's first
//     instruction, and a runEvent with Trap before it exits with
//     TrapExitStatus, so that the shim can tell a trap from a SIGABRT, which
//     ends with the same status. While the guest runs, runEvents with Memory
//     report its linear memory: once as soon as the memory exists, then
//     every memoryReportInterval if it changed. The instance's exit closes
//     the pipe.
//
// The shim writes the configuration only after Options.Setup returned, so the
// instance does no work before it sits in the container's cgroup.
const (
	controlFD = 3
	statusFD  = 4
	startByte = 'S'
	// statusLineLimit bounds a line the shim reads from the status pipe, so
	// a misbehaving child cannot make it buffer without end. It bounds a
	// line, not the whole stream: memory reports keep coming for as long as
	// a guest runs and grows.
	statusLineLimit = 64 << 10
)

// instanceConfig is what the shim sends an instance process.
type instanceConfig struct {
	Run *oci.RunConfig `json:"run"`
	// CacheDir is wazero's compilation cache directory; empty means none.
	CacheDir string `json:"cacheDir,omitempty"`
	// MemoryLimitPages is Options.MemoryLimitPages.
	MemoryLimitPages uint32 `json:"memoryLimitPages,omitempty"`
	// ShimMountNamespace names the shim's mount namespace (the text of its
	// /proc/self/ns/mnt link): the instance refuses to mount anything
	// there.
	ShimMountNamespace string `json:"shimMountNamespace"`
	// MountsReady says the instance joined the mount namespace of the
	// container's running instance, whose mounts it shares.
	MountsReady bool `json:"mountsReady,omitempty"`
}

// statusReport is the instance's answer to its configuration: ready when
// Error is empty.
type statusReport struct {
	Error string      `json:"error,omitempty"`
	Kind  failureKind `json:"kind,omitempty"`
	// Report is set when the guest is ready.
	Report *Report `json:"report,omitempty"`
}

// Report is what an instance process measured while it readied its guest.
// The shim turns it into startup metrics; the instance, not the shim, has to
// measure, because all of it happens in the instance process.
type Report struct {
	// ModuleRead is the time spent reading the module file.
	ModuleRead time.Duration `json:"moduleRead"`
	// Compile is the time spent compiling the module, from the cache or
	// anew (including a failed attempt with a broken cache entry).
	Compile time.Duration `json:"compile"`
	// Instantiate is the time spent instantiating the WASI host module and
	// checking the guest's imports against it.
	Instantiate time.Duration `json:"instantiate"`
	// CacheHit is true when the compiled code came from the compilation
	// cache; false when it was compiled anew (no cache, a cache entry
	// written by this compilation, or a broken cache).
	CacheHit bool `json:"cacheHit"`
}

// runEvent is one line the instance writes on the status pipe after its
// guest was released.
type runEvent struct {
	// StartedAt is the wall-clock time, in Unix nanoseconds, just before the
	// guest's first instruction.
	StartedAt int64 `json:"startedAt,omitempty"`
	// Trap says the guest trapped; the instance exits with TrapExitStatus.
	Trap bool `json:"trap,omitempty"`
	// Memory is the size of the guest's linear memory in bytes, set on a
	// memory report; a pointer because an empty memory is a size too.
	Memory *uint64 `json:"memory,omitempty"`
	// MemoryPeak is the largest Memory has been, on a memory report.
	MemoryPeak uint64 `json:"memoryPeak,omitempty"`
}

// failureKind carries the category of a failure across the status pipe, so
// the shim can report it under the matching errdefs sentinel.
type failureKind string

const (
	// kindInvalid: the bundle asks for something that cannot run (not a wasm
	// module, a missing export, an unsupported mount).
	kindInvalid failureKind = "invalid"
	// kindNotFound: a file the bundle names does not exist.
	kindNotFound failureKind = "not-found"
)

// failure is an instance-side error tagged with its category.
type failure struct {
	kind failureKind
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// invalidf makes a kindInvalid failure.
func invalidf(format string, args ...any) error {
	return &failure{kind: kindInvalid, err: fmt.Errorf(format, args...)}
}

// tagged wraps err as a failure of kind unless it already has one.
func tagged(kind failureKind, err error) error {
	var f *failure
	if err == nil || errors.As(err, &f) {
		return err
	}
	return &failure{kind: kind, err: err}
}

// reportFor turns the outcome of the instance's preparation into its status
// report; ready carries the measurements of a successful one.
func reportFor(ready Report, err error) statusReport {
	if err == nil {
		return statusReport{Report: &ready}
	}
	r := statusReport{Error: err.Error()}
	var f *failure
	if errors.As(err, &f) {
		r.Kind = f.kind
	}
	if r.Error == "" {
		r.Error = "instance failed without a message"
	}
	return r
}
