//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// modulesDir holds the test modules, built from testdata/*.wat by TestMain.
var modulesDir string

// TestMain makes the test binary its own instance process (Options.Exe is the
// test binary), and builds the test modules with wat2wasm.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InstanceCommand {
		RunInstance()
	}
	dir, err := os.MkdirTemp("", "sandbox-modules-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := buildModules(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build test modules:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	modulesDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildModules compiles every testdata/*.wat into dir/*.wasm. A missing
// wat2wasm is a failure: these tests are worth nothing without modules.
func buildModules(dir string) error {
	sources, err := filepath.Glob("testdata/*.wat")
	if err != nil || len(sources) == 0 {
		return fmt.Errorf("no testdata/*.wat (%v)", err)
	}
	for _, src := range sources {
		out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
		if msg, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
			return fmt.Errorf("wat2wasm %s: %w: %s", src, err, msg)
		}
	}
	return nil
}

// newRootfs makes a rootfs holding the named test module at /app.wasm.
func newRootfs(t testing.TB, module string) string {
	t.Helper()
	return newRootfsIn(t, t.TempDir(), module)
}

// newRootfsIn makes the rootfs of newRootfs under dir.
func newRootfsIn(t testing.TB, dir, module string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(modulesDir, module+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "app.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// runConfig is a run of the named test module with guest arguments args.
func runConfig(t testing.TB, module string, args ...string) *oci.RunConfig {
	return &oci.RunConfig{
		ID:     strings.ReplaceAll(t.Name(), "/", "_"),
		Rootfs: newRootfs(t, module),
		Module: "/app.wasm",
		Args:   append([]string{"/app.wasm"}, args...),
		Cwd:    "/",
	}
}

// instanceExe is the instance binary the tests spawn: the test binary
// itself (see TestMain), or the one SANDBOX_INSTANCE_EXE names, e.g. the
// shim built by `make build`, to test the binary that ships.
func instanceExe() string {
	if exe := os.Getenv("SANDBOX_INSTANCE_EXE"); exe != "" {
		return exe
	}
	return os.Args[0]
}

// testOptions re-executes the test binary as the instance process and
// records the child's pid, so a test can reap it even when Spawn fails.
func testOptions(pid *int) Options {
	return Options{
		Exe: instanceExe(),
		Setup: func(p int) error {
			*pid = p
			return nil
		},
	}
}

// guestIO captures a guest's stdout and stderr through pipes and can feed its
// stdin.
type guestIO struct {
	stdio          Stdio
	stdout, stderr *capture
	closers        []*os.File
}

// capture collects what arrives on a pipe until end of file.
type capture struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// wait returns everything once the writer side closed.
func (c *capture) wait(t testing.TB) string {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("output pipe never reached end of file")
	}
	return c.String()
}

func newCapture(t testing.TB, r *os.File) *capture {
	c := &capture{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer r.Close()
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			c.mu.Lock()
			c.buf.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

// newGuestIO makes pipes for the guest's streams; stdin gets the given text
// (and end of file) unless it is empty, then the guest reads /dev/null.
func newGuestIO(t testing.TB, stdin string) *guestIO {
	t.Helper()
	g := &guestIO{}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	g.stdio.Stdout, g.stdio.Stderr = outW, errW
	g.stdout, g.stderr = newCapture(t, outR), newCapture(t, errR)
	g.closers = append(g.closers, outW, errW)
	if stdin != "" {
		inR, inW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			io.WriteString(inW, stdin)
			inW.Close()
		}()
		g.stdio.Stdin = inR
		g.closers = append(g.closers, inR)
	}
	t.Cleanup(g.release)
	return g
}

// release closes the test's copies of the child's ends, so the captures see
// end of file when the child exits.
func (g *guestIO) release() {
	for _, f := range g.closers {
		f.Close()
	}
	g.closers = nil
}

// waitExit reaps pid and returns its status the way the shim reports it:
// the exit code, or 128+signal.
func waitExit(t testing.TB, pid int) int {
	t.Helper()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if ws.Signaled() {
			done <- result{128 + int(ws.Signal()), err}
			return
		}
		done <- result{ws.ExitStatus(), err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("wait4 %d: %v", pid, r.err)
		}
		return r.status
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d did not exit", pid)
		return -1
	}
}

// outcome is what a finished guest produced.
type outcome struct {
	status         int
	stdout, stderr string
}

// runGuest spawns, starts and waits for a guest.
func runGuest(t testing.TB, rc *oci.RunConfig, stdin string, opts Options) outcome {
	t.Helper()
	gio := newGuestIO(t, stdin)
	inst, err := Spawn(context.Background(), rc, gio.stdio, opts)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	gio.release()
	if err := inst.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	status := waitExit(t, inst.Pid())
	if err := inst.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return outcome{status: status, stdout: gio.stdout.wait(t), stderr: gio.stderr.wait(t)}
}

// spawnFailure spawns a guest that must not become ready, checks that its
// process is gone, and returns Spawn's error.
func spawnFailure(t testing.TB, rc *oci.RunConfig) error {
	t.Helper()
	var pid int
	gio := newGuestIO(t, "")
	inst, err := Spawn(context.Background(), rc, gio.stdio, testOptions(&pid))
	if err == nil {
		inst.Close()
		waitExit(t, inst.Pid())
		t.Fatal("Spawn succeeded; want an error")
	}
	if pid == 0 {
		t.Fatalf("no process was started: %v", err)
	}
	t.Logf("Spawn error: %v", err)
	// Killed by Spawn (137) or exited after its report (1): either way it
	// must be gone at once.
	if status := waitExit(t, pid); status != 137 && status != notReadyExitStatus {
		t.Errorf("failed instance exited with %d, want 137 or %d", status, notReadyExitStatus)
	}
	return err
}
