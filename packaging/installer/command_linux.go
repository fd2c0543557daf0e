//go:build linux

package installer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
)

// Run runs argv inside the host root. The binary is looked up in the
// host's directories, because exec.LookPath would search the installer's
// own (empty) filesystem.
func (h HostCommand) Run(ctx context.Context, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: empty command", errdefs.ErrInvalidArgument)
	}
	root := h.Root
	if root == "" {
		root = "/"
	}
	bin, err := h.lookPath(root, argv[0])
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path: bin,
		Args: argv,
		Dir:  "/",
		Env:  []string{"PATH=" + strings.Join(hostPATH, ":")},
	}
	if root != "/" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	}
	// exec.Cmd built by hand has no context; kill the command if ctx ends.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
		case <-done:
		}
	}()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("host command %q: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// lookPath resolves name to a path inside root.
func (HostCommand) lookPath(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range hostPATH {
		p := path.Join(dir, name)
		// Lstat: an absolute symlink on the host (merged /usr, snap's
		// wrappers) points into the host root, not into ours.
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 || (fi.Mode().IsRegular() && fi.Mode()&0o111 != 0) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %q is not installed on the host (searched %s under %s)", errdefs.ErrNotFound, name, strings.Join(hostPATH, ":"), root)
}
