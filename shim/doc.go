// Package shim is the containerd side of the runtime: the start protocol
// for every supported containerd, the shim manager that pkg/shim drives,
// and the task service (API v2 and v3) that runs each container's wasm
// instance process.
package shim
