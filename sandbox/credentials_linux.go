//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// defaultUmask is the guest's umask when the spec gives none, as in runc.
const defaultUmask = 0o022

// Credentials and limits are applied last, once the mounts are made, the
// kernel parameters written and the module compiled (into a cache the guest
// could not write to), all of which need root; then the guest runs with
// exactly the spec's user, groups, capabilities, no_new_privs and limits.
//
// Resource limits, the OOM score adjustment, the umask and the uid and gids
// belong to the whole process. Capabilities, the bounding set, keepcaps and
// no_new_privs belong to each thread, and the Go runtime has several. Built
// without cgo, Go changes them on every thread (syscall.AllThreadsSyscall).
// With cgo it cannot, and they are changed on the main thread only, the one
// the guest runs on (locked by init) and whose values /proc/PID/status
// shows: every system call the guest causes is made there. The runtime's
// other threads keep the shim's capabilities if the guest runs as root, and
// lose them all if it does not.

// applyProcessSettings gives the process the spec's limits and
// credentials. It must run on the main thread, locked.
func applyProcessSettings(rc *oci.RunConfig) error {
	if rc.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*rc.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj %d: %w", *rc.OOMScoreAdj, err)
		}
	}
	for _, l := range rc.Rlimits {
		resource, ok := rlimitResources[l.Type]
		if !ok {
			return invalidf("unknown rlimit type %q", l.Type)
		}
		if err := unix.Prlimit(0, resource, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}, nil); err != nil {
			return fmt.Errorf("set %s to soft %d, hard %d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	umask := defaultUmask
	if rc.User.Umask != nil {
		umask = int(*rc.User.Umask)
	}
	unix.Umask(umask)
	if rc.NoNewPrivileges {
		if err := perThread(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	return switchUser(rc.User, rc.Capabilities)
}

// rlimitResources maps the spec's rlimit names to setrlimit(2) resources.
var rlimitResources = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// switchUser drops to the spec's user and capabilities, in runc's order:
// the bounding set first (dropping needs CAP_SETPCAP), then the ids with
// the permitted set kept across the change, then the capability sets.
func switchUser(u oci.User, caps *oci.Capabilities) error {
	var known uint64
	if caps != nil {
		last, err := lastCapability()
		if err != nil {
			return err
		}
		// Capabilities this kernel does not have cannot be given; like
		// runc, leave them out rather than fail.
		known = uint64(1)<<(last+1) - 1
		for c := 0; c <= last; c++ {
			if caps.Bounding&(1<<c) != 0 {
				continue
			}
			if err := perThread(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
				return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
			}
		}
		if err := perThread(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
			return fmt.Errorf("keep capabilities across the user change: %w", err)
		}
	}
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// The syscall package's versions change every thread (x/sys/unix's
	// Setgroups only the calling one).
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("set additional groups %v: %w", u.AdditionalGids, err)
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("set gid %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("set uid %d: %w", u.UID, err)
	}
	if caps == nil {
		return nil
	}
	if err := perThread(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	if err := setCapabilities(caps.Effective&known, caps.Permitted&known, caps.Inheritable&known); err != nil {
		return err
	}
	if err := perThread(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := uint(0); c < 64; c++ {
		if caps.Ambient&known&(1<<c) == 0 {
			continue
		}
		if err := perThread(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c)); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	return nil
}

// setCapabilities sets the effective, permitted and inheritable sets.
func setCapabilities(effective, permitted, inheritable uint64) error {
	header := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	// Version 3 takes two 32-bit halves, low first.
	data := [2]unix.CapUserData{
		{Effective: uint32(effective), Permitted: uint32(permitted), Inheritable: uint32(inheritable)},
		{Effective: uint32(effective >> 32), Permitted: uint32(permitted >> 32), Inheritable: uint32(inheritable >> 32)},
	}
	err := perThread(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&header)
	runtime.KeepAlive(&data)
	if err != nil {
		return fmt.Errorf("set capabilities (effective %#x, permitted %#x, inheritable %#x): %w", effective, permitted, inheritable, err)
	}
	return nil
}

// lastCapability is the highest capability number the kernel knows.
func lastCapability() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("highest capability: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || last < 0 || last > 63 {
		return 0, fmt.Errorf("highest capability: unexpected %q", data)
	}
	return last, nil
}

// perThread makes a system call that changes per-thread state on every
// thread if it can (no cgo), else on the calling one (see above).
func perThread(trap, a1, a2, a3 uintptr) error {
	var errno syscall.Errno
	if builtWithCgo {
		_, _, errno = unix.RawSyscall(trap, a1, a2, a3)
	} else {
		_, _, errno = syscall.AllThreadsSyscall(trap, a1, a2, a3)
	}
	if errno != 0 {
		return errno
	}
	return nil
}
