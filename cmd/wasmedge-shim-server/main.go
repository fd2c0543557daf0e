//go:build linux

// Command wasmedge-shim-server is the shim server for io.containerd.wasmedge.v1:
// the long-lived process containerd talks to over ttrpc, spawned by the
// start action of containerd-shim-wasmedge-v1, which embeds this binary and
// writes it out once per node (see shim/action). It also runs the metrics
// exporter and answers -v and -info.
package main

import wasmshim "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim"

func main() { wasmshim.RunServer() }
