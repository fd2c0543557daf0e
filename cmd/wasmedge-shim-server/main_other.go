//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "wasmedge-shim-server runs on Linux only")
	os.Exit(1)
}
