//go:build linux

package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/platforms"
)

// CRINamespace is the containerd namespace CRI keeps its images, sandboxes
// and containers in.
const CRINamespace = "k8s.io"

// CRIRuntimeHandler is the CRI runtime handler (RuntimeClass handler, crictl
// --runtime) that StartCRIDaemon maps to the shim under test, as the
// packaged node configs do.
const CRIRuntimeHandler = "wasmedge"

// SandboxImage is the pod sandbox (pause) image StartCRIDaemon builds and
// names in the CRI config. It lives on a registry that cannot answer
// (localhost), so a missing image fails at once instead of being pulled.
const SandboxImage = "localhost/wasmedge-shim-test/pause:test"

// CNIBinDir is where Debian's containernetworking-plugins puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// crictlDefault is where .ci/install-deps installs crictl.
const crictlDefault = "/opt/cri-tools/bin/crictl"

// criPlugins are the plugins StartCRIDaemon takes out of the harness's
// disabled list. 2.x split CRI into the gRPC service, the image and runtime
// services and the pod sandbox controller; NRI stays disabled (CRI runs
// without it, and it would claim the machine-wide /var/run/nri socket).
var criPlugins = map[string][]string{
	Version16: {"io.containerd.grpc.v1.cri"},
	Version24: {
		"io.containerd.grpc.v1.cri",
		"io.containerd.cri.v1.images",
		"io.containerd.cri.v1.runtime",
		"io.containerd.podsandbox.controller.v1.podsandbox",
	},
}

// pauseProgram is the pod sandbox's process: it holds the pod's namespaces
// open until the sandbox is stopped. As pid 1 of a pod that shares its pid
// namespace it must also reap orphans, or they stay zombies.
const pauseProgram = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
`

var (
	pauseOnce   sync.Once
	pauseBinary []byte
)

// pauseExecutable builds pauseProgram once per test binary.
func pauseExecutable(t testing.TB) []byte {
	t.Helper()
	pauseOnce.Do(func() { pauseBinary = BuildStaticGo(t, pauseProgram) })
	if pauseBinary == nil {
		t.Fatal("building the pause program failed earlier")
	}
	return pauseBinary
}

// CRIDaemon is a Daemon serving the CRI plugin, driven with crictl the way
// a kubelet drives a node. Everything CRI and CNI write stays private: CRI's
// root and state (including network namespaces, with
// netns_mounts_under_state_dir) under the daemon's Root and State, the CNI
// config and host-local IPAM state under ConfigDir, pod cgroups under
// PodCgroupParent. The only machine-wide objects are the CNI bridge (no
// address on it, so no host route; no masquerading, no forwarding change) and
// runc's state under /run/containerd/runc/k8s.io, which teardown removes.
type CRIDaemon struct {
	*Daemon
	// ConfigDir holds the CNI config (net.d), host-local IPAM state (ipam)
	// and crictl's config.
	ConfigDir string
	// NetworkName, Bridge and Subnet describe the CNI network: a bridge
	// without an address, host-local addresses from Subnet inside the pods'
	// network namespaces only.
	NetworkName, Bridge, Subnet string
	// PodCgroupParent is a cgroupfs path unique to this daemon; tests put
	// each pod below it (linux.cgroup_parent = PodCgroupParent + "/<pod>"),
	// so leak checks and teardown know where container cgroups are.
	PodCgroupParent string
	// CrictlBinary is $CRICTL or /opt/cri-tools/bin/crictl.
	CrictlBinary string
	// CrictlTimeout bounds each Crictl call (default 2 minutes); crictl's
	// own per-request timeout is 60 s.
	CrictlTimeout time.Duration

	crictlConfig string
	// netnsBefore lists /var/run/netns at start, to notice CNI namespaces
	// created there despite netns_mounts_under_state_dir.
	netnsBefore map[string]bool
}

// StartCRIDaemon starts a Daemon of version with the CRI plugin enabled and
// configured for the shim: runtimes "runc" (the default; containerd 1.6
// refuses CRI without it) and CRIRuntimeHandler (runtime_type
// io.containerd.wasmedge.v1, no options), restrict_oom_score_adj (this
// machine lacks CAP_SYS_RESOURCE for the sandbox's negative oom_score_adj),
// AppArmor and SELinux off, no TCP service, the stream server on loopback
// with a kernel-chosen port, a private registry config path and CDI spec
// directories, a CNI bridge network in ConfigDir with plugins from
// CNIBinDir, and SandboxImage built from a static Go pause program and
// imported into CRINamespace. It returns once CRI reports RuntimeReady and
// NetworkReady.
//
// opts are passed to StartDaemon; their extra config must not repeat the
// CRI tables written here ([plugins."io.containerd.grpc.v1.cri"] and its
// subtables for 1.6; the grpc.v1.cri, cri.v1.images and cri.v1.runtime
// tables for 2.4).
func StartCRIDaemon(t testing.TB, version string, opts ...DaemonOption) *CRIDaemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	crictl := envOr("CRICTL", crictlDefault)
	requireExecutable(t, crictl, "run `make deps`")
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		requireExecutable(t, filepath.Join(CNIBinDir, plugin), "run `make deps` (containernetworking-plugins)")
	}
	pause := pauseExecutable(t)

	configDir, err := os.MkdirTemp("/tmp", "cri")
	if err != nil {
		t.Fatal(err)
	}
	suffix := randomSuffix()
	subnetByte, _ := strconv.ParseUint(suffix[:2], 16, 8)
	c := &CRIDaemon{
		ConfigDir:       configDir,
		NetworkName:     "wasmedge-cri-" + suffix,
		Bridge:          "wcri" + suffix,
		Subnet:          fmt.Sprintf("10.88.%d.0/24", 1+subnetByte%254),
		PodCgroupParent: "/wasmedge-cri-" + suffix,
		CrictlBinary:    crictl,
		CrictlTimeout:   2 * time.Minute,
		crictlConfig:    filepath.Join(configDir, "crictl.yaml"),
		netnsBefore:     netnsEntries(),
	}
	// Registered before StartDaemon, so it runs after the daemon's teardown
	// has killed whatever was left: only then can cgroups go.
	t.Cleanup(func() { c.removeHostObjects(t) })

	if err := c.writeCNIConfig(); err != nil {
		t.Fatal(err)
	}
	criOpts := []DaemonOption{
		WithEnabledPlugins(criPlugins[version]...),
		WithExtraConfig(c.criConfig(version)),
	}
	c.Daemon = StartDaemon(t, version, append(criOpts, opts...)...)
	// Registered after StartDaemon, so it runs first, while CRI still
	// answers: pods are removed the way a kubelet would.
	t.Cleanup(func() { c.removePods(t) })

	crictlYAML := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\ndebug: false\npull-image-on-create: false\ndisable-pull-on-run: true\n",
		c.Address, c.Address)
	if err := os.WriteFile(c.crictlConfig, []byte(crictlYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.waitCRIReady(30 * time.Second); err != nil {
		t.Fatalf("CRI of containerd %s not ready: %v\n%s", version, err, c.logTail(60))
	}
	tarball := BuildNativeImage(t, t.TempDir(), SandboxImage, map[string][]byte{"/pause": pause}, []string{"/pause"})
	c.ImportCRIImage(t, tarball, SandboxImage)
	return c
}

// cniConfList is the CNI network config. isGateway and ipMasq stay off:
// with them the bridge plugin would put an address on the host, enable IP
// forwarding machine-wide and add iptables rules. dataDir keeps host-local's
// allocations out of /var/lib/cni.
type cniConfList struct {
	CNIVersion string      `json:"cniVersion"`
	Name       string      `json:"name"`
	Plugins    []cniPlugin `json:"plugins"`
}

type cniPlugin struct {
	Type        string  `json:"type"`
	Bridge      string  `json:"bridge"`
	IsGateway   bool    `json:"isGateway"`
	IPMasq      bool    `json:"ipMasq"`
	HairpinMode bool    `json:"hairpinMode"`
	IPAM        cniIPAM `json:"ipam"`
}

type cniIPAM struct {
	Type    string                `json:"type"`
	Ranges  [][]map[string]string `json:"ranges"`
	DataDir string                `json:"dataDir"`
}

func (c *CRIDaemon) cniConfDir() string { return filepath.Join(c.ConfigDir, "net.d") }
func (c *CRIDaemon) ipamDir() string    { return filepath.Join(c.ConfigDir, "ipam") }

// writeCNIConfig writes the network's conflist into cniConfDir.
func (c *CRIDaemon) writeCNIConfig() error {
	conf, err := json.MarshalIndent(cniConfList{
		CNIVersion: "1.0.0",
		Name:       c.NetworkName,
		Plugins: []cniPlugin{{
			Type:   "bridge",
			Bridge: c.Bridge,
			IPAM: cniIPAM{
				Type:    "host-local",
				Ranges:  [][]map[string]string{{{"subnet": c.Subnet}}},
				DataDir: c.ipamDir(),
			},
		}},
	}, "", "  ")
	if err != nil {
		return err
	}
	for _, dir := range []string{c.cniConfDir(), c.ipamDir(), filepath.Join(c.ConfigDir, "certs.d")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(c.cniConfDir(), "10-wasmedge-test.conflist"), conf, 0o644)
}

// criConfig renders the CRI part of the daemon's config for version.
func (c *CRIDaemon) criConfig(version string) string {
	certs := filepath.Join(c.ConfigDir, "certs.d")
	var b strings.Builder
	switch version {
	case Version16:
		const p = `plugins."io.containerd.grpc.v1.cri"`
		fmt.Fprintf(&b, "[%s]\n", p)
		fmt.Fprintf(&b, "  sandbox_image = %q\n", SandboxImage)
		b.WriteString(criServerSettings)
		b.WriteString(criRuntimeSettings)
		fmt.Fprintf(&b, "[%s.containerd]\n  snapshotter = \"overlayfs\"\n  default_runtime_name = \"runc\"\n", p)
		fmt.Fprintf(&b, "[%s.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n", p)
		fmt.Fprintf(&b, "[%s.containerd.runtimes.%s]\n  runtime_type = %q\n", p, CRIRuntimeHandler, RuntimeName)
		fmt.Fprintf(&b, "[%s.cni]\n  bin_dir = %q\n  conf_dir = %q\n  max_conf_num = 1\n", p, CNIBinDir, c.cniConfDir())
		fmt.Fprintf(&b, "[%s.registry]\n  config_path = %q\n", p, certs)
	case Version24:
		fmt.Fprintf(&b, "[plugins.\"io.containerd.grpc.v1.cri\"]\n%s", criServerSettings)
		const images = `plugins."io.containerd.cri.v1.images"`
		fmt.Fprintf(&b, "[%s]\n  snapshotter = \"overlayfs\"\n", images)
		fmt.Fprintf(&b, "[%s.pinned_images]\n  sandbox = %q\n", images, SandboxImage)
		fmt.Fprintf(&b, "[%s.registry]\n  config_path = %q\n", images, certs)
		const rt = `plugins."io.containerd.cri.v1.runtime"`
		fmt.Fprintf(&b, "[%s]\n%s  cdi_spec_dirs = []\n", rt, criRuntimeSettings)
		fmt.Fprintf(&b, "[%s.containerd]\n  default_runtime_name = \"runc\"\n", rt)
		fmt.Fprintf(&b, "[%s.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n", rt)
		fmt.Fprintf(&b, "[%s.containerd.runtimes.%s]\n  runtime_type = %q\n", rt, CRIRuntimeHandler, RuntimeName)
		fmt.Fprintf(&b, "[%s.cni]\n  bin_dirs = [%q]\n  conf_dir = %q\n  max_conf_num = 1\n", rt, CNIBinDir, c.cniConfDir())
	}
	return b.String()
}

// criServerSettings keep CRI's servers off the network: no TCP gRPC
// listener, streaming (exec, attach, port-forward) on loopback only, on a
// port the kernel picks.
const criServerSettings = `  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`

// criRuntimeSettings are the runtime settings both versions share (1.6 reads
// them from the grpc.v1.cri table, 2.x from cri.v1.runtime).
const criRuntimeSettings = `  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
`

// waitCRIReady polls `crictl info` until the runtime and the network are
// ready (the CNI config loaded), the daemon exits or timeout passes.
func (c *CRIDaemon) waitCRIReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return fmt.Errorf("containerd exited: %v", c.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := c.CrictlCommand(ctx, "info").Output()
		cancel()
		if err == nil {
			var info struct {
				Status struct {
					Conditions []struct {
						Type    string `json:"type"`
						Status  bool   `json:"status"`
						Reason  string `json:"reason"`
						Message string `json:"message"`
					} `json:"conditions"`
				} `json:"status"`
			}
			if err := json.Unmarshal(out, &info); err != nil {
				return fmt.Errorf("crictl info: %w", err)
			}
			ready := 0
			last = ""
			for _, cond := range info.Status.Conditions {
				if cond.Status && (cond.Type == "RuntimeReady" || cond.Type == "NetworkReady") {
					ready++
				} else if !cond.Status {
					last += fmt.Sprintf("%s: %s %s; ", cond.Type, cond.Reason, cond.Message)
				}
			}
			if ready == 2 {
				return nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v (last: %s)", timeout, last)
}

// CrictlCommand returns an unstarted crictl command bound to the daemon
// (`--config <ConfigDir>/crictl.yaml --runtime-endpoint unix://<Address>
// --image-endpoint unix://<Address> --timeout 60s` before args). The private
// config keeps /etc/crictl.yaml out.
func (c *CRIDaemon) CrictlCommand(ctx context.Context, args ...string) *exec.Cmd {
	endpoint := "unix://" + c.Address
	full := append([]string{"--config", c.crictlConfig, "--runtime-endpoint", endpoint,
		"--image-endpoint", endpoint, "--timeout", "60s"}, args...)
	cmd := exec.CommandContext(ctx, c.CrictlBinary, full...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT", "CRI_CONFIG_FILE":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	return cmd
}

// Crictl runs crictl with args (see CrictlCommand) bounded by CrictlTimeout
// and returns its output. err is the exec error: an *exec.ExitError carries
// the exit status, and a timeout shows as a killed process.
func (c *CRIDaemon) Crictl(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.CrictlTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := c.CrictlCommand(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Logf("crictl %s: timed out after %v", strings.Join(args, " "), c.CrictlTimeout)
	}
	return out.String(), errOut.String(), err
}

// ImportCRIImage imports an OCI layout tarball (BuildImage, BuildIndexImage)
// into CRINamespace for the node's platform (`ctr -n k8s.io images import
// --platform linux/<arch>`), the one CRI unpacks and runs on both versions,
// and fails the test unless the image is then unpacked into overlayfs for it
// and CRI lists it (CRI learns of imports from containerd's image events).
//
// Build wasm images for CRI with BuildIndexImage(ImageSpec{Platform:
// WasmPlatform, ...}, NativePlatform): an image index holding only wasi/wasm
// has nothing for this platform, and a single wasi/wasm manifest is not
// unpacked by 2.4's CRI pull (see BuildIndexImage).
func (c *CRIDaemon) ImportCRIImage(t testing.TB, tarball, ref string) {
	t.Helper()
	platform := platforms.Format(NativePlatform)
	ctx, cancel := context.WithTimeout(context.Background(), c.CtrTimeout)
	defer cancel()
	args := []string{"--address", c.Address, "--namespace", CRINamespace, "images", "import", "--platform", platform, tarball}
	cmd := exec.CommandContext(ctx, c.CtrBinary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("ctr %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), withoutCgroupV1Warning(errOut.String()))
	}

	cl, err := client.New(c.Address, client.WithDefaultNamespace(CRINamespace))
	if err != nil {
		t.Fatalf("ImportCRIImage: %v", err)
	}
	defer cl.Close()
	nctx := namespaces.WithNamespace(ctx, CRINamespace)
	stored, err := cl.ImageService().Get(nctx, ref)
	if err != nil {
		t.Fatalf("ImportCRIImage: %s not in the %s image store after import: %v", ref, CRINamespace, err)
	}
	unpacked, err := client.NewImageWithPlatform(cl, stored, platforms.Only(NativePlatform)).IsUnpacked(nctx, "overlayfs")
	if err != nil || !unpacked {
		t.Fatalf("ImportCRIImage: %s (%s) not unpacked into overlayfs: %v", ref, platform, err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, stderr, err := c.Crictl(t, "inspecti", ref)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ImportCRIImage: CRI does not list %s: %v: %s", ref, err, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// criStateDir is CRI's state directory on both versions; its netns
// subdirectory holds the pods' network namespaces.
func (c *CRIDaemon) criStateDir() string {
	return filepath.Join(c.State, "io.containerd.grpc.v1.cri")
}

// AssertClean is Daemon.AssertClean (which already covers every namespace,
// k8s.io included) plus CRI's own leftovers, see Leftovers.
func (c *CRIDaemon) AssertClean(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(cleanWait)
	for {
		leftovers := c.Leftovers(t)
		if len(leftovers) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("containerd %s (CRI) not clean after %v:\n  %s", c.Version, cleanWait, strings.Join(leftovers, "\n  "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leftovers returns Daemon.Leftovers and, one line each: pod sandboxes and
// containers CRI still lists; network namespaces in CRI's netns directory
// (their mounts are under Dir, which Daemon.Leftovers checks; an entry
// without a mount is a leak too); cni-* namespaces that appeared in
// /var/run/netns since the daemon started; veth interfaces still attached
// to the bridge (a missing CNI DEL); addresses host-local still holds;
// container cgroups (depth two) under PodCgroupParent in any hierarchy. Pod
// level cgroups (depth one) are the kubelet's to remove and are not
// reported.
func (c *CRIDaemon) Leftovers(t testing.TB) []string {
	t.Helper()
	out := c.Daemon.Leftovers(t)
	for _, kind := range []struct{ name, command string }{{"pod sandbox", "pods"}, {"CRI container", "ps"}} {
		args := []string{kind.command, "-q"}
		if kind.command == "ps" {
			args = append(args, "-a")
		}
		stdout, stderr, err := c.Crictl(t, args...)
		if err != nil {
			out = append(out, fmt.Sprintf("crictl %s: %v: %s", strings.Join(args, " "), err, stderr))
			continue
		}
		for _, id := range strings.Fields(stdout) {
			out = append(out, kind.name+" "+id)
		}
	}
	netnsDir := filepath.Join(c.criStateDir(), "netns")
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		out = append(out, "network namespace "+filepath.Join(netnsDir, e.Name()))
	}
	for name := range netnsEntries() {
		if strings.HasPrefix(name, "cni-") && !c.netnsBefore[name] {
			out = append(out, "network namespace /var/run/netns/"+name)
		}
	}
	ports, _ := os.ReadDir(filepath.Join("/sys/class/net", c.Bridge, "brif"))
	for _, p := range ports {
		out = append(out, fmt.Sprintf("interface %s on bridge %s", p.Name(), c.Bridge))
	}
	allocations, _ := os.ReadDir(filepath.Join(c.ipamDir(), c.NetworkName))
	for _, a := range allocations {
		if a.Name() != "lock" && !strings.HasPrefix(a.Name(), "last_reserved_ip") {
			out = append(out, fmt.Sprintf("host-local address %s of network %s", a.Name(), c.NetworkName))
		}
	}
	for _, h := range cgroupHierarchies() {
		groups, _ := filepath.Glob(filepath.Join(h, c.PodCgroupParent, "*", "*"))
		for _, g := range groups {
			if info, err := os.Stat(g); err == nil && info.IsDir() {
				out = append(out, "cgroup "+g)
			}
		}
	}
	return out
}

// netnsEntries lists the names in /var/run/netns.
func netnsEntries() map[string]bool {
	entries, _ := os.ReadDir("/var/run/netns")
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// removePods force-removes every pod sandbox CRI still knows, so that
// network namespaces are torn down through CNI (releasing addresses and
// veths) before the daemon stops.
func (c *CRIDaemon) removePods(t testing.TB) {
	select {
	case <-c.exited:
		return
	default:
	}
	stdout, _, err := c.Crictl(t, "pods", "-q")
	if err != nil || strings.TrimSpace(stdout) == "" {
		return
	}
	for _, id := range strings.Fields(stdout) {
		t.Logf("teardown: crictl rmp -f %s", id)
		if _, stderr, err := c.Crictl(t, "rmp", "-f", id); err != nil {
			t.Logf("teardown: crictl rmp -f %s: %v: %s", id, err, stderr)
		}
	}
}

// removeHostObjects deletes what lives outside the daemon's directory: the
// bridge, the cgroups under PodCgroupParent (deepest first; rmdir fails
// harmlessly on a cgroup that still has processes), runc's k8s.io state
// directory if empty, and ConfigDir.
func (c *CRIDaemon) removeHostObjects(t testing.TB) {
	if _, err := os.Stat(filepath.Join("/sys/class/net", c.Bridge)); err == nil {
		if out, err := exec.Command(ipBinary(), "link", "delete", c.Bridge).CombinedOutput(); err != nil {
			t.Logf("teardown: ip link delete %s: %v: %s", c.Bridge, err, out)
		}
	}
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, c.PodCgroupParent)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
	// runc's state directory for the k8s.io namespace, which runc created;
	// removing it fails harmlessly while anyone else's containers are in it.
	_ = os.Remove(filepath.Join(runcRoot, CRINamespace))
	if err := os.RemoveAll(c.ConfigDir); err != nil {
		t.Logf("teardown: %v", err)
	}
}

// ipBinary finds iproute2's ip even when the test's PATH lacks sbin.
func ipBinary() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "ip"
}

// PodNetworkNamespace reports whether path is one of this daemon's pod
// network namespaces: under CRI's private state directory, never the
// machine-wide /var/run/netns.
func (c *CRIDaemon) PodNetworkNamespace(path string) bool {
	return strings.HasPrefix(path, filepath.Join(c.criStateDir(), "netns")+"/")
}
