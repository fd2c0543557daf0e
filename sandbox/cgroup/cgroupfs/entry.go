package cgroupfs

import (
	"errors"
	"os"
)

// Entry is what a process that is about to start needs to enter the cgroup
// by itself, at birth, rather than be moved there from outside once it runs
// (AddProc). Moving another process takes the kernel's global threadgroup
// lock, whose write side waits for an RCU grace period: about 1 ms for each
// v1 hierarchy, and everything else touching cgroups on the node waits too.
// A single-threaded process that moves itself (v1), or one cloned straight
// into the cgroup (v2), takes no such lock.
type Entry struct {
	// Tasks are the cgroup's tasks files on v1, one per hierarchy, opened
	// for writing. A process with one thread that writes "0" to each is in
	// the cgroup in every hierarchy.
	Tasks []*os.File
	// Dir is the cgroup's directory on v2, for clone3(2)'s
	// CLONE_INTO_CGROUP (syscall.SysProcAttr.CgroupFD).
	Dir *os.File
}

// Close closes the files of the entry; the caller does so once the process
// has been started. A nil Entry has nothing to close.
func (e *Entry) Close() error {
	if e == nil {
		return nil
	}
	var errs []error
	for _, f := range e.Tasks {
		errs = append(errs, f.Close())
	}
	if e.Dir != nil {
		errs = append(errs, e.Dir.Close())
	}
	return errors.Join(errs...)
}
