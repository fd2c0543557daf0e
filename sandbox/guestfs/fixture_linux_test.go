//go:build linux

package guestfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// secretContent marks the host file planted beside the root; no route may
// ever return it.
const secretContent = "HOST-SECRET-do-not-read"

// fixture is a root directory with a secret file next to it on the host:
//
//	base/secret.txt         the host secret
//	base/root/              the guest root
//	base/root/etc/passwd    "in-root-passwd"
//	base/root/data/...      ordinary guest files
type fixture struct {
	base   string
	root   string
	secret string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{base: base, root: filepath.Join(base, "root"), secret: filepath.Join(base, "secret.txt")}
	mustWrite(t, fx.secret, secretContent)
	mustWrite(t, filepath.Join(fx.root, "etc", "passwd"), "in-root-passwd")
	mustWrite(t, filepath.Join(fx.root, "data", "hello.txt"), "in-root-hello")
	mustWrite(t, filepath.Join(fx.root, "data", "victim.txt"), "victim")
	return fx
}

// mirror plants a file inside the root at the secret's host path, so a
// route that is correctly confined finds this instead of failing.
func (fx *fixture) mirror(t *testing.T) {
	t.Helper()
	mustWrite(t, filepath.Join(fx.root, fx.secret), "in-root-mirror")
}

func (fx *fixture) open(t *testing.T) *FS {
	t.Helper()
	fsys, err := New(fx.root)
	if err != nil {
		t.Fatalf("New(%q): %v", fx.root, err)
	}
	t.Cleanup(func() { _ = fsys.Close() })
	return fsys
}

// checkSecretIntact fails the test when the host secret was changed in any
// way a confined guest could not have caused.
func (fx *fixture) checkSecretIntact(t *testing.T, wantMode os.FileMode, wantMtime int64) {
	t.Helper()
	data, err := os.ReadFile(fx.secret)
	if err != nil || string(data) != secretContent {
		t.Fatalf("host secret changed: %q, %v", data, err)
	}
	st, err := os.Stat(fx.secret)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != wantMode || st.ModTime().UnixNano() != wantMtime {
		t.Errorf("host secret metadata changed: mode %v mtime %d, want %v %d", st.Mode(), st.ModTime().UnixNano(), wantMode, wantMtime)
	}
	if nlink := statNlink(t, fx.secret); nlink != 1 {
		t.Errorf("host secret has %d links, want 1", nlink)
	}
	entries, err := os.ReadDir(fx.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "root" && e.Name() != "secret.txt" {
			t.Errorf("guest created %q outside its root", filepath.Join(fx.base, e.Name()))
		}
	}
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// readFile opens name through fsys and returns its content or the errno.
func readFile(fsys experimentalsys.FS, name string) (string, experimentalsys.Errno) {
	f, errno := fsys.OpenFile(name, experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		return "", errno
	}
	defer f.Close()
	return readAll(f)
}

func readAll(f experimentalsys.File) (string, experimentalsys.Errno) {
	var sb strings.Builder
	buf := make([]byte, 7) // small, to exercise repeated reads
	for {
		n, errno := f.Read(buf)
		if errno != 0 {
			return sb.String(), errno
		}
		if n == 0 {
			return sb.String(), 0
		}
		sb.Write(buf[:n])
	}
}

func statNlink(t *testing.T, name string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Nlink)
}
