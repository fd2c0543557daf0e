//go:build !linux

package installer

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// Run is only implemented on Linux, where containerd's nodes run.
func (HostCommand) Run(context.Context, []string) ([]byte, error) {
	return nil, fmt.Errorf("%w: host commands need Linux", errdefs.ErrNotImplemented)
}
