//go:build linux

package shim

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
)

// idleShutdownDelay is how long a shim with no container left waits before
// it exits. A shim serves a whole group (a pod, or a namespace's containers
// outside pods), whose next container often follows at once: starting it in
// the running shim saves a shim process start.
//
// IdleExitEnv overrides it with a Go duration ("0s" exits at once).
const idleShutdownDelay = 2 * time.Second

// IdleExitEnv names the environment variable that sets how long an idle
// shim waits before it exits.
const IdleExitEnv = "WASMEDGE_SHIM_IDLE_EXIT"

// idleDelay returns the idle delay in force.
func idleDelay() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(IdleExitEnv)); err == nil && d >= 0 {
		return d
	}
	return idleShutdownDelay
}

// scheduleIdleShutdown arms the idle timer; s.mu must be held.
func (s *Service) scheduleIdleShutdown() {
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	s.idleTimer = time.AfterFunc(idleDelay(), s.shutdownIfIdle)
}

// shutdownIfIdle exits the shim unless a container arrived meanwhile. The
// socket goes first, so that no start action hands this shim out again
// while it winds down.
func (s *Service) shutdownIfIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.containers) > 0 || len(s.creating) > 0 {
		return
	}
	if s.pendingReservations() {
		s.scheduleIdleShutdown()
		return
	}
	s.closing = true
	s.removeOwnSocket()
	s.shutdown.Shutdown()
}

// groupService is the shim's own ttrpc service for the start action of
// containers joining a running shim of their group.
const groupService = "containerd.shim.wasmedge.v1.Group"

// reservationTTL bounds how long a reservation keeps an idle shim alive
// when the container it announced never arrives.
const reservationTTL = 30 * time.Second

// Reserve announces that container r.ID is about to be created in this
// shim: until then, or until the reservation expires, the shim does not
// exit for being idle. A shim already winding down refuses.
func (s *Service) Reserve(ctx context.Context, r *taskAPI.ConnectRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, errgrpc.ToGRPC(fmt.Errorf("shim is shutting down: %w", errdefs.ErrUnavailable))
	}
	s.reservations[r.ID] = time.Now().Add(reservationTTL)
	return &emptypb.Empty{}, nil
}

// reserveInGroup asks the shim at address to wait for container id.
func reserveInGroup(ctx context.Context, address, id string) error {
	conn, err := shim.Connect(address, shim.AnonDialer)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return client.Call(ctx, groupService, "Reserve", &taskAPI.ConnectRequest{ID: id}, &emptypb.Empty{})
}

// pendingReservations drops expired reservations and reports whether any
// is left; s.mu must be held.
func (s *Service) pendingReservations() bool {
	now := time.Now()
	for id, until := range s.reservations {
		if now.After(until) {
			delete(s.reservations, id)
		}
	}
	return len(s.reservations) > 0
}

// removeOwnSocket removes this shim's socket file, unless the path has
// been bound again by a newer shim of the group since this one let go.
func (s *Service) removeOwnSocket() {
	if s.socketAddress == "" || s.socketInode == 0 {
		return
	}
	if socketInode(s.socketAddress) == s.socketInode {
		_ = shim.RemoveSocket(s.socketAddress)
	}
}

// socketInode returns the inode of the socket file of a unix:// address,
// or 0.
func socketInode(address string) uint64 {
	path, ok := strings.CutPrefix(address, "unix://")
	if !ok {
		return 0
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}
