//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// An instance gets its namespaces three ways, each where it is simplest and
// affects the whole process:
//
//   - A new namespace (but cgroup) is made by clone(2) itself
//     (SysProcAttr.Cloneflags). A new pid namespace makes the instance its
//     pid 1, with no extra process in between.
//   - A namespace to join (but pid) is entered by the constructor of
//     nsenter_linux.c, before the Go runtime starts its threads: a
//     multithreaded process cannot setns(2) into a mount namespace, and
//     setns into the others would move one thread only. Spawn opens each
//     namespace file and passes the descriptor down, so the path is resolved
//     by the shim, and a bad one fails Create before anything runs.
//   - A pid namespace to join is different: setns(2) never moves the caller
//     into it, only the children it forks afterwards. So Spawn enters it on
//     its own locked thread just for the fork of the instance, which then
//     is a member, again with no extra process.
//
// A new cgroup namespace is rooted at the cgroup its creator is in. Made at
// clone time it would be rooted at the shim's; so the constructor waits for
// Spawn to report that Options.Setup placed the process in the container's
// cgroup, then creates it.
//
// A mount namespace given by path is joined, and when the container has
// mounts of its own, a copy of it is made at once for them, so that the
// mounts never land in a namespace the container does not own.

// nsenterPlanVar carries the constructor's plan (see nsenter_linux.c).
const nsenterPlanVar = "_WASM_INSTANCE_NSENTER"

// firstPlanFD is the instance's first descriptor after the control and
// status pipes: the cgroup tasks files, the namespace files, then the
// placement pipe.
const firstPlanFD = statusFD + 1

// namespaceKind is what the kernel calls a namespace type.
type namespaceKind struct {
	// name is its name under /proc/PID/ns and in the constructor's plan.
	name string
	flag int
}

var namespaceKinds = map[oci.NamespaceType]namespaceKind{
	oci.NamespaceNetwork: {"net", unix.CLONE_NEWNET},
	oci.NamespaceIPC:     {"ipc", unix.CLONE_NEWIPC},
	oci.NamespaceUTS:     {"uts", unix.CLONE_NEWUTS},
	oci.NamespacePID:     {"pid", unix.CLONE_NEWPID},
	oci.NamespaceMount:   {"mnt", unix.CLONE_NEWNS},
	oci.NamespaceCgroup:  {"cgroup", unix.CLONE_NEWCGROUP},
}

// namespacePlan is how Spawn puts one instance into its namespaces.
type namespacePlan struct {
	// cloneflags are the namespaces clone(2) creates.
	cloneflags uintptr
	// joins are the namespaces the constructor enters, in order.
	joins []namespaceFile
	// pidJoin is the pid namespace the instance is forked into, if any.
	pidJoin *os.File
	// unshare are the kinds the constructor creates after the joins.
	unshare []namespaceKind
	// placedRead and placedWrite are the pipe that tells the constructor
	// the process sits in its cgroup: it reads until Spawn closes
	// placedWrite. Both nil unless a cgroup namespace is to be made.
	placedRead, placedWrite *os.File
	// own says which types the instance does not share with the shim.
	own map[oci.NamespaceType]bool
	// mountsReady says the instance joins the mount namespace of the
	// container's running instance, where its mounts already are.
	mountsReady bool
	// cgroupTasks are the v1 tasks files the constructor writes "0" to
	// before anything else, entering the container's cgroup by itself
	// (see cgroupfs.Entry). Spawn owns and closes them.
	cgroupTasks []*os.File
}

// namespaceFile is an open namespace file to join.
type namespaceFile struct {
	kind namespaceKind
	file *os.File
}

// planNamespaces opens what the instance for rc joins and decides what it
// creates. The plan holds open files: close it once the child started (or
// did not).
func planNamespaces(rc *oci.RunConfig, opts Options) (_ *namespacePlan, err error) {
	plan := &namespacePlan{own: map[oci.NamespaceType]bool{}}
	defer func() {
		if err != nil {
			plan.close()
		}
	}()
	if opts.JoinNamespacesOf != nil {
		if err := plan.joinInstance(rc, opts.JoinNamespacesOf); err != nil {
			return nil, err
		}
	} else {
		for i, ns := range rc.Namespaces {
			if slices.ContainsFunc(rc.Namespaces[:i], func(n oci.Namespace) bool { return n.Type == ns.Type }) {
				return nil, fmt.Errorf("%s namespace listed twice: %w", ns.Type, errdefs.ErrInvalidArgument)
			}
			if err := plan.add(rc, ns); err != nil {
				return nil, err
			}
		}
		if needsMountNamespace(rc) && !plan.own[oci.NamespaceMount] {
			// Mounts are never made in the shim's namespace.
			plan.cloneflags |= unix.CLONE_NEWNS
			plan.own[oci.NamespaceMount] = true
		}
	}
	if err := plan.checkKernelParams(rc); err != nil {
		return nil, err
	}
	if !builtWithCgo && (len(plan.joins) > 0 || len(plan.unshare) > 0) {
		what := "a new cgroup namespace"
		if len(plan.joins) > 0 {
			what = "joining a " + plan.joins[0].kind.name + " namespace"
		}
		return nil, fmt.Errorf("%s needs a shim built with cgo, and this one was built without: %w", what, errdefs.ErrNotImplemented)
	}
	if slices.Contains(plan.unshare, namespaceKinds[oci.NamespaceCgroup]) {
		if plan.placedRead, plan.placedWrite, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("placement pipe: %w", err)
		}
	}
	return plan, nil
}

// add plans one namespace of the spec.
func (p *namespacePlan) add(rc *oci.RunConfig, ns oci.Namespace) error {
	kind, ok := namespaceKinds[ns.Type]
	if !ok {
		return fmt.Errorf("namespace type %q is not supported: %w", ns.Type, errdefs.ErrInvalidArgument)
	}
	if ns.Path == "" {
		p.own[ns.Type] = true
		if ns.Type == oci.NamespaceCgroup {
			p.unshare = append(p.unshare, kind)
		} else {
			p.cloneflags |= uintptr(kind.flag)
		}
		return nil
	}
	f, err := openNamespace(ns.Path, kind)
	if err != nil {
		return err
	}
	p.join(kind, f)
	if ns.Type == oci.NamespaceMount && needsMountNamespace(rc) {
		p.unshare = append(p.unshare, kind)
		p.own[ns.Type] = true
		return nil
	}
	// A path may well name the shim's own namespace: that is sharing it.
	shared, err := isShimNamespace(f, kind)
	if err != nil {
		return err
	}
	p.own[ns.Type] = !shared
	return nil
}

// joinInstance plans an exec: it joins the namespaces of the container's
// instance, every type the container lists, and its mount namespace when
// the container has mounts (which its instance made there).
func (p *namespacePlan) joinInstance(rc *oci.RunConfig, inst *Instance) error {
	pid, err := inst.pidForJoin()
	if err != nil {
		return err
	}
	var types []oci.NamespaceType
	for _, ns := range rc.Namespaces {
		if _, ok := namespaceKinds[ns.Type]; !ok {
			return fmt.Errorf("namespace type %q is not supported: %w", ns.Type, errdefs.ErrInvalidArgument)
		}
		if !slices.Contains(types, ns.Type) {
			types = append(types, ns.Type)
		}
	}
	if needsMountNamespace(rc) && !slices.Contains(types, oci.NamespaceMount) {
		types = append(types, oci.NamespaceMount)
	}
	for _, t := range types {
		kind := namespaceKinds[t]
		f, err := openNamespace("/proc/"+strconv.Itoa(pid)+"/ns/"+kind.name, kind)
		if err != nil {
			return fmt.Errorf("container's instance process %d: %w", pid, err)
		}
		p.join(kind, f)
		p.own[t] = true
	}
	// The files are the namespaces of whatever process had the pid when
	// they were opened; the instance's pidfd says whether that was still
	// the instance.
	if _, err := inst.pidForJoin(); err != nil {
		return err
	}
	p.mountsReady = needsMountNamespace(rc)
	return nil
}

// join records a namespace file to enter.
func (p *namespacePlan) join(kind namespaceKind, f *os.File) {
	if kind.flag == unix.CLONE_NEWPID {
		p.pidJoin = f
		return
	}
	p.joins = append(p.joins, namespaceFile{kind: kind, file: f})
}

// checkKernelParams makes sure the hostname and sysctls go to namespaces
// the container owns, not the shim's (a path may name the host's network
// namespace, for instance).
func (p *namespacePlan) checkKernelParams(rc *oci.RunConfig) error {
	if (rc.Hostname != "" || rc.Domainname != "") && !p.own[oci.NamespaceUTS] {
		return fmt.Errorf("hostname and domainname need a uts namespace of the container's own: %w", errdefs.ErrInvalidArgument)
	}
	for name := range rc.Sysctls {
		t, err := oci.SysctlNamespace(name)
		if err != nil {
			return err
		}
		if !p.own[t] {
			return fmt.Errorf("sysctl %q needs a %s namespace of the container's own, not the host's: %w",
				strings.ReplaceAll(name, "/", "."), t, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// openNamespace opens a namespace file and checks it is one of kind.
func openNamespace(path string, kind namespaceKind) (*os.File, error) {
	f, err := os.OpenFile(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s namespace: %w: %w", kind.name, err, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("%s namespace: %w", kind.name, err)
	}
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || t != kind.flag {
		f.Close()
		return nil, fmt.Errorf("%s namespace: %s is not a %s namespace file: %w", kind.name, path, kind.name, errdefs.ErrInvalidArgument)
	}
	return f, nil
}

// isShimNamespace says whether f is the shim's own namespace of kind.
func isShimNamespace(f *os.File, kind namespaceKind) (bool, error) {
	var theirs, ours unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &theirs); err != nil {
		return false, fmt.Errorf("%s namespace: %w", kind.name, err)
	}
	if err := unix.Stat("/proc/self/ns/"+kind.name, &ours); err != nil {
		return false, fmt.Errorf("shim's %s namespace: %w", kind.name, err)
	}
	return theirs.Dev == ours.Dev && theirs.Ino == ours.Ino, nil
}

// extraFiles are the descriptors the instance gets after the control and
// status pipes, in the order the plan's descriptor numbers assume.
func (p *namespacePlan) extraFiles() []*os.File {
	files := slices.Clone(p.cgroupTasks)
	for _, j := range p.joins {
		files = append(files, j.file)
	}
	if p.placedRead != nil {
		files = append(files, p.placedRead)
	}
	return files
}

// env is the constructor's plan as an environment entry, or "" when it has
// nothing to do.
func (p *namespacePlan) env() string {
	var steps []string
	fd := firstPlanFD
	// First: joining a cgroup namespace would hide the container's cgroup.
	for range p.cgroupTasks {
		steps = append(steps, "cgroup:"+strconv.Itoa(fd))
		fd++
	}
	for _, j := range p.joins {
		steps = append(steps, "join:"+j.kind.name+":"+strconv.Itoa(fd))
		fd++
	}
	if p.placedRead != nil {
		steps = append(steps, "wait:"+strconv.Itoa(fd))
	}
	for _, k := range p.unshare {
		steps = append(steps, "unshare:"+k.name)
	}
	if len(steps) == 0 {
		return ""
	}
	return nsenterPlanVar + "=" + strings.Join(steps, " ")
}

// otherPidNamespace says whether the instance is in a pid namespace other
// than the shim's, where it cannot see its parent: getppid(2) returns 0.
func (p *namespacePlan) otherPidNamespace() bool {
	return p.pidJoin != nil || p.cloneflags&unix.CLONE_NEWPID != 0
}

// start starts cmd, forked into the pid namespace to join if there is one.
func (p *namespacePlan) start(cmd *exec.Cmd) error {
	if p.pidJoin == nil {
		return cmd.Start()
	}
	own, err := os.Open("/proc/self/ns/pid")
	if err != nil {
		return fmt.Errorf("shim's pid namespace: %w", err)
	}
	defer own.Close()
	// Only the children of this thread are affected, and only until it is
	// set back; no other goroutine may run on it meanwhile.
	runtime.LockOSThread()
	if err := unix.Setns(int(p.pidJoin.Fd()), unix.CLONE_NEWPID); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("join pid namespace: %w", err)
	}
	startErr := cmd.Start()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWPID); err != nil {
		// The thread would fork into the container: leave it locked, so
		// that Go ends it with this goroutine. The child cannot be kept,
		// its parent thread being gone then.
		if startErr == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Process.Release()
		}
		return fmt.Errorf("return to the shim's pid namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return startErr
}

// placed tells the constructor the instance sits in its cgroup.
func (p *namespacePlan) placed() {
	if p.placedWrite != nil {
		p.placedWrite.Close()
		p.placedWrite = nil
	}
}

// closeChildEnds closes the files only the child needed, once it has them.
func (p *namespacePlan) closeChildEnds() {
	for _, j := range p.joins {
		j.file.Close()
	}
	p.joins = nil
	if p.pidJoin != nil {
		p.pidJoin.Close()
		p.pidJoin = nil
	}
	if p.placedRead != nil {
		p.placedRead.Close()
		p.placedRead = nil
	}
}

// close releases everything the plan holds.
func (p *namespacePlan) close() {
	p.closeChildEnds()
	p.placed()
}
