package action

import (
	"os"
	"path/filepath"
)

// The environment the start action gives the server it spawns.
const (
	// ProtocolEnv says which start protocol containerd spoke: "bootstrap"
	// (2.3+, task API v3) or "legacy" (task API v2).
	ProtocolEnv = "WASMEDGE_SHIM_PROTOCOL"
	// SocketDirEnv is the directory containerd wants shim sockets in.
	SocketDirEnv = "WASMEDGE_SHIM_SOCKET_DIR"
	// StartTimeEnv carries the time (Unix nanoseconds) the start action
	// began, from which the server reports its own start-up.
	StartTimeEnv = "WASMEDGE_SHIM_START_TIME"
)

// GroupingEnv selects which containers outside a pod share a shim process:
// "namespace" (the default), all of a containerd namespace's, or
// "container", one shim each as runc does. Pods always share one.
const GroupingEnv = "WASMEDGE_SHIM_GROUPING"

// GroupService is the shim server's own ttrpc service, through which a
// start action reserves a place in a running server of its group; its one
// method, ReserveMethod, takes the container id as a StringValue and
// returns Empty.
const (
	GroupService  = "containerd.shim.wasmedge.v1.Group"
	ReserveMethod = "Reserve"
)

// defaultSocketDir is where shim sockets go when containerd does not say
// (before 2.3 it never does): containerd's own default.
const defaultSocketDir = "/run/containerd/s"

// cgroupDirsFile, in a bundle, lists the container's cgroup directories one
// per line, so that the delete action can remove them without knowing
// anything about cgroups but where they are.
const cgroupDirsFile = "wasmedge-cgroup-dirs"

// writeFileAtomic writes data to path through a temporary file renamed into
// place, so that a reader never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// BundleOf returns the bundle of task id, given the working directory
// containerd ran the action in (the bundle itself, or its parent).
func BundleOf(cwd, id string) string {
	if filepath.Base(cwd) == id {
		return cwd
	}
	return filepath.Join(filepath.Dir(cwd), id)
}
