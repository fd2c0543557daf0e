//go:build linux

package cgroup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/cgroup/cgroupfs"
)

// The test binary doubles as the processes the tests put in cgroups: with
// helperEnv set, TestMain runs the named role instead of the tests.
const (
	helperEnv = "CGROUP_TEST_HELPER"
	mibEnv    = "CGROUP_TEST_MIB"
	wasmEnv   = "CGROUP_TEST_WASM"
	openEnv   = "CGROUP_TEST_OPEN"
	pagesEnv  = "CGROUP_TEST_PAGES"
)

// v1Root is where cgroup v1 hierarchies are mounted on this machine.
const v1Root = "/sys/fs/cgroup"

// testPrefix is the unique top cgroup under which every real-cgroup test of
// this run works; TestMain removes it from every hierarchy at the end.
var testPrefix string

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPrefix = "/wasmedge-shim-test-" + hex.EncodeToString(b[:])
	code := m.Run()
	if err := removeEverywhere(testPrefix); err != nil {
		fmt.Fprintln(os.Stderr, "clean up test cgroups:", err)
		code = 1
	}
	os.Exit(code)
}

// runHelper is the life of a helper process. Every role but spin waits for
// a byte on stdin before it does its work, so that the test can move it into
// a cgroup first; all run until killed or until stdin closes.
func runHelper(role string) int {
	in := bufio.NewReader(os.Stdin)
	waitGo := func() bool {
		_, err := in.ReadByte()
		return err == nil
	}
	switch role {
	case "sleep":
		_, _ = io.Copy(io.Discard, in)
		return 0
	case "spin":
		go func() { _, _ = io.Copy(io.Discard, in); os.Exit(0) }()
		for n := 0; ; n++ {
			_ = n
		}
	case "alloc":
		if !waitGo() {
			return 1
		}
		n, _ := strconv.Atoi(os.Getenv(mibEnv))
		var blocks [][]byte
		for i := 0; i < n; i++ {
			block := make([]byte, 1<<20)
			for j := 0; j < len(block); j += 4096 {
				block[j] = 1
			}
			blocks = append(blocks, block)
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, in)
		runtime.KeepAlive(blocks)
		return 0
	case "open":
		// Opens each file of openEnv (comma-separated) and prints "ok" or
		// the error for each, one per line.
		if !waitGo() {
			return 1
		}
		for _, name := range strings.Split(os.Getenv(openEnv), ",") {
			f, err := os.Open(name)
			if err != nil {
				fmt.Println(errors.Unwrap(err))
				continue
			}
			f.Close()
			fmt.Println("ok")
		}
		_, _ = io.Copy(io.Discard, in)
		return 0
	case "wasm":
		if !waitGo() {
			return 1
		}
		pages, _ := strconv.Atoi(os.Getenv(pagesEnv))
		return runWasm(os.Getenv(wasmEnv), uint32(pages))
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", role)
	return 2
}

// runWasm runs a WASI command under a linear-memory cap of pages, reserved
// up front (the way WasmMemoryPages's figures assume), and returns its exit
// status.
func runWasm(path string, pages uint32) int {
	ctx := context.Background()
	wasm, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	config := wazero.NewRuntimeConfigCompiler().WithMemoryLimitPages(pages).WithMemoryCapacityFromMax(true)
	rt := wazero.NewRuntimeWithConfig(ctx, config)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	_, err = rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStderr(os.Stderr))
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit):
		return int(exit.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	// exited is closed once the process is reaped; state is then set.
	exited chan struct{}
	state  *os.ProcessState
}

// startHelper starts the test binary in role with extra environment; the
// test's cleanup kills and reaps it.
func startHelper(t *testing.T, role string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, in: in, out: bufio.NewReader(out), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		h.state = cmd.ProcessState
		close(h.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.exited
	})
	return h
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

// start sends the byte the helper waits for.
func (h *helper) start(t *testing.T) {
	t.Helper()
	if _, err := h.in.Write([]byte{'g'}); err != nil {
		t.Fatal(err)
	}
}

// ready waits for the helper's "ready" line.
func (h *helper) ready(t *testing.T) {
	t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper %d not ready: %q, %v", h.pid(), line, err)
	}
}

// wait waits for the helper to exit and returns its wait status.
func (h *helper) wait(t *testing.T, timeout time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case <-h.exited:
	case <-time.After(timeout):
		t.Fatalf("helper %d still running after %s", h.pid(), timeout)
	}
	return h.state.Sys().(syscall.WaitStatus)
}

// cpuTime returns the user+system clock ticks a process has used.
func cpuTime(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces; count from its end.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	// After the name: state is fields[0], utime fields[11], stime fields[12].
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return utime + stime
}

// requireV1 skips a test that needs to make real cgroup v1 groups.
func requireV1(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if mode := cgroups.Mode(); mode != cgroups.Legacy && mode != cgroups.Hybrid {
		t.Skip("needs cgroup v1 hierarchies")
	}
}

// requireUnified skips a test that needs the v2 hierarchy a hybrid host
// mounts at /sys/fs/cgroup/unified, and returns where it is.
func requireUnified(t *testing.T) string {
	t.Helper()
	const unified = "/sys/fs/cgroup/unified"
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("no cgroup v2 hierarchy at %s", unified)
	}
	return unified
}

// testPath returns a cgroup path for this test under testPrefix, removed
// from every hierarchy when the test ends (after its helpers are killed, as
// cleanups run last-registered first and helpers are started later).
func testPath(t *testing.T, elems ...string) string {
	t.Helper()
	base := testPrefix + "/" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	t.Cleanup(func() {
		if err := removeEverywhere(base); err != nil {
			t.Errorf("clean up %s: %v", base, err)
		}
	})
	return filepath.Join(append([]string{base}, elems...)...)
}

// hierarchies lists the mounted v1 hierarchies' directories (resolved, so
// co-mounted controllers appear once).
func hierarchies() ([]string, error) {
	entries, err := os.ReadDir(v1Root)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		dir, err := filepath.EvalSymlinks(filepath.Join(v1Root, e.Name()))
		if err != nil || seen[dir] || e.Name() == "unified" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil || fi.IsDir() {
			continue
		}
		seen[dir] = true
		out = append(out, dir)
	}
	return out, nil
}

// removeEverywhere removes the cgroup at path (and below it) in every
// hierarchy. It only ever removes directories under path.
func removeEverywhere(path string) error {
	if !strings.HasPrefix(path, "/wasmedge-shim-test-") {
		return fmt.Errorf("refusing to remove %q: not a test cgroup", path)
	}
	dirs, err := hierarchies()
	if err != nil {
		return err
	}
	for i, h := range dirs {
		dirs[i] = filepath.Join(h, path)
	}
	return cgroupfs.RemoveDirs(dirs...)
}

// readTrimmed reads a cgroup file.
func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// buildWasm compiles testdata/name.wat into the test's temporary directory.
func buildWasm(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	if msg, err := exec.Command("wat2wasm", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v: %s", name, err, msg)
	}
	return out
}
