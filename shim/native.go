//go:build linux

package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	runcopts "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/shim/action"
)

// runcShimBinary is the shim containerd itself uses for runc; it ships with
// every containerd, in the same version.
const runcShimBinary = "containerd-shim-runc-v2"

// nativeTask is a container whose entrypoint is a Linux executable (a pod's
// pause container, a sidecar). It runs under runc's own shim, and this shim
// forwards the container's task API calls there unchanged: runc's shim
// publishes the container's events itself.
type nativeTask struct {
	address string
	client  *ttrpc.Client
	service string // task API name runc's shim serves for this protocol
}

// call forwards one task API request.
func (n *nativeTask) call(ctx context.Context, method string, req, resp proto.Message) error {
	return n.client.Call(ctx, n.service, method, req, resp)
}

// startNative starts (or joins, for a pod) runc's shim for the container in
// bundle and connects to it.
func startNative(ctx context.Context, namespace, id, bundle string) (*nativeTask, error) {
	bin, err := exec.LookPath(runcShimBinary)
	if err != nil {
		return nil, fmt.Errorf("container %s runs a native executable, which needs %s and runc on PATH: %w", id, runcShimBinary, errdefs.ErrFailedPrecondition)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("container %s runs a native executable, which needs runc on PATH: %w", id, errdefs.ErrFailedPrecondition)
	}
	flags, err := action.ParseFlags(os.Args[1:])
	if err != nil {
		return nil, err
	}
	bootstrap := os.Getenv(action.ProtocolEnv) == "bootstrap"
	ttrpcAddress := os.Getenv("TTRPC_ADDRESS")
	var stdin []byte
	if bootstrap {
		params := &bootapi.BootstrapParams{
			InstanceID:             id,
			Namespace:              namespace,
			ContainerdTtrpcAddress: ttrpcAddress,
			ContainerdGrpcAddress:  flags.Address,
			LogLevel:               bootapi.LogLevel_LOG_LEVEL_INFO,
		}
		if dir := os.Getenv(action.SocketDirEnv); dir != "" {
			params.SocketDir = &dir
		}
		if stdin, err = proto.Marshal(params); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "-namespace", namespace, "-address", flags.Address, "-id", id, "start")
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+ttrpcAddress)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The shim's reaper collects every child that exits, this one too:
	// waiting for it must go through the reaper, or Wait finds it gone.
	exits, err := reaper.Default.Start(cmd)
	if err == nil {
		var status int
		status, err = reaper.Default.WaitTimeout(cmd, exits, 30*time.Second)
		if err == nil && status != 0 {
			err = fmt.Errorf("exit status %d", status)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start %s for native container %s: %w: %s", runcShimBinary, id, err, strings.TrimSpace(stderr.String()))
	}
	address, err := parseShimAddress(stdout.Bytes(), bootstrap)
	if err != nil {
		return nil, fmt.Errorf("%s start for %s: %w", runcShimBinary, id, err)
	}
	conn, err := shim.Connect(address, shim.AnonDialer)
	if err != nil {
		return nil, fmt.Errorf("connect to %s of native container %s: %w", runcShimBinary, id, err)
	}
	n := &nativeTask{address: address, client: ttrpc.NewClient(conn), service: "containerd.task.v2.Task"}
	if bootstrap {
		n.service = "containerd.task.v3.Task"
	}
	return n, nil
}

// parseShimAddress reads a shim's start reply in any of its forms: the
// protobuf BootstrapResult, the JSON of containerd 1.7–2.2, a plain address.
func parseShimAddress(out []byte, bootstrap bool) (string, error) {
	if bootstrap {
		var res bootapi.BootstrapResult
		if err := proto.Unmarshal(out, &res); err == nil && res.GetAddress() != "" {
			return res.GetAddress(), nil
		}
	}
	var params struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &params); err == nil && params.Address != "" {
		return params.Address, nil
	}
	if a := strings.TrimSpace(string(out)); strings.HasPrefix(a, "unix://") {
		return a, nil
	}
	return "", fmt.Errorf("unreadable start reply %q", out)
}

// closeNative asks runc's shim to exit once it serves nothing (it ignores
// the request otherwise) and closes the connection. runc's shim removes its
// socket on exit only when it can name it from the container id, which is
// not the case for a pod's shim: a socket nobody answers on any more is
// removed here.
func closeNative(ctx context.Context, n *nativeTask, id string) {
	err := n.call(ctx, "Shutdown", &taskAPI.ShutdownRequest{ID: id}, &emptypb.Empty{})
	if err != nil && !errors.Is(err, ttrpc.ErrClosed) {
		logger(ctx, id, nil).WithError(err).Debug("shutdown runc shim")
	}
	n.client.Close()
	// In a pod runc's shim goes on serving the pause container: watch for
	// its exit in the background rather than delay the Delete.
	go func() {
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if !shim.CanConnect(n.address) {
				_ = shim.RemoveSocket(n.address)
				return
			}
		}
	}()
}

// runcCreateOptions returns the runtime options to send runc's shim. CRI
// sends its generic runtimeoptions type for any runtime that has an options
// table, which runc's shim does not know: it gets runc's own type with the
// settings that apply to it.
func runcCreateOptions(opts *anypb.Any) (*anypb.Any, error) {
	if opts == nil || opts.GetTypeUrl() == "" {
		return opts, nil
	}
	if v, err := typeurl.UnmarshalAny(opts); err == nil {
		if _, ok := v.(*runcopts.Options); ok {
			return opts, nil
		}
	}
	parsed, err := parseRuntimeOptions(opts)
	if err != nil {
		return nil, err
	}
	return typeurl.MarshalAnyToProto(&runcopts.Options{SystemdCgroup: parsed.SystemdCgroup})
}

// forward sends req to the native container's shim and returns its answer.
func forward[Resp any, PResp interface {
	*Resp
	proto.Message
}](ctx context.Context, n *nativeTask, method string, req proto.Message) (PResp, error) {
	resp := PResp(new(Resp))
	if err := n.call(ctx, method, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// nativeOf returns the native task of container id, or nil for a wasm one.
func (s *Service) nativeOf(id string) *nativeTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.containers[id]; ok {
		return c.native
	}
	return nil
}
