//go:build linux

package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// RuntimeName is the name containerd knows this runtime by.
const RuntimeName = "io.containerd.wasmedge.v1"

// Version is the shim's version, set at build time.
var Version = "dev"

// Manager is the shim.Shim that pkg/shim drives for the server. The start
// and delete actions are answered by the binary containerd runs
// (package action) before this one is involved; the methods exist for the
// interface, and for a server binary run by hand.
type Manager struct{}

// NewManager returns the shim manager.
func NewManager() *Manager { return &Manager{} }

// Name implements shim.Shim.
func (*Manager) Name() string { return RuntimeName }

// Start implements shim.Shim. The server binary does not start servers: the
// binary containerd runs (containerd-shim-wasmedge-v1) does.
func (*Manager) Start(context.Context, *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	return nil, fmt.Errorf("start is answered by containerd-shim-wasmedge-v1, not by the server binary: %w", errdefs.ErrNotImplemented)
}

// Stop implements shim.Shim as the delete action does (action.Cleanup).
func (*Manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return shim.StopStatus{}, err
	}
	for _, err := range action.Cleanup(action.BundleOf(cwd, id)) {
		log.G(ctx).WithError(err).WithField("id", id).Warn("cleanup")
	}
	return shim.StopStatus{
		ExitedAt:   time.Now(),
		ExitStatus: 128 + int(unix.SIGKILL),
	}, nil
}

// Info implements shim.Shim.
func (*Manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{
		Name:    RuntimeName,
		Version: &types.RuntimeVersion{Version: Version},
	}, nil
}
