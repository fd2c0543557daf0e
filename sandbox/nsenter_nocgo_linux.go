//go:build linux && !cgo

package sandbox

import (
	"errors"
	"os"
)

// builtWithCgo is false: there is no constructor to enter namespaces before
// the Go runtime starts, so Spawn refuses namespace paths (but for pid) and
// new cgroup namespaces; Go changes per-thread state on all threads.
const builtWithCgo = false

// nsenterFailure refuses a plan for the constructor this binary lacks,
// which only a shim built with cgo spawning this one could have written:
// ignored, it would leave the guest in the shim's namespaces.
func nsenterFailure() error {
	if os.Getenv(nsenterPlanVar) != "" {
		return errors.New("enter namespaces: this instance binary was built without cgo and cannot")
	}
	return nil
}
