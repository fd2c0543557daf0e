// Package cgroup gives each wasm container's instance process a cgroup of
// its own with the limits of the container's spec, as runc does for a native
// container: on cgroup v1 one directory per hierarchy, on cgroup v2 one
// directory in the unified tree. It is built on
// github.com/containerd/cgroups/v3, whose cgroup1 and cgroup2 packages do the
// file work; this package adds what runc does around them (the order of
// memory and swap limits, the devices runc always allows, enabling v2
// controllers in the parents) and what the shim needs (OOM notification that
// stops, freezing with a deadline, removal that waits for exiting tasks).
//
// The shim creates the cgroup at task Create (New), puts the instance
// process in it before the instance does any work (AddProc from
// sandbox.Options.Setup), and removes it at Delete. Nothing here kills a
// process: the shim owns the processes, this package only their cgroup.
package cgroup
