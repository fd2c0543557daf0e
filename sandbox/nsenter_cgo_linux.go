//go:build linux && cgo

package sandbox

// #include "nsenter_linux.h"
import "C"

import "errors"

// builtWithCgo says the binary carries the constructor of nsenter_linux.c,
// which enters namespaces before the Go runtime starts, and that Go cannot
// change per-thread state on all threads (syscall.AllThreadsSyscall).
const builtWithCgo = true

// nsenterFailure returns the constructor's failure, if it had one.
func nsenterFailure() error {
	if msg := C.wasm_nsenter_failure(); msg != nil {
		return errors.New(C.GoString(msg))
	}
	return nil
}
