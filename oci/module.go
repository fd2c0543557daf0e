package oci

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/containerd/errdefs"
)

// defaultPath is the search path for a bare module name when the spec's
// environment sets no PATH; it is the one runc and Docker give containers.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// wasmMagic opens every WebAssembly binary, module or component.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// coreModuleVersion follows the magic in a core module (binary format 1).
var coreModuleVersion = []byte{0x01, 0x00, 0x00, 0x00}

// componentLayer is the second half of the preamble of a component; its first
// half is a version that has changed between component-model drafts, so only
// the layer is compared.
var componentLayer = []byte{0x01, 0x00}

// ResolveModule finds the module named by arg0 inside rootfs and checks it is
// a core WebAssembly module; it returns the absolute in-rootfs path and the
// function from a "#func" suffix.
//
// Lookup follows the guest's view, as if rootfs were "/": an absolute arg0 is
// taken as is, one containing "/" is relative to cwd, and a bare name is tried
// in cwd, then in each entry of the PATH in env. Symlinks and ".." resolve
// inside rootfs and never reach the host. The returned path is the lookup
// result (not the symlink target), so the sandbox opens exactly what was
// checked here.
func ResolveModule(rootfs, arg0, cwd string, env []string) (module, function string, err error) {
	name, function, err := splitEntrypoint(arg0)
	if err != nil {
		return "", "", err
	}
	if cwd == "" {
		cwd = defaultCwd
	}
	cwd = path.Join("/", cwd)

	root, err := openRoot(rootfs)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("module %q: rootfs %s does not exist: %w", name, rootfs, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", "", fmt.Errorf("module %q: %w", name, err)
	}
	defer root.Close()

	if strings.Contains(name, "/") {
		module = guestPath(cwd, name)
		f, err := openModule(root, module)
		if errors.Is(err, errdefs.ErrNotFound) {
			return "", "", fmt.Errorf("module %q: %s: %w", name, whereLooked(name, module, rootfs), errdefs.ErrNotFound)
		}
		if err != nil {
			return "", "", err
		}
		defer f.Close()
		if err := checkHeader(f, module); err != nil {
			return "", "", err
		}
		return module, function, nil
	}

	searchPath := pathFromEnv(env)
	var firstProblem error
	for _, dir := range append([]string{cwd}, strings.Split(searchPath, ":")...) {
		if dir == "" {
			// POSIX reads an empty PATH entry as the working directory,
			// which was tried first.
			continue
		}
		candidate := guestPath(cwd, path.Join(dir, name))
		f, err := openModule(root, candidate)
		if err != nil {
			// Like execvp, a candidate that exists but cannot be run does
			// not stop the search; it is reported only if nothing better
			// is found.
			if !errors.Is(err, errdefs.ErrNotFound) && firstProblem == nil {
				firstProblem = err
			}
			continue
		}
		defer f.Close()
		if err := checkHeader(f, candidate); err != nil {
			return "", "", err
		}
		return candidate, function, nil
	}
	if firstProblem != nil {
		return "", "", firstProblem
	}
	return "", "", fmt.Errorf("module %q: not found in cwd %q or PATH %q of rootfs %s: %w", name, cwd, searchPath, rootfs, errdefs.ErrNotFound)
}

// guestPath is p as the guest names it, an absolute clean path: a relative p
// is taken from cwd.
func guestPath(cwd, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(cwd, p)
}

// whereLooked says where a path-like module name was looked for, for the
// not-found error.
func whereLooked(name, module, rootfs string) string {
	if name == module {
		return "not found in rootfs " + rootfs
	}
	return fmt.Sprintf("not found (looked up as %q) in rootfs %s", module, rootfs)
}

// splitEntrypoint splits "path.wasm#func" into the module path and the
// function to run. A "#" followed by a "/" belongs to the path, so a
// directory with "#" in its name stays usable.
func splitEntrypoint(arg0 string) (name, function string, err error) {
	name = arg0
	if i := strings.LastIndexByte(arg0, '#'); i >= 0 && !strings.Contains(arg0[i+1:], "/") {
		name, function = arg0[:i], arg0[i+1:]
		if function == "" {
			return "", "", fmt.Errorf("entrypoint %q: empty function name after \"#\": %w", arg0, errdefs.ErrInvalidArgument)
		}
	}
	if name == "" {
		return "", "", fmt.Errorf("entrypoint %q: empty module path: %w", arg0, errdefs.ErrInvalidArgument)
	}
	return name, function, nil
}

// pathFromEnv is the PATH the guest's environment sets. The last entry wins,
// as with Go's os/exec, which dedupes the environment the same way.
func pathFromEnv(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return defaultPath
}

// openModule opens name inside root and makes sure it is a regular file. A
// missing file (or a missing directory on the way) is errdefs.ErrNotFound, so
// that a PATH search can move on; every other error is final and names the
// file.
func openModule(root *os.File, name string) (*os.File, error) {
	f, err := openInRoot(root, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isNotDir(err) {
			return nil, errdefs.ErrNotFound
		}
		return nil, fmt.Errorf("module %q: open in rootfs: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("module %q: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("module %q: is a %s, not a WebAssembly module: %w", name, fileKind(st.Mode()), errdefs.ErrInvalidArgument)
	}
	return f, nil
}

// fileKind names a non-regular file mode for error messages.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// elfMagic and scriptMagic open the files a Linux container runtime can
// execute: ELF binaries and "#!" scripts.
var (
	elfMagic    = []byte{0x7f, 'E', 'L', 'F'}
	scriptMagic = []byte("#!")
)

// NativeExecutableError says the entrypoint is a Linux executable rather
// than a WebAssembly module. The shim runs such containers (pod sandboxes,
// sidecars) with runc instead of failing them; everyone else sees an
// ErrInvalidArgument naming the file.
type NativeExecutableError struct {
	// Path is the executable's path inside the rootfs.
	Path string
}

func (e *NativeExecutableError) Error() string {
	return fmt.Sprintf("module %q: not a WebAssembly module (a native executable)", e.Path)
}

// Is makes the error an errdefs.ErrInvalidArgument.
func (e *NativeExecutableError) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

// checkHeader reads the 8-byte preamble of f and accepts only a core module.
func checkHeader(f io.Reader, module string) error {
	var hdr [8]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if n == 0 {
			return fmt.Errorf("module %q: not a WebAssembly module (empty file): %w", module, errdefs.ErrInvalidArgument)
		}
		if bytes.Equal(hdr[:min(n, len(wasmMagic))], wasmMagic[:min(n, len(wasmMagic))]) {
			return fmt.Errorf("module %q: not a WebAssembly module (truncated header, %d bytes): %w", module, n, errdefs.ErrInvalidArgument)
		}
	case err != nil:
		return fmt.Errorf("module %q: read header: %w", module, err)
	}
	switch {
	case bytes.HasPrefix(hdr[:n], elfMagic) || bytes.HasPrefix(hdr[:n], scriptMagic):
		return &NativeExecutableError{Path: module}
	case !bytes.Equal(hdr[:4], wasmMagic):
		return fmt.Errorf("module %q: not a WebAssembly module (no \\0asm header): %w", module, errdefs.ErrInvalidArgument)
	case bytes.Equal(hdr[4:], coreModuleVersion):
		return nil
	case bytes.Equal(hdr[6:], componentLayer):
		return fmt.Errorf("module %q: is a WebAssembly component; only core modules (WASI preview 1) are supported: %w", module, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("module %q: not a WebAssembly module (unknown binary version % x): %w", module, hdr[4:], errdefs.ErrInvalidArgument)
}
