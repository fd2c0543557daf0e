//go:build linux && cgo

// Shared by nsenter_linux.c and its Go side, nsenter_cgo_linux.go. The names
// must be InstanceCommand and nsenterPlanVar (TestNsenterNamesMatch).

#ifndef WASM_NSENTER_LINUX_H
#define WASM_NSENTER_LINUX_H

#define WASM_INSTANCE_COMMAND "instance"
#define WASM_NSENTER_PLAN_VAR "_WASM_INSTANCE_NSENTER"

// wasm_nsenter_failure says why the constructor could not enter the
// namespaces Spawn asked for, or is NULL when it did (or had nothing to do).
const char *wasm_nsenter_failure(void);

#endif
