//go:build linux && embed_instance

package main

import (
	_ "embed"

	wasmshim "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim"
)

// instanceBinary is cmd/wasmedge-instance, built by `make build` before this
// binary and embedded in it, so that the shim stays one file to install.
//
//go:embed wasmedge-instance
var instanceBinary []byte

func init() { wasmshim.SetInstanceBinary(instanceBinary) }
