//go:build linux

package guestfs

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	wazerosysfs "github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// TestWASIGuestCannotEscape runs a real Go wasip1 program (testdata/escape)
// under wazero with FS mounted at "/" and checks, line by line, what each of
// its escape attempts got.
func TestWASIGuestCannotEscape(t *testing.T) {
	wasm := buildGuest(t)

	fx := newFixture(t)
	mustSymlink(t, fx.secret, filepath.Join(fx.root, "abs-secret"))
	mustSymlink(t, strings.Repeat("../", 8), filepath.Join(fx.root, "rel-up"))
	mustSymlink(t, "/etc", filepath.Join(fx.root, "etc-link"))
	secretInfo, err := os.Stat(fx.secret)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fx.open(t)

	output := runGuest(t, wasm, wazero.NewFSConfig().(wazerosysfs.FSConfig).WithSysFSMount(fsys, "/"), fx.secret)
	if strings.Contains(output, secretContent) {
		t.Fatalf("guest read the host secret:\n%s", output)
	}
	results := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(output), "\n") {
		route, result, _ := strings.Cut(line, ": ")
		results[route] = result
	}
	notFound := func(op, name string) string { return "ERR " + op + " " + name + ": No such file or directory" }
	up := strings.Repeat("../", 12)
	tests := []struct{ route, want string }{
		{"in-root", "OK in-root-hello"},
		{"absolute", notFound("open", fx.secret)},
		{"dotdot", notFound("open", up+fx.secret[1:])},
		{"image-abs-symlink", notFound("open", "/abs-secret")},
		{"image-rel-symlink", notFound("open", "/rel-up"+fx.secret)},
		{"image-etc-symlink", "OK in-root-passwd"},
		{"proc-root", notFound("open", "/proc/self/root"+fx.secret)},
		{"symlink-abs", "OK "},
		{"via-symlink-abs", notFound("open", "/made-abs")},
		{"symlink-up", "OK "},
		{"via-symlink-up", notFound("open", "/made-up"+fx.secret)},
		{"symlink-proc", "OK "},
		{"via-symlink-proc", notFound("open", "/made-proc"+fx.secret)},
		{"symlink-dir-dotdot", "OK "},
		{"via-symlink-dir-dotdot", notFound("open", "/made-dir/"+up+fx.secret[1:])},
		{"hardlink", notFound("link", fx.secret+" /hard")},
		{"hardlink-via-symlink", "OK "},
		{"via-hardlink-via-symlink", notFound("open", "/hard2")},
		{"rename-out", "OK "},
		{"write", "OK "},
		{"read-back", "OK written-by-guest"},
		{"mkdir", "OK "},
		{"remove", "OK "},
		{"readdir", "OK abs-secret,data,etc,etc-link,hard2,made-abs,made-dir,made-proc,made-up,moved.txt,rel-up"},
	}
	for _, tc := range tests {
		if got, ok := results[tc.route]; !ok {
			t.Errorf("%s: no output", tc.route)
		} else if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.route, got, tc.want)
		}
	}
	if _, err := os.Lstat(filepath.Join(fx.root, "moved.txt")); err != nil {
		t.Errorf("rename out of the root did not stay inside it: %v", err)
	}
	fx.checkSecretIntact(t, secretInfo.Mode(), secretInfo.ModTime().UnixNano())
}

// TestWASIGuestEscapesWazeroDirMount is the control for the test above: the
// same guest over wazero's own directory mount does reach the host secret,
// which shows the guest's routes are real and why FS exists.
func TestWASIGuestEscapesWazeroDirMount(t *testing.T) {
	wasm := buildGuest(t)
	fx := newFixture(t)
	mustSymlink(t, strings.Repeat("../", 8), filepath.Join(fx.root, "rel-up"))
	output := runGuest(t, wasm, wazero.NewFSConfig().WithDirMount(fx.root, "/"), fx.secret)
	if !strings.Contains(output, "via-symlink-up: OK "+secretContent) {
		t.Errorf("expected wazero's directory mount to let a guest-made symlink escape; got:\n%s", output)
	}
}

// runGuest runs the escape guest with the given filesystem and real clocks
// and randomness, and returns its standard output.
func runGuest(t *testing.T, wasm []byte, fsConfig wazero.FSConfig, secret string) string {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var stdout, stderr bytes.Buffer
	config := wazero.NewModuleConfig().
		WithArgs("escape", secret).
		WithStdout(&stdout).
		WithStderr(&stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithFSConfig(fsConfig)
	_, err := rt.InstantiateWithConfig(ctx, wasm, config)
	if exitErr, ok := err.(*sys.ExitError); ok && exitErr.ExitCode() == 0 {
		err = nil
	}
	if err != nil {
		t.Fatalf("guest failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// buildGuest compiles testdata/escape for wasip1 with the go tool running
// this test.
func buildGuest(t *testing.T) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, statErr := os.Stat(goTool); statErr != nil {
			t.Skipf("go tool not found: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), "escape.wasm")
	cmd := exec.Command(goTool, "build", "-o", out, "./testdata/escape")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest: %v\n%s", err, output)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}
