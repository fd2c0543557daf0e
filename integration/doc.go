// Package integration tests the shim end to end against real containerd
// daemons (1.6 and 2.4), started privately by the harness package.
package integration
