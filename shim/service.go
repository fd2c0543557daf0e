//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	runcC "github.com/containerd/go-runc"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/metrics"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// CacheDirEnv names the environment variable that overrides where compiled
// modules are cached on disk.
const CacheDirEnv = "WASMEDGE_SHIM_CACHE_DIR"

// DefaultCacheDir is where compiled modules are cached when CacheDirEnv is
// unset. Instances of one module share the entry, so only the first start
// of a module on a node pays for compilation.
const DefaultCacheDir = "/var/cache/containerd-shim-wasmedge"

// deleteKillTimeout bounds how long Delete waits for a created-but-never-
// started instance to die after SIGKILL.
const deleteKillTimeout = 10 * time.Second

// container is one task: its bundle, root filesystem and processes.
type container struct {
	id     string
	bundle string
	// rootfsMounted is true when the shim mounted the create request's
	// rootfs mounts at bundle/rootfs and must unmount them at Delete.
	rootfsMounted bool
	init          *process
	execs         map[string]*process
	// native is set for a container run by runc's shim; init and execs are
	// then unused.
	native *nativeTask
	// cgroup holds every instance process of the container.
	cgroup *cgroup.Cgroup
	// paused is true while the cgroup is frozen.
	paused bool
	// annotations are the spec's, which name the pod in log entries.
	annotations map[string]string
}

// logger returns the logger for a request about the container.
func (c *container) logger(ctx context.Context) *log.Entry {
	return logger(ctx, c.id, c.annotations)
}

// Service is the task service of one shim process, which may serve several
// containers of one pod. It implements task API v3 and, by registration
// under both names, v2.
type Service struct {
	ctx       context.Context
	shutdown  shutdown.Service
	events    chan any
	exits     chan runcC.Exit
	cacheDir  string
	publisher shim.Publisher
	// stopEvents ends the event loop once queued events are published;
	// eventsDone is closed when it has.
	stopEvents chan struct{}
	eventsDone chan struct{}

	mu         sync.Mutex
	containers map[string]*container
	// creating reserves ids of containers whose Create is in progress.
	creating map[string]bool
	// pids maps the pid of every live instance process to its process.
	pids map[int]*process
	// idleTimer ends the shim once it has served no container for a while.
	idleTimer *time.Timer
	// socketAddress is the address this shim serves on, and socketInode the
	// inode of its socket file: once this shim removed it, a new shim of
	// the group may bind the same path.
	socketAddress string
	socketInode   uint64
	// reservations are containers announced by start actions, with when
	// the announcement expires; see Reserve.
	reservations map[string]time.Time
	// closing is set once the shim decided to exit for being idle.
	closing bool
	// metrics are this shim's, served on its socket in the node's metrics
	// directory.
	metrics *metrics.Registry
}

// NewService returns the task service and starts its exit and event loops.
func NewService(ctx context.Context, publisher shim.Publisher, sd shutdown.Service) (*Service, error) {
	cacheDir := os.Getenv(CacheDirEnv)
	if cacheDir == "" {
		cacheDir = DefaultCacheDir
	}
	s := &Service{
		ctx:          ctx,
		shutdown:     sd,
		events:       make(chan any, 256),
		exits:        reaper.Default.Subscribe(),
		cacheDir:     cacheDir,
		publisher:    publisher,
		containers:   make(map[string]*container),
		creating:     make(map[string]bool),
		pids:         make(map[int]*process),
		reservations: make(map[string]time.Time),
		stopEvents:   make(chan struct{}),
		eventsDone:   make(chan struct{}),
		metrics:      metrics.NewRegistry(),
	}
	s.setUpTelemetry(ctx, sd)
	go s.handleExits()
	go s.forwardEvents()
	// The server exits once shutdown callbacks return: publish what is
	// queued first, or containerd misses the last TaskExit/TaskDelete.
	sd.RegisterCallback(func(ctx context.Context) error {
		close(s.stopEvents)
		select {
		case <-s.eventsDone:
		case <-ctx.Done():
		}
		return nil
	})
	if address := ownSocketAddress(); address != "" {
		s.socketAddress = address
		s.socketInode = socketInode(address)
		sd.RegisterCallback(func(context.Context) error { s.removeOwnSocket(); return nil })
	}
	s.awaitFirstContainer()
	s.observeShimStart()
	return s, nil
}

// Create implements the task API: mount the rootfs, resolve the module,
// open the streams and spawn the instance process, which compiles the
// module and waits for Start. Every failure is reported here, and undoes
// what was done.
func (s *Service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (_ *taskAPI.CreateTaskResponse, retErr error) {
	requested := time.Now()
	ctx, span := metrics.StartSpan(ctx, "create", attribute.String("container.id", r.ID))
	defer func() {
		endSpan(span, retErr)
		retErr = errgrpc.ToGRPC(retErr)
	}()
	if err := s.reserve(r.ID); err != nil {
		return nil, err
	}
	defer s.release(r.ID)

	c := &container{id: r.ID, bundle: r.Bundle, execs: make(map[string]*process)}
	defer func() {
		if retErr != nil && c.rootfsMounted {
			if err := action.UnmountAll(filepath.Join(r.Bundle, "rootfs")); err != nil {
				c.logger(ctx).WithError(err).Warn("undo rootfs mount")
			}
		}
	}()
	loadStarted := time.Now()
	spec, run, err := s.loadBundle(ctx, c, r)
	loaded := time.Since(loadStarted)
	var native *oci.NativeExecutableError
	if errors.As(err, &native) {
		// runc's shim mounts the rootfs itself.
		if c.rootfsMounted {
			if err := action.UnmountAll(filepath.Join(r.Bundle, "rootfs")); err != nil {
				return nil, err
			}
			c.rootfsMounted = false
		}
		return s.createNative(ctx, c, r)
	}
	if err != nil {
		return nil, err
	}
	s.metrics.ObservePhase(metrics.PhaseBundleLoad, loaded)
	ns, _ := namespaces.Namespace(ctx)
	info := metrics.NewInstanceInfo(ns, r.ID, "", run.Module, spec.Annotations)
	span.SetAttributes(info.SpanAttributes()...)
	log := c.logger(ctx)

	if c.cgroup, err = s.createCgroup(ctx, r, spec); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			if err := c.cgroup.Delete(); err != nil {
				log.WithError(err).Warn("undo cgroup")
			}
		}
	}()
	paths := stdioPaths{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal}
	p := newProcess(r.ID, "", paths, run, info, requested)
	if err := s.spawn(ctx, c, p, nil); err != nil {
		return nil, err
	}
	c.init = p
	go s.watchOOM(ctx, c)

	// Holding the process lock orders TaskCreate before any TaskExit.
	p.mu.Lock()
	s.mu.Lock()
	s.containers[r.ID] = c
	s.mu.Unlock()
	s.send(&eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO: &eventstypes.TaskIO{
			Stdin:    r.Stdin,
			Stdout:   r.Stdout,
			Stderr:   r.Stderr,
			Terminal: r.Terminal,
		},
		Checkpoint: r.Checkpoint,
		Pid:        uint32(p.pid),
	})
	pid := p.pid
	p.mu.Unlock()
	s.metrics.ObservePhase(metrics.PhaseCreate, time.Since(requested))
	log.WithField("pid", pid).Debug("created wasm task")
	return &taskAPI.CreateTaskResponse{Pid: uint32(pid)}, nil
}

// loadBundle reads the bundle's spec, mounts the rootfs (c.rootfsMounted
// says whether it did, for the caller to undo) and resolves the module. A
// container that runs a native executable is an *oci.NativeExecutableError.
func (s *Service) loadBundle(ctx context.Context, c *container, r *taskAPI.CreateTaskRequest) (_ *specs.Spec, _ *oci.RunConfig, retErr error) {
	_, span := metrics.StartSpan(ctx, "bundle_load")
	defer func() { endSpan(span, retErr) }()
	spec, err := oci.LoadSpec(r.Bundle)
	if err != nil {
		return nil, nil, err
	}
	c.annotations = spec.Annotations
	if len(r.Rootfs) > 0 {
		target := filepath.Join(r.Bundle, "rootfs")
		if err := os.MkdirAll(target, 0o711); err != nil {
			return nil, nil, err
		}
		if err := mount.All(mount.FromProto(r.Rootfs), target); err != nil {
			return nil, nil, fmt.Errorf("mount rootfs: %w", err)
		}
		c.rootfsMounted = true
	}
	rootfs, err := oci.RootfsPath(r.Bundle, spec, len(r.Rootfs) > 0)
	if err != nil {
		return nil, nil, err
	}
	run, err := oci.NewRunConfig(r.ID, rootfs, spec)
	if err != nil {
		return nil, nil, err
	}
	return spec, run, nil
}

// createNative hands a container whose entrypoint is a Linux executable to
// runc's shim.
func (s *Service) createNative(ctx context.Context, c *container, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	ns, _ := namespaces.Namespace(ctx)
	options, err := runcCreateOptions(r.Options)
	if err != nil {
		return nil, err
	}
	r.Options = options
	n, err := startNative(ctx, ns, r.ID, r.Bundle)
	if err != nil {
		return nil, err
	}
	resp, err := forward[taskAPI.CreateTaskResponse](ctx, n, "Create", r)
	if err != nil {
		closeNative(ctx, n, r.ID)
		return nil, err
	}
	c.native = n
	s.mu.Lock()
	s.containers[r.ID] = c
	s.mu.Unlock()
	c.logger(ctx).WithField("pid", resp.Pid).Debug("created native task under runc")
	return resp, nil
}

// spawn opens p's streams and starts its instance process in c's cgroup; an
// exec joins the namespaces (and so the mounts) of the container's instance.
func (s *Service) spawn(ctx context.Context, c *container, p *process, joinOf *sandbox.Instance) (retErr error) {
	ctx, span := metrics.StartSpan(ctx, "spawn", p.info.SpanAttributes()...)
	defer func() { endSpan(span, retErr) }()
	pio, err := openIO(ctx, p.name(), p.paths)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			pio.Close()
		}
	}()
	p.cgroup = c.cgroup
	exe, err := instanceExe()
	if err != nil {
		// The shim binary can serve as the instance too, only heavier.
		c.logger(ctx).WithError(err).Warn("using the shim binary as instance")
	}
	inst, err := sandbox.Spawn(ctx, p.run, pio.child, sandbox.Options{
		Exe:              exe,
		CacheDir:         s.cacheDir,
		JoinNamespacesOf: joinOf,
		MemoryLimitPages: cgroup.WasmMemoryPages(c.cgroup.MemoryLimit()),
		Cgroup:           c.cgroup,
		Setup: func(pid int) error {
			// Registered before the instance does any work, so that no
			// exit can go unmatched.
			s.mu.Lock()
			s.pids[pid] = p
			s.mu.Unlock()
			p.mu.Lock()
			p.pid = pid
			p.mu.Unlock()
			return nil
		},
		// Runs while the instance's Close waits for it, which may be under
		// p.mu: it must not take that lock.
		Started: func(at time.Time) {
			s.metrics.ObservePhase(metrics.PhaseFirstInstruction, at.Sub(p.requested))
		},
		Memory: s.observeMemory(p),
	})
	pio.releaseChild()
	if err != nil {
		if pid := p.Pid(); pid != 0 {
			s.mu.Lock()
			delete(s.pids, pid)
			s.mu.Unlock()
		}
		return err
	}
	p.io = pio
	p.instance = inst
	s.observeReady(p, inst)
	return nil
}

func (s *Service) reserve(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.containers[id]; ok || s.creating[id] {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	if s.closing {
		return fmt.Errorf("container %s: shim is shutting down: %w", id, errdefs.ErrUnavailable)
	}
	s.creating[id] = true
	delete(s.reservations, id)
	// Only a Shutdown request of an empty shim arms the idle timer again:
	// a timer armed before this container could otherwise fire while it is
	// being deleted, closing the connection under containerd's Delete.
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	return nil
}

func (s *Service) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.creating, id)
}

// lookup returns the container and the process named by id and execID.
func (s *Service) lookup(id, execID string) (*container, *process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if execID == "" {
		return c, c.init, nil
	}
	p, ok := c.execs[execID]
	if !ok {
		return nil, nil, fmt.Errorf("exec %s in container %s: %w", execID, id, errdefs.ErrNotFound)
	}
	return c, p, nil
}

// Start implements the task API: release the guest.
func (s *Service) Start(ctx context.Context, r *taskAPI.StartRequest) (_ *taskAPI.StartResponse, retErr error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.StartResponse](ctx, n, "Start", r)
	}
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	_, span := metrics.StartSpan(ctx, "start", p.info.SpanAttributes()...)
	defer func() { endSpan(span, retErr) }()
	var pid int
	err = p.start(func(started int) {
		pid = started
		if r.ExecID == "" {
			s.send(&eventstypes.TaskStart{ContainerID: r.ID, Pid: uint32(started)})
		} else {
			s.send(&eventstypes.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: uint32(started)})
		}
	})
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.StartResponse{Pid: uint32(pid)}, nil
}

// Delete implements the task API. A created process that never started is
// killed first; a running one is an error.
func (s *Service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (_ *taskAPI.DeleteResponse, retErr error) {
	defer func() { retErr = errgrpc.ToGRPC(retErr) }()
	if n := s.nativeOf(r.ID); n != nil {
		resp, err := forward[taskAPI.DeleteResponse](ctx, n, "Delete", r)
		if err == nil && r.ExecID == "" {
			s.mu.Lock()
			delete(s.containers, r.ID)
			s.mu.Unlock()
			closeNative(ctx, n, r.ID)
		}
		return resp, err
	}
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	state, _, _, _ := p.snapshot()
	switch state {
	case stateRunning:
		return nil, fmt.Errorf("cannot delete running process %s: %w", p.name(), errdefs.ErrFailedPrecondition)
	case stateCreated:
		if err := p.kill(syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, deleteKillTimeout)
		_, _, err := p.wait(wctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("wait for killed process %s: %w", p.name(), err)
		}
	}
	if r.ExecID != "" {
		s.mu.Lock()
		delete(c.execs, r.ExecID)
		s.mu.Unlock()
		s.metrics.RemoveInstance(p.info.Namespace, r.ID, r.ExecID)
		if p.io != nil {
			p.io.Close()
		}
		_, pid, status, at := p.snapshot()
		return &taskAPI.DeleteResponse{Pid: uint32(pid), ExitStatus: status, ExitedAt: protobuf.ToTimestamp(at)}, nil
	}

	s.mu.Lock()
	if len(c.execs) > 0 {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s still has execs: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	delete(s.containers, r.ID)
	s.mu.Unlock()
	s.metrics.RemoveInstance(p.info.Namespace, r.ID, "")

	if p.io != nil {
		p.io.Close()
	}
	if c.rootfsMounted {
		if err := action.UnmountAll(filepath.Join(c.bundle, "rootfs")); err != nil {
			c.logger(ctx).WithError(err).Warn("unmount rootfs")
		}
	}
	if err := c.cgroup.Delete(); err != nil {
		c.logger(ctx).WithError(err).Warn("remove cgroup")
	}
	_, pid, status, at := p.snapshot()
	s.send(&eventstypes.TaskDelete{
		ContainerID: r.ID,
		Pid:         uint32(pid),
		ExitStatus:  status,
		ExitedAt:    protobuf.ToTimestamp(at),
	})
	return &taskAPI.DeleteResponse{Pid: uint32(pid), ExitStatus: status, ExitedAt: protobuf.ToTimestamp(at)}, nil
}

// Exec implements the task API: spawn another module (or another function
// of the same module) in the container, ready to Start.
func (s *Service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (_ *emptypb.Empty, retErr error) {
	requested := time.Now()
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Exec", r)
	}
	ctx, span := metrics.StartSpan(ctx, "exec", attribute.String("container.id", r.ID), attribute.String("containerd.exec_id", r.ExecID))
	defer func() {
		endSpan(span, retErr)
		retErr = errgrpc.ToGRPC(retErr)
	}()
	c, _, err := s.lookup(r.ID, "")
	if err != nil {
		return nil, err
	}
	if r.ExecID == "" {
		return nil, fmt.Errorf("exec id is required: %w", errdefs.ErrInvalidArgument)
	}
	if state, _, _, _ := c.init.snapshot(); state == stateStopped {
		return nil, fmt.Errorf("container %s is not running: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	var procSpec specs.Process
	if r.Spec == nil {
		return nil, fmt.Errorf("exec %s: no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	if err := json.Unmarshal(r.Spec.Value, &procSpec); err != nil {
		return nil, fmt.Errorf("exec %s: decode process spec: %w", r.ExecID, errors.Join(err, errdefs.ErrInvalidArgument))
	}
	run, err := oci.NewExecRunConfig(r.ExecID, c.init.run, &procSpec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if _, ok := c.execs[r.ExecID]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("exec %s: %w", r.ExecID, errdefs.ErrAlreadyExists)
	}
	info := c.init.info
	info.ExecID, info.Module = r.ExecID, run.Module
	p := newProcess(r.ID, r.ExecID, stdioPaths{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal}, run, info, requested)
	c.execs[r.ExecID] = p
	s.mu.Unlock()

	if err := s.spawn(ctx, c, p, c.init.instance); err != nil {
		s.mu.Lock()
		delete(c.execs, r.ExecID)
		s.mu.Unlock()
		return nil, err
	}
	p.mu.Lock()
	s.send(&eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	p.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// State implements the task API.
func (s *Service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.StateResponse](ctx, n, "State", r)
	}
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	state, pid, status, at := p.snapshot()
	s.mu.Lock()
	paused := c.paused
	s.mu.Unlock()
	st := state.status()
	if paused && state == stateRunning {
		st = task.Status_PAUSED
	}
	return &taskAPI.StateResponse{
		ID:         r.ID,
		ExecID:     r.ExecID,
		Bundle:     c.bundle,
		Pid:        uint32(pid),
		Status:     st,
		Stdin:      p.paths.stdin,
		Stdout:     p.paths.stdout,
		Stderr:     p.paths.stderr,
		Terminal:   p.paths.terminal,
		ExitStatus: status,
		ExitedAt:   protobuf.ToTimestamp(at),
	}, nil
}

// Wait implements the task API: block until the process exits.
func (s *Service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.WaitResponse](ctx, n, "Wait", r)
	}
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	status, at, err := p.wait(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.WaitResponse{ExitStatus: status, ExitedAt: protobuf.ToTimestamp(at)}, nil
}

// Kill implements the task API. With All, the init's signal also reaches
// every exec of the container.
func (s *Service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Kill", r)
	}
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	sig := syscall.Signal(r.Signal)
	if r.All && r.ExecID == "" {
		for _, e := range s.execsOf(c) {
			_ = e.kill(sig)
		}
	}
	if err := p.kill(sig); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	// A frozen process cannot die; thaw it once SIGKILL is pending, as runc
	// does.
	if sig == syscall.SIGKILL && r.ExecID == "" {
		s.mu.Lock()
		paused := c.paused
		c.paused = false
		s.mu.Unlock()
		if paused {
			if err := c.cgroup.Thaw(); err != nil {
				return nil, errgrpc.ToGRPC(err)
			}
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) execsOf(c *container) []*process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*process, 0, len(c.execs))
	for _, p := range c.execs {
		out = append(out, p)
	}
	return out
}

// Pids implements the task API: the instance processes of the container.
func (s *Service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.PidsResponse](ctx, n, "Pids", r)
	}
	c, p, err := s.lookup(r.ID, "")
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	resp := &taskAPI.PidsResponse{}
	for _, q := range append([]*process{p}, s.execsOf(c)...) {
		if state, pid, _, _ := q.snapshot(); state != stateStopped && pid != 0 {
			resp.Processes = append(resp.Processes, &taskProcessInfo{Pid: uint32(pid)})
		}
	}
	return resp, nil
}

// CloseIO implements the task API: close the guest's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "CloseIO", r)
	}
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.Stdin && p.io != nil {
		p.io.CloseStdin()
	}
	return &emptypb.Empty{}, nil
}

// Connect implements the task API.
func (s *Service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[taskAPI.ConnectResponse](ctx, n, "Connect", r)
	}
	var pid int
	if _, p, err := s.lookup(r.ID, ""); err == nil {
		pid = p.Pid()
	}
	return &taskAPI.ConnectResponse{ShimPid: uint32(os.Getpid()), TaskPid: uint32(pid), Version: Version}, nil
}

// Shutdown implements the task API: the shim exits once it serves no
// container, through the library's shutdown service so that queued events
// are still delivered.
func (s *Service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.containers) > 0 || len(s.creating) > 0 {
		return &emptypb.Empty{}, nil
	}
	s.scheduleIdleShutdown()
	return &emptypb.Empty{}, nil
}

func notImplemented(what string) error {
	return errgrpc.ToGRPC(fmt.Errorf("%s is not supported for wasm containers yet: %w", what, errdefs.ErrNotImplemented))
}

// Checkpoint implements the task API.
func (s *Service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "Checkpoint", r)
	}
	return nil, notImplemented("checkpoint")
}

// ResizePty implements the task API; wasm containers have no terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	if n := s.nativeOf(r.ID); n != nil {
		return forward[emptypb.Empty](ctx, n, "ResizePty", r)
	}
	return nil, notImplemented("a terminal")
}

// handleExits matches every child the reaper collects to its process.
// Exits of other children (logger processes) are ignored.
func (s *Service) handleExits() {
	for e := range s.exits {
		s.mu.Lock()
		p := s.pids[e.Pid]
		delete(s.pids, e.Pid)
		s.mu.Unlock()
		if p == nil {
			continue
		}
		exited := p.setExited(e.Status, e.Timestamp, func() {
			s.send(&eventstypes.TaskExit{
				ContainerID: p.id,
				ID:          p.taskExitID(),
				Pid:         uint32(e.Pid),
				ExitStatus:  uint32(e.Status),
				ExitedAt:    protobuf.ToTimestamp(e.Timestamp),
			})
		})
		if exited {
			s.observeExit(p, e.Status)
		}
	}
}

// send queues an event; events leave in the order they were queued.
func (s *Service) send(evt any) {
	select {
	case s.events <- evt:
	case <-s.stopEvents:
	}
}

// forwardEvents publishes queued events one at a time. Its context outlives
// any request, and the queue is drained at shutdown, so no event is lost.
func (s *Service) forwardEvents() {
	ctx := context.WithoutCancel(s.ctx)
	defer close(s.eventsDone)
	defer s.publisher.Close()
	publish := func(e any) {
		if err := s.publisher.Publish(ctx, runtimeTopic(e), e); err != nil {
			log.G(ctx).WithError(err).Error("publish event")
		}
	}
	for {
		select {
		case e := <-s.events:
			publish(e)
		case <-s.stopEvents:
			for {
				select {
				case e := <-s.events:
					publish(e)
				default:
					return
				}
			}
		}
	}
}
