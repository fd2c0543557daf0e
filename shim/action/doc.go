// Package action answers the two commands containerd runs the shim binary
// for on every task, start and delete, with as little code as possible.
//
// containerd execs the binary twice per task: `start` before Create and
// `delete` after every Delete (it waits for it before Delete returns). A Go
// binary pays for initialising every package it links before main runs; the
// full shim links containerd's libraries, wazero, Prometheus and OTel and
// spends about 4 ms of CPU there, on every task, twice. So the binary
// containerd runs is this package and little else, and the shim server is a
// binary of its own that start spawns (cmd/wasmedge-shim-server).
//
// This package must stay light: no containerd packages, no cgroup library,
// no generated protobuf types (the few messages are encoded by hand with
// protowire), nothing of the engine. The server imports it for the names
// the two sides share.
package action
