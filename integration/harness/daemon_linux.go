//go:build linux

package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// Daemon versions StartDaemon knows.
const (
	Version16 = "1.6"
	Version24 = "2.4"
)

// Daemon is a private containerd started for one test. All its files live
// under Dir, a short directory in /tmp, so that its unix sockets stay under
// the 108-byte limit.
type Daemon struct {
	// Version is Version16 or Version24.
	Version string
	// Address is the gRPC socket; the ttrpc socket is Address + ".ttrpc".
	Address string
	// Dir holds the config, the log, Root, State and (2.4) SocketDir.
	Dir string
	// Root and State are containerd's persistent and runtime directories.
	Root, State string
	// SocketDir is where shims create their sockets: a private directory for
	// 2.4 (set in the config, handed to shims in their bootstrap params);
	// 1.6 has no such setting and always uses /run/containerd/s.
	SocketDir string
	// ContainerdBinary and CtrBinary are the binaries of this version.
	ContainerdBinary, CtrBinary string
	// RuncShimDir holds this version's containerd-shim-runc-v2; it follows
	// ShimBinDir() on the daemon's PATH.
	RuncShimDir string
	// Namespace is the default namespace of Ctr, CtrCommand and Client. It is
	// unique per daemon because runc's state (/run/containerd/runc/<ns>) and
	// ctr's default cgroup (/<ns>/<id>) are shared by all daemons.
	Namespace string
	// LogPath is containerd's log (level debug); its tail is logged when the
	// test fails.
	LogPath string
	// CtrTimeout bounds each Ctr call (default 2 minutes).
	CtrTimeout time.Duration

	// env is what WithEnv adds to the daemon's environment, kept for Restart.
	env []string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	// seen records every container (namespace/id) created on this daemon, from
	// its event stream, so leak checks can derive the shim socket names and
	// cgroup paths of containers that no longer exist.
	seenMu     sync.Mutex
	seen       map[containerKey]struct{}
	stopEvents context.CancelFunc
}

// containerKey names a container across namespaces.
type containerKey struct{ namespace, id string }

// daemonConfig collects DaemonOption settings.
type daemonConfig struct {
	enable []string
	extra  []string
	env    []string
	// metricsAddress is containerd's own Prometheus endpoint, if enabled.
	metricsAddress string
}

// DaemonOption adjusts the daemon StartDaemon writes a config for.
type DaemonOption func(*daemonConfig)

// WithEnabledPlugins keeps the named plugins (full URIs such as
// "io.containerd.grpc.v1.cri") out of the disabled list StartDaemon uses to
// speed start-up.
func WithEnabledPlugins(uris ...string) DaemonOption {
	return func(c *daemonConfig) { c.enable = append(c.enable, uris...) }
}

// WithExtraConfig appends raw TOML to the generated config. It must not
// repeat a table the harness writes: for 1.6 [grpc] and
// [plugins."io.containerd.internal.v1.opt"] (and [metrics] with
// WithMetricsAddress); for 2.4 the server.v1.grpc, server.v1.ttrpc,
// internal.v1.opt, shim.v1.manager and transfer.v1.local plugin tables (and
// server.v1.metrics with WithMetricsAddress).
func WithExtraConfig(toml string) DaemonOption {
	return func(c *daemonConfig) { c.extra = append(c.extra, toml) }
}

// WithEnv adds NAME=value entries to the daemon's environment, which its
// shims inherit: e.g. a private WASMEDGE_SHIM_METRICS_DIR or
// WASMEDGE_SHIM_CACHE_DIR. They win over the test process's own values.
func WithEnv(kv ...string) DaemonOption {
	return func(c *daemonConfig) { c.env = append(c.env, kv...) }
}

// WithMetricsAddress turns on containerd's own Prometheus endpoint at
// address, host:port (1.6: [metrics] address; 2.4: the server.v1.metrics
// plugin's). It serves /v1/metrics, where the cgroups task monitor lists
// every task's cgroup metrics as the task's shim reports them through Stats.
func WithMetricsAddress(address string) DaemonOption {
	return func(c *daemonConfig) { c.metricsAddress = address }
}

// disabledPlugins are plugins the tests do not need: CRI and NRI (slow to
// start, and NRI would claim the machine-wide /var/run/nri socket), other
// snapshotters, tracing.
var disabledPlugins = map[string][]string{
	Version16: {
		"io.containerd.grpc.v1.cri",
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.internal.v1.tracing",
		"io.containerd.tracing.processor.v1.otlp",
	},
	Version24: {
		"io.containerd.grpc.v1.cri",
		"io.containerd.cri.v1.images",
		"io.containerd.cri.v1.runtime",
		"io.containerd.podsandbox.controller.v1.podsandbox",
		"io.containerd.nri.v1.nri",
		"io.containerd.snapshotter.v1.blockfile",
		"io.containerd.snapshotter.v1.erofs",
		"io.containerd.differ.v1.erofs",
		"io.containerd.mount-handler.v1.erofs",
		"io.containerd.internal.v1.tracing",
		"io.containerd.tracing.processor.v1.otlp",
	},
}

// transferUnpackConfig lets 2.x's transfer service (the default path of
// `ctr images import` and `ctr pull`) unpack wasi/wasm images. By default it
// unpacks only the host platform and fails "no unpack platforms defined" for
// `--platform wasi/wasm`; the walking differ must be named because none
// declares wasi/wasm. Listing any entry replaces the default, hence the host
// platform's.
func transferUnpackConfig() string {
	return fmt.Sprintf(`[plugins."io.containerd.transfer.v1.local"]
  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "linux/%s"
    snapshotter = "overlayfs"
  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "wasi/wasm"
    snapshotter = "overlayfs"
    differ = "walking"

`, runtime.GOARCH)
}

// binaries returns the containerd and ctr binaries for version from the
// Makefile's variables or their defaults.
func binaries(version string) (containerd, ctr string, err error) {
	switch version {
	case Version16:
		return envOr("CONTAINERD16", "/usr/bin/containerd"), envOr("CTR16", "/usr/bin/ctr"), nil
	case Version24:
		return envOr("CONTAINERD24", "/opt/containerd-v2.4.2/bin/containerd"),
			envOr("CTR24", "/opt/containerd-v2.4.2/bin/ctr"), nil
	}
	return "", "", fmt.Errorf("unknown containerd version %q (want %q or %q)", version, Version16, Version24)
}

// StartDaemon starts a private containerd of version (Version16 or Version24)
// and registers its shutdown and removal with t.Cleanup. The daemon's PATH is
// ShimBinDir(), then the directory of this version's containerd (holding its
// containerd-shim-runc-v2), then the system directories; its working
// directory is Dir.
//
// It skips the test when not running as root; a missing binary fails it.
func StartDaemon(t testing.TB, version string, opts ...DaemonOption) *Daemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	containerd, ctr, err := binaries(version)
	if err != nil {
		t.Fatal(err)
	}
	requireExecutable(t, containerd, "run `make deps`")
	requireExecutable(t, ctr, "run `make deps`")
	runcShimDir := filepath.Dir(containerd)
	requireExecutable(t, filepath.Join(runcShimDir, "containerd-shim-runc-v2"), "run `make deps`")

	var cfg daemonConfig
	for _, o := range opts {
		o(&cfg)
	}

	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		Version:          version,
		Address:          filepath.Join(dir, "c.sock"),
		Dir:              dir,
		Root:             filepath.Join(dir, "root"),
		State:            filepath.Join(dir, "state"),
		SocketDir:        "/run/containerd/s",
		ContainerdBinary: containerd,
		CtrBinary:        ctr,
		RuncShimDir:      runcShimDir,
		Namespace:        "t" + strings.ReplaceAll(version, ".", "") + "-" + randomSuffix(),
		LogPath:          filepath.Join(dir, "containerd.log"),
		CtrTimeout:       2 * time.Minute,
		seen:             map[containerKey]struct{}{},
		env:              cfg.env,
	}
	if version == Version24 {
		d.SocketDir = filepath.Join(dir, "s")
	}
	t.Cleanup(func() { d.teardown(t) })

	if err := os.WriteFile(d.configPath(), []byte(d.config(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	return d
}

func (d *Daemon) configPath() string { return filepath.Join(d.Dir, "config.toml") }

// start runs containerd with the config already written, waits until it
// serves, and starts recording container creations. The log is appended to,
// so a restarted daemon's log follows the first one's.
func (d *Daemon) start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	cmd := exec.Command(d.ContainerdBinary, "--config", d.configPath())
	cmd.Dir = d.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = daemonEnv(strings.Join([]string{ShimBinDir(), d.RuncShimDir,
		"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, ":"))
	// The shims' metrics sockets stay under Dir rather than in the node's
	// directory; WithEnv may name another (exec keeps the last value of a
	// repeated name).
	cmd.Env = append(cmd.Env, "WASMEDGE_SHIM_METRICS_DIR="+filepath.Join(d.Dir, "metrics"))
	cmd.Env = append(cmd.Env, d.env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd %s: %v", d.Version, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	d.cmd, d.exited = cmd, exited

	if err := d.waitReady(30 * time.Second); err != nil {
		t.Fatalf("containerd %s did not come up: %v\n%s", d.Version, err, d.logTail(100))
	}
	d.watchContainers(t)
}

// Restart stops the daemon (as Stop) and starts it again with the same
// config, directories and address; running shims stay, as on a real host.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	d.start(t)
}

// daemonEnv is the test's environment with PATH replaced and variables that
// would reconfigure containerd or its shims removed.
func daemonEnv(path string) []string {
	// Idle shims wait 2 s for their group's next container by default;
	// tests check for leftovers after every case, so they wait less.
	env := []string{"PATH=" + path, "WASMEDGE_SHIM_IDLE_EXIT=100ms"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "NOTIFY_SOCKET", name == "WASMEDGE_SHIM_IDLE_EXIT", strings.HasPrefix(name, "CONTAINERD_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// randomSuffix returns 6 hex digits.
func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// config renders the daemon's config: version 2 for 1.6, version 4 (2.4's
// own, no migration warning) for 2.4.
func (d *Daemon) config(cfg daemonConfig) string {
	var disabled []string
	for _, p := range disabledPlugins[d.Version] {
		if !slices.Contains(cfg.enable, p) {
			disabled = append(disabled, fmt.Sprintf("%q", p))
		}
	}
	version := 2
	if d.Version == Version24 {
		version = 4
	}
	// Top-level keys first: TOML puts any key after a [table] header into
	// that table.
	var b strings.Builder
	fmt.Fprintf(&b, "version = %d\nroot = %q\nstate = %q\n", version, d.Root, d.State)
	fmt.Fprintf(&b, "disabled_plugins = [%s]\n\n[debug]\n  level = \"debug\"\n\n", strings.Join(disabled, ", "))
	switch d.Version {
	case Version16:
		fmt.Fprintf(&b, "[grpc]\n  address = %q\n\n", d.Address)
		if cfg.metricsAddress != "" {
			fmt.Fprintf(&b, "[metrics]\n  address = %q\n\n", cfg.metricsAddress)
		}
	case Version24:
		fmt.Fprintf(&b, "[plugins.\"io.containerd.server.v1.grpc\"]\n  address = %q\n\n", d.Address)
		fmt.Fprintf(&b, "[plugins.\"io.containerd.server.v1.ttrpc\"]\n  address = %q\n\n", d.Address+".ttrpc")
		fmt.Fprintf(&b, "[plugins.\"io.containerd.shim.v1.manager\"]\n  socket_dir = %q\n\n", d.SocketDir)
		if cfg.metricsAddress != "" {
			// Version 4 configs no longer read the deprecated [metrics].
			fmt.Fprintf(&b, "[plugins.\"io.containerd.server.v1.metrics\"]\n  address = %q\n\n", cfg.metricsAddress)
		}
		b.WriteString(transferUnpackConfig())
	}
	fmt.Fprintf(&b, "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n\n", filepath.Join(d.Dir, "opt"))
	for _, extra := range cfg.extra {
		b.WriteString(extra)
		b.WriteString("\n")
	}
	return b.String()
}

// waitReady polls the daemon's health service until it answers, the daemon
// exits, or timeout passes.
func (d *Daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited: %v", d.cmd.ProcessState)
		default:
		}
		if _, err := os.Stat(d.Address); err == nil {
			lastErr = d.ping()
			if lastErr == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v (last error: %v)", timeout, lastErr)
}

func (d *Daemon) ping() error {
	c, err := client.New(d.Address, client.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	serving, err := c.IsServing(ctx)
	if err == nil && !serving {
		err = errors.New("not serving")
	}
	return err
}

// watchContainers records every container created on the daemon, in any
// namespace, until teardown.
func (d *Daemon) watchContainers(t testing.TB) {
	t.Helper()
	c, err := client.New(d.Address)
	if err != nil {
		t.Fatalf("event client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopEvents = func() {
		cancel()
		c.Close()
	}
	envelopes, errs := c.Subscribe(ctx, `topic=="/containers/create"`)
	go func() {
		for {
			select {
			case e := <-envelopes:
				id, ok := containerIDFromEvent(e.Event)
				if ok {
					d.seenMu.Lock()
					d.seen[containerKey{e.Namespace, id}] = struct{}{}
					d.seenMu.Unlock()
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// seenContainers returns the containers recorded so far.
func (d *Daemon) seenContainers() []containerKey {
	d.seenMu.Lock()
	defer d.seenMu.Unlock()
	keys := make([]containerKey, 0, len(d.seen))
	for k := range d.seen {
		keys = append(keys, k)
	}
	return keys
}

// Stop shuts the daemon down (SIGTERM, then SIGKILL after 10 s) and leaves
// everything else in place, for restart tests; teardown calls it too.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	if d.stopEvents != nil {
		d.stopEvents()
		d.stopEvents = nil
	}
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Logf("containerd %s ignored SIGTERM for 10s; killing it", d.Version)
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// logTail returns the last n lines of the daemon's log.
func (d *Daemon) logTail(n int) string {
	f, err := os.Open(d.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > 2*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// teardown stops the daemon and removes everything it and its shims left:
// containers, shim processes, runc state, sockets, cgroups, mounts and Dir.
// It reports what it had to clean only through the test log; AssertClean is
// the place that fails tests for leaks.
func (d *Daemon) teardown(t testing.TB) {
	if t.Failed() {
		t.Logf("containerd %s log (last 300 lines of %s):\n%s", d.Version, d.LogPath, d.logTail(300))
		// The whole log outlives the daemon's directory when asked to.
		if dir := os.Getenv("HARNESS_KEEP_LOGS"); dir != "" {
			if data, err := os.ReadFile(d.LogPath); err == nil {
				_ = os.WriteFile(filepath.Join(dir, filepath.Base(d.Dir)+".log"), data, 0o644)
			}
		}
	}
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.exited:
		default:
			d.removeAllContainers(t)
		}
	}
	d.Stop(t)
	for _, p := range d.shimProcesses() {
		t.Logf("teardown: killing leftover process %s", p)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	d.removeRuncState(t)
	for _, path := range d.leftoverSockets() {
		_ = os.Remove(path)
	}
	d.removeCgroups()
	if err := unmountUnder(d.Dir); err != nil {
		t.Logf("teardown: %v", err)
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		t.Logf("teardown: %v", err)
	}
}
