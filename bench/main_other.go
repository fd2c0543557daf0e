//go:build !linux

// Command bench measures wasm containers against runc on a private
// containerd; it runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: containerd and the shim run on Linux only")
	os.Exit(2)
}
