//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"fmt"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// createCgroup creates the container's cgroup from the spec, with its
// resources applied, before any instance process exists.
func (s *Service) createCgroup(ctx context.Context, r *taskAPI.CreateTaskRequest, spec *specs.Spec) (*cgroup.Cgroup, error) {
	opts, err := parseRuntimeOptions(r.Options)
	if err != nil {
		return nil, err
	}
	ns, _ := namespaces.Namespace(ctx)
	var cgroupsPath string
	var resources *specs.LinuxResources
	if spec.Linux != nil {
		cgroupsPath, resources = spec.Linux.CgroupsPath, spec.Linux.Resources
	}
	path, err := cgroup.Path(cgroupsPath, opts.SystemdCgroup, ns, r.ID)
	if err != nil {
		return nil, err
	}
	cg, err := cgroup.New(path, resources)
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if err := action.WriteCgroupDirs(r.Bundle, cg.Dirs()); err != nil {
		_ = cg.Delete()
		return nil, err
	}
	return cg, nil
}

// watchOOM publishes TaskOOM each time the kernel's OOM killer strikes in
// the container's cgroup. The channel closes when the cgroup is deleted.
func (s *Service) watchOOM(ctx context.Context, c *container) {
	for range c.cgroup.OOMEvents() {
		c.logger(ctx).Warn("OOM killed in the container's cgroup")
		s.send(&eventstypes.TaskOOM{ContainerID: c.id})
	}
}

// Stats implements the task API: the cgroup's metrics, as containerd's CRI
// and metrics collector decode them for runc containers.
func (s *Service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.StatsResponse](ctx, n, "Stats", r)
	}
	c, _, err := s.lookup(r.ID, "")
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	stats, err := c.cgroup.Stats()
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	data, err := typeurl.MarshalAny(stats)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.StatsResponse{Stats: typeurl.MarshalProto(data)}, nil
}

// Pause implements the task API by freezing the cgroup: every instance
// process of the container stops where it is.
func (s *Service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Pause", r)
	}
	return s.setPaused(ctx, r.ID, true)
}

// Resume implements the task API by thawing the cgroup.
func (s *Service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Resume", r)
	}
	return s.setPaused(ctx, r.ID, false)
}

func (s *Service) setPaused(ctx context.Context, id string, pause bool) (*emptypb.Empty, error) {
	c, _, err := s.lookup(id, "")
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.init.mu.Lock()
	defer c.init.mu.Unlock()
	if c.init.state != stateRunning {
		return nil, errgrpc.ToGRPC(fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition))
	}
	if pause {
		err = c.cgroup.Freeze()
	} else {
		err = c.cgroup.Thaw()
	}
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	c.paused = pause
	s.mu.Unlock()
	if pause {
		s.send(&eventstypes.TaskPaused{ContainerID: id})
	} else {
		s.send(&eventstypes.TaskResumed{ContainerID: id})
	}
	return &emptypb.Empty{}, nil
}

// Update implements the task API: new linux.resources applied to the live
// cgroup. The wasm linear-memory cap set at Create stays as it was.
func (s *Service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Update", r)
	}
	c, _, err := s.lookup(r.ID, "")
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.Resources == nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("update without resources: %w", errdefs.ErrInvalidArgument))
	}
	var resources specs.LinuxResources
	if err := json.Unmarshal(r.Resources.Value, &resources); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("decode resources: %v: %w", err, errdefs.ErrInvalidArgument))
	}
	if err := c.cgroup.Update(&resources); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, nil
}
