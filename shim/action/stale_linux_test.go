//go:build linux

package action

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRemoveStaleBinaries(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		// otherServerRuns starts a process from a server binary that is not
		// the caller's.
		otherServerRuns bool
		want            []string
	}{
		{
			name: "no other version runs",
			want: []string{".wasmedge-instance-tmp1", "wasmedge-instance-old", "wasmedge-shim-server-old"},
		},
		{
			name:            "a server of another version runs",
			otherServerRuns: true,
			// Its instance binary could still be started: no instance goes.
			want: []string{"wasmedge-shim-server-old"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]time.Time{
				"wasmedge-shim-server-mine": old,
				"wasmedge-instance-mine":    old,
				"wasmedge-shim-server-old":  old,
				"wasmedge-instance-old":     old,
				".wasmedge-instance-tmp1":   old,
				"wasmedge-shim-server-new":  now, // just installed, not yet run
				"wasmedge-instance-new":     now,
				"socket.lock":               old,
			}
			for name, mtime := range files {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(name), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, mtime, mtime); err != nil {
					t.Fatal(err)
				}
			}
			if tc.otherServerRuns {
				running := filepath.Join(dir, "wasmedge-shim-server-running")
				copyFile(t, "/bin/sleep", running)
				if err := os.Chtimes(running, old, old); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(running, "60")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			}
			keep := []string{filepath.Join(dir, "wasmedge-shim-server-mine"), filepath.Join(dir, "wasmedge-instance-mine")}
			removed, err := RemoveStaleBinaries(dir, keep, now)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(removed)
			if !slices.Equal(removed, tc.want) {
				t.Fatalf("removed %q, want %q", removed, tc.want)
			}
			for name := range files {
				_, err := os.Stat(filepath.Join(dir, name))
				if gone := os.IsNotExist(err); gone != slices.Contains(tc.want, name) {
					t.Errorf("%s: gone %v", name, gone)
				}
			}
			if tc.otherServerRuns {
				if _, err := os.Stat(filepath.Join(dir, "wasmedge-shim-server-running")); err != nil {
					t.Errorf("the running server's binary: %v", err)
				}
			}
		})
	}
	if removed, err := RemoveStaleBinaries(filepath.Join(t.TempDir(), "missing"), nil, now); err != nil || len(removed) > 0 {
		t.Errorf("missing dir: removed %q, %v", removed, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
