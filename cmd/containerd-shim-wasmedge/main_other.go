//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "containerd-shim-wasmedge-v1 runs on Linux only")
	os.Exit(1)
}
