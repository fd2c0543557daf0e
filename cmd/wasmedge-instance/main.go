//go:build linux

// Command wasmedge-instance is the instance process of one wasm container,
// built on its own so that it links only the engine and the sandbox: the
// shim server embeds it (see cmd/wasmedge-shim-server/instance_embed.go)
// and every container's instance runs it, sharing its pages. Started by the
// shim as `wasmedge-instance instance ID`, like the shim binary itself would
// be.
package main

import (
	"fmt"
	"os"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InstanceCommand {
		sandbox.RunInstance()
		return
	}
	fmt.Fprintln(os.Stderr, "wasmedge-instance is started by containerd-shim-wasmedge-v1, not by hand")
	os.Exit(2)
}
