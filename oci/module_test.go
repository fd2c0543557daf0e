//go:build linux

package oci

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

// coreModule is the smallest valid core module: the preamble alone.
var coreModule = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// testRootfs lays out a rootfs in a temp dir for lookup tests and returns
// its path and the host path of a valid module planted outside of it.
func testRootfs(t *testing.T) (rootfs, outside string) {
	t.Helper()
	tmp := t.TempDir()
	rootfs = filepath.Join(tmp, "a", "rootfs")
	outside = filepath.Join(tmp, "evil.wasm")
	files := map[string][]byte{
		"app/hello.wasm":               coreModule,
		"app/lib.wasm":                 coreModule,
		"usr/bin/tool.wasm":            coreModule,
		"usr/bin/dup.wasm":             coreModule,
		"opt/bin/custom.wasm":          coreModule,
		"opt/bin/skip.wasm":            coreModule,
		"work/rel.wasm":                coreModule,
		"work/dup.wasm":                coreModule,
		"work/sub/nested.wasm":         coreModule,
		"we#ird/m.wasm":                coreModule,
		"hello.txt":                    []byte("hello world\n"),
		"empty.wasm":                   nil,
		"short.wasm":                   []byte("\x00as"),
		"shortmagic.wasm":              []byte("\x00asm\x01"),
		"component.wasm":               []byte("\x00asm\x0d\x00\x01\x00\x01\x00"),
		"v2.wasm":                      []byte("\x00asm\x02\x00\x00\x00"),
		"elf":                          []byte("\x7fELF\x02\x01\x01\x00"),
		"../../evil.wasm":              coreModule, // outside the rootfs
		"opt/dirfirst/.keep":           nil,
		"opt/onlydir/.keep":            nil,
		"dir.wasm/.keep":               nil,
		"opt/dirfirst/skip.wasm/.keep": nil,
		"opt/onlydir/skip.wasm/.keep":  nil,
	}
	for name, data := range files {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"links/abs.wasm":     "/app/hello.wasm",
		"links/rel.wasm":     "../app/hello.wasm",
		"links/escape.wasm":  "../../../evil.wasm",
		"links/hostabs.wasm": outside,
		"links/loop.wasm":    "/links/loop.wasm",
		"links/text.wasm":    "/hello.txt",
		"applink":            "/app",
		"bin":                "usr/bin",
	}
	for name, target := range links {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(rootfs, "fifo.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The escaping links must reach the planted module when followed on
	// the host, or the containment tests below would prove nothing.
	for _, l := range []string{"links/escape.wasm", "links/hostabs.wasm"} {
		if _, err := os.Stat(filepath.Join(rootfs, l)); err != nil {
			t.Fatalf("host-side %s does not reach the planted module: %v", l, err)
		}
	}
	return rootfs, outside
}

func TestResolveModule(t *testing.T) {
	rootfs, _ := testRootfs(t)
	tests := []struct {
		name       string
		arg0       string
		cwd        string
		env        []string
		wantModule string
		wantFunc   string
		wantErr    func(error) bool
		wantMsg    []string // substrings of the error
	}{
		// Absolute paths.
		{name: "absolute", arg0: "/app/hello.wasm", wantModule: "/app/hello.wasm"},
		{name: "absolute ignores cwd", arg0: "/app/hello.wasm", cwd: "/work", wantModule: "/app/hello.wasm"},
		{name: "absolute unclean", arg0: "/app//./hello.wasm", wantModule: "/app/hello.wasm"},
		{name: "absolute with function", arg0: "/app/lib.wasm#greet", wantModule: "/app/lib.wasm", wantFunc: "greet"},
		{name: "hash inside a directory name", arg0: "/we#ird/m.wasm", wantModule: "/we#ird/m.wasm"},
		{name: "hash in directory and function", arg0: "/we#ird/m.wasm#run", wantModule: "/we#ird/m.wasm", wantFunc: "run"},
		{name: "empty function", arg0: "/app/lib.wasm#", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`entrypoint "/app/lib.wasm#": empty function name`}},
		{name: "empty module path", arg0: "#greet", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{"empty module path"}},
		{name: "empty arg0", arg0: "", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{"empty module path"}},

		// Relative paths with a slash: from cwd, never from PATH.
		{name: "relative to cwd", arg0: "sub/nested.wasm", cwd: "/work", wantModule: "/work/sub/nested.wasm"},
		{name: "dot-slash relative to cwd", arg0: "./rel.wasm", cwd: "/work", wantModule: "/work/rel.wasm"},
		{name: "relative to default cwd", arg0: "app/hello.wasm", wantModule: "/app/hello.wasm"},
		{name: "relative with dotdot", arg0: "../app/hello.wasm", cwd: "/work", wantModule: "/app/hello.wasm"},
		{name: "relative with slash skips PATH", arg0: "bin/tool.wasm", cwd: "/work", wantErr: errdefs.IsNotFound, wantMsg: []string{`module "bin/tool.wasm": not found (looked up as "/work/bin/tool.wasm") in rootfs ` + rootfs}},
		{name: "relative cwd taken from root", arg0: "./rel.wasm", cwd: "work", wantModule: "/work/rel.wasm"},

		// Bare names: cwd, then PATH.
		{name: "bare in cwd", arg0: "rel.wasm", cwd: "/work", wantModule: "/work/rel.wasm"},
		{name: "bare in default PATH", arg0: "tool.wasm", wantModule: "/usr/bin/tool.wasm"},
		{name: "bare with function", arg0: "tool.wasm#run", wantModule: "/usr/bin/tool.wasm", wantFunc: "run"},
		{name: "cwd before PATH", arg0: "dup.wasm", cwd: "/work", wantModule: "/work/dup.wasm"},
		{name: "PATH when not in cwd", arg0: "dup.wasm", cwd: "/app", wantModule: "/usr/bin/dup.wasm"},
		{name: "PATH from env", arg0: "custom.wasm", env: []string{"HOME=/", "PATH=/opt/bin:/usr/bin"}, wantModule: "/opt/bin/custom.wasm"},
		{name: "not in default PATH", arg0: "custom.wasm", wantErr: errdefs.IsNotFound, wantMsg: []string{`PATH "` + defaultPath + `"`}},
		{name: "env PATH replaces default", arg0: "tool.wasm", env: []string{"PATH=/opt/bin"}, wantErr: errdefs.IsNotFound, wantMsg: []string{`module "tool.wasm": not found in cwd "/" or PATH "/opt/bin" of rootfs ` + rootfs}},
		{name: "last PATH wins", arg0: "custom.wasm", env: []string{"PATH=/nowhere", "PATH=/opt/bin"}, wantModule: "/opt/bin/custom.wasm"},
		{name: "PATHX is not PATH", arg0: "custom.wasm", env: []string{"PATHX=/opt/bin"}, wantErr: errdefs.IsNotFound},
		{name: "relative PATH entry from cwd", arg0: "custom.wasm", cwd: "/opt", env: []string{"PATH=bin"}, wantModule: "/opt/bin/custom.wasm"},
		{name: "empty PATH entries skipped", arg0: "custom.wasm", env: []string{"PATH=::/opt/bin:"}, wantModule: "/opt/bin/custom.wasm"},
		{name: "directory in PATH skipped", arg0: "skip.wasm", env: []string{"PATH=/opt/dirfirst:/opt/bin"}, wantModule: "/opt/bin/skip.wasm"},
		{name: "only a directory in PATH", arg0: "skip.wasm", env: []string{"PATH=/opt/onlydir"}, wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/opt/onlydir/skip.wasm": is a directory, not a WebAssembly module`}},
		{name: "PATH through a symlinked directory", arg0: "tool.wasm", env: []string{"PATH=/bin"}, wantModule: "/bin/tool.wasm"},
		{name: "non-wasm found first in PATH", arg0: "hello.txt", env: []string{"PATH=/"}, cwd: "/app", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/hello.txt": not a WebAssembly module`}},

		// Symlinks resolve inside the rootfs and keep the name looked up.
		{name: "absolute symlink", arg0: "/links/abs.wasm", wantModule: "/links/abs.wasm"},
		{name: "relative symlink", arg0: "/links/rel.wasm", wantModule: "/links/rel.wasm"},
		{name: "symlinked directory", arg0: "/applink/hello.wasm", wantModule: "/applink/hello.wasm"},
		{name: "dotdot symlink stays in rootfs", arg0: "/links/escape.wasm", wantErr: errdefs.IsNotFound, wantMsg: []string{`module "/links/escape.wasm": not found in rootfs`}},
		{name: "host-absolute symlink stays in rootfs", arg0: "/links/hostabs.wasm", wantErr: errdefs.IsNotFound},
		{name: "dotdot path stays in rootfs", arg0: "/../../evil.wasm", wantErr: errdefs.IsNotFound},
		{name: "relative dotdot stays in rootfs", arg0: "../../../../evil.wasm", cwd: "/work", wantErr: errdefs.IsNotFound},
		{name: "symlink to text file", arg0: "/links/text.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/links/text.wasm": not a WebAssembly module`}},
		{name: "symlink loop", arg0: "/links/loop.wasm", wantErr: func(err error) bool { return errors.Is(err, syscall.ELOOP) }, wantMsg: []string{`module "/links/loop.wasm": open in rootfs`}},

		// Content checks.
		{name: "text file", arg0: "/hello.txt", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/hello.txt": not a WebAssembly module (no \0asm header)`}},
		{name: "ELF binary", arg0: "/elf", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/elf": not a WebAssembly module (a native executable)`}},
		{name: "empty file", arg0: "/empty.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/empty.wasm": not a WebAssembly module (empty file)`}},
		{name: "short file", arg0: "/short.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{"truncated header, 3 bytes"}},
		{name: "magic without version", arg0: "/shortmagic.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{"truncated header, 5 bytes"}},
		{name: "component", arg0: "/component.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/component.wasm": is a WebAssembly component; only core modules (WASI preview 1) are supported`}},
		{name: "unknown version", arg0: "/v2.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{"unknown binary version 02 00 00 00"}},
		{name: "directory", arg0: "/dir.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/dir.wasm": is a directory, not a WebAssembly module`}},
		{name: "fifo does not block", arg0: "/fifo.wasm", wantErr: errdefs.IsInvalidArgument, wantMsg: []string{`module "/fifo.wasm": is a FIFO, not a WebAssembly module`}},

		// Missing.
		{name: "missing absolute", arg0: "/nope.wasm", wantErr: errdefs.IsNotFound, wantMsg: []string{`module "/nope.wasm": not found in rootfs ` + rootfs}},
		{name: "missing directory on the way", arg0: "/nodir/x.wasm", wantErr: errdefs.IsNotFound},
		{name: "file on the way", arg0: "/hello.txt/x.wasm", wantErr: errdefs.IsNotFound},
		{name: "missing bare", arg0: "nope.wasm", cwd: "/work", wantErr: errdefs.IsNotFound, wantMsg: []string{`module "nope.wasm": not found in cwd "/work" or PATH`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			module, function, err := ResolveModule(rootfs, tc.arg0, tc.cwd, tc.env)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ResolveModule(%q) = %q, %q, want an error", tc.arg0, module, function)
				}
				if !tc.wantErr(err) {
					t.Errorf("ResolveModule(%q) error %q has the wrong category", tc.arg0, err)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("ResolveModule(%q) error %q does not contain %q", tc.arg0, err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveModule(%q): %v", tc.arg0, err)
			}
			if module != tc.wantModule || function != tc.wantFunc {
				t.Errorf("ResolveModule(%q) = %q, %q, want %q, %q", tc.arg0, module, function, tc.wantModule, tc.wantFunc)
			}
		})
	}
}

func TestResolveModuleMissingRootfs(t *testing.T) {
	rootfs := filepath.Join(t.TempDir(), "gone")
	_, _, err := ResolveModule(rootfs, "/hello.wasm", "/", nil)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "rootfs "+rootfs+" does not exist") {
		t.Fatalf("ResolveModule() error = %v, want not found naming the rootfs", err)
	}
}

// TestNativeExecutable checks that Linux executables are told apart from
// other non-modules, so the shim can hand them to runc.
func TestNativeExecutable(t *testing.T) {
	rootfs := t.TempDir()
	files := map[string][]byte{
		"/elf":    append([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}, make([]byte, 64)...),
		"/script": []byte("#!/bin/sh\necho hi\n"),
		"/text":   []byte("plain text file\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, native := range map[string]bool{"/elf": true, "/script": true, "/text": false} {
		_, _, err := ResolveModule(rootfs, name, "/", nil)
		var nerr *NativeExecutableError
		if got := errors.As(err, &nerr); got != native {
			t.Errorf("%s: native = %v (%v), want %v", name, got, err, native)
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v is not an invalid argument", name, err)
		}
		if native && nerr.Path != name {
			t.Errorf("%s: path %q", name, nerr.Path)
		}
	}
}
