//go:build linux

package installer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestHostCommandRunsHostBinaries(t *testing.T) {
	out, err := HostCommand{Root: "/"}.Run(context.Background(), []string{"sh", "-c", "echo $PATH"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "/usr/sbin") {
		t.Fatalf("output %q: the command did not get the host PATH", out)
	}
	_, err = HostCommand{Root: "/"}.Run(context.Background(), []string{"sh", "-c", "echo boom >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the command's output in the error", err)
	}
}

func TestHostCommandLooksUpInsideRoot(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "usr/sbin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "nsenter"), []byte("#!/bin/sh\n"), 0o755)
	// An absolute symlink resolves on the host, not inside our root.
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.Symlink("/usr/lib/systemd/systemctl-real", filepath.Join(root, "usr/bin/systemctl"))
	h := HostCommand{Root: root}
	for name, want := range map[string]string{"nsenter": "/usr/sbin/nsenter", "systemctl": "/usr/bin/systemctl", "/abs/tool": "/abs/tool"} {
		got, err := h.lookPath(root, name)
		if err != nil || got != want {
			t.Errorf("lookPath(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := h.Run(context.Background(), []string{"snap", "restart"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing binary: err = %v, want ErrNotFound", err)
	}
	if _, err := h.Run(context.Background(), nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("empty argv: err = %v", err)
	}
}
