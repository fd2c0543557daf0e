//go:build linux

package shim

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
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
	// Off every task's path: the shim is leaving anyway.
	removeStaleBinaries(s.ctx)
	s.shutdown.Shutdown()
}

// reservationTTL bounds how long a reservation keeps an idle shim alive
// when the container it announced never arrives.
const reservationTTL = 30 * time.Second

// Reserve announces that container id is about to be created in this
// shim: until then, or until the reservation expires, the shim does not
// exit for being idle. A shim already winding down refuses. It serves
// action.ReserveMethod, for start actions of the shim's group.
func (s *Service) Reserve(ctx context.Context, id *wrapperspb.StringValue) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, errgrpc.ToGRPC(fmt.Errorf("shim is shutting down: %w", errdefs.ErrUnavailable))
	}
	s.reservations[id.GetValue()] = time.Now().Add(reservationTTL)
	return &emptypb.Empty{}, nil
}

// awaitFirstContainer reserves the server's place for the container whose
// start action spawned it (the -id flag) and arms the idle timer: should
// that Create never come (containerd gave up, or another server took the
// socket), the server still exits once the reservation expires.
func (s *Service) awaitFirstContainer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, err := action.ParseFlags(os.Args[1:]); err == nil && f.ID != "" {
		s.reservations[f.ID] = time.Now().Add(reservationTTL)
	}
	s.scheduleIdleShutdown()
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

// ownSocketAddress returns the address of the socket the start action
// handed this server as fd 3, on which pkg/shim serves; "" for none (a
// server run by hand) or an abstract socket, which has no file to remove.
// Asking the socket beats reading the bundle's address file, which
// containerd 2.x does not need and the start action writes only for 1.x.
func ownSocketAddress() string {
	sa, err := unix.Getsockname(3)
	if err != nil {
		return ""
	}
	u, ok := sa.(*unix.SockaddrUnix)
	if !ok || u.Name == "" || strings.HasPrefix(u.Name, "@") {
		return ""
	}
	return "unix://" + u.Name
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
