//go:build !linux

package metrics

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// readProcessUsage needs /proc; elsewhere per-process series are left out.
func readProcessUsage(pid int) (processUsage, error) {
	return processUsage{}, fmt.Errorf("process usage of %d: %w", pid, errdefs.ErrNotImplemented)
}
