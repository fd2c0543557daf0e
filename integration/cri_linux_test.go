//go:build linux

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// criWasmRef is the wasm image pods run: an index with a wasi/wasm and a
// linux/amd64 manifest sharing one layer, since CRI unpacks only the node's
// platform (see harness.BuildIndexImage).
const criWasmRef = "docker.io/library/wasmedge-shim-cri:latest"

// criNativeRef holds criNativeProgram, a sidecar beside wasm containers.
const criNativeRef = "docker.io/library/wasmedge-shim-cri-native:latest"

// criServerRef holds httpserver.wasm, a Go wasip1 HTTP server serving on
// the listeners WASI_TCP_LISTEN names, and wasitool.wasm.
const criServerRef = "docker.io/library/wasmedge-shim-cri-server:latest"

// criNativeProgram prints its arguments, then exits with N for "exit=N" or
// else waits forever; with "ignore-term" it ignores SIGTERM, so that only
// the SIGKILL CRI sends after the stop timeout ends it.
const criNativeProgram = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	fmt.Println("native", strings.Join(os.Args[1:], " "))
	for _, a := range os.Args[1:] {
		if a == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		}
		if v, ok := strings.CutPrefix(a, "exit="); ok {
			n, _ := strconv.Atoi(v)
			os.Exit(n)
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
`

var (
	criNativeOnce   sync.Once
	criNativeBinary []byte
)

// TestCRI drives the shim the way a kubelet does, through CRI with crictl,
// on both daemon versions: pods whose sandbox (pause) the shim hands to
// runc, wasm containers in them (logs, exec, stats, stop), and a pod mixing
// a native sidecar with a wasm container.
func TestCRI(t *testing.T) {
	criNativeOnce.Do(func() { criNativeBinary = harness.BuildStaticGo(t, criNativeProgram) })
	if criNativeBinary == nil {
		t.Fatal("building the native sidecar program failed")
	}
	for _, version := range versions {
		t.Run("containerd-"+version, func(t *testing.T) {
			d := harness.StartCRIDaemon(t, version)
			importCRIImages(t, d)
			for _, tc := range []struct {
				name string
				run  func(*testing.T, *harness.CRIDaemon)
			}{
				{"wasm-pod", testCRIWasmPod},
				{"mixed-pod", testCRIMixedPod},
				{"remove-after-native-exit", testCRIRemoveAfterNativeExit},
				{"wasm-server-on-pod-ip", testCRIWasmServer},
			} {
				t.Run(tc.name, func(t *testing.T) {
					start := time.Now()
					tc.run(t, d)
					d.AssertClean(t)
					t.Logf("%s on containerd %s: %v", tc.name, version, time.Since(start).Round(time.Millisecond))
				})
			}
			t.Run("packaged-runtime-options", func(t *testing.T) { testCRIRuntimeOptions(t, version) })
		})
	}
}

// importCRIImages imports the wasm and the native test images into d's CRI
// namespace.
func importCRIImages(t *testing.T, d *harness.CRIDaemon) {
	t.Helper()
	dir := t.TempDir()
	d.ImportCRIImage(t, harness.BuildIndexImage(t, dir, harness.ImageSpec{
		Ref:        criWasmRef,
		Platform:   harness.WasmPlatform,
		Files:      map[string][]byte{"/wasitool.wasm": harness.WasmModule(t, "wasitool.wasm")},
		Entrypoint: []string{"/wasitool.wasm"},
	}, harness.NativePlatform), criWasmRef)
	d.ImportCRIImage(t, harness.BuildNativeImage(t, dir, criNativeRef,
		map[string][]byte{"/native": criNativeBinary}, []string{"/native"}), criNativeRef)
}

// criPod is a pod sandbox started with crictl runp.
type criPod struct {
	id         string
	configPath string // the pod config, which crictl create needs again
	logDir     string
}

// runCRIPod starts a pod with the wasm runtime handler, with the namespace
// options a kubelet sends (network and IPC per pod, PID per container), and
// removes it at cleanup if the test did not.
func runCRIPod(t *testing.T, d *harness.CRIDaemon, name string) *criPod {
	t.Helper()
	dir := t.TempDir()
	p := &criPod{configPath: filepath.Join(dir, "pod.json"), logDir: filepath.Join(dir, "logs")}
	writeJSON(t, p.configPath, map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name, "attempt": 0},
		"hostname":      name,
		"log_directory": p.logDir,
		"linux": map[string]any{
			"cgroup_parent":    d.PodCgroupParent + "/" + name,
			"security_context": map[string]any{"namespace_options": kubeletNamespaceOptions},
		},
	})
	p.id = crictlOK(t, d, "runp", "--runtime", harness.CRIRuntimeHandler, p.configPath)
	t.Cleanup(func() {
		if _, _, err := d.Crictl(t, "inspectp", p.id); err == nil {
			_, _, _ = d.Crictl(t, "rmp", "-f", p.id)
		}
	})
	return p
}

// kubeletNamespaceOptions are CRI's NamespaceOption as a kubelet sends them
// for an ordinary pod: network POD (0), PID CONTAINER (1), IPC POD (0).
var kubeletNamespaceOptions = map[string]any{"network": 0, "pid": 1, "ipc": 0}

// createCRIContainer creates and starts a container in pod and returns its
// id; command replaces the image's entrypoint.
func createCRIContainer(t *testing.T, d *harness.CRIDaemon, pod *criPod, name, image string, command ...string) string {
	t.Helper()
	return createCRIContainerWithEnv(t, d, pod, name, image, nil, command...)
}

// createCRIContainerWithEnv is createCRIContainer with environment
// variables, as a pod spec's env gives them.
func createCRIContainerWithEnv(t *testing.T, d *harness.CRIDaemon, pod *criPod, name, image string, env map[string]string, command ...string) string {
	t.Helper()
	id := crictlOK(t, d, "create", pod.id, criContainerConfig(t, name, image, env, command), pod.configPath)
	crictlOK(t, d, "start", id)
	return id
}

// criContainerConfig writes the container config crictl create takes and
// returns its path.
func criContainerConfig(t *testing.T, name, image string, env map[string]string, command []string) string {
	t.Helper()
	envs := []map[string]string{}
	for k, v := range env {
		envs = append(envs, map[string]string{"key": k, "value": v})
	}
	config := filepath.Join(t.TempDir(), name+".json")
	writeJSON(t, config, map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": image},
		"command":  command,
		"envs":     envs,
		"log_path": name + ".log",
		"linux": map[string]any{
			"security_context": map[string]any{"namespace_options": kubeletNamespaceOptions},
		},
	})
	return config
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// crictlOK runs crictl, fails the test on error and returns the trimmed
// stdout.
func crictlOK(t *testing.T, d *harness.CRIDaemon, args ...string) string {
	t.Helper()
	stdout, stderr, err := d.Crictl(t, args...)
	if err != nil {
		t.Fatalf("crictl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout, stderr)
	}
	return strings.TrimSpace(stdout)
}

// crictlJSON runs crictl with args (which must ask for JSON) into v.
func crictlJSON(t *testing.T, d *harness.CRIDaemon, v any, args ...string) {
	t.Helper()
	out := crictlOK(t, d, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// criNamespace is a namespace of an OCI runtime spec.
type criNamespace struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// criPodInspect is the part of `crictl inspectp` the tests read.
type criPodInspect struct {
	Status struct {
		State          string `json:"state"`
		RuntimeHandler string `json:"runtimeHandler"`
		Network        struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		Pid            int    `json:"pid"`
		RuntimeHandler string `json:"runtimeHandler"`
		RuntimeSpec    struct {
			Linux struct {
				Namespaces []criNamespace `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

// criContainerInspect is the part of `crictl inspect` the tests read.
type criContainerInspect struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		LogPath  string `json:"logPath"`
	} `json:"status"`
	Info struct {
		Pid int `json:"pid"`
	} `json:"info"`
}

func inspectPod(t *testing.T, d *harness.CRIDaemon, id string) criPodInspect {
	t.Helper()
	var v criPodInspect
	crictlJSON(t, d, &v, "inspectp", "-o", "json", id)
	return v
}

func inspectContainer(t *testing.T, d *harness.CRIDaemon, id string) criContainerInspect {
	t.Helper()
	var v criContainerInspect
	crictlJSON(t, d, &v, "inspect", "-o", "json", id)
	return v
}

// waitContainerState polls until container id is in state (for example
// CONTAINER_EXITED) and returns its last inspection.
func waitContainerState(t *testing.T, d *harness.CRIDaemon, id, state string, timeout time.Duration) criContainerInspect {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := inspectContainer(t, d, id)
		if v.Status.State == state {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s after %v, want %s", id, v.Status.State, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// namespaceOf returns the inode link of a process's namespace
// ("net:[4026532...]").
func namespaceOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatalf("namespace of pid %d: %v", pid, err)
	}
	return link
}

// parentExe returns the executable name of pid's parent.
func parentExe(t *testing.T, pid int) string {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	exe, err := os.Readlink("/proc/" + fields[1] + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(exe)
}

// checkPodSandbox asserts that pod is Ready with an address from the test
// network, that its network namespace is CRI's private one, and that the
// pause process runs under runc's shim (the shim delegated it); it returns
// the pause pid.
func checkPodSandbox(t *testing.T, d *harness.CRIDaemon, pod *criPod) int {
	t.Helper()
	p := inspectPod(t, d, pod.id)
	if p.Status.State != "SANDBOX_READY" {
		t.Fatalf("pod %s is %s, want SANDBOX_READY", pod.id, p.Status.State)
	}
	if p.Status.RuntimeHandler != harness.CRIRuntimeHandler {
		t.Errorf("pod runtime handler %q, want %q", p.Status.RuntimeHandler, harness.CRIRuntimeHandler)
	}
	prefix := strings.TrimSuffix(d.Subnet, "0/24")
	if !strings.HasPrefix(p.Status.Network.IP, prefix) {
		t.Errorf("pod IP %q not in %s", p.Status.Network.IP, d.Subnet)
	}
	for _, ns := range p.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && !d.PodNetworkNamespace(ns.Path) {
			t.Errorf("pod network namespace %q is not under CRI's private state directory", ns.Path)
		}
	}
	if p.Info.Pid <= 0 {
		t.Fatalf("pod %s has no pause pid: %+v", pod.id, p.Info)
	}
	if exe := parentExe(t, p.Info.Pid); exe != "containerd-shim-runc-v2" {
		t.Errorf("pause (pid %d) runs under %s, want containerd-shim-runc-v2", p.Info.Pid, exe)
	}
	if len(d.ShimServerPids()) == 0 {
		t.Errorf("no %s process while the pod runs", harness.ServerBinaryName)
	}
	return p.Info.Pid
}

// checkSharesPodNetwork asserts that container pid is in the pause's
// network namespace.
func checkSharesPodNetwork(t *testing.T, name string, pid, pausePid int) {
	t.Helper()
	got, want := namespaceOf(t, pid, "net"), namespaceOf(t, pausePid, "net")
	if got != want {
		t.Errorf("%s (pid %d) is in network namespace %s, the pod's pause (pid %d) in %s: the container did not join the pod's network namespace",
			name, pid, got, pausePid, want)
	}
}

// criLogLine matches a CRI log line: RFC 3339 timestamp, stream, tag (F
// full, P partial), content.
var criLogLine = regexp.MustCompile(`^\S+ (stdout|stderr) [FP] (.*)$`)

// criLogContents returns the content of the log file's lines of stream.
func criLogContents(t *testing.T, path, stream string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("container log: %v", err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		m := criLogLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a CRI log line: %q", line)
			continue
		}
		if m[1] == stream {
			out = append(out, m[2])
		}
	}
	return out
}

func testCRIWasmPod(t *testing.T, d *harness.CRIDaemon) {
	pod := runCRIPod(t, d, "wasm-pod")
	pausePid := checkPodSandbox(t, d, pod)

	hello := createCRIContainer(t, d, pod, "hello", criWasmRef, "/wasitool.wasm", "echo", "hello")
	st := waitContainerState(t, d, hello, "CONTAINER_EXITED", 30*time.Second)
	if st.Status.ExitCode != 0 {
		t.Errorf("hello exit code %d", st.Status.ExitCode)
	}
	if got := crictlOK(t, d, "logs", hello); got != "hello" {
		t.Errorf("crictl logs hello = %q, want \"hello\"", got)
	}
	if got := criLogContents(t, st.Status.LogPath, "stdout"); len(got) != 1 || got[0] != "hello" {
		t.Errorf("hello's CRI log stdout lines %q, want [hello]", got)
	}

	sleeper := createCRIContainer(t, d, pod, "sleeper", criWasmRef, "/wasitool.wasm", "sleep", "600")
	st = waitContainerState(t, d, sleeper, "CONTAINER_RUNNING", 10*time.Second)
	checkSharesPodNetwork(t, "wasm container", st.Info.Pid, pausePid)

	if got := crictlOK(t, d, "exec", "--sync", sleeper, "/wasitool.wasm", "echo", "from-exec"); got != "from-exec" {
		t.Errorf("crictl exec --sync: %q, want \"from-exec\"", got)
	}
	// crictl 1.37 exits 1 for any failed ExecSync; the status CRI got from
	// the shim is in its message.
	_, stderr, err := d.Crictl(t, "exec", "--sync", sleeper, "/wasitool.wasm", "exit", "3")
	if err == nil || !strings.Contains(stderr, "exited with 3") {
		t.Errorf("crictl exec --sync ... exit 3: %v (%s), want the exec's exit status 3", err, stderr)
	}

	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct {
					Value json.Number `json:"value"`
				} `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	crictlJSON(t, d, &stats, "stats", "-o", "json", "-s", "0", "--id", sleeper)
	if len(stats.Stats) != 1 {
		t.Errorf("crictl stats --id %s: %d entries, want 1", sleeper, len(stats.Stats))
	} else if ws, _ := strconv.ParseUint(stats.Stats[0].Memory.WorkingSetBytes.Value.String(), 10, 64); ws == 0 {
		t.Errorf("crictl stats: working set %q for a running wasm container", stats.Stats[0].Memory.WorkingSetBytes.Value)
	} else {
		t.Logf("wasm container working set: %d KiB", ws/1024)
	}

	// The guest cannot handle SIGTERM, but the instance turns it into an
	// exit: the stop must end well before the 10 s grace period with 143.
	start := time.Now()
	crictlOK(t, d, "stop", "--timeout", "10", sleeper)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("crictl stop --timeout 10 took %v: SIGTERM did not end the wasm container", elapsed)
	}
	st = waitContainerState(t, d, sleeper, "CONTAINER_EXITED", 10*time.Second)
	if st.Status.ExitCode != 143 {
		t.Errorf("stopped wasm container exit code %d, want 143 (SIGTERM)", st.Status.ExitCode)
	}

	crictlOK(t, d, "rmp", "-f", pod.id)
	if out := crictlOK(t, d, "ps", "-a", "-q"); out != "" {
		t.Errorf("containers left after rmp -f: %s", out)
	}
}

func testCRIMixedPod(t *testing.T, d *harness.CRIDaemon) {
	pod := runCRIPod(t, d, "mixed-pod")
	pausePid := checkPodSandbox(t, d, pod)

	sidecar := createCRIContainer(t, d, pod, "sidecar", criNativeRef, "/native", "sidecar", "ignore-term")
	app := createCRIContainer(t, d, pod, "app", criWasmRef, "/wasitool.wasm", "sleep", "3")
	side := waitContainerState(t, d, sidecar, "CONTAINER_RUNNING", 10*time.Second)
	wasm := waitContainerState(t, d, app, "CONTAINER_RUNNING", 10*time.Second)
	checkSharesPodNetwork(t, "native sidecar", side.Info.Pid, pausePid)
	checkSharesPodNetwork(t, "wasm container", wasm.Info.Pid, pausePid)
	if exe := parentExe(t, side.Info.Pid); exe != "containerd-shim-runc-v2" {
		t.Errorf("native sidecar runs under %s, want containerd-shim-runc-v2", exe)
	}

	wasm = waitContainerState(t, d, app, "CONTAINER_EXITED", 30*time.Second)
	if wasm.Status.ExitCode != 0 {
		t.Errorf("wasm app exit code %d", wasm.Status.ExitCode)
	}
	if got := crictlOK(t, d, "logs", app); got != "slept" {
		t.Errorf("crictl logs app = %q, want \"slept\"", got)
	}
	if got := crictlOK(t, d, "logs", sidecar); got != "native sidecar ignore-term" {
		t.Errorf("crictl logs sidecar = %q", got)
	}
	if st := inspectContainer(t, d, sidecar); st.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("sidecar is %s after the wasm app exited", st.Status.State)
	}

	// The sidecar ignores SIGTERM: CRI must follow up with SIGKILL once the
	// grace period is over.
	start := time.Now()
	crictlOK(t, d, "stop", "--timeout", "2", sidecar)
	elapsed := time.Since(start)
	side = waitContainerState(t, d, sidecar, "CONTAINER_EXITED", 10*time.Second)
	if side.Status.ExitCode != 137 || elapsed < 2*time.Second {
		t.Errorf("sidecar ignoring SIGTERM: exit code %d after %v, want 137 after the 2 s grace period", side.Status.ExitCode, elapsed)
	}

	crictlOK(t, d, "rmp", "-f", pod.id)
}

// testCRIRemoveAfterNativeExit removes a pod right after a native container
// in it exited on its own (a crashed sidecar of a pod being deleted), while
// CRI is still handling that exit: the shim must keep serving the
// container's Delete, and the pod must go at the first attempt.
func testCRIRemoveAfterNativeExit(t *testing.T, d *harness.CRIDaemon) {
	pod := runCRIPod(t, d, "exit-pod")
	checkPodSandbox(t, d, pod)
	createCRIContainer(t, d, pod, "crash", criNativeRef, "/native", "crash", "exit=1")
	time.Sleep(100 * time.Millisecond)
	if _, stderr, err := d.Crictl(t, "rmp", "-f", pod.id); err != nil {
		t.Errorf("crictl rmp -f right after a native container exited: %v\n%s", err, stderr)
	}
}

// testCRIRuntimeOptions runs a pod on a daemon of its own configured as the
// packaged node configs (packaging/containerd/config-v*.toml) configure it:
// the wasmedge runtime has an options table (SystemdCgroup = false), so CRI
// sends runtimeoptions.v1.Options with every Create, the pause container's
// included, which the shim hands to runc's shim.
func testCRIRuntimeOptions(t *testing.T, version string) {
	table := `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.` + harness.CRIRuntimeHandler + `.options`
	if version == harness.Version24 {
		table = `plugins."io.containerd.cri.v1.runtime".containerd.runtimes.` + harness.CRIRuntimeHandler + `.options`
	}
	d := harness.StartCRIDaemon(t, version, harness.WithExtraConfig("["+table+"]\n  SystemdCgroup = false\n"))
	// Checked even when a step fails: a failed RunPodSandbox must not leave
	// a shim behind either.
	t.Cleanup(func() { d.AssertClean(t) })
	importCRIImages(t, d)
	pod := runCRIPod(t, d, "options-pod")
	checkPodSandbox(t, d, pod)
	hello := createCRIContainer(t, d, pod, "hello", criWasmRef, "/wasitool.wasm", "echo", "hello")
	if st := waitContainerState(t, d, hello, "CONTAINER_EXITED", 30*time.Second); st.Status.ExitCode != 0 {
		t.Errorf("hello exit code %d", st.Status.ExitCode)
	}
	if got := crictlOK(t, d, "logs", hello); got != "hello" {
		t.Errorf("crictl logs hello = %q, want \"hello\"", got)
	}
	crictlOK(t, d, "rmp", "-f", pod.id)
}

// testCRIWasmServer runs a wasm HTTP server in a pod, with listeners asked
// for as a pod spec would (env WASI_TCP_LISTEN=:8080), and asks it for
// GET / at the pod IP from a second pod's network namespace: pod-to-pod
// traffic over the CNI bridge, the way a Service's would reach it. Execs
// in the server's container must work (they get no listeners), a C guest
// with a listener must still see its files, and a bad value must fail.
func testCRIWasmServer(t *testing.T, d *harness.CRIDaemon) {
	d.ImportCRIImage(t, harness.BuildIndexImage(t, t.TempDir(), harness.ImageSpec{
		Ref:      criServerRef,
		Platform: harness.WasmPlatform,
		Files: map[string][]byte{
			"/httpserver.wasm": harness.WasmModule(t, "httpserver.wasm"),
			"/wasitool.wasm":   harness.WasmModule(t, "wasitool.wasm"),
		},
		Entrypoint: []string{"/httpserver.wasm"},
	}, harness.NativePlatform), criServerRef)

	server := runCRIPod(t, d, "server-pod")
	pausePid := checkPodSandbox(t, d, server)
	app := createCRIContainerWithEnv(t, d, server, "httpserver", criServerRef,
		map[string]string{"WASI_TCP_LISTEN": ":8080"}, "/httpserver.wasm")
	st := waitContainerState(t, d, app, "CONTAINER_RUNNING", 10*time.Second)
	checkSharesPodNetwork(t, "wasm server", st.Info.Pid, pausePid)
	// The first listener follows stdio and the root directory "/": fd 4.
	waitCRILogLine(t, d, app, "listening on :8080 (fd 4)", 60*time.Second)

	client := runCRIPod(t, d, "client-pod")
	checkPodSandbox(t, d, client)
	serverIP := inspectPod(t, d, server.id).Status.Network.IP
	url := "http://" + net.JoinHostPort(serverIP, "8080") + "/"
	start := time.Now()
	body, err := httpGetFromNetns(podNetworkNamespacePath(t, d, client), url)
	if err != nil {
		t.Fatalf("GET %s from the client pod: %v", url, err)
	}
	if want := "hello from wasm on :8080\n"; body != want {
		t.Errorf("GET %s from the client pod = %q, want %q", url, body, want)
	}
	t.Logf("GET %s from another pod: %q in %v", url, body, time.Since(start).Round(time.Microsecond))
	logServerCosts(t, st.Info.Pid)

	// An exec shares the container's environment, WASI_TCP_LISTEN
	// included, but not its ports.
	if got := crictlOK(t, d, "exec", "--sync", app, "/wasitool.wasm", "echo", "from-exec"); got != "from-exec" {
		t.Errorf("crictl exec --sync in the server's container: %q, want \"from-exec\"", got)
	}
	// wasi-libc (C, Rust) looks for preopened directories among the first
	// fds, where the listeners are too.
	libc := createCRIContainerWithEnv(t, d, server, "libc-listener", criServerRef,
		map[string]string{"WASI_TCP_LISTEN": ":9090"}, "/wasitool.wasm", "ls", "/")
	if st := waitContainerState(t, d, libc, "CONTAINER_EXITED", 30*time.Second); st.Status.ExitCode != 0 ||
		!strings.Contains(crictlOK(t, d, "logs", libc), "httpserver.wasm") {
		_, stderr, _ := d.Crictl(t, "logs", libc)
		t.Errorf("a C guest with a listener listing /: exit code %d, stderr %q; want its files", st.Status.ExitCode, stderr)
	}

	// SIGTERM ends a serving guest as any other: exit 143, well before the
	// grace period.
	start = time.Now()
	crictlOK(t, d, "stop", "--timeout", "10", app)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("crictl stop --timeout 10 took %v: SIGTERM did not end the wasm server", elapsed)
	}
	if st := waitContainerState(t, d, app, "CONTAINER_EXITED", 10*time.Second); st.Status.ExitCode != 143 {
		t.Errorf("stopped wasm server exit code %d, want 143 (SIGTERM)", st.Status.ExitCode)
	}

	// A value the instance cannot honour fails the task's Create (which
	// CRI makes at StartContainer), saying why.
	bad := crictlOK(t, d, "create", server.id,
		criContainerConfig(t, "bad-listen", criServerRef, map[string]string{"WASI_TCP_LISTEN": "8080"}, []string{"/httpserver.wasm"}),
		server.configPath)
	if stdout, stderr, err := d.Crictl(t, "start", bad); err == nil || !strings.Contains(stderr, "WASI_TCP_LISTEN=8080") {
		t.Errorf("crictl start with WASI_TCP_LISTEN=8080: %v, %q %q; want a failure naming the variable", err, stdout, stderr)
	} else {
		t.Logf("bad WASI_TCP_LISTEN: %s", strings.TrimSpace(stderr))
	}

	crictlOK(t, d, "rmp", "-f", client.id)
	crictlOK(t, d, "rmp", "-f", server.id)
}

// waitCRILogLine polls `crictl logs` until container id has printed line,
// and fails the test with what it printed if that takes longer than
// timeout or the container exits first.
func waitCRILogLine(t *testing.T, d *harness.CRIDaemon, id, line string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		stdout, stderr, err := d.Crictl(t, "logs", id)
		if err == nil && strings.Contains("\n"+stdout+stderr, "\n"+line+"\n") {
			return
		}
		if st := inspectContainer(t, d, id); st.Status.State != "CONTAINER_RUNNING" || time.Now().After(deadline) {
			t.Fatalf("container %s (%s, exit code %d) did not print %q in %v; logs: %q %q (%v)",
				id, st.Status.State, st.Status.ExitCode, line, timeout, stdout, stderr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podNetworkNamespacePath returns the path of pod's network namespace, as
// CRI put it in the sandbox's runtime spec.
func podNetworkNamespacePath(t *testing.T, d *harness.CRIDaemon, pod *criPod) string {
	t.Helper()
	for _, ns := range inspectPod(t, d, pod.id).Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			return ns.Path
		}
	}
	t.Fatalf("pod %s has no network namespace path", pod.id)
	return ""
}

// httpGetFromNetns sends GET url over a connection made from inside the
// network namespace at netnsPath (the host has no route into the test
// network) and returns the body of a 200 answer. The connection is made
// on a thread of its own that enters the namespace and is then thrown away
// (its goroutine ends locked to it), so no other goroutine runs there.
func httpGetFromNetns(netnsPath, url string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	type dialed struct {
		conn net.Conn
		err  error
	}
	result := make(chan dialed, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := os.Open(netnsPath)
		if err != nil {
			result <- dialed{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			result <- dialed{err: fmt.Errorf("setns %s: %w", netnsPath, err)}
			return
		}
		conn, err := net.DialTimeout("tcp", req.URL.Host, 10*time.Second)
		result <- dialed{conn, err}
	}()
	r := <-result
	if r.err != nil {
		return "", r.err
	}
	defer r.conn.Close()
	r.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(r.conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %q", resp.Status, body)
	}
	return string(body), err
}

// logServerCosts logs what the idle server process pid costs in CPU over a
// second (wazero's poll_oneoff does not wait on sockets, so a Go guest
// waiting for connections spins) and its limit on open files (wazero
// leaves closed connections open until the instance sweeps them).
func logServerCosts(t *testing.T, pid int) {
	t.Helper()
	cpuTicks := func() int {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		return utime + stime
	}
	before := cpuTicks()
	time.Sleep(time.Second)
	spent := cpuTicks() - before // in USER_HZ ticks, 1/100 s: percent of a CPU
	limit := "unknown"
	if limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid)); err == nil {
		for _, l := range strings.Split(string(limits), "\n") {
			if strings.HasPrefix(l, "Max open files") {
				limit = strings.Join(strings.Fields(l)[3:5], "/")
			}
		}
	}
	t.Logf("idle wasm server (pid %d): %d%% of a CPU; open files limit (soft/hard) %s", pid, spent, limit)
}
