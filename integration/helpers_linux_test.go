//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/platforms"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// wasmRef is the test image: every test module at the root of a wasi/wasm
// image, the multi-purpose wasitool as entrypoint.
const wasmRef = "docker.io/library/wasmedge-shim-test:latest"

// importTestImage builds and imports the wasm test image into d.
func importTestImage(t *testing.T, d *harness.Daemon) {
	t.Helper()
	files := map[string][]byte{
		"/wasitool.wasm":     harness.WasmModule(t, "wasitool.wasm"),
		"/hello.wasm":        harness.WasmModule(t, "hello.wasm"),
		"/reactor.wasm":      harness.WasmModule(t, "reactor.wasm"),
		"/bin/hello-go":      harness.WasmModule(t, "hello-go.wasm"),
		"/notwasm.wasm":      []byte("this is plain text, not a module\n"),
		"/etc/motd":          []byte("in-image motd\n"),
		"/data/.keep":        nil,
		"/usr/bin/tool.wasm": harness.WasmModule(t, "wasitool.wasm"),
	}
	tarball := harness.BuildImage(t, t.TempDir(), harness.ImageSpec{
		Ref:        wasmRef,
		Platform:   harness.WasmPlatform,
		Files:      files,
		Entrypoint: []string{"/wasitool.wasm"},
		Env:        []string{"PATH=/usr/bin:/bin", "IMAGE_ENV=from-image"},
	})
	d.ImportImage(t, tarball, wasmRef)
}

// ctrResult is what a ctr invocation produced.
type ctrResult struct {
	stdout, stderr string
	status         int
}

// ctrRun runs `ctr run --rm` of the test image with the wasm runtime. flags
// go before the image reference; args replace the image's entrypoint when
// present (ctr treats the first one as the program).
func ctrRun(t *testing.T, d *harness.Daemon, flags []string, id string, args ...string) ctrResult {
	t.Helper()
	all := append([]string{"run", "--rm", "--platform", "wasi/wasm", "--runtime", harness.RuntimeName}, flags...)
	all = append(all, wasmRef, id)
	all = append(all, args...)
	return ctr(t, d, all...)
}

// ctr runs ctr and reports its output and exit status; ctr run exits with
// the task's status.
func ctr(t *testing.T, d *harness.Daemon, args ...string) ctrResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := d.CtrCommand(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := ctrResult{stdout: stdout.String(), stderr: stripWarnings(stderr.String())}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.status = exitErr.ExitCode()
	default:
		t.Fatalf("ctr %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// stripWarnings drops containerd 2.x's cgroup v1 deprecation notice, which
// ctr prints on every call on this machine.
func stripWarnings(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, "DEPRECATION") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// wasmImage returns the test image bound to the wasi/wasm platform, so the
// Go client unpacks and reads the right manifest.
func wasmImage(t *testing.T, d *harness.Daemon, c *client.Client) client.Image {
	t.Helper()
	img, err := c.ImageService().Get(d.Context(t), wasmRef)
	if err != nil {
		t.Fatalf("get image: %v", err)
	}
	return client.NewImageWithPlatform(c, img, platforms.Only(harness.WasmPlatform))
}

// task is a running container driven through the Go client.
type task struct {
	t         *testing.T
	ctx       context.Context
	container client.Container
	task      client.Task
	exitC     <-chan client.ExitStatus
	stdout    *syncBuffer
	stderr    *syncBuffer
}

// startTask creates and starts a container of image (or of a rootfs folder
// when image is nil and rootfs is set through specOpts) running args.
func startTask(t *testing.T, d *harness.Daemon, c *client.Client, id string, image client.Image, stdin io.Reader, specOpts ...oci.SpecOpts) *task {
	t.Helper()
	ctx := d.Context(t)
	opts := []client.NewContainerOpts{client.WithRuntime(harness.RuntimeName, nil)}
	if image != nil {
		opts = append(opts, client.WithImage(image), client.WithNewSnapshot(id+"-snap", image))
		specOpts = append([]oci.SpecOpts{oci.WithImageConfig(image)}, specOpts...)
	}
	opts = append(opts, client.WithNewSpec(specOpts...))
	container, err := c.NewContainer(ctx, id, opts...)
	if err != nil {
		t.Fatalf("new container %s: %v", id, err)
	}
	tk := &task{t: t, ctx: ctx, container: container, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	t.Cleanup(func() { tk.cleanup() })
	streams := []cio.Opt{cio.WithStreams(stdin, tk.stdout, tk.stderr)}
	created, err := container.NewTask(ctx, cio.NewCreator(streams...))
	if err != nil {
		t.Fatalf("new task %s: %v", id, err)
	}
	tk.task = created
	if tk.exitC, err = created.Wait(ctx); err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	if err := created.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return tk
}

// wait waits for the task to exit (at most timeout) and returns its status.
func (tk *task) wait(timeout time.Duration) uint32 {
	tk.t.Helper()
	select {
	case st := <-tk.exitC:
		code, _, err := st.Result()
		if err != nil {
			tk.t.Fatalf("exit status: %v", err)
		}
		return code
	case <-time.After(timeout):
		tk.t.Fatalf("task %s did not exit within %v", tk.container.ID(), timeout)
		return 0
	}
}

// finish deletes the task (flushing its output) and the container.
func (tk *task) finish() {
	tk.t.Helper()
	if tk.task != nil {
		if _, err := tk.task.Delete(tk.ctx); err != nil {
			tk.t.Fatalf("delete task: %v", err)
		}
		tk.task = nil
	}
	if tk.container != nil {
		if err := tk.container.Delete(tk.ctx, client.WithSnapshotCleanup); err != nil {
			tk.t.Fatalf("delete container: %v", err)
		}
		tk.container = nil
	}
}

// cleanup removes whatever a failed test left behind.
func (tk *task) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if tk.task != nil {
		_, _ = tk.task.Delete(ctx, client.WithProcessKill)
	}
	if tk.container != nil {
		_ = tk.container.Delete(ctx, client.WithSnapshotCleanup)
	}
}

// runTask runs args to completion in a new container and returns stdout,
// stderr and the exit status.
func runTask(t *testing.T, d *harness.Daemon, c *client.Client, id string, image client.Image, specOpts ...oci.SpecOpts) (string, string, uint32) {
	t.Helper()
	tk := startTask(t, d, c, id, image, nil, specOpts...)
	status := tk.wait(time.Minute)
	tk.finish()
	return tk.stdout.String(), tk.stderr.String(), status
}

// syncBuffer is a bytes.Buffer safe for the copy goroutines of cio.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var idCounter atomic.Int64

// uniqueID returns a container id unique within the test run.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), idCounter.Add(1))
}

// containersContainer is the container record spec options receive.
type containersContainer = containers.Container

// cioNull discards a process's streams.
func cioNull() cio.Creator { return cio.NullIO }

// startExec starts args as exec execID in the task's container, with the
// container's process spec otherwise, discarding its streams; it returns the
// process and its exit channel.
func (tk *task) startExec(execID string, args ...string) (client.Process, <-chan client.ExitStatus) {
	tk.t.Helper()
	spec, err := tk.container.Spec(tk.ctx)
	if err != nil {
		tk.t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = args
	exec, err := tk.task.Exec(tk.ctx, execID, &pspec, cioNull())
	if err != nil {
		tk.t.Fatalf("exec %s: %v", execID, err)
	}
	exitC, err := exec.Wait(tk.ctx)
	if err != nil {
		tk.t.Fatal(err)
	}
	if err := exec.Start(tk.ctx); err != nil {
		tk.t.Fatalf("start exec %s: %v", execID, err)
	}
	return exec, exitC
}

// daemonTest is one case of a suite run on each containerd version.
type daemonTest struct {
	name string
	run  func(*testing.T, *harness.Daemon, *client.Client)
}

// runOnEachDaemon runs tests in order against a private daemon of each
// version with the wasm test image imported; every case must leave the
// daemon clean: no task, container, shim process, mount or socket.
func runOnEachDaemon(t *testing.T, tests []daemonTest) {
	for _, version := range versions {
		t.Run("containerd-"+version, func(t *testing.T) {
			d := harness.StartDaemon(t, version)
			importTestImage(t, d)
			c := d.Client(t)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, d, c)
					d.AssertClean(t)
				})
			}
		})
	}
}
