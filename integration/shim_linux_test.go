//go:build linux

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// versions are the containerd releases every test runs against.
var versions = []string{harness.Version16, harness.Version24}

// TestShim runs the core behaviour of the shim through ctr and the Go
// client on each containerd version. Every subtest ends with the daemon
// clean: no task, container, shim process, mount or socket left.
func TestShim(t *testing.T) {
	runOnEachDaemon(t, shimTests)
}

var shimTests = []daemonTest{
	{"output", testOutput},
	{"args", testArgs},
	{"env", testEnv},
	{"exit-codes", testExitCodes},
	{"trap", testTrap},
	{"not-wasm", testNotWasm},
	{"missing-module", testMissingModule},
	{"module-lookup", testModuleLookup},
	{"function-entry", testFunctionEntry},
	{"go-module", testGoModule},
	{"bind-mounts", testBindMounts},
	{"stdin", testStdin},
	{"kill-spinning", testKillSpinning},
	{"delete-created", testDeleteCreated},
	{"detached", testDetached},
	{"events", testEvents},
	{"exec", testExec},
	{"escape", testEscape},
	{"rootfs-folder", testRootfsFolder},
	{"parallel-20", testParallel},
	{"pod-grouping", testPodGrouping},
	{"namespace-grouping", testNamespaceGrouping},
	{"churn", testChurn},
	{"shim-killed", testShimKilled},
}

func testOutput(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("out"), "/hello.wasm")
	if res.status != 0 || res.stdout != "hello from wasm\n" {
		t.Fatalf("hello: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	res = ctrRun(t, d, nil, uniqueID("out"), "/wasitool.wasm", "stderr", "to stderr")
	if res.status != 0 || !strings.Contains(res.stderr, "to stderr") || res.stdout != "" {
		t.Fatalf("stderr: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
}

func testArgs(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("args"), "/wasitool.wasm", "args", "one", "two words", "")
	want := "/wasitool.wasm\nargs\none\ntwo words\n\n"
	if res.status != 0 || res.stdout != want {
		t.Fatalf("status %d, stdout %q, want %q (stderr %q)", res.status, res.stdout, want, res.stderr)
	}
}

func testEnv(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, []string{"--env", "GREETING=hi there", "--env", "EMPTY="}, uniqueID("env"), "/wasitool.wasm", "env")
	for _, want := range []string{"GREETING=hi there\n", "EMPTY=\n", "IMAGE_ENV=from-image\n", "PATH=/usr/bin:/bin\n"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("env lacks %q:\n%s", want, res.stdout)
		}
	}
	if res.status != 0 {
		t.Fatalf("status %d, stderr %q", res.status, res.stderr)
	}
}

func testExitCodes(t *testing.T, d *harness.Daemon, _ *client.Client) {
	for _, code := range []int{0, 1, 3, 42, 255} {
		res := ctrRun(t, d, nil, uniqueID("exit"), "/wasitool.wasm", "exit", fmt.Sprint(code))
		if res.status != code {
			t.Errorf("proc_exit(%d): ctr exited %d (stderr %q)", code, res.status, res.stderr)
		}
	}
	// Returning from _start is success.
	if res := ctrRun(t, d, nil, uniqueID("exit"), "/wasitool.wasm", "echo", "x"); res.status != 0 {
		t.Errorf("return from _start: status %d", res.status)
	}
}

func testTrap(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("trap"), "/wasitool.wasm", "trap")
	if res.status != 134 {
		t.Errorf("trap: status %d, want 134", res.status)
	}
	if !strings.Contains(res.stderr, "wasm trap") || !strings.Contains(res.stderr, "unreachable") {
		t.Errorf("trap message missing from the container's stderr: %q", res.stderr)
	}
}

func testNotWasm(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("bogus"), "/notwasm.wasm")
	if res.status == 0 {
		t.Fatal("a text file ran as a module")
	}
	for _, want := range []string{"/notwasm.wasm", "not a WebAssembly module"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("error %q does not mention %q", res.stderr, want)
		}
	}
}

func testMissingModule(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("missing"), "/nope.wasm")
	if res.status == 0 || !strings.Contains(res.stderr, "/nope.wasm") || !strings.Contains(res.stderr, "not found") {
		t.Fatalf("missing module: status %d, stderr %q", res.status, res.stderr)
	}
}

// testModuleLookup names the module relative to the working directory and
// as a bare name on the image's PATH.
func testModuleLookup(t *testing.T, d *harness.Daemon, _ *client.Client) {
	if res := ctrRun(t, d, []string{"--cwd", "/usr"}, uniqueID("rel"), "bin/tool.wasm", "echo", "relative"); res.stdout != "relative\n" {
		t.Errorf("relative to cwd: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	if res := ctrRun(t, d, nil, uniqueID("path"), "tool.wasm", "args"); res.stdout != "tool.wasm\nargs\n" {
		t.Errorf("on PATH: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
}

func testFunctionEntry(t *testing.T, d *harness.Daemon, _ *client.Client) {
	if res := ctrRun(t, d, nil, uniqueID("fn"), "/reactor.wasm#greet"); res.status != 0 || res.stdout != "hello from greet\n" {
		t.Errorf("#greet: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	if res := ctrRun(t, d, nil, uniqueID("fn"), "/reactor.wasm"); res.status != 0 || res.stdout != "hello from start\n" {
		t.Errorf("_start: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	res := ctrRun(t, d, nil, uniqueID("fn"), "/reactor.wasm#nosuch")
	if res.status == 0 || !strings.Contains(res.stderr, "nosuch") {
		t.Errorf("missing export: status %d, stderr %q", res.status, res.stderr)
	}
}

func testGoModule(t *testing.T, d *harness.Daemon, _ *client.Client) {
	res := ctrRun(t, d, nil, uniqueID("go"), "/bin/hello-go", "a", "b")
	if res.status != 0 || !strings.Contains(res.stdout, "hello from go") || !strings.Contains(res.stdout, "a b") {
		t.Fatalf("go module: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
}

func testBindMounts(t *testing.T, d *harness.Daemon, _ *client.Client) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := []string{"--mount", "type=bind,src=" + host + ",dst=/vol,options=rbind:ro"}
	rw := []string{"--mount", "type=bind,src=" + host + ",dst=/vol,options=rbind:rw"}

	if res := ctrRun(t, d, ro, uniqueID("ro"), "/wasitool.wasm", "cat", "/vol/in.txt"); res.stdout != "from the host\n" {
		t.Errorf("read ro mount: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	res := ctrRun(t, d, ro, uniqueID("ro"), "/wasitool.wasm", "write", "/vol/out.txt", "x")
	if res.status == 0 {
		t.Errorf("write to a read-only mount succeeded")
	}
	if _, err := os.Stat(filepath.Join(host, "out.txt")); err == nil {
		t.Errorf("a read-only mount was written through")
	}
	if res := ctrRun(t, d, rw, uniqueID("rw"), "/wasitool.wasm", "write", "/vol/out.txt", "written by wasm"); res.status != 0 {
		t.Errorf("write to rw mount: status %d, stderr %q", res.status, res.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(host, "out.txt")); err != nil || string(got) != "written by wasm" {
		t.Errorf("host sees %q, %v", got, err)
	}
	// A file bind mount shows up as that file.
	file := []string{"--mount", "type=bind,src=" + filepath.Join(host, "in.txt") + ",dst=/etc/motd,options=rbind:ro"}
	if res := ctrRun(t, d, file, uniqueID("file"), "/wasitool.wasm", "cat", "/etc/motd"); res.stdout != "from the host\n" {
		t.Errorf("file mount: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
}

func testStdin(t *testing.T, d *harness.Daemon, c *client.Client) {
	input := strings.Repeat("line of input\n", 2000)
	tk := startTask(t, d, c, uniqueID("stdin"), wasmImage(t, d, c), strings.NewReader(input), oci.WithProcessArgs("/wasitool.wasm", "stdin"))
	if status := tk.wait(time.Minute); status != 0 {
		t.Fatalf("status %d, stderr %q", status, tk.stderr.String())
	}
	tk.finish()
	if tk.stdout.String() != input {
		t.Fatalf("stdin echoed %d bytes, want %d", len(tk.stdout.String()), len(input))
	}
}

// testKillSpinning stops a guest in an endless loop with SIGKILL and with
// SIGTERM, each within a second.
func testKillSpinning(t *testing.T, d *harness.Daemon, c *client.Client) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		tk := startTask(t, d, c, uniqueID("spin"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "spin"))
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := tk.task.Kill(tk.ctx, sig); err != nil {
			t.Fatalf("kill %v: %v", sig, err)
		}
		status := tk.wait(5 * time.Second)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%v took %v to stop the guest", sig, took)
		}
		if want := uint32(128 + sig); status != want {
			t.Errorf("%v: exit status %d, want %d", sig, status, want)
		}
		// Killing an exited task is NotFound, as with runc.
		if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err == nil {
			t.Errorf("kill of an exited task succeeded")
		}
		tk.finish()
	}
}

// testDeleteCreated deletes a task that was created but never started.
func testDeleteCreated(t *testing.T, d *harness.Daemon, c *client.Client) {
	ctx := d.Context(t)
	img := wasmImage(t, d, c)
	id := uniqueID("created")
	container, err := c.NewContainer(ctx, id, client.WithRuntime(harness.RuntimeName, nil), client.WithImage(img),
		client.WithNewSnapshot(id+"-snap", img), client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/wasitool.wasm", "spin")))
	if err != nil {
		t.Fatal(err)
	}
	defer container.Delete(context.WithoutCancel(ctx), client.WithSnapshotCleanup)
	tk, err := container.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	st, err := tk.Status(ctx)
	if err != nil || st.Status != client.Created {
		t.Fatalf("status %v, %v", st.Status, err)
	}
	if tk.Pid() == 0 {
		t.Errorf("created task has no pid")
	}
	// The client kills a created task before deleting it, as for runc.
	st2, err := tk.Delete(ctx, client.WithProcessKill)
	if err != nil {
		t.Fatalf("delete created task: %v", err)
	}
	if st2.ExitCode() != 137 {
		t.Errorf("killed created task: exit status %d, want 137", st2.ExitCode())
	}
}

// testDetached runs a container in the background with ctr and manages it
// with ctr task commands.
func testDetached(t *testing.T, d *harness.Daemon, _ *client.Client) {
	id := uniqueID("bg")
	res := ctr(t, d, "run", "-d", "--platform", "wasi/wasm", "--runtime", harness.RuntimeName, wasmRef, id, "/wasitool.wasm", "sleep", "600")
	if res.status != 0 {
		t.Fatalf("run -d: %d %s", res.status, res.stderr)
	}
	defer ctr(t, d, "containers", "rm", id)
	ls := ctr(t, d, "task", "ls")
	if !strings.Contains(ls.stdout, id) || !strings.Contains(ls.stdout, "RUNNING") {
		t.Errorf("task ls:\n%s", ls.stdout)
	}
	if res := ctr(t, d, "task", "kill", "-s", "SIGKILL", id); res.status != 0 {
		t.Fatalf("task kill: %s", res.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ctr(t, d, "task", "ls").stdout, "STOPPED") {
		if time.Now().After(deadline) {
			t.Fatal("task did not stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res := ctr(t, d, "task", "rm", id); res.status != 0 {
		t.Fatalf("task rm: %s", res.stderr)
	}
}

// testEvents checks containerd sees the task's events in order.
func testEvents(t *testing.T, d *harness.Daemon, c *client.Client) {
	ctx, cancel := context.WithCancel(d.Context(t))
	defer cancel()
	id := uniqueID("events")
	evC, errC := c.Subscribe(ctx, `topic~="/tasks/"`)
	_, _, status := runTask(t, d, c, id, wasmImage(t, d, c), oci.WithProcessArgs("/wasitool.wasm", "exit", "7"))
	if status != 7 {
		t.Fatalf("status %d", status)
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 4 {
		select {
		case env := <-evC:
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				t.Fatal(err)
			}
			switch e := ev.(type) {
			case *eventtypes.TaskCreate:
				if e.ContainerID == id {
					got = append(got, "create")
				}
			case *eventtypes.TaskStart:
				if e.ContainerID == id {
					got = append(got, "start")
				}
			case *eventtypes.TaskExit:
				if e.ContainerID == id {
					got = append(got, fmt.Sprintf("exit(%d)", e.ExitStatus))
				}
			case *eventtypes.TaskDelete:
				if e.ContainerID == id {
					got = append(got, "delete")
				}
			}
		case err := <-errC:
			t.Fatalf("events: %v", err)
		case <-timeout:
			t.Fatalf("events so far %v", got)
		}
	}
	if want := "create start exit(7) delete"; strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

// testExec runs a second module in a running container.
func testExec(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("exec"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	spec, err := tk.container.Spec(tk.ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := func(execID string, args ...string) (string, uint32) {
		pspec := *spec.Process
		pspec.Args = args
		var out syncBuffer
		p, err := tk.task.Exec(tk.ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
		if err != nil {
			t.Fatalf("exec %s: %v", execID, err)
		}
		exitC, err := p.Wait(tk.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(tk.ctx); err != nil {
			t.Fatal(err)
		}
		st := <-exitC
		if _, err := p.Delete(tk.ctx); err != nil {
			t.Fatal(err)
		}
		return out.String(), st.ExitCode()
	}
	if out, code := run("e1", "/wasitool.wasm", "echo", "from exec"); out != "from exec\n" || code != 0 {
		t.Errorf("exec: %q %d", out, code)
	}
	if out, code := run("e2", "/hello.wasm"); out != "hello from wasm\n" || code != 0 {
		t.Errorf("exec other module: %q %d", out, code)
	}
	if _, code := run("e3", "/wasitool.wasm", "exit", "9"); code != 9 {
		t.Errorf("exec exit status %d, want 9", code)
	}
	pspec := *spec.Process
	pspec.Args = []string{"/notwasm.wasm"}
	if _, err := tk.task.Exec(tk.ctx, "bad", &pspec, cio.NullIO); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Errorf("exec of a text file: %v", err)
	}
	if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tk.wait(10 * time.Second)
	tk.finish()
}

// testEscape tries to reach a host file from inside the container by every
// route: .., absolute and relative symlinks the guest creates or finds,
// and symlinks inside a bind mount.
func testEscape(t *testing.T, d *harness.Daemon, _ *client.Client) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("HOST SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	mount := []string{"--mount", "type=bind,src=" + vol + ",dst=/vol,options=rbind:rw"}
	climb := strings.Repeat("../", 20) + strings.TrimPrefix(secret, "/")
	// Symlinks planted on the host inside the volume: the guest "finds" them.
	for name, target := range map[string]string{"found-abs": secret, "found-rel": climb, "found-dir": strings.Repeat("../", 20) + strings.TrimPrefix(secretDir, "/")} {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Symlinks the guest creates itself.
	for name, target := range map[string]string{"made-abs": secret, "made-rel": climb} {
		if res := ctrRun(t, d, mount, uniqueID("esc"), "/wasitool.wasm", "symlink", target, "/vol/"+name); res.status != 0 {
			t.Fatalf("guest symlink: %d %s", res.status, res.stderr)
		}
	}
	for _, path := range []string{
		"/" + climb, climb, "/vol/" + climb, "/vol/found-abs", "/vol/found-rel", "/vol/found-dir/secret",
		"/vol/made-abs", "/vol/made-rel", "/proc/self/root" + secret,
	} {
		res := ctrRun(t, d, mount, uniqueID("esc"), "/wasitool.wasm", "cat", path)
		if strings.Contains(res.stdout, "HOST SECRET") {
			t.Errorf("escaped through %s", path)
		}
		if res.status == 0 {
			t.Errorf("cat %s succeeded: %q", path, res.stdout)
		}
	}
	// An absolute symlink resolves inside the container's root, as in a
	// chroot: the image's /etc/motd, not the host's.
	if err := os.Symlink("/etc/motd", filepath.Join(vol, "motd")); err != nil {
		t.Fatal(err)
	}
	if res := ctrRun(t, d, mount, uniqueID("esc"), "/wasitool.wasm", "cat", "/vol/motd"); res.stdout != "in-image motd\n" {
		t.Errorf("/vol/motd -> /etc/motd: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	if res := ctrRun(t, d, mount, uniqueID("esc"), "/wasitool.wasm", "ls", "/"); strings.Contains(res.stdout, "secret") || res.status != 0 {
		t.Errorf("ls /: %d %q", res.status, res.stdout)
	}
}

// testRootfsFolder runs a container from a plain folder (ctr run --rootfs),
// which sends no rootfs mounts and sets root.path instead.
func testRootfsFolder(t *testing.T, d *harness.Daemon, c *client.Client) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), harness.WasmModule(t, "hello.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := ctr(t, d, "run", "--rm", "--runtime", harness.RuntimeName, "--rootfs", dir, uniqueID("rootfs"), "/hello.wasm")
	if res.status != 0 || res.stdout != "hello from wasm\n" {
		t.Fatalf("--rootfs: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	// A read-only root is enforced.
	if err := os.WriteFile(filepath.Join(dir, "tool.wasm"), harness.WasmModule(t, "wasitool.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _, status := runTask(t, d, c, uniqueID("roroot"), nil, oci.WithRootFSPath(dir), oci.WithRootFSReadonly(),
		oci.WithProcessArgs("/tool.wasm", "write", "/new.txt", "x"))
	if status == 0 {
		t.Errorf("write to a read-only root succeeded: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.txt")); err == nil {
		t.Errorf("read-only root was written")
	}
}

// testParallel runs 20 containers at once.
func testParallel(t *testing.T, d *harness.Daemon, c *client.Client) {
	img := wasmImage(t, d, c)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uniqueID("par")
			out, _, status := runTaskQuiet(t, d, c, id, img, oci.WithProcessArgs("/wasitool.wasm", "echo", fmt.Sprint("container ", i)))
			if status != 0 || out != fmt.Sprintf("container %d\n", i) {
				errs <- fmt.Errorf("%s: status %d, stdout %q", id, status, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// runTaskQuiet is runTask for goroutines: failures come back as status
// 255 with the error as stdout instead of t.Fatal.
func runTaskQuiet(t *testing.T, d *harness.Daemon, c *client.Client, id string, img client.Image, opts ...oci.SpecOpts) (string, string, uint32) {
	ctx := d.Context(t)
	container, err := c.NewContainer(ctx, id, client.WithRuntime(harness.RuntimeName, nil), client.WithImage(img),
		client.WithNewSnapshot(id+"-snap", img), client.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)...))
	if err != nil {
		return err.Error(), "", 255
	}
	defer container.Delete(context.WithoutCancel(ctx), client.WithSnapshotCleanup)
	var stdout, stderr syncBuffer
	tk, err := container.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr)))
	if err != nil {
		return err.Error(), "", 255
	}
	defer tk.Delete(context.WithoutCancel(ctx), client.WithProcessKill)
	exitC, err := tk.Wait(ctx)
	if err != nil {
		return err.Error(), "", 255
	}
	if err := tk.Start(ctx); err != nil {
		return err.Error(), "", 255
	}
	st := <-exitC
	if _, err := tk.Delete(ctx); err != nil {
		return err.Error(), "", 255
	}
	return stdout.String(), stderr.String(), st.ExitCode()
}

// testPodGrouping starts two containers of one pod (same CRI sandbox id):
// one shim process serves both, and it exits once both are deleted.
func testPodGrouping(t *testing.T, d *harness.Daemon, c *client.Client) {
	img := wasmImage(t, d, c)
	pod := oci.WithAnnotations(map[string]string{"io.kubernetes.cri.sandbox-id": uniqueID("pod")})
	before := len(d.ShimServerPids())
	a := startTask(t, d, c, uniqueID("grp"), img, nil, pod, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	b := startTask(t, d, c, uniqueID("grp"), img, nil, pod, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	if n := len(d.ShimServerPids()) - before; n != 1 {
		t.Errorf("%d shim processes serve one pod, want 1", n)
	}
	// Deleting the first container leaves the second one served.
	if err := a.task.Kill(a.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(5 * time.Second)
	a.finish()
	if st, err := b.task.Status(b.ctx); err != nil || st.Status != client.Running {
		t.Fatalf("second container after deleting the first: %v %v", st.Status, err)
	}
	if err := b.task.Kill(b.ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := b.wait(5 * time.Second); status != 143 {
		t.Errorf("second container exit status %d", status)
	}
	b.finish()
}

// testShimKilled kills the shim under a running task: containerd cleans up
// through the shim's delete action, and nothing is left behind (the
// instance process dies with its shim).
func testShimKilled(t *testing.T, d *harness.Daemon, c *client.Client) {
	tk := startTask(t, d, c, uniqueID("crash"), wasmImage(t, d, c), nil, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
	instance := int(tk.task.Pid())
	// The shim is the instance's parent.
	shim := parentOf(t, instance)
	if !slices.Contains(d.ShimServerPids(), shim) {
		t.Fatalf("parent %d of the instance is not a shim of the daemon", shim)
	}
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait fails with the connection; containerd then cleans the task up
	// through the shim's delete action, as it does for runc.
	<-tk.exitC
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := tk.task.Status(tk.ctx)
		if errdefs.IsNotFound(err) {
			tk.task = nil
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task of a killed shim: %v %v", st.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The parent-death signal kills the instance; give the kernel a moment.
	for end := time.Now().Add(2 * time.Second); alive(instance); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("instance process %d outlived its shim", instance)
			break
		}
	}
	tk.finish()
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// parentOf returns pid's parent pid.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// testNamespaceGrouping starts three containers outside any pod: one shim
// process of the namespace serves them all.
func testNamespaceGrouping(t *testing.T, d *harness.Daemon, c *client.Client) {
	img := wasmImage(t, d, c)
	var tasks []*task
	parents := map[int]bool{}
	for range 3 {
		tk := startTask(t, d, c, uniqueID("ns"), img, nil, oci.WithProcessArgs("/wasitool.wasm", "sleep", "600"))
		tasks = append(tasks, tk)
		parents[parentOf(t, int(tk.task.Pid()))] = true
	}
	if len(parents) != 1 {
		t.Errorf("three containers of a namespace are served by %d shims", len(parents))
	}
	for _, tk := range tasks {
		if err := tk.task.Kill(tk.ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		tk.wait(10 * time.Second)
		tk.finish()
	}
}

// testChurn runs 100 short tasks, 4 at a time, through the namespace's
// shared shim: containers come and go while the shim idles and exits
// between them, and no start may be handed a shim that is exiting.
func testChurn(t *testing.T, d *harness.Daemon, c *client.Client) {
	img := wasmImage(t, d, c)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				id := uniqueID("churn")
				out, _, status := runTaskQuiet(t, d, c, id, img, oci.WithProcessArgs("/hello.wasm"))
				if status != 0 || out != "hello from wasm\n" {
					errs <- fmt.Errorf("%s: status %d, stdout %q", id, status, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
