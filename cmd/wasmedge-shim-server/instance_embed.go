//go:build linux && embed_instance

package main

import (
	_ "embed"
	"strings"

	wasmshim "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim"
)

// instanceBinary is cmd/wasmedge-instance, built by `make build` before this
// binary and embedded in it, so that the shim stays one file to install.
//
//go:embed wasmedge-instance
var instanceBinary []byte

// instanceSum is instanceBinary's SHA-256 in hex, computed by the build.
//
//go:embed wasmedge-instance.sha256
var instanceSum string

func init() { wasmshim.SetInstanceBinary(instanceBinary, strings.TrimSpace(instanceSum)) }
