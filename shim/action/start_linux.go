//go:build linux

package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

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
func parseStartRequest(f Flags, stdin []byte, env func(string) string) startRequest {
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
	params, err := decodeBootstrapParams(stdin)
	if err != nil || params.instanceID != f.ID || params.namespace != f.Namespace {
		return req
	}
	req.bootstrap = true
	if params.grpcAddress != "" {
		req.grpcAddress = params.grpcAddress
	}
	if params.ttrpcAddress != "" {
		req.ttrpcAddress = params.ttrpcAddress
	}
	if params.socketDir != "" {
		req.socketDir = params.socketDir
	}
	req.debug = req.debug || params.logLevel == logLevelDebug || params.logLevel == logLevelTrace
	return req
}

// groupAnnotations name the pod a container belongs to; containers of one
// group share one shim process, as runc's shim does per pod.
var groupAnnotations = []string{
	"io.containerd.runc.v2.group",
	"io.kubernetes.cri.sandbox-id",
}

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

// Start performs the start action: find or start the shim server for the
// container's group and write containerd's expected reply to out. The
// working directory is the bundle. server is the shim server's binary,
// spawned with the flags containerd gave and no action.
func Start(ctx context.Context, f Flags, stdin io.Reader, out io.Writer, server string) error {
	began := time.Now()
	if f.Namespace == "" || f.ID == "" {
		return errors.New("start: -namespace and -id are required")
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
	// No "s" link to the socket directory, which pkg/shim's start writes:
	// its server reads it at exit to remove a socket named after the
	// container, and this shim's sockets are named after the group and
	// removed by the server itself (idle.go).
	address, err := serveGroup(ctx, req, bundle, server)
	if err != nil {
		return err
	}
	// containerd 1.6/1.7 find a shim again after their own restart by this
	// file. 2.x keep the reply in the bundle's bootstrap.json instead, so
	// it is not written for them: a file creation less per task.
	if !req.bootstrap {
		if err := writeFileAtomic(filepath.Join(bundle, "address"), []byte(address)); err != nil {
			return fmt.Errorf("write address file: %w", err)
		}
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
	_, err := out.Write(encodeBootstrapResult(3, address, "ttrpc"))
	return err
}

// serveGroup returns the address of the live shim server of the container's
// group, starting one if there is none.
func serveGroup(ctx context.Context, req startRequest, bundle, server string) (string, error) {
	// The key differs from runc's shim's for the same group, or the shim
	// would find itself when it starts runc's shim for a native container.
	group := groupOf(bundle, req.namespace, req.id) + "@wasmedge"
	address := socketAddress(req.socketDir, req.grpcAddress, req.namespace, group)
	// A live shim must promise to wait for the container: an idle one
	// could otherwise exit between this answer and containerd's call.
	if reserve(ctx, address, req.id) == nil {
		return address, nil
	}
	// There is no shim, or it is winding down (it removes its socket
	// first), or it was killed with SIGKILL and left its socket behind.
	// Every action that binds or removes a shim socket holds the lock: two
	// replacing a dead socket at once would each remove it, the second one
	// the first one's new server's; and one binding without the lock could
	// take the address between another's removal and re-bind, or, its
	// socket refusing connections until it listens, look dead to one
	// holding the lock, which would replace it and orphan its server.
	unlock, err := lockSockets()
	if err != nil {
		return "", err
	}
	defer unlock()
	// Binding the socket decides which action spawns the group's server;
	// those after it join it.
	listener, err := listen(address)
	if addressInUse(err) {
		if reserve(ctx, address, req.id) == nil {
			// Started meanwhile by the action that held the lock.
			return address, nil
		}
		if err := removeSocket(address); err != nil {
			return "", fmt.Errorf("remove stale shim socket: %w", err)
		}
		listener, err = listen(address)
	}
	if err != nil {
		return "", fmt.Errorf("create shim socket: %w", err)
	}
	file, err := listener.File()
	// The server inherits the socket; closing ours must not unlink it.
	listener.SetUnlinkOnClose(false)
	listener.Close()
	if err != nil {
		_ = removeSocket(address)
		return "", err
	}
	defer file.Close()

	if err := spawnServer(req, bundle, server, file); err != nil {
		_ = removeSocket(address)
		return "", err
	}
	return address, nil
}

// reserve asks the shim at address to wait for container id.
func reserve(ctx context.Context, address, id string) error {
	conn, err := dial(address)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return client.Call(ctx, GroupService, ReserveMethod, wrapperspb.String(id), &emptypb.Empty{})
}

// spawnServer starts the long-lived shim server, which pkg/shim runs with
// the listener inherited as fd 3.
func spawnServer(req startRequest, bundle, server string, listener *os.File) error {
	args := []string{"-namespace", req.namespace, "-id", req.id, "-address", req.grpcAddress}
	if req.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(server, args...)
	cmd.Dir = bundle
	// The bootstrap protocol no longer passes TTRPC_ADDRESS in the
	// environment, but the server's event publisher needs it.
	protocol := "legacy"
	if req.bootstrap {
		protocol = "bootstrap"
	}
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+req.ttrpcAddress, "GRPC_ADDRESS="+req.grpcAddress,
		ProtocolEnv+"="+protocol, SocketDirEnv+"="+req.socketDir)
	if !req.began.IsZero() {
		cmd.Env = append(cmd.Env, StartTimeEnv+"="+strconv.FormatInt(req.began.UnixNano(), 10))
	}
	cmd.ExtraFiles = []*os.File{listener}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start shim server: %w", err)
	}
	if err := adjustOOMScore(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return fmt.Errorf("adjust shim OOM score: %w", err)
	}
	// The server outlives this process; release it without waiting.
	return cmd.Process.Release()
}

// adjustOOMScore makes the server a little likelier to be OOM-killed than
// containerd (the action's parent), as containerd's own shims are, so that
// the daemon survives its shims.
func adjustOOMScore(pid int) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getppid()))
	if err != nil {
		return fmt.Errorf("containerd's OOM score: %w", err)
	}
	score, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("containerd's OOM score: %w", err)
	}
	score = min(max(score+1, -1000), 1000)
	return os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(score)), 0)
}
