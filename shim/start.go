//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf/proto"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
)

// StartFlags are the command-line flags containerd passes to every shim
// invocation. The start action is handled here rather than by pkg/shim,
// whose RunShim refuses the legacy protocol of containerd 1.6–2.2.
type StartFlags struct {
	Namespace string
	ID        string
	Address   string
	Debug     bool
	Action    string
}

// ParseStartFlags parses args the way pkg/shim does, on a private flag set
// so the library can still parse the process's flags itself later.
func ParseStartFlags(args []string) (StartFlags, error) {
	var f StartFlags
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.Namespace, "namespace", "", "")
	fs.StringVar(&f.ID, "id", "", "")
	fs.StringVar(&f.Address, "address", "", "")
	fs.BoolVar(&f.Debug, "debug", false, "")
	// Accepted for compatibility, unused by start.
	fs.String("publish-binary", "", "")
	fs.String("bundle", "", "")
	fs.String("socket", "", "")
	fs.String("debug-socket", "", "")
	fs.Bool("v", false, "")
	fs.Bool("version", false, "")
	fs.Bool("info", false, "")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.Action = fs.Arg(0)
	return f, nil
}

// defaultSocketDir is where shims create their sockets when containerd
// does not say (before 2.3 it never does).
var defaultSocketDir = filepath.Join(defaults.DefaultStateDir, "s")

// startRequest is what a start invocation was asked for, whichever protocol
// carried it.
type startRequest struct {
	// bootstrap is true when containerd ≥ 2.3 sent BootstrapParams and
	// expects a protobuf BootstrapResult back.
	bootstrap    bool
	namespace    string
	id           string
	grpcAddress  string
	ttrpcAddress string
	socketDir    string
	debug        bool
	// began is when the start action began; the server it spawns reports
	// its start-up from there (shim_start).
	began time.Time
}

// parseStartRequest tells the two start protocols apart. containerd ≥ 2.3
// writes a protobuf BootstrapParams on stdin; older daemons write nothing or
// the runtime options as a typeurl Any, which may also decode as
// BootstrapParams, so the ids must match the flags as well.
func parseStartRequest(f StartFlags, stdin []byte, env func(string) string) startRequest {
	req := startRequest{
		namespace:    f.Namespace,
		id:           f.ID,
		grpcAddress:  f.Address,
		ttrpcAddress: env("TTRPC_ADDRESS"),
		socketDir:    defaultSocketDir,
		debug:        f.Debug,
	}
	if len(stdin) == 0 {
		return req
	}
	var params bootapi.BootstrapParams
	if err := proto.Unmarshal(stdin, &params); err != nil {
		return req
	}
	if params.GetInstanceID() != f.ID || params.GetNamespace() != f.Namespace {
		return req
	}
	req.bootstrap = true
	if a := params.GetContainerdGrpcAddress(); a != "" {
		req.grpcAddress = a
	}
	if a := params.GetContainerdTtrpcAddress(); a != "" {
		req.ttrpcAddress = a
	}
	if d := params.GetSocketDir(); d != "" {
		req.socketDir = d
	}
	req.debug = req.debug || params.GetLogLevel() == bootapi.LogLevel_LOG_LEVEL_DEBUG ||
		params.GetLogLevel() == bootapi.LogLevel_LOG_LEVEL_TRACE
	return req
}

// groupAnnotations name the pod a container belongs to; containers of one
// group share one shim process, as runc's shim does per pod.
var groupAnnotations = []string{
	"io.containerd.runc.v2.group",
	"io.kubernetes.cri.sandbox-id",
}

// GroupingEnv selects which containers outside a pod share a shim process:
// "namespace" (the default), all of a containerd namespace's, or
// "container", one shim each as runc does. Pods always share one.
const GroupingEnv = "WASMEDGE_SHIM_GROUPING"

// groupOf returns the shim grouping key for the bundle's spec.
//
// Containers of a pod share the pod's shim. Other containers of a namespace
// share one shim too, unless GroupingEnv says otherwise: a shim process
// costs about as much memory as a wasm instance and a process start per
// task, and serves any number of containers. The price is that a shim
// crash stops all of them, as it stops a whole pod.
func groupOf(bundle, namespace, id string) string {
	if g := podGroup(bundle); g != "" {
		return g
	}
	if os.Getenv(GroupingEnv) == "container" {
		return id
	}
	return "namespace/" + namespace
}

// podGroup returns the group annotation of the bundle's spec, if any.
func podGroup(bundle string) string {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return ""
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &spec) != nil {
		return ""
	}
	for _, k := range groupAnnotations {
		if g := spec.Annotations[k]; g != "" {
			return g
		}
	}
	return ""
}

// RunStart performs the start action: find or start the shim server for the
// container's group and write containerd's expected reply to out. The
// working directory is the bundle.
func RunStart(ctx context.Context, f StartFlags, stdin io.Reader, out io.Writer) error {
	began := time.Now()
	if f.Namespace == "" || f.ID == "" {
		return fmt.Errorf("start: -namespace and -id are required: %w", errdefs.ErrInvalidArgument)
	}
	input, err := io.ReadAll(io.LimitReader(stdin, 10<<20))
	if err != nil {
		return fmt.Errorf("read start parameters: %w", err)
	}
	req := parseStartRequest(f, input, os.Getenv)
	req.began = began
	bundle, err := os.Getwd()
	if err != nil {
		return err
	}
	ctx = namespaces.WithNamespace(ctx, req.namespace)

	if req.bootstrap {
		// pkg/shim's server reads this link to remove the socket on exit.
		if err := replaceSymlink(req.socketDir, filepath.Join(bundle, "s")); err != nil {
			return fmt.Errorf("record socket dir: %w", err)
		}
	}
	address, err := serveGroup(ctx, req, bundle)
	if err != nil {
		return err
	}
	// containerd 1.6/1.7 find a shim again after their own restart by this
	// file; it is also how the server removes its socket on exit.
	if err := writeFileAtomic(filepath.Join(bundle, "address"), []byte(address)); err != nil {
		return fmt.Errorf("write address file: %w", err)
	}
	return writeStartReply(out, req.bootstrap, address)
}

// writeStartReply answers in the form the caller's protocol expects. A plain
// address is understood by every containerd before 2.3 and means task API v2.
func writeStartReply(out io.Writer, bootstrap bool, address string) error {
	if !bootstrap {
		_, err := io.WriteString(out, address)
		return err
	}
	data, err := proto.Marshal(&bootapi.BootstrapResult{
		Version:  3,
		Address:  address,
		Protocol: "ttrpc",
	})
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	return err
}

// serveGroup returns the address of the live shim server of the container's
// group, starting one if there is none.
func serveGroup(ctx context.Context, req startRequest, bundle string) (string, error) {
	// The key differs from runc's shim's for the same group, or the shim
	// would find itself when it starts runc's shim for a native container.
	group := groupOf(bundle, req.namespace, req.id) + "@wasmedge"
	address, err := shim.CreateSocketAddress(ctx, req.socketDir, req.grpcAddress, group, false)
	if err != nil {
		return "", err
	}
	listener, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return "", fmt.Errorf("create shim socket: %w", err)
		}
		// A live shim must promise to wait for the container: an idle one
		// could otherwise exit between this answer and containerd's call.
		if err := reserveInGroup(ctx, address, req.id); err == nil {
			return address, nil
		}
		// The shim is winding down (it removes its socket first), or was
		// killed with SIGKILL and left its socket behind.
		if err := shim.RemoveSocket(address); err != nil {
			return "", fmt.Errorf("remove stale shim socket: %w", err)
		}
		if listener, err = shim.NewSocket(address); err != nil {
			return "", fmt.Errorf("create shim socket: %w", err)
		}
	}
	file, err := listener.File()
	// The server inherits the socket; closing ours must not unlink it.
	listener.SetUnlinkOnClose(false)
	listener.Close()
	if err != nil {
		_ = shim.RemoveSocket(address)
		return "", err
	}
	defer file.Close()

	if err := spawnServer(req, bundle, file); err != nil {
		_ = shim.RemoveSocket(address)
		return "", err
	}
	return address, nil
}

// spawnServer re-executes this binary as the long-lived shim server, which
// pkg/shim runs with the listener inherited as fd 3.
func spawnServer(req startRequest, bundle string, listener *os.File) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-namespace", req.namespace, "-id", req.id, "-address", req.grpcAddress}
	if req.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = bundle
	// The bootstrap protocol no longer passes TTRPC_ADDRESS in the
	// environment, but the server's event publisher needs it.
	protocol := "legacy"
	if req.bootstrap {
		protocol = "bootstrap"
	}
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+req.ttrpcAddress, "GRPC_ADDRESS="+req.grpcAddress,
		protocolEnv+"="+protocol, socketDirEnv+"="+req.socketDir)
	if !req.began.IsZero() {
		cmd.Env = append(cmd.Env, shimStartEnv+"="+strconv.FormatInt(req.began.UnixNano(), 10))
	}
	cmd.ExtraFiles = []*os.File{listener}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("start shim server: %w", err)
	}
	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return fmt.Errorf("adjust shim OOM score: %w", err)
	}
	// The server outlives this process; release it without waiting.
	return cmd.Process.Release()
}

func replaceSymlink(target, link string) error {
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Symlink(target, link)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
