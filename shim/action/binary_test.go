//go:build linux

package action

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInstallBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	bin := []byte("\x7fELF pretend binary")
	path, err := InstallBinary(dir, "wasmedge-instance", "", bin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("written %q, %v", got, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", st.Mode())
	}
	// The same content again: the same file, nothing rewritten.
	before, _ := os.Stat(path)
	again, err := InstallBinary(dir, "wasmedge-instance", "", bin)
	if err != nil || again != path {
		t.Fatalf("second install %q, %v", again, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Errorf("file replaced although its content was right")
	}
	// A truncated file of that name is replaced.
	if err := os.WriteFile(path, bin[:4], 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallBinary(dir, "wasmedge-instance", "", bin); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, bin) {
		t.Errorf("damaged file kept: %q", got)
	}
	// Another version gets a name of its own.
	other, err := InstallBinary(dir, "wasmedge-instance", "", []byte("another version"))
	if err != nil || other == path {
		t.Fatalf("other version at %q, %v", other, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in %s, want 2 (no temporary left)", len(entries), dir)
	}
}

func TestInstallBinaryUsesTheGivenSum(t *testing.T) {
	dir := t.TempDir()
	const sum = "0123456789abcdef0123"
	path, err := InstallBinary(dir, "server", sum, []byte("content"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "server-0123456789abcdef"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	if _, err := InstallBinary(dir, "server", "abc", []byte("content")); err == nil {
		t.Error("a hash of 3 digits was accepted")
	}
}

// Finding its file refreshes its modification time, which keeps a cleanup
// of old versions (RemoveStaleBinaries) from removing it.
func TestInstallBinaryMarksTheFileWanted(t *testing.T) {
	dir := t.TempDir()
	path, err := InstallBinary(dir, "server", "", []byte("content"))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallBinary(dir, "server", "", []byte("content")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(st.ModTime()) > time.Minute {
		t.Errorf("modification time %v, not refreshed", st.ModTime())
	}
}
