//go:build linux

package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

func TestGuestExitStatusAndOutput(t *testing.T) {
	tests := []struct {
		name       string
		module     string
		function   string
		args       []string
		env        []string
		cwd        string
		stdin      string
		wantStatus int
		wantStdout string
		// wantStderr must appear in stderr (which may say more).
		wantStderr []string
	}{
		{name: "hello", module: "hello", wantStdout: "hello, world\n", wantStderr: []string{"hello, stderr\n"}},
		{name: "proc_exit 7", module: "exit7", wantStatus: 7},
		{name: "trap", module: "trap", wantStatus: TrapExitStatus,
			wantStderr: []string{"wasm trap: ", "unreachable", "wasm stack trace"}},
		{name: "reactor export after _initialize", module: "reactor", function: "greet",
			wantStdout: "greetings from a reactor\n"},
		{name: "stdin", module: "fileio", args: []string{"cat", "-"}, stdin: "from stdin\n",
			wantStdout: "from stdin\n"},
		{name: "env gets PWD from cwd", module: "fileio", args: []string{"env"}, env: []string{"A=1", "B=x=y"},
			cwd: "/work", wantStdout: "A=1\nB=x=y\nPWD=/work\n"},
		{name: "env gets no PWD at the root", module: "fileio", args: []string{"env"}, env: []string{"A=1"},
			cwd: "/", wantStdout: "A=1\n"},
		{name: "env keeps its own PWD", module: "fileio", args: []string{"env"}, env: []string{"PWD=/mine"},
			cwd: "/work", wantStdout: "PWD=/mine\n"},
		{name: "usage error of the guest", module: "fileio", args: []string{"x"}, wantStatus: 2},
		{name: "missing file in guest", module: "fileio", args: []string{"cat", "nope.txt"}, wantStatus: 44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, tt.module, tt.args...)
			rc.Function, rc.Env = tt.function, tt.env
			if tt.cwd != "" {
				rc.Cwd = tt.cwd
			}
			var pid int
			got := runGuest(t, rc, tt.stdin, testOptions(&pid))
			if got.status != tt.wantStatus {
				t.Errorf("status %d, want %d (stderr %q)", got.status, tt.wantStatus, got.stderr)
			}
			if got.stdout != tt.wantStdout {
				t.Errorf("stdout %q, want %q", got.stdout, tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(got.stderr, want) {
					t.Errorf("stderr %q lacks %q", got.stderr, want)
				}
			}
			if len(tt.wantStderr) == 0 && got.stderr != "" {
				t.Errorf("unexpected stderr %q", got.stderr)
			}
		})
	}
}

func TestSpawnFailsBeforeReady(t *testing.T) {
	tests := []struct {
		name     string
		module   string
		function string
		// prepare changes the rootfs before Spawn.
		prepare  func(t *testing.T, rootfs string)
		category error
		want     []string
	}{
		{name: "not wasm", module: "hello", category: errdefs.ErrInvalidArgument,
			prepare: func(t *testing.T, rootfs string) {
				writeFile(t, filepath.Join(rootfs, "app.wasm"), "#!/bin/sh\necho not wasm\n")
			},
			want: []string{`compile module "/app.wasm"`, "magic"}},
		{name: "missing module", module: "hello", category: errdefs.ErrNotFound,
			prepare: func(t *testing.T, rootfs string) {
				if err := os.Remove(filepath.Join(rootfs, "app.wasm")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`open module "/app.wasm"`, "no such file"}},
		{name: "module symlink out of the rootfs stays inside", module: "hello", category: errdefs.ErrNotFound,
			prepare: func(t *testing.T, rootfs string) {
				// A valid module on the host, outside the rootfs: the
				// absolute link must resolve inside the rootfs, where
				// nothing is.
				host := filepath.Join(filepath.Dir(rootfs), "host.wasm")
				if err := os.Rename(filepath.Join(rootfs, "app.wasm"), host); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(host, filepath.Join(rootfs, "app.wasm")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`open module "/app.wasm"`}},
		{name: "missing export", module: "reactor", function: "nope", category: errdefs.ErrInvalidArgument,
			want: []string{`"nope"`, "_initialize, add, greet"}},
		{name: "export with parameters", module: "reactor", function: "add", category: errdefs.ErrInvalidArgument,
			want: []string{`"add"`, "2 parameters"}},
		{name: "command without _start", module: "reactor", category: errdefs.ErrInvalidArgument,
			want: []string{"no _start", "greet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, tt.module)
			rc.Function = tt.function
			if tt.prepare != nil {
				tt.prepare(t, rc.Rootfs)
			}
			err := spawnFailure(t, rc)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if !errors.Is(err, tt.category) {
				t.Errorf("error %q is not %v", err, tt.category)
			}
		})
	}
}

func TestSpawnImportNotProvided(t *testing.T) {
	rc := runConfig(t, "hello")
	// hello.wasm with its import module renamed from wasi_snapshot_preview1
	// to a same-length name no host provides.
	wasm, err := os.ReadFile(filepath.Join(rc.Rootfs, "app.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(string(wasm), "wasi_snapshot_preview1", "wasi_snapshot_preview9", 1)
	if renamed == string(wasm) {
		t.Fatal("import module name not found in hello.wasm")
	}
	writeFile(t, filepath.Join(rc.Rootfs, "app.wasm"), renamed)
	err = spawnFailure(t, rc)
	if !strings.Contains(err.Error(), "wasi_snapshot_preview9.fd_write") || !errdefs.IsInvalidArgument(err) {
		t.Errorf("error %q: want an invalid argument naming wasi_snapshot_preview9.fd_write", err)
	}
}

func TestSetupErrorAbortsSpawn(t *testing.T) {
	var pid int
	opts := Options{Exe: instanceExe(), Setup: func(p int) error {
		pid = p
		return errors.New("no cgroup for you")
	}}
	gio := newGuestIO(t, "")
	inst, err := Spawn(context.Background(), runConfig(t, "hello"), gio.stdio, opts)
	if err == nil {
		inst.Close()
		t.Fatal("Spawn succeeded despite the Setup error")
	}
	if !strings.Contains(err.Error(), "no cgroup for you") {
		t.Errorf("error %q does not carry the Setup error", err)
	}
	if status := waitExit(t, pid); status != 137 {
		t.Errorf("instance exited with %d, want 137 (killed)", status)
	}
}

func TestSpawnContextCancelled(t *testing.T) {
	var pid int
	opts := testOptions(&pid)
	ctx, cancel := context.WithCancel(context.Background())
	setup := opts.Setup
	opts.Setup = func(p int) error {
		cancel()
		return setup(p)
	}
	_, err := Spawn(ctx, runConfig(t, "hello"), Stdio{}, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if status := waitExit(t, pid); status != 137 {
		t.Errorf("instance exited with %d, want 137 (killed)", status)
	}
}

func TestCloseBeforeStartEndsInstanceQuietly(t *testing.T) {
	var pid int
	gio := newGuestIO(t, "")
	inst, err := Spawn(context.Background(), runConfig(t, "hello"), gio.stdio, testOptions(&pid))
	if err != nil {
		t.Fatal(err)
	}
	gio.release()
	if err := inst.Close(); err != nil {
		t.Fatal(err)
	}
	if status := waitExit(t, pid); status != 0 {
		t.Errorf("status %d, want 0", status)
	}
	if out := gio.stdout.wait(t) + gio.stderr.wait(t); out != "" {
		t.Errorf("guest ran: output %q", out)
	}
	if err := inst.Start(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Start after Close: %v, want failed precondition", err)
	}
}

func TestStartTwiceAndSignalAfterExit(t *testing.T) {
	var pid int
	inst, err := Spawn(context.Background(), runConfig(t, "hello"), Stdio{}, testOptions(&pid))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if inst.Pid() != pid || pid <= 0 {
		t.Fatalf("Pid() = %d, Setup saw %d", inst.Pid(), pid)
	}
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second Start: %v, want failed precondition", err)
	}
	if status := waitExit(t, pid); status != 0 {
		t.Errorf("status %d, want 0", status)
	}
	if err := inst.Signal(syscall.SIGKILL); !errdefs.IsNotFound(err) {
		t.Errorf("Signal after exit: %v, want not found", err)
	}
}

func TestSignalStopsSpinningGuest(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want int
		// pidNamespace makes the instance pid 1 of its own pid namespace,
		// where the kernel applies no default action.
		pidNamespace bool
	}{
		{sig: syscall.SIGKILL, want: 137},
		{sig: syscall.SIGTERM, want: 143},
		{sig: syscall.SIGKILL, want: 137, pidNamespace: true},
		{sig: syscall.SIGTERM, want: 143, pidNamespace: true},
		{sig: syscall.SIGINT, want: 130, pidNamespace: true},
	}
	for _, tt := range tests {
		name := tt.sig.String()
		if tt.pidNamespace {
			name += " as pid 1"
		}
		t.Run(name, func(t *testing.T) {
			var pid int
			gio := newGuestIO(t, "")
			rc := runConfig(t, "spin")
			if tt.pidNamespace {
				rc.Namespaces = []oci.Namespace{{Type: oci.NamespacePID}}
			}
			inst, err := Spawn(context.Background(), rc, gio.stdio, testOptions(&pid))
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close()
			gio.release()
			if err := inst.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for gio.stdout.String() != "spinning\n" {
				if time.Now().After(deadline) {
					t.Fatalf("guest never started spinning (stdout %q)", gio.stdout.String())
				}
				time.Sleep(time.Millisecond)
			}
			// Let it settle into the loop.
			time.Sleep(20 * time.Millisecond)
			sent := time.Now()
			if err := inst.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			status := waitExit(t, pid)
			if took := time.Since(sent); took > time.Second {
				t.Errorf("took %v to stop", took)
			}
			if status != tt.want {
				t.Errorf("status %d, want %d", status, tt.want)
			}
		})
	}
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnWithMisbehavingInstance(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		want    error
		wantMsg string
	}{
		{name: "never reports", script: "exec sleep 100", timeout: 200 * time.Millisecond,
			want: context.DeadlineExceeded},
		{name: "dies before reporting", script: "read config <&3; exit 3", timeout: 10 * time.Second,
			wantMsg: "ended before it was ready"},
		{name: "reports garbage", script: "read config <&3; echo garbage >&4", timeout: 10 * time.Second,
			wantMsg: "unreadable status"},
		{name: "reports a line without end", script: "read config <&3; head -c 70000 /dev/zero | tr '\\0' x >&4; exec sleep 100",
			timeout: 10 * time.Second, wantMsg: "status line longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "instance.sh")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			var pid int
			opts := testOptions(&pid)
			opts.Exe = exe
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			started := time.Now()
			_, err := Spawn(ctx, runConfig(t, "hello"), Stdio{}, opts)
			if err == nil {
				t.Fatal("Spawn succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
			if took := time.Since(started); took > tt.timeout+time.Second {
				t.Errorf("Spawn took %v", took)
			}
			waitExit(t, pid)
		})
	}
}
