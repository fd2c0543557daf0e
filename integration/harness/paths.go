package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ShimBinaryName is the file name containerd derives from the runtime name
// io.containerd.wasmedge.v1.
const ShimBinaryName = "containerd-shim-wasmedge-v1"

// ServerBinaryName is the shim server's binary, which the shim binary
// embeds and writes out as ServerBinaryName-<hash of its content>.
const ServerBinaryName = "wasmedge-shim-server"

// IsShimServerExe reports whether base, the base name of a process's
// executable, is the wasm shim server: the embedded server binary, or the
// shim binary itself when built without it embedded.
func IsShimServerExe(base string) bool {
	return base == ShimBinaryName || strings.HasPrefix(base, ServerBinaryName+"-")
}

// RuntimeName is the runtime name that selects the shim under test.
const RuntimeName = "io.containerd.wasmedge.v1"

// envOr returns the environment variable name, or def when it is unset or
// empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// repoRoot finds the module root by walking up from the working directory
// (go test runs in the package directory) to the first go.mod. It returns ""
// when there is none, and the callers' defaults then fail loudly.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ShimBinDir is the directory holding the shim binary under test: $SHIM_BIN_DIR
// or <repo>/bin.
func ShimBinDir() string {
	return envOr("SHIM_BIN_DIR", filepath.Join(repoRoot(), "bin"))
}

// WasmDir is the directory holding the compiled test modules: $WASM_DIR or
// <repo>/build/wasm.
func WasmDir() string {
	return envOr("WASM_DIR", filepath.Join(repoRoot(), "build", "wasm"))
}

// ShimBinary returns the absolute path of the shim binary under test. A
// missing binary fails the test: CI must never pass by skipping.
func ShimBinary(t testing.TB) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(ShimBinDir(), ShimBinaryName))
	if err != nil {
		t.Fatalf("shim binary: %v", err)
	}
	requireExecutable(t, path, "run `make build`")
	return path
}

// WasmPath returns the path of the compiled test module name (for example
// "wasitool.wasm"), failing the test if it has not been built.
func WasmPath(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(WasmDir(), name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test module %s missing (run `make wasm`): %v", name, err)
	}
	return path
}

// WasmModule returns the bytes of the compiled test module name.
func WasmModule(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(WasmPath(t, name))
	if err != nil {
		t.Fatalf("read test module: %v", err)
	}
	return data
}

// requireExecutable fails the test with a hint when path is not an executable
// file.
func requireExecutable(t testing.TB, path, hint string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("required binary missing: %v (%s)", err, hint)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("required binary %s is not an executable file (%s)", path, hint)
	}
}
