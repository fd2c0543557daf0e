//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"errors"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/sandbox/guestfs"
)

func TestParseListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		value string
		// want lists host:port as wazero gets them; empty with wantErr.
		want    []string
		wantErr string
	}{
		{value: "", want: nil},
		{value: "  ", want: nil},
		{value: ":8080", want: []string{":8080"}},
		{value: "0.0.0.0:8080,127.0.0.1:9000", want: []string{"0.0.0.0:8080", "127.0.0.1:9000"}},
		{value: " :80 , 10.1.2.3:443 ", want: []string{":80", "10.1.2.3:443"}},
		{value: "[::1]:8080", want: []string{"[::1]:8080"}},
		{value: "[::]:8080", want: []string{"[::]:8080"}},
		{value: "[::ffff:10.0.0.1]:8080", want: []string{"10.0.0.1:8080"}},
		{value: ":65535", want: []string{":65535"}},
		// Different ports, or addresses no wildcard covers, can coexist.
		{value: "127.0.0.1:8080,127.0.0.2:8080", want: []string{"127.0.0.1:8080", "127.0.0.2:8080"}},
		{value: "0.0.0.0:8080,[::1]:8080", want: []string{"0.0.0.0:8080", "[::1]:8080"}},
		{value: ":8080,:8081", want: []string{":8080", ":8081"}},

		{value: "8080", wantErr: "want host:port, such as :8080"},
		{value: "localhost:8080", wantErr: `host "localhost" is not an IP address`},
		{value: "example.com:80", wantErr: "not an IP address"},
		{value: "::1:8080", wantErr: "want host:port"},
		{value: ":0", wantErr: "not a number from 1 to 65535"},
		{value: ":65536", wantErr: "not a number from 1 to 65535"},
		{value: ":http", wantErr: "not a number from 1 to 65535"},
		{value: ":-1", wantErr: "not a number from 1 to 65535"},
		{value: "127.0.0.1:", wantErr: "not a number from 1 to 65535"},
		{value: ":8080,", wantErr: "empty entry"},
		{value: ",:8080", wantErr: "empty entry"},
		{value: "300.1.1.1:80", wantErr: "not an IP address"},
		{value: ":8080,:8080", wantErr: "port 8080 is already asked for"},
		{value: ":8080,127.0.0.1:8080", wantErr: "port 8080 is already asked for"},
		{value: "127.0.0.1:8080,[::]:8080", wantErr: "port 8080 is already asked for"},
		{value: "0.0.0.0:8080,10.0.0.1:8080", wantErr: "port 8080 is already asked for"},
		{value: "10.0.0.1:8080,10.0.0.1:8080", wantErr: "port 8080 is already asked for"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			addresses, err := parseListenAddresses(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseListenAddresses(%q) = %v, %v; want an error containing %q", tc.value, addresses, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseListenAddresses(%q): %v", tc.value, err)
			}
			var got []string
			for _, a := range addresses {
				got = append(got, a.wazeroHost()+":"+strconv.Itoa(int(a.port)))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("parseListenAddresses(%q) = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}

func TestListenContext(t *testing.T) {
	type key struct{}
	// Cancelled at the end, which stops the sweepers of the contexts with
	// listeners.
	base, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "base"))
	defer cancel()
	for _, tc := range []struct {
		name          string
		env           []string
		wantListeners bool
		wantErr       string
	}{
		{name: "no variable", env: []string{"PATH=/bin", "WASI_TCP_LISTENER=:80"}},
		{name: "empty value", env: []string{"WASI_TCP_LISTEN="}},
		{name: "one listener", env: []string{"WASI_TCP_LISTEN=:8080"}, wantListeners: true},
		// The guest sees the last of repeated entries (wazero's WithEnv);
		// so does the instance.
		{name: "last entry wins", env: []string{"WASI_TCP_LISTEN=8080", "WASI_TCP_LISTEN=:8080"}, wantListeners: true},
		{name: "last entry wins over a good one", env: []string{"WASI_TCP_LISTEN=:8080", "WASI_TCP_LISTEN=8080"}, wantErr: "WASI_TCP_LISTEN=8080: entry \"8080\": want host:port"},
		{name: "bad port", env: []string{"WASI_TCP_LISTEN=:99999"}, wantErr: "WASI_TCP_LISTEN=:99999: entry \":99999\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr := checkListenEnv(tc.env)
			ctx, err := listenContext(base, tc.env)
			if tc.wantErr != "" {
				for name, err := range map[string]error{"checkListenEnv": checkErr, "listenContext": err} {
					var f *failure
					if err == nil || !errors.As(err, &f) || f.kind != kindInvalid || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("%s(%q) error %v, want an invalid-argument failure containing %q", name, tc.env, err, tc.wantErr)
					}
				}
				return
			}
			if checkErr != nil || err != nil {
				t.Fatalf("checkListenEnv(%q): %v; listenContext: %v", tc.env, checkErr, err)
			}
			if ctx.Value(key{}) != "base" {
				t.Error("the returned context does not derive from the given one")
			}
			if got := ctx != base; got != tc.wantListeners {
				t.Errorf("listenContext(%q) added listeners: %v, want %v", tc.env, got, tc.wantListeners)
			}
		})
	}
}

// acceptEchoWAT accepts one connection on fd 4 and then one on fd 5, the
// listeners as the guest's module config numbers them (0-2 stdio, 3 the
// root "/"), and answers each with its listener's fd number as a digit
// followed by what it read. A failing call exits with
// 1000*listener fd + 100*call + errno (call 1 sock_accept, 2 fd_read,
// 3 fd_write).
const acceptEchoWAT = `(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: accepted fd; 8: bytes read; 12: bytes written; 16: iovec;
  ;; 63: the fd digit, followed by the data read at 64.
  (func $check (param $errno i32) (param $fd i32) (param $call i32)
    (if (local.get $errno)
      (then (call $proc_exit (i32.add (i32.add (i32.mul (local.get $fd) (i32.const 1000))
        (i32.mul (local.get $call) (i32.const 100))) (local.get $errno))))))
  (func $echo (param $fd i32)
    (local $conn i32)
    (call $check (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 0)) (local.get $fd) (i32.const 1))
    (local.set $conn (i32.load (i32.const 0)))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 64))
    (call $check (call $fd_read (local.get $conn) (i32.const 16) (i32.const 1) (i32.const 8)) (local.get $fd) (i32.const 2))
    (i32.store8 (i32.const 63) (i32.add (i32.const 48) (local.get $fd)))
    (i32.store (i32.const 16) (i32.const 63))
    (i32.store (i32.const 20) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (call $check (call $fd_write (local.get $conn) (i32.const 16) (i32.const 1) (i32.const 12)) (local.get $fd) (i32.const 3))
    (drop (call $fd_close (local.get $conn))))
  (func (export "_start")
    (call $echo (i32.const 4))
    (call $echo (i32.const 5))))
`

// TestListenersAcceptInOrder runs a guest readied as the instance readies
// it (newGuest) with the listeners of listenContext, and checks which fd
// each WASI_TCP_LISTEN entry became by talking to it: 4 for the first, 5
// for the second (an IPv6 one when the machine has ::1). The connections
// the guest closed must then end within the sweep interval.
func TestListenersAcceptInOrder(t *testing.T) {
	second := "127.0.0.1"
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		second = "[::1]"
	}
	first := "127.0.0.1:" + freePort(t, "127.0.0.1")
	second += ":" + freePort(t, second)
	rc := wasmRunConfig(t, watModule(t, acceptEchoWAT), "WASI_TCP_LISTEN="+first+","+second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := newGuest(ctx, rc, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.runtime.Close(context.Background())
	listenCtx, err := listenContext(ctx, rc.Env)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := g.runtime.InstantiateModule(listenCtx, g.module, g.config)
		done <- err
	}()

	// Both connections first: the guest takes them in its own order.
	conns := map[string]net.Conn{}
	for _, address := range []string{first, second} {
		conn := dialRetrying(t, address, done)
		defer conn.Close()
		conns[address] = conn
	}
	for address, payload := range map[string]string{first: "one", second: "two"} {
		if _, err := io.WriteString(conns[address], payload); err != nil {
			t.Fatal(err)
		}
	}
	for address, want := range map[string]string{first: "4one", second: "5two"} {
		conn := conns[address]
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(want))
		n, err := io.ReadFull(conn, got)
		if got = got[:n]; err != nil || string(got) != want {
			t.Errorf("listener %s answered %q (%v), want %q (fd %c)", address, got, err, want, want[0])
		}
	}
	for address, conn := range conns {
		// The guest has closed it; wazero leaves that to the sweeper.
		conn.SetReadDeadline(time.Now().Add(socketSweepInterval + 2*time.Second))
		if n, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection to %s after the guest closed it: read %d bytes, %v; want end of file", address, n, err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("guest ended with %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("guest still running after both connections")
	}
}

// TestListenerPortTaken checks what a guest whose port is taken gets:
// InstantiateModule fails, naming the address.
func TestListenerPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	rc := wasmRunConfig(t, watModule(t, acceptEchoWAT), "WASI_TCP_LISTEN="+taken.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := newGuest(ctx, rc, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.runtime.Close(context.Background())
	listenCtx, err := listenContext(ctx, rc.Env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.runtime.InstantiateModule(listenCtx, g.module, g.config)
	if want := "listen tcp " + taken.Addr().String() + ": bind: address already in use"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("instantiating with a taken port: %v, want an error containing %q", err, want)
	}
}

// TestGoServerListens runs integration/testdata/httpserver, a Go wasip1
// HTTP server that finds its listeners itself, with the module config the
// instance gives a guest and two listeners, asks both for GET / and checks
// the server's own account of its fds. It also measures how much CPU the
// idle server burns.
func TestGoServerListens(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "httpserver.wasm")
	goBuild := exec.Command(goTool(), "build", "-o", module, "../integration/testdata/httpserver")
	goBuild.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("go build httpserver: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	first := "127.0.0.1:" + freePort(t, "127.0.0.1")
	second := "127.0.0.1:" + freePort(t, "127.0.0.1")
	rc := wasmRunConfig(t, wasm, "WASI_TCP_LISTEN="+first+","+second)

	// A runtime of the test's own, so that cancelling ctx stops the
	// server; the WASI host and the module config, which numbers the fds,
	// are the instance's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	defer rt.Close(context.Background())
	if err := instantiateWASI(ctx, rt); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compiled %d KiB in %v", len(wasm)/1024, time.Since(began).Round(time.Millisecond))
	root, err := guestfs.New(rc.Rootfs)
	if err != nil {
		t.Fatal(err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdoutR.Close()
	listenCtx, err := listenContext(ctx, rc.Env)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		defer stdoutW.Close()
		_, err := rt.InstantiateModule(listenCtx, compiled, moduleConfig(rc, root).WithStdout(stdoutW).WithStderr(stdoutW))
		done <- err
	}()

	var lines []string
	stdout := bufio.NewScanner(stdoutR)
	for len(lines) < 2 && stdout.Scan() {
		lines = append(lines, stdout.Text())
	}
	want := []string{"listening on " + first + " (fd 4)", "listening on " + second + " (fd 5)"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("server said %q, want %q", lines, want)
	}

	for _, address := range []string{first, second} {
		body := httpGet(t, "http://"+address+"/")
		if want := "hello from wasm on " + address + "\n"; body != want {
			t.Errorf("GET http://%s/ = %q, want %q", address, body, want)
		}
	}

	// wazero's poll_oneoff reports a socket ready at once instead of
	// waiting for it, so an idle Go server may spin. Say how much.
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	time.Sleep(time.Second)
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("idle server: %v of CPU in 1 s", cpu.Round(time.Millisecond))

	cancel()
	select {
	case err := <-done:
		var exit *sys.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("server stopped with %v, want wazero's exit on cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("server still running 10 s after cancellation")
	}
}

// preopensWAT asks fd_prestat_get and fd_prestat_dir_name about fds 3 to
// 5 and exits with the number of the first answer that is not what a guest
// with "/" at fd 3 and listeners at 4 and 5 must get, or 0.
const preopensWAT = `(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func $expect (param $got i32) (param $want i32) (param $step i32)
    (if (i32.ne (local.get $got) (local.get $want)) (then (call $proc_exit (local.get $step)))))
  (func (export "_start")
    ;; fd 3: a directory (tag 0) whose name is 1 byte long, "/".
    (call $expect (call $get (i32.const 3) (i32.const 0)) (i32.const 0) (i32.const 1))
    (call $expect (i32.load8_u (i32.const 0)) (i32.const 0) (i32.const 2))
    (call $expect (i32.load (i32.const 4)) (i32.const 1) (i32.const 3))
    (call $expect (call $name (i32.const 3) (i32.const 16) (i32.const 1)) (i32.const 0) (i32.const 4))
    (call $expect (i32.load8_u (i32.const 16)) (i32.const 47) (i32.const 5))
    ;; a buffer longer than the name: ENAMETOOLONG, as wazero answers.
    (call $expect (call $name (i32.const 3) (i32.const 16) (i32.const 2)) (i32.const 37) (i32.const 6))
    ;; fds 4 and 5, the listeners, and 6, nothing: EBADF, not preopens.
    (call $expect (call $get (i32.const 4) (i32.const 0)) (i32.const 8) (i32.const 7))
    (call $expect (call $get (i32.const 5) (i32.const 0)) (i32.const 8) (i32.const 8))
    (call $expect (call $get (i32.const 6) (i32.const 0)) (i32.const 8) (i32.const 9))
    (call $expect (call $name (i32.const 4) (i32.const 16) (i32.const 0)) (i32.const 8) (i32.const 10))
    ;; stdio is no preopen either; out of memory: EFAULT.
    (call $expect (call $get (i32.const 0) (i32.const 0)) (i32.const 8) (i32.const 11))
    (call $expect (call $get (i32.const 3) (i32.const 65535)) (i32.const 21) (i32.const 12))
    (call $expect (call $name (i32.const 3) (i32.const 65536) (i32.const 1)) (i32.const 21) (i32.const 13))))
`

// TestPreopensBesideListeners checks what instantiateWASI tells a guest
// with two listeners about its preopened directories: "/" at fd 3 and
// nothing else (wazero's own answer makes the listeners unnamed
// directories, which breaks wasi-libc's path resolution).
func TestPreopensBesideListeners(t *testing.T) {
	rc := wasmRunConfig(t, watModule(t, preopensWAT),
		"WASI_TCP_LISTEN=127.0.0.1:"+freePort(t, "127.0.0.1")+",127.0.0.1:"+freePort(t, "127.0.0.1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(context.Background())
	if err := instantiateWASI(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(rc.Rootfs, "app.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkImports(rt, compiled); err != nil {
		t.Fatalf("the replaced functions do not match WASI's signatures: %v", err)
	}
	root, err := guestfs.New(rc.Rootfs)
	if err != nil {
		t.Fatal(err)
	}
	listenCtx, err := listenContext(ctx, rc.Env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.InstantiateModule(listenCtx, compiled, moduleConfig(rc, root)); err != nil {
		t.Errorf("preopen check %v (see preopensWAT)", err)
	}
}

// watModule compiles WebAssembly text with wat2wasm.
func watModule(t *testing.T, text string) []byte {
	t.Helper()
	dir := t.TempDir()
	src, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// wasmRunConfig is a run of wasm as /app.wasm in a fresh rootfs, with the
// guest environment env.
func wasmRunConfig(t *testing.T, wasm []byte, env ...string) *oci.RunConfig {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "app.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return &oci.RunConfig{
		ID:     strings.ReplaceAll(t.Name(), "/", "_"),
		Rootfs: rootfs,
		Module: "/app.wasm",
		Args:   []string{"/app.wasm"},
		Env:    env,
		Cwd:    "/",
	}
}

// freePort returns a TCP port free on host ("127.0.0.1", "[::1]") a moment
// ago; wazero binds the listeners itself, so the test cannot hold it.
func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// dialRetrying connects to address once the guest, started concurrently,
// has its listeners (wazero binds them as it instantiates the module); it
// fails the test when the guest ends first.
func dialRetrying(t *testing.T, address string, guestDone chan error) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", address)
		if err == nil {
			return conn
		}
		select {
		case gerr := <-guestDone:
			t.Fatalf("guest ended (%v) before %s accepted connections", gerr, address)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", address, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// httpGet returns the body of a 200 answer to GET url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %q, %v", url, resp.Status, body, err)
	}
	return string(body)
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(build.Default.GOROOT, "bin", "go")
}
