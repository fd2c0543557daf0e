package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// BuildStaticGo compiles source (one main package file) into a static
// executable for this machine and returns its bytes, for native images that
// need no libc or shell. It builds in a module of its own so the project's
// go.mod and workspace cannot interfere.
func BuildStaticGo(t testing.TB, source string) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"go.mod":  "module staticprogram\n\ngo 1.21\n",
		"main.go": source,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatalf("BuildStaticGo: %v", err)
		}
	}
	out := filepath.Join(dir, "program")
	cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOFLAGS=")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("BuildStaticGo: %v\n%s", err, output)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("BuildStaticGo: %v", err)
	}
	return data
}

// goTool finds the go command: PATH first, then the CI machines' location.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
