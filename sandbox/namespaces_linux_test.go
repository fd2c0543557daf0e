//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// allKinds are the namespace links a test compares, by kernel name.
var allKinds = []string{"net", "ipc", "uts", "pid", "mnt", "cgroup"}

// nsLink reads /proc/PID/ns/NAME, e.g. "net:[4026531833]".
func nsLink(t testing.TB, pid int, name string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// spawnReady spawns rc and returns the instance waiting for Start; cleanup
// closes it and reaps the process if the test did not.
func spawnReady(t *testing.T, rc *oci.RunConfig, opts Options) *Instance {
	t.Helper()
	var pid int
	if opts.Exe == "" {
		opts.Exe = instanceExe()
	}
	setup := opts.Setup
	opts.Setup = func(p int) error {
		pid = p
		if setup != nil {
			return setup(p)
		}
		return nil
	}
	inst, err := Spawn(context.Background(), rc, Stdio{}, opts)
	if err != nil {
		if pid != 0 {
			waitExit(t, pid)
		}
		t.Fatalf("Spawn: %v", err)
	}
	t.Cleanup(func() {
		inst.Close()
		// Reaped already if the test waited for it.
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	})
	return inst
}

// startAndWait starts a ready instance and returns its exit status.
func startAndWait(t *testing.T, inst *Instance) int {
	t.Helper()
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	return waitExit(t, inst.Pid())
}

// namespaceHolder runs `unshare FLAGS sleep` and returns the pid of the
// sleeper, which sits in new namespaces of the given kinds.
func namespaceHolder(t *testing.T, kinds ...string) int {
	t.Helper()
	flags := map[string]string{"net": "--net", "ipc": "--ipc", "uts": "--uts", "pid": "--pid"}
	args := []string{}
	for _, k := range kinds {
		args = append(args, flags[k])
	}
	if len(kinds) == 1 && kinds[0] == "pid" {
		// A new pid namespace needs a child to be its pid 1, and that
		// child must die with unshare.
		args = append(args, "--fork", "--kill-child")
	}
	cmd := exec.Command("unshare", append(args, "sleep", "1000")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		if kinds[0] == "pid" {
			// The sleeper is unshare's child.
			children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
			if f := strings.Fields(string(children)); len(f) == 1 {
				child, _ := strconv.Atoi(f[0])
				if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", child)); err == nil && link != nsLink(t, os.Getpid(), "pid") {
					return child
				}
			}
		} else if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kinds[0])); err == nil &&
			link != nsLink(t, os.Getpid(), kinds[0]) {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare %v never entered its namespaces", args)
		}
		time.Sleep(time.Millisecond)
	}
}

// namespaceAlive says whether a process of this test is in the namespace link (e.g.
// "net:[4026532000]").
//
// Only this test process (its descriptors) and its children count: other
// processes on the machine create namespaces all the time, and the kernel
// reuses a freed namespace's inode number.
func namespaceAlive(t *testing.T, name, link string) bool {
	t.Helper()
	for _, fd := range openNamespaceFiles(t) {
		if fd == link {
			return true
		}
	}
	procs, err := filepath.Glob("/proc/[0-9]*/ns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	for _, p := range procs {
		if l, err := os.Readlink(p); err != nil || l != link {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(p)), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(self) {
			return true
		}
	}
	return false
}

// openNamespaceFiles lists the shim's descriptors that are namespaces.
func openNamespaceFiles(t *testing.T) []string {
	t.Helper()
	fds, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil {
			continue
		}
		for _, k := range allKinds {
			if strings.HasPrefix(link, k+":[") {
				open = append(open, link)
			}
		}
	}
	return open
}

// requireCgo skips a test of the constructor in a build without it.
func requireCgo(t *testing.T) {
	t.Helper()
	if !builtWithCgo {
		t.Skip("joining namespaces needs the cgo build")
	}
}

func TestNewNamespaces(t *testing.T) {
	rc := runConfig(t, "hello")
	for _, tp := range []oci.NamespaceType{oci.NamespaceNetwork, oci.NamespaceIPC, oci.NamespaceUTS, oci.NamespacePID, oci.NamespaceMount} {
		rc.Namespaces = append(rc.Namespaces, oci.Namespace{Type: tp})
	}
	if builtWithCgo {
		rc.Namespaces = append(rc.Namespaces, oci.Namespace{Type: oci.NamespaceCgroup})
	}
	gio := newGuestIO(t, "")
	var pid int
	inst, err := Spawn(context.Background(), rc, gio.stdio, testOptions(&pid))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	gio.release()

	created := map[string]string{}
	for _, kind := range allKinds {
		if kind == "cgroup" && !builtWithCgo {
			continue
		}
		mine, theirs := nsLink(t, os.Getpid(), kind), nsLink(t, pid, kind)
		if mine == theirs {
			t.Errorf("instance shares the test's %s namespace %s", kind, mine)
		}
		created[kind] = theirs
	}
	// pid 1 of its own pid namespace.
	if nspid := statusField(t, pid, "NSpid"); nspid != strconv.Itoa(pid)+"\t1" {
		t.Errorf("NSpid %q, want %d and 1", nspid, pid)
	}
	if status := startAndWait(t, inst); status != 0 {
		t.Fatalf("status %d (stderr %q)", status, gio.stderr.wait(t))
	}
	if out := gio.stdout.wait(t); out != "hello, world\n" {
		t.Errorf("stdout %q", out)
	}
	// Nothing holds them once the instance is gone.
	for kind, link := range created {
		if namespaceAlive(t, kind, link) {
			t.Errorf("%s namespace %s outlived the instance", kind, link)
		}
	}
}

func TestJoinNamespacesByPath(t *testing.T) {
	holder := namespaceHolder(t, "net", "ipc", "uts")
	pidHolder := namespaceHolder(t, "pid")
	netnsName := fmt.Sprintf("sandbox-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", netnsName).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", netnsName).Run() })
	boundNet := "/run/netns/" + netnsName

	tests := []struct {
		name string
		nss  []oci.Namespace
		// want maps a kind to the process whose namespace the instance must
		// share, or to 0 for the file at boundNet.
		want map[string]int
		// created are the kinds the instance gets new namespaces of; it
		// shares the shim's of the other kinds.
		created []string
		// anyBuild: a pid namespace is joined without the constructor.
		anyBuild bool
	}{
		{
			name: "net, ipc and uts of a process",
			nss: []oci.Namespace{
				{Type: oci.NamespaceNetwork, Path: fmt.Sprintf("/proc/%d/ns/net", holder)},
				{Type: oci.NamespaceIPC, Path: fmt.Sprintf("/proc/%d/ns/ipc", holder)},
				{Type: oci.NamespaceUTS, Path: fmt.Sprintf("/proc/%d/ns/uts", holder)},
			},
			want: map[string]int{"net": holder, "ipc": holder, "uts": holder},
		},
		{
			name: "bind-mounted network namespace and a new uts",
			nss:  []oci.Namespace{{Type: oci.NamespaceNetwork, Path: boundNet}, {Type: oci.NamespaceUTS}},
			want: map[string]int{"net": 0}, created: []string{"uts"},
		},
		{
			name: "pid namespace of a process",
			nss:  []oci.Namespace{{Type: oci.NamespacePID, Path: fmt.Sprintf("/proc/%d/ns/pid", pidHolder)}},
			want: map[string]int{"pid": pidHolder}, anyBuild: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.anyBuild {
				requireCgo(t)
			}
			rc := runConfig(t, "hello")
			rc.Namespaces = tt.nss
			inst := spawnReady(t, rc, Options{})
			if open := openNamespaceFiles(t); len(open) > 0 {
				t.Errorf("the shim kept namespace files open: %v", open)
			}
			for kind, holderPid := range tt.want {
				want := ""
				if holderPid == 0 {
					var err error
					if want, err = nsLinkOfFile(boundNet); err != nil {
						t.Fatal(err)
					}
				} else {
					want = nsLink(t, holderPid, kind)
				}
				if got := nsLink(t, inst.Pid(), kind); got != want {
					t.Errorf("instance %s namespace %s, want %s", kind, got, want)
				}
			}
			if _, ok := tt.want["pid"]; ok {
				// A member of the holder's namespace, not its init.
				f := strings.Fields(statusField(t, inst.Pid(), "NSpid"))
				if len(f) != 2 || f[1] == "1" {
					t.Errorf("NSpid %v, want a second, non-init pid", f)
				}
			}
			for _, kind := range allKinds {
				if _, joined := tt.want[kind]; joined {
					continue
				}
				mine, theirs := nsLink(t, os.Getpid(), kind), nsLink(t, inst.Pid(), kind)
				if created := slices.Contains(tt.created, kind); created != (mine != theirs) {
					t.Errorf("%s namespace: instance has %s, the shim %s; want a new one: %v", kind, theirs, mine, created)
				}
			}
			if status := startAndWait(t, inst); status != 0 {
				t.Errorf("guest in joined namespaces exited with %d", status)
			}
		})
	}
}

// nsLinkOfFile names the namespace a bind-mounted namespace file is.
func nsLinkOfFile(path string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("net:[%d]", st.Ino), nil
}

// statusField reads one field of /proc/PID/status.
func statusField(t testing.TB, pid int, field string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

func TestExecJoinsContainerInstance(t *testing.T) {
	requireCgo(t)
	init := runConfig(t, "fileio", "cat", "tmp/note")
	init.Namespaces = []oci.Namespace{
		{Type: oci.NamespaceNetwork}, {Type: oci.NamespaceIPC}, {Type: oci.NamespaceUTS},
		{Type: oci.NamespacePID}, {Type: oci.NamespaceMount},
	}
	init.Mounts = []oci.Mount{{Kind: oci.MountTmpfs, Destination: "/tmp"}}
	initInst := spawnReady(t, init, Options{})

	exec := func(args ...string) *oci.RunConfig {
		rc := *init
		rc.ID = "exec"
		rc.Args = append([]string{"/app.wasm"}, args...)
		return &rc
	}
	// The exec writes into the tmpfs of the container's instance.
	writer := spawnReady(t, exec("write", "tmp/note", "shared tmpfs"), Options{JoinNamespacesOf: initInst})
	for _, kind := range allKinds {
		want := nsLink(t, initInst.Pid(), kind)
		if kind == "cgroup" {
			want = nsLink(t, os.Getpid(), kind)
		}
		if got := nsLink(t, writer.Pid(), kind); got != want {
			t.Errorf("exec's %s namespace %s, want %s", kind, got, want)
		}
	}
	if f := strings.Fields(statusField(t, writer.Pid(), "NSpid")); len(f) != 2 || f[1] == "1" {
		t.Errorf("exec NSpid %v, want a member of the container's pid namespace", f)
	}
	if status := startAndWait(t, writer); status != 0 {
		t.Fatalf("exec exited with %d", status)
	}
	// ... and the container's guest reads it.
	if status := startAndWait(t, initInst); status != 0 {
		t.Errorf("container's guest could not read the exec's file: status %d", status)
	}

	// Once the container's instance is gone, an exec cannot join it.
	_, err := Spawn(context.Background(), exec("env"), Stdio{}, Options{Exe: instanceExe(), JoinNamespacesOf: initInst})
	if !errdefs.IsFailedPrecondition(err) {
		t.Errorf("exec after the container's exit: %v, want failed precondition", err)
	}
}

func TestNamespaceRefusedAtSpawn(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "file")
	writeFile(t, regular, "not a namespace")
	own := func(kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", os.Getpid(), kind) }
	tests := []struct {
		name     string
		nss      []oci.Namespace
		hostname string
		sysctls  map[string]string
		category error
		want     string
	}{
		{name: "missing path", nss: []oci.Namespace{{Type: oci.NamespaceNetwork, Path: "/proc/999999999/ns/net"}},
			category: errdefs.ErrNotFound, want: "net namespace"},
		{name: "wrong type", nss: []oci.Namespace{{Type: oci.NamespaceNetwork, Path: own("ipc")}},
			category: errdefs.ErrInvalidArgument, want: "is not a net namespace file"},
		{name: "not a namespace", nss: []oci.Namespace{{Type: oci.NamespaceIPC, Path: regular}},
			category: errdefs.ErrInvalidArgument, want: "is not a ipc namespace file"},
		{name: "user namespace", nss: []oci.Namespace{{Type: "user"}},
			category: errdefs.ErrInvalidArgument, want: `namespace type "user" is not supported`},
		{name: "twice", nss: []oci.Namespace{{Type: oci.NamespaceUTS, Path: own("uts")}, {Type: oci.NamespaceUTS}},
			category: errdefs.ErrInvalidArgument, want: "uts namespace listed twice"},
		{name: "hostname in the host's uts namespace", nss: []oci.Namespace{{Type: oci.NamespaceUTS, Path: own("uts")}},
			hostname: "nope", category: errdefs.ErrInvalidArgument, want: "hostname and domainname need a uts namespace"},
		{name: "sysctl in the host's network namespace", nss: []oci.Namespace{{Type: oci.NamespaceNetwork, Path: own("net")}},
			sysctls: map[string]string{"net/ipv4/ip_forward": "1"}, category: errdefs.ErrInvalidArgument,
			want: `sysctl "net.ipv4.ip_forward" needs a network namespace of the container's own, not the host's`},
		{name: "host-wide sysctl", nss: []oci.Namespace{{Type: oci.NamespaceNetwork}},
			sysctls: map[string]string{"kernel/panic": "1"}, category: errdefs.ErrInvalidArgument, want: "not scoped to a namespace"},
		{name: "needs cgo", nss: []oci.Namespace{{Type: oci.NamespaceIPC, Path: own("ipc")}},
			category: errdefs.ErrNotImplemented, want: "joining a ipc namespace needs a shim built with cgo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.category == errdefs.ErrNotImplemented && builtWithCgo {
				t.Skip("the cgo build joins namespaces")
			}
			rc := runConfig(t, "hello")
			rc.Namespaces, rc.Hostname, rc.Sysctls = tt.nss, tt.hostname, tt.sysctls
			started := false
			_, err := Spawn(context.Background(), rc, Stdio{}, Options{Exe: instanceExe(), Setup: func(int) error {
				started = true
				return nil
			}})
			if err == nil || !errors.Is(err, tt.category) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Spawn error %v, want %v and %q", err, tt.category, tt.want)
			}
			if started {
				t.Error("a process was started for a refused spec")
			}
		})
	}
}

func TestHostnameAndSysctls(t *testing.T) {
	rc := runConfig(t, "hello")
	rc.Namespaces = []oci.Namespace{{Type: oci.NamespaceUTS}, {Type: oci.NamespaceNetwork}, {Type: oci.NamespaceIPC}}
	rc.Hostname, rc.Domainname = "wasm-box", "example.org"
	rc.Sysctls = map[string]string{"net/ipv4/ip_forward": "1", "kernel/shmmni": "1234"}
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	inst := spawnReady(t, rc, Options{})
	for _, tt := range []struct{ flag, file, want string }{
		{"--uts", "/proc/sys/kernel/hostname", "wasm-box"},
		{"--uts", "/proc/sys/kernel/domainname", "example.org"},
		{"--net", "/proc/sys/net/ipv4/ip_forward", "1"},
		{"--ipc", "/proc/sys/kernel/shmmni", "1234"},
	} {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(inst.Pid()), tt.flag, "cat", tt.file).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("%s in the instance's namespace: %q (%v), want %q", tt.file, out, err, tt.want)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostForward) {
		t.Errorf("host's ip_forward changed from %q to %q", hostForward, now)
	}
	if host, _ := os.Hostname(); host == "wasm-box" {
		t.Error("the host was renamed")
	}

	// A parameter the namespace does not have is found missing at Create.
	rc = runConfig(t, "hello")
	rc.Namespaces = []oci.Namespace{{Type: oci.NamespaceNetwork}}
	rc.Sysctls = map[string]string{"net/ipv4/no_such_parameter": "1"}
	err = spawnFailure(t, rc)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "sysctl net.ipv4.no_such_parameter") {
		t.Errorf("error %v, want not found for the sysctl", err)
	}
}

func TestCgroupNamespaceRootedAtContainerCgroup(t *testing.T) {
	requireCgo(t)
	group := fmt.Sprintf("/sys/fs/cgroup/pids/sandbox-test-%d", os.Getpid())
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Skipf("no cgroup v1 pids hierarchy to test with: %v", err)
	}
	rc := runConfig(t, "hello")
	rc.Namespaces = []oci.Namespace{{Type: oci.NamespaceCgroup}}
	inst := spawnReady(t, rc, Options{Setup: func(pid int) error {
		return os.WriteFile(group+"/cgroup.procs", []byte(strconv.Itoa(pid)), 0)
	}})
	t.Cleanup(func() { os.Remove(group) })
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(inst.Pid()), "--cgroup",
		"cat", fmt.Sprintf("/proc/%d/cgroup", inst.Pid())).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	if !strings.Contains(string(out), ":pids:/\n") {
		t.Errorf("seen from its cgroup namespace, the instance is not at the root of pids:\n%s", out)
	}
	if status := startAndWait(t, inst); status != 0 {
		t.Errorf("status %d", status)
	}
}

func TestNsenterNamesMatch(t *testing.T) {
	header, err := os.ReadFile("nsenter_linux.h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`#define WASM_INSTANCE_COMMAND "` + InstanceCommand + `"`,
		`#define WASM_NSENTER_PLAN_VAR "` + nsenterPlanVar + `"`,
	} {
		if !strings.Contains(string(header), want) {
			t.Errorf("nsenter_linux.h lacks %s", want)
		}
	}
}

// TestJoinFromLongExecutablePath runs the instance from a path far longer
// than the usual install paths: the constructor must still recognise the
// instance and join the namespace (it once read only 64 bytes of its
// command line and skipped the plan for long paths).
func TestJoinFromLongExecutablePath(t *testing.T) {
	requireCgo(t)
	holder := namespaceHolder(t, "net")
	exe, err := filepath.Abs(instanceExe())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-long-installation-directory/", 8))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "wasmedge-instance-with-a-long-name")
	if err := os.Symlink(exe, long); err != nil {
		t.Fatal(err)
	}
	rc := runConfig(t, "hello")
	rc.Namespaces = []oci.Namespace{{Type: oci.NamespaceNetwork, Path: fmt.Sprintf("/proc/%d/ns/net", holder)}}
	inst := spawnReady(t, rc, Options{Exe: long})
	if got, want := nsLink(t, inst.Pid(), "net"), nsLink(t, holder, "net"); got != want {
		t.Errorf("instance at a %d-byte path is in %s, want %s", len(long), got, want)
	}
	if status := startAndWait(t, inst); status != 0 {
		t.Errorf("status %d", status)
	}
}
