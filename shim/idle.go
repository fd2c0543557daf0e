//go:build linux

package shim

import (
	"os"
	"time"

	"github.com/containerd/containerd/v2/pkg/shim"
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
	if s.socketAddress != "" {
		_ = shim.RemoveSocket(s.socketAddress)
	}
	s.shutdown.Shutdown()
}
