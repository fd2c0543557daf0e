//go:build linux && embed_server

package main

import (
	_ "embed"
	"os"
	"strings"
	"syscall"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// serverImage is cmd/wasmedge-shim-server, built by `make build` before this
// binary and embedded in it, so that the shim stays one file to install
// while this one stays small.
//
//go:embed wasmedge-shim-server
var serverImage []byte

// serverSum is serverImage's SHA-256 in hex, computed by the build.
//
//go:embed wasmedge-shim-server.sha256
var serverSum string

// serverBinary writes the server binary out, once per node and version, and
// returns its path.
func serverBinary() (string, error) {
	return action.InstallBinary(action.BinDir, action.ServerBinaryName, strings.TrimSpace(serverSum), serverImage)
}

// runServer replaces this process with the server binary, arguments and
// environment unchanged.
func runServer() {
	path, err := serverBinary()
	exitOn(err)
	exitOn(syscall.Exec(path, os.Args, os.Environ()))
}
