// Package harness runs the integration tests' surroundings: private
// containerd daemons (1.6 and 2.4) that find the shim under test first on
// their PATH, ctr and Go clients bound to them, OCI image tarballs built in
// memory, and leak checks after each test.
//
// Everything that starts processes is Linux only (files *_linux.go); tests
// using it must carry a `//go:build linux` constraint. Image building and path
// lookups are portable.
//
// The Makefile's integration target tells the harness where things are through
// environment variables; each has a default, so `go test ./integration/...`
// also works by hand from a checkout that ran `make build wasm`:
//
//	SHIM_BIN_DIR  directory holding containerd-shim-wasmedge-v1 (<repo>/bin)
//	WASM_DIR      compiled test modules (<repo>/build/wasm)
//	CONTAINERD16  containerd 1.6 (/usr/bin/containerd); CTR16 its ctr (/usr/bin/ctr)
//	CONTAINERD24  containerd 2.4 (/opt/containerd-v2.4.2/bin/containerd); CTR24 its ctr
//	CRICTL        crictl for the CRI tests (/opt/cri-tools/bin/crictl)
package harness
