//go:build linux && !embed_server

package main

import (
	"os"

	wasmshim "github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim"
)

// Built without the server binary embedded (a plain `go build`), this
// binary links the server and is its own server: it works the same, only
// every start and delete action pays for initialising all of it.

// serverBinary returns this binary.
func serverBinary() (string, error) { return os.Executable() }

// runServer runs the server in this process.
func runServer() { wasmshim.RunServer() }
