// Package sandbox runs one WebAssembly process of a container in an instance
// process of its own: the shim binary re-executed with InstanceCommand.
//
// The shim calls Spawn at task Create: the instance process prepares its
// mounts, compiles the module and reports ready (or why it cannot run), then
// waits. Start lets the guest run; the instance process exits with the guest's
// status. Because the guest lives in its own process, a signal stops it even
// in a busy loop, with no cost to the guest's speed.
//
// The instance process is a container for the kernel as runc would make a
// native one: it is in the spec's namespaces (created or joined), has the
// spec's hostname and namespaced sysctls, and runs the guest with the spec's
// user, groups, capabilities, no_new_privs, rlimits, umask and OOM score.
// Joining namespaces other than pid needs the binary built with cgo (see
// nsenter_linux.c); without it Spawn refuses them.
//
// The instance side (RunInstance) uses only the standard library, x/sys,
// wazero, oci and guestfs, so that it could become a small binary of its own.
package sandbox

import (
	"os"
	"time"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// InstanceCommand is the first argument that makes the shim binary act as an
// instance process; main must hand control to RunInstance when it sees it.
const InstanceCommand = "instance"

// TrapExitStatus is the exit status of an instance whose guest trapped (or
// failed at run time in any way other than proc_exit). It is the status the
// WasmEdge command line reports for a trap, so scripts written for WasmEdge
// see the same number; the trap message goes to the guest's stderr.
const TrapExitStatus = 134

// Stdio are the guest's standard streams, already opened by the shim (FIFOs,
// files, pipes); nil means /dev/null. They become the instance process's own
// file descriptors 0, 1 and 2, so the guest writes to them with no copying.
type Stdio struct{ Stdin, Stdout, Stderr *os.File }

// Cgroup is a container's cgroup as Spawn uses it; *cgroup.Cgroup is one.
type Cgroup interface {
	// OpenEntry opens what the instance needs to enter the cgroup at birth.
	OpenEntry() (*cgroupfs.Entry, error)
	// AddProc moves a running process into the cgroup.
	AddProc(pid int) error
}

// Options tune how the instance is spawned.
type Options struct {
	// Exe is the binary to re-execute; default /proc/self/exe.
	Exe string
	// CacheDir is wazero's on-disk compilation cache directory ("" = no cache).
	CacheDir string
	// MemoryLimitPages caps the guest's linear memory, in 64 KiB pages (0 =
	// wazero's 4 GiB). Set below the cgroup limit, it makes a guest that
	// asks for too much see memory.grow fail instead of being OOM-killed.
	MemoryLimitPages uint32
	// Setup, when set, runs with the child's pid after it started and before
	// it does any work (the module is not read yet); the shim uses it to
	// register the pid, so that no exit goes unmatched. An error aborts the
	// spawn (child killed).
	Setup func(pid int) error
	// Cgroup, when set, is the container's cgroup. The instance enters it
	// at birth, before the Go runtime starts, so that its memory is charged
	// there from the first page: cloned into it on v2, moving itself as
	// the constructor's first step on v1. Only where neither can be done (a
	// kernel before 5.7 on v2, a binary without cgo on v1) is it moved there
	// from outside, after Setup.
	Cgroup Cgroup
	// Env is extra environment for the instance process itself (not the
	// guest), e.g. GOGC. It is added to the shim's own environment.
	Env []string
	// JoinNamespacesOf is the container's running instance when spawning
	// an exec: the new instance joins its namespaces, of every type the
	// RunConfig lists and its mount namespace (where the container's
	// mounts are) instead of creating or joining what the RunConfig says,
	// as runc exec does. Going through the Instance rather than a pid makes
	// sure the namespaces are that process's, not a later one's with the
	// same pid: Spawn fails if it has exited or was closed.
	JoinNamespacesOf *Instance
	// Started, when set, is called once the instance reports, after Start,
	// that its guest is about to run its first instruction, with the time
	// it did so. It runs on a goroutine of the Instance's, while Close
	// waits for it: it must not wait for anything that calls Close.
	Started func(at time.Time)
	// Memory, when set, is called with the size of the guest's linear
	// memory in bytes, now and at its largest, as the instance reports it
	// after Start: once as soon as the memory exists, then about every
	// second while the guest runs, when it changed. A guest without memory
	// reports none. It runs like Started, on the same goroutine.
	Memory func(size, peak uint64)
}
