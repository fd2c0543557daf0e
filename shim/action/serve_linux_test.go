//go:build linux

package action

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeServerEnv, when set, makes the test binary a fake shim server: it
// serves GroupService on the listener inherited as fd 3, as the real server
// does, and records the ids it reserves in the directory the variable
// names. spawnServer passes the environment on, so a test sets it and
// names the test binary as the server.
const fakeServerEnv = "WASMEDGE_TEST_FAKE_SERVER_DIR"

// The fake server's own service, by which a test learns which server
// answers at an address without reserving anything there.
const (
	fakeService   = "wasmedge.test.FakeServer"
	fakePidMethod = "Pid"
)

// fakeServerLifetime bounds a fake server that nobody stops, should a test
// binary die before its cleanup.
const fakeServerLifetime = 2 * time.Minute

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeServerEnv); dir != "" {
		os.Exit(runFakeServer(dir))
	}
	// Tests take a lock of their own, not the node's (which needs /run).
	dir, err := os.MkdirTemp("", "action-lock-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	socketLock = filepath.Join(dir, "socket.lock")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runFakeServer serves until SIGTERM or fakeServerLifetime and returns the
// exit status.
func runFakeServer(dir string) int {
	listener, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake server:", err)
		return 1
	}
	server, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake server:", err)
		return 1
	}
	record := reservedFile(dir, os.Getpid())
	var mu sync.Mutex
	server.RegisterService(GroupService, &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		ReserveMethod: func(_ context.Context, unmarshal func(any) error) (any, error) {
			var id wrapperspb.StringValue
			if err := unmarshal(&id); err != nil {
				return nil, err
			}
			// Recorded before the reply, so that a start action that got
			// one finds its id in the file.
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(record, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, err
			}
			_, err = fmt.Fprintln(f, id.GetValue())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			return &emptypb.Empty{}, nil
		},
	}})
	server.RegisterService(fakeService, &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		fakePidMethod: func(_ context.Context, unmarshal func(any) error) (any, error) {
			if err := unmarshal(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			return wrapperspb.Int64(int64(os.Getpid())), nil
		},
	}})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- server.Serve(context.Background(), listener) }()
	select {
	case <-stop:
	case <-time.After(fakeServerLifetime):
	case err := <-served:
		fmt.Fprintln(os.Stderr, "fake server:", err)
		return 1
	}
	server.Close()
	return 0
}

// reservedFile is where the fake server pid records the ids it reserved.
func reservedFile(dir string, pid int) string {
	return filepath.Join(dir, fmt.Sprintf("reserved-%d", pid))
}

// fakeServers spawns fake servers for one test and kills and reaps them
// after it.
type fakeServers struct {
	// dir is where the servers record what they reserved.
	dir string
	// binary is the test binary, the fake server's.
	binary string
}

func newFakeServers(t *testing.T) *fakeServers {
	t.Helper()
	binary, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServers{dir: t.TempDir(), binary: binary}
	t.Setenv(fakeServerEnv, f.dir)
	t.Cleanup(func() {
		for pid := range f.spawned(t) {
			f.stop(t, pid)
		}
	})
	return f
}

// spawned returns the servers spawned and not yet reaped, by pid, with the
// container id each was spawned for ("" if it has exited). spawnServer
// releases them, so only /proc knows them: children of this process that
// lead a process group of their own. Tests run one at a time, and each
// reaps its servers, so all are the running test's.
func (f *fakeServers) spawned(t *testing.T) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	servers := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses; what follows
		// its closing one is state, ppid, pgrp, ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 3 || fields[1] != self || fields[2] != e.Name() {
			continue
		}
		servers[pid] = ""
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		if i := slices.Index(args, "-id"); i >= 0 && i+1 < len(args) {
			servers[pid] = args[i+1]
		}
	}
	return servers
}

// stop asks server pid to exit and reaps it, killing it if it does not.
func (f *fakeServers) stop(t *testing.T, pid int) {
	t.Helper()
	_ = unix.Kill(pid, unix.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if reaped, _ := unix.Wait4(pid, nil, unix.WNOHANG, nil); reaped == pid {
			return
		}
	}
	t.Errorf("fake server %d ignored SIGTERM", pid)
	f.kill(t, pid)
}

// kill kills server pid as the OOM killer would, leaving its socket, and
// reaps it.
func (f *fakeServers) kill(t *testing.T, pid int) {
	t.Helper()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Errorf("kill fake server %d: %v", pid, err)
	}
	if _, err := unix.Wait4(pid, nil, 0, nil); err != nil {
		t.Errorf("reap fake server %d: %v", pid, err)
	}
}

// spawn starts a fake server on address, as serveGroup does once it has
// bound the socket, and returns its pid once it serves.
func (f *fakeServers) spawn(t *testing.T, address, id string) int {
	t.Helper()
	listener, err := listen(address)
	if err != nil {
		t.Fatal(err)
	}
	file, err := listener.File()
	listener.SetUnlinkOnClose(false)
	listener.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	req := startRequest{namespace: "ns", id: id, grpcAddress: "/run/containerd/containerd.sock"}
	if err := spawnServer(req, t.TempDir(), f.binary, file); err != nil {
		t.Fatal(err)
	}
	pid, err := f.pidAt(address)
	if err != nil {
		t.Fatalf("spawned server does not answer: %v", err)
	}
	return pid
}

// pidAt returns the pid of the fake server that answers at address.
func (f *fakeServers) pidAt(address string) (int, error) {
	conn, err := dial(address)
	if err != nil {
		return 0, err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pid wrapperspb.Int64Value
	if err := client.Call(ctx, fakeService, fakePidMethod, &emptypb.Empty{}, &pid); err != nil {
		return 0, err
	}
	return int(pid.GetValue()), nil
}

// reserved returns the ids server pid reserved, in order.
func (f *fakeServers) reserved(t *testing.T, pid int) []string {
	t.Helper()
	data, err := os.ReadFile(reservedFile(f.dir, pid))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// socketDir returns a directory for shim sockets. t.TempDir's names are too
// long: a socket path, with its 64-character name, must fit in 108 bytes.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// leaveStaleSocket makes address a socket file nothing listens on, as a
// server killed with SIGKILL leaves it.
func leaveStaleSocket(t *testing.T, address string) {
	t.Helper()
	l, err := listen(address)
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if canConnect(address) {
		t.Fatal("a closed socket accepts connections")
	}
}

// groupBundle makes a bundle for container id in group.
func groupBundle(t *testing.T, id, group string) string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), id)
	config := fmt.Sprintf(`{"annotations":{"io.containerd.runc.v2.group":%q}}`, group)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// waitForLockWaiter returns once a goroutine of this process waits for
// socketLock: /proc/locks lists blocked flock requests with "->".
func waitForLockWaiter(t *testing.T) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(socketLock, &st); err != nil {
		t.Fatal(err)
	}
	inode := ":" + strconv.FormatUint(st.Ino, 10)
	self := strconv.Itoa(os.Getpid())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(locks), "\n") {
			// 1: -> FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF
			fields := strings.Fields(line)
			if len(fields) >= 7 && fields[1] == "->" && fields[5] == self && strings.HasSuffix(fields[6], inode) {
				return
			}
		}
	}
	t.Fatal("nothing waits for the socket lock")
}

// whileLocked takes the socket lock, runs waiter, which must come to wait
// for it, in the background, and returns once it does, with the lock's
// release. However the test ends, the lock is released and waiter has
// returned before the test's earlier cleanups (servers, directories) run.
func whileLocked(t *testing.T, waiter func()) (unlock func()) {
	t.Helper()
	release, err := lockSockets()
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() { once.Do(release) }
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		waiter()
	}()
	t.Cleanup(func() {
		unlock()
		<-finished
	})
	waitForLockWaiter(t)
	return unlock
}

// Start actions that all find a dead server's socket must start exactly one
// new server between them and all join it. Without the lock, two of them
// each remove and re-bind the socket, the second orphaning the first's
// server; with a bind outside the lock, one that comes late binds between
// another's removal and re-bind, failing that one, or is taken for dead
// before it listens and replaced.
func TestServeGroupReplacesAStaleSocketOnce(t *testing.T) {
	const actions = 8
	fake := newFakeServers(t)
	dir := socketDir(t)
	const grpcAddress = "/run/containerd/containerd.sock"
	address := socketAddress(dir, grpcAddress, "ns", "pod1@wasmedge")
	leaveStaleSocket(t, address)

	type result struct {
		address string
		err     error
	}
	ids := make([]string, actions)
	bundles := make([]string, actions)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%d", i)
		bundles[i] = groupBundle(t, ids[i], "pod1")
	}
	results := make([]result, actions)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			req := startRequest{namespace: "ns", id: ids[i], grpcAddress: grpcAddress, socketDir: dir}
			results[i].address, results[i].err = serveGroup(context.Background(), req, bundles[i], fake.binary)
		}()
	}
	close(begin)
	wg.Wait()

	for i, r := range results {
		if r.err != nil {
			t.Errorf("%s: %v", ids[i], r.err)
		} else if r.address != address {
			t.Errorf("%s: address %q, want %q", ids[i], r.address, address)
		}
	}
	servers := fake.spawned(t)
	if len(servers) != 1 {
		t.Fatalf("%d servers spawned (pid: id %v), want 1", len(servers), servers)
	}
	var pid int
	var spawner string
	for pid, spawner = range servers {
	}
	answering, err := fake.pidAt(address)
	if err != nil {
		t.Fatalf("no server at the group's address: %v", err)
	}
	if answering != pid {
		t.Fatalf("server %d answers at the address, %d was spawned", answering, pid)
	}
	// Each action either spawned the server or reserved a place in it,
	// never both.
	joined := append(fake.reserved(t, pid), spawner)
	slices.Sort(joined)
	if !slices.Equal(joined, ids) {
		t.Fatalf("server spawned for %q reserved %q, want every one of %q once", spawner, fake.reserved(t, pid), ids)
	}
}

// An action that finds a dead socket and waits for the lock must, once it
// has it, join the server that the action holding it started meanwhile.
func TestServeGroupJoinsAServerStartedWhileItWaited(t *testing.T) {
	fake := newFakeServers(t)
	dir := socketDir(t)
	const grpcAddress = "/run/containerd/containerd.sock"
	address := socketAddress(dir, grpcAddress, "ns", "pod1@wasmedge")
	leaveStaleSocket(t, address)

	type result struct {
		address string
		err     error
	}
	bundle := groupBundle(t, "late", "pod1")
	done := make(chan result, 1)
	unlock := whileLocked(t, func() {
		req := startRequest{namespace: "ns", id: "late", grpcAddress: grpcAddress, socketDir: dir}
		var r result
		r.address, r.err = serveGroup(context.Background(), req, bundle, fake.binary)
		done <- r
	})
	// What the action holding the lock does.
	if err := removeSocket(address); err != nil {
		t.Fatal(err)
	}
	pid := fake.spawn(t, address, "first")
	unlock()

	r := <-done
	if r.err != nil || r.address != address {
		t.Fatalf("serveGroup = %q, %v; want %q", r.address, r.err, address)
	}
	if servers := fake.spawned(t); len(servers) != 1 {
		t.Fatalf("servers %v, want only %d", servers, pid)
	}
	if got := fake.reserved(t, pid); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("server reserved %q, want [late]", got)
	}
	if answering, err := fake.pidAt(address); err != nil || answering != pid {
		t.Fatalf("server at the address: %d, %v; want %d", answering, err, pid)
	}
}

func TestRemoveDeadSocket(t *testing.T) {
	for _, tc := range []struct {
		name string
		// server is whether a server listens when removeDeadSocket runs.
		server bool
		// killed kills the server with SIGKILL first, which leaves its
		// socket behind.
		killed bool
		// replaced replaces a dead socket with a live server's while
		// removeDeadSocket waits for the lock, as a start action does.
		replaced bool
		wantGone bool
	}{
		{name: "live server", server: true},
		{name: "server killed", server: true, killed: true, wantGone: true},
		{name: "socket left", wantGone: true},
		{name: "replaced while waiting for the lock", replaced: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeServers(t)
			address := unixScheme + filepath.Join(socketDir(t), "s")
			bundle := t.TempDir()
			if err := writeFileAtomic(filepath.Join(bundle, "address"), []byte(address)); err != nil {
				t.Fatal(err)
			}
			var pid int
			if tc.server {
				pid = fake.spawn(t, address, "c1")
			} else {
				leaveStaleSocket(t, address)
			}
			if tc.killed {
				fake.kill(t, pid)
				if _, err := os.Stat(socketPath(address)); err != nil {
					t.Fatalf("killed server's socket: %v", err)
				}
			}

			if tc.replaced {
				done := make(chan error, 1)
				unlock := whileLocked(t, func() { done <- removeDeadSocket(bundle) })
				if err := removeSocket(address); err != nil {
					t.Fatal(err)
				}
				pid = fake.spawn(t, address, "c2")
				unlock()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			} else if err := removeDeadSocket(bundle); err != nil {
				t.Fatal(err)
			}

			_, err := os.Stat(socketPath(address))
			if gone := errors.Is(err, os.ErrNotExist); gone != tc.wantGone {
				t.Fatalf("socket gone %v (%v), want %v", gone, err, tc.wantGone)
			}
			if !tc.wantGone {
				if answering, err := fake.pidAt(address); err != nil || answering != pid {
					t.Fatalf("server at the address: %d, %v; want %d", answering, err, pid)
				}
			}
		})
	}
}

func TestRemoveDeadSocketWithoutAddress(t *testing.T) {
	if err := removeDeadSocket(t.TempDir()); err != nil {
		t.Fatalf("bundle without an address file: %v", err)
	}
}
