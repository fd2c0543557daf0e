//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// Instance is an instance process; only Linux has them.
type Instance struct{}

// Spawn needs Linux (mount namespaces, openat2).
func Spawn(ctx context.Context, rc *oci.RunConfig, stdio Stdio, opts Options) (*Instance, error) {
	return nil, fmt.Errorf("wasm instances need Linux: %w", errdefs.ErrNotImplemented)
}

// Pid returns 0: there is no process.
func (i *Instance) Pid() int { return 0 }

// Start is not implemented off Linux.
func (i *Instance) Start() error { return errdefs.ErrNotImplemented }

// Signal is not implemented off Linux.
func (i *Instance) Signal(sig syscall.Signal) error { return errdefs.ErrNotImplemented }

// Report returns nothing off Linux.
func (i *Instance) Report() Report { return Report{} }

// StartedAt reports no start: there is no process.
func (i *Instance) StartedAt() (time.Time, bool) { return time.Time{}, false }

// Trapped is false: there is no process.
func (i *Instance) Trapped() bool { return false }

// Close does nothing off Linux.
func (i *Instance) Close() error { return nil }
