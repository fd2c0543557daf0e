package metrics

// Phase names one step of an instance's start, the label value of
// wasmedge_shim_startup_seconds.
type Phase string

// The startup phases the shim times. Several overlap on purpose: an
// operator wants both the breakdown and the end-to-end figures.
const (
	// PhaseShimStart is the shim process's own start, from exec to serving
	// its task API.
	PhaseShimStart Phase = "shim_start"
	// PhaseBundleLoad covers reading the OCI bundle and mounting its rootfs.
	PhaseBundleLoad Phase = "bundle_load"
	// PhaseModuleRead is reading the module's bytes.
	PhaseModuleRead Phase = "module_read"
	// PhaseCompile is compiling the module, from the cache or from scratch.
	PhaseCompile Phase = "compile"
	// PhaseInstantiate is instantiating the compiled module.
	PhaseInstantiate Phase = "instantiate"
	// PhaseFirstInstruction spans Create to the first guest instruction, the
	// latency a user perceives as "start".
	PhaseFirstInstruction Phase = "first_instruction"
	// PhaseCreate is the whole Create RPC.
	PhaseCreate Phase = "create"
)

// phases lists every Phase, so their series exist (at zero) before the
// first observation and alerts comparing rates do not see gaps.
var phases = []Phase{
	PhaseShimStart, PhaseBundleLoad, PhaseModuleRead, PhaseCompile,
	PhaseInstantiate, PhaseFirstInstruction, PhaseCreate,
}

// ExitReason says why an instance process ended, the reason label of
// wasmedge_shim_instance_exits_total.
type ExitReason string

// Exit reasons. The shim decides which applies: it alone knows whether the
// process was signalled, whether the cgroup reported an OOM kill, and which
// status the instance uses for a trap.
const (
	// ExitNormal: the guest returned or called proc_exit (any status).
	ExitNormal ExitReason = "exit"
	// ExitTrap: the guest trapped (unreachable, out-of-bounds access, ...).
	ExitTrap ExitReason = "trap"
	// ExitSignal: the instance process was killed by a signal other than
	// the OOM killer's.
	ExitSignal ExitReason = "signal"
	// ExitOOM: the kernel's OOM killer ended the instance.
	ExitOOM ExitReason = "oom"
	// ExitUnknown stands for any reason value not listed here, so a caller's
	// mistake cannot grow the label's cardinality.
	ExitUnknown ExitReason = "unknown"
)

// known reports whether r is one of the listed reasons.
func (r ExitReason) known() bool {
	switch r {
	case ExitNormal, ExitTrap, ExitSignal, ExitOOM, ExitUnknown:
		return true
	}
	return false
}

// CRI annotations that name the Kubernetes objects behind a container.
// They are not importable from containerd, so they are spelled out here.
const (
	AnnotationSandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationContainerName    = "io.kubernetes.cri.container-name"
)

// InstanceInfo identifies one instance process (a container's init process
// or one of its execs) and the Kubernetes objects it belongs to.
type InstanceInfo struct {
	// Namespace is the containerd namespace.
	Namespace string
	// ContainerID is the containerd container id.
	ContainerID string
	// ExecID is empty for the container's init process.
	ExecID string
	// PodName, PodNamespace and ContainerName come from the CRI annotations
	// (AnnotationSandboxName, AnnotationSandboxNamespace,
	// AnnotationContainerName); they are empty outside Kubernetes.
	PodName, PodNamespace, ContainerName string
	// Module is the wasm module the instance runs (its path in the rootfs).
	Module string
}

// NewInstanceInfo fills an InstanceInfo from a container's identity and its
// OCI spec annotations (nil is fine).
func NewInstanceInfo(namespace, containerID, execID, module string, annotations map[string]string) InstanceInfo {
	return InstanceInfo{
		Namespace:     namespace,
		ContainerID:   containerID,
		ExecID:        execID,
		PodName:       annotations[AnnotationSandboxName],
		PodNamespace:  annotations[AnnotationSandboxNamespace],
		ContainerName: annotations[AnnotationContainerName],
		Module:        module,
	}
}
