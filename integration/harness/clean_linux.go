//go:build linux

package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"
)

// runcRoot is where containerd-shim-runc-v2 keeps runc's state by default
// (both versions): runc --root /run/containerd/runc/<namespace>.
const runcRoot = "/run/containerd/runc"

// globalShimSocketDir is where 1.6 shims (and 2.x shims not told otherwise)
// create their sockets.
const globalShimSocketDir = "/run/containerd/s"

// cleanWait is how long AssertClean lets shims finish exiting: after
// `ctr run --rm` returns, the shim still has to process Shutdown.
const cleanWait = 10 * time.Second

// AssertClean fails the test if, after up to 10 s of letting shims exit, the
// daemon still has any of: containers, tasks or active snapshots in any
// namespace; shim processes (a process whose command line carries
// `-address <Address>` or whose environment has TTRPC_ADDRESS=<Address>.ttrpc,
// which containerd gives every shim and which the shim's own children inherit);
// mounts under Dir (Root, State, bundles); bundle directories; shim socket
// files (2.4: anything in SocketDir; both: the socket names derived from the
// grpc address, namespace and id of every container this daemon has seen, in
// /run/containerd/s); runc state in /run/containerd/runc/<ns>/<id>; cgroups at
// ctr's default path /<ns>/<id> in any hierarchy.
func (d *Daemon) AssertClean(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(cleanWait)
	for {
		leftovers := d.Leftovers(t)
		if len(leftovers) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("containerd %s not clean after %v:\n  %s", d.Version, cleanWait, strings.Join(leftovers, "\n  "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leftovers returns one line per leak AssertClean looks for, checked once.
func (d *Daemon) Leftovers(t testing.TB) []string {
	t.Helper()
	var out []string
	out = append(out, d.leftoverObjects()...)
	for _, p := range d.shimProcesses() {
		out = append(out, "process "+p.String())
	}
	mounts, err := mountsUnder(d.Dir)
	if err != nil {
		out = append(out, "mountinfo: "+err.Error())
	}
	for _, m := range mounts {
		out = append(out, "mount "+m)
	}
	for _, b := range d.leftoverBundles() {
		out = append(out, "bundle "+b)
	}
	for _, s := range d.leftoverSockets() {
		out = append(out, "shim socket "+s)
	}
	for _, r := range d.leftoverRuncState() {
		out = append(out, "runc state "+r)
	}
	for _, c := range d.leftoverCgroups() {
		out = append(out, "cgroup "+c)
	}
	return out
}

// leftoverObjects lists containers, tasks and active snapshots the daemon
// still holds, in every namespace.
func (d *Daemon) leftoverObjects() []string {
	c, err := client.New(d.Address, client.WithTimeout(5*time.Second))
	if err != nil {
		return []string{"client: " + err.Error()}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return []string{"list namespaces: " + err.Error()}
	}
	var out []string
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		containers, err := c.Containers(nctx)
		if err != nil {
			out = append(out, fmt.Sprintf("list containers in %s: %v", ns, err))
		}
		for _, ctr := range containers {
			out = append(out, fmt.Sprintf("container %s/%s", ns, ctr.ID()))
		}
		tasks, err := c.TaskService().List(nctx, nil)
		if err != nil {
			out = append(out, fmt.Sprintf("list tasks in %s: %v", ns, err))
		} else {
			for _, task := range tasks.Tasks {
				out = append(out, fmt.Sprintf("task %s/%s (pid %d, %s)", ns, task.ID, task.Pid, task.Status))
			}
		}
		snapshotter := c.SnapshotService("overlayfs")
		err = snapshotter.Walk(nctx, func(_ context.Context, info snapshots.Info) error {
			if info.Kind == snapshots.KindActive {
				out = append(out, fmt.Sprintf("active snapshot %s/%s", ns, info.Name))
			}
			return nil
		})
		if err != nil {
			out = append(out, fmt.Sprintf("walk snapshots in %s: %v", ns, err))
		}
	}
	return out
}

// process is a running process tied to the daemon.
type process struct {
	pid     int
	exe     string
	cmdline []string
}

func (p process) String() string {
	return fmt.Sprintf("%d %s [%s]", p.pid, p.exe, strings.Join(p.cmdline, " "))
}

// shimProcesses finds processes that belong to this daemon's shims: they
// carry -address <Address> (the shim protocol's flag) or inherited
// TTRPC_ADDRESS. The daemon itself and this test process are excluded.
func (d *Daemon) shimProcesses() []process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	daemonPid := -1
	if d.cmd != nil && d.cmd.Process != nil {
		daemonPid = d.cmd.Process.Pid
	}
	ttrpcEnv := []byte("TTRPC_ADDRESS=" + d.Address + ".ttrpc")
	var found []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == daemonPid {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		rawCmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(rawCmdline) == 0 {
			continue // exited, or a kernel thread
		}
		cmdline := strings.Split(strings.TrimRight(string(rawCmdline), "\x00"), "\x00")
		environ, _ := os.ReadFile(filepath.Join(dir, "environ"))
		if !HasAddressFlag(cmdline, d.Address) && !slices.ContainsFunc(bytes.Split(environ, []byte{0}), func(kv []byte) bool {
			return bytes.Equal(kv, ttrpcEnv)
		}) {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		found = append(found, process{pid: pid, exe: exe, cmdline: cmdline})
	}
	return found
}

// HasAddressFlag reports whether args pass address with -address or
// --address, in either the separate or the = form.
func HasAddressFlag(args []string, address string) bool {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "address" {
			continue
		}
		if hasValue && value == address {
			return true
		}
		if !hasValue && i+1 < len(args) && args[i+1] == address {
			return true
		}
	}
	return false
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountPath(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			points = append(points, point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	return points, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	points, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var failed []string
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			failed = append(failed, fmt.Sprintf("%s: %v", p, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("unmount: %s", strings.Join(failed, "; "))
	}
	return nil
}

// leftoverBundles lists bundle directories under State: containerd removes a
// bundle when its task is deleted.
func (d *Daemon) leftoverBundles() []string {
	matches, _ := filepath.Glob(filepath.Join(d.State, "io.containerd.runtime.v2.task", "*", "*"))
	return matches
}

// shimSocketNames returns the socket paths shims of this daemon may have
// created for the container (the runc shim's naming, which ours shares:
// sha256 of <grpc address>/<namespace>/<group id>, plus a "/debug" variant).
func (d *Daemon) shimSocketNames(k containerKey) []string {
	var names []string
	// runc's shim groups by container id; the wasm shim keys its groups
	// with an "@wasmedge" suffix: one container, or all of a namespace's
	// containers outside pods.
	groups := []string{k.id, k.id + "@wasmedge", "namespace/" + k.namespace + "@wasmedge"}
	for _, dir := range []string{globalShimSocketDir, d.SocketDir} {
		for _, group := range groups {
			base := filepath.Join(d.Address, k.namespace, group)
			for _, p := range []string{base, filepath.Join(base, "debug")} {
				names = append(names, filepath.Join(dir, fmt.Sprintf("%x", sha256.Sum256([]byte(p)))))
			}
		}
	}
	return names
}

// leftoverSockets lists shim sockets still on disk: every entry of a private
// SocketDir, and the derived names of seen containers.
func (d *Daemon) leftoverSockets() []string {
	found := map[string]bool{}
	if d.SocketDir != globalShimSocketDir {
		entries, _ := os.ReadDir(d.SocketDir)
		for _, e := range entries {
			found[filepath.Join(d.SocketDir, e.Name())] = true
		}
	}
	for _, k := range d.seenContainers() {
		for _, name := range d.shimSocketNames(k) {
			if _, err := os.Lstat(name); err == nil {
				found[name] = true
			}
		}
	}
	return sortedKeys(found)
}

// leftoverRuncState lists runc container state of seen containers.
func (d *Daemon) leftoverRuncState() []string {
	var out []string
	for _, k := range d.seenContainers() {
		p := filepath.Join(runcRoot, k.namespace, k.id)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// cgroupHierarchies returns the cgroup mount roots: /sys/fs/cgroup on a
// unified (v2) host, every hierarchy below it on v1.
func cgroupHierarchies() []string {
	const root = "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return []string{root}
	}
	entries, _ := os.ReadDir(root)
	var out []string
	for _, e := range entries {
		if e.IsDir() { // skips the cpu -> cpu,cpuacct style symlinks
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	return out
}

// leftoverCgroups lists cgroups at ctr's default path of seen containers.
func (d *Daemon) leftoverCgroups() []string {
	var out []string
	for _, h := range cgroupHierarchies() {
		for _, k := range d.seenContainers() {
			p := filepath.Join(h, k.namespace, k.id)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// removeCgroups removes the cgroups of seen containers and then the
// per-namespace parents runc leaves behind; rmdir fails harmlessly on a
// cgroup that still has processes or children.
func (d *Daemon) removeCgroups() {
	nss := map[string]bool{d.Namespace: true}
	for _, h := range cgroupHierarchies() {
		for _, k := range d.seenContainers() {
			nss[k.namespace] = true
			_ = syscall.Rmdir(filepath.Join(h, k.namespace, k.id))
		}
	}
	for _, h := range cgroupHierarchies() {
		for ns := range nss {
			_ = syscall.Rmdir(filepath.Join(h, ns))
		}
	}
}

// removeRuncState force-deletes runc containers of seen containers, then the
// daemon's own runc namespace directory if it is empty.
func (d *Daemon) removeRuncState(t testing.TB) {
	for _, k := range d.seenContainers() {
		root := filepath.Join(runcRoot, k.namespace)
		if _, err := os.Stat(filepath.Join(root, k.id)); err != nil {
			continue
		}
		t.Logf("teardown: runc delete --force %s/%s", k.namespace, k.id)
		if out, err := exec.Command(runcBinary(), "--root", root, "delete", "--force", k.id).CombinedOutput(); err != nil {
			t.Logf("teardown: runc delete: %v: %s", err, out)
		}
	}
	_ = os.Remove(filepath.Join(runcRoot, d.Namespace))
}

// runcBinary finds runc even when the test's PATH lacks the sbin directories.
func runcBinary() string {
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	return "/usr/sbin/runc"
}

// removeAllContainers kills and deletes every task and container in every
// namespace, so shims exit on their own before the daemon stops.
func (d *Daemon) removeAllContainers(t testing.TB) {
	c, err := client.New(d.Address, client.WithTimeout(5*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		containers, _ := c.Containers(nctx)
		for _, ctr := range containers {
			t.Logf("teardown: removing leftover container %s/%s", ns, ctr.ID())
			if task, err := ctr.Task(nctx, nil); err == nil {
				if _, err := task.Delete(nctx, client.WithProcessKill); err != nil {
					t.Logf("teardown: delete task %s/%s: %v", ns, ctr.ID(), err)
				}
			}
			if err := ctr.Delete(nctx, client.WithSnapshotCleanup); err != nil {
				t.Logf("teardown: delete container %s/%s: %v", ns, ctr.ID(), err)
			}
		}
	}
}

// containerIDFromEvent extracts the container id of a /containers/create
// event.
func containerIDFromEvent(event typeurl.Any) (string, bool) {
	if event == nil {
		return "", false
	}
	v, err := typeurl.UnmarshalAny(event)
	if err != nil {
		return "", false
	}
	created, ok := v.(*eventstypes.ContainerCreate)
	if !ok {
		return "", false
	}
	return created.ID, true
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ShimServerPids returns the pids of this daemon's shim server processes
// of the wasm runtime (those started with -address; instance processes are
// their children and carry no such flag).
func (d *Daemon) ShimServerPids() []int {
	var pids []int
	for _, p := range d.shimProcesses() {
		if IsShimServerExe(filepath.Base(p.exe)) && HasAddressFlag(p.cmdline, d.Address) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}
