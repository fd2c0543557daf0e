//go:build linux

package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// RuntimeName is the name containerd knows this runtime by.
const RuntimeName = "io.containerd.wasmedge.v1"

// Version is the shim's version, set at build time.
var Version = "dev"

// Manager is the shim.Shim that pkg/shim drives for the server and delete
// actions. Start is normally intercepted by RunStart before the library
// sees it; the method exists for completeness of the interface.
type Manager struct{}

// NewManager returns the shim manager.
func NewManager() *Manager { return &Manager{} }

// Name implements shim.Shim.
func (*Manager) Name() string { return RuntimeName }

// Start implements shim.Shim for the bootstrap protocol.
func (*Manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	began := time.Now()
	bundle, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	req := startRequest{
		bootstrap:    true,
		namespace:    params.GetNamespace(),
		id:           params.GetInstanceID(),
		grpcAddress:  params.GetContainerdGrpcAddress(),
		ttrpcAddress: params.GetContainerdTtrpcAddress(),
		socketDir:    params.GetSocketDir(),
		began:        began,
	}
	if req.socketDir == "" {
		req.socketDir = defaultSocketDir
	}
	address, err := serveGroup(namespaces.WithNamespace(ctx, req.namespace), req, bundle)
	if err != nil {
		return nil, err
	}
	return &bootapi.BootstrapResult{Version: 3, Address: address, Protocol: "ttrpc"}, nil
}

// Stop implements shim.Shim: the delete action containerd runs after a shim
// went away (and, on 1.6 and 2.4, after every normal task delete too). It
// must be idempotent and must never signal a process by a stale pid: the
// instance processes die with their shim (parent-death signal), so only
// the filesystem is left to clean.
func (*Manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	bundle, err := os.Getwd()
	if err != nil {
		return shim.StopStatus{}, err
	}
	// containerd runs delete in the bundle of the task being deleted.
	if filepath.Base(bundle) != id {
		bundle = filepath.Join(filepath.Dir(bundle), id)
	}
	if err := unmountRootfs(filepath.Join(bundle, "rootfs")); err != nil {
		log.G(ctx).WithError(err).WithField("id", id).Warn("unmount rootfs during cleanup")
	}
	if err := removeBundleCgroup(bundle); err != nil {
		log.G(ctx).WithError(err).WithField("id", id).Warn("remove cgroup during cleanup")
	}
	// A shim killed with SIGKILL leaves its socket behind. The socket may
	// still serve other containers of the pod, so only a dead one goes.
	if address, err := shim.ReadAddress(filepath.Join(bundle, "address")); err == nil && !shim.CanConnect(address) {
		if err := shim.RemoveSocket(address); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("remove dead shim socket")
		}
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

// unmountRootfs unmounts everything at and below target; a target that is
// not mounted (already cleaned, or a --rootfs run) is not an error.
func unmountRootfs(target string) error {
	if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := mount.UnmountRecursive(target, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}
