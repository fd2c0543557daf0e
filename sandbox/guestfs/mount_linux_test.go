//go:build linux

package guestfs

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// TestMountsInsideRoot mounts a tmpfs, a bind-mounted volume and procfs
// inside the root, as the sandbox does, in a private mount namespace of this
// test's thread so the host never sees them. Volumes must be traversable;
// /proc's magic links must not be.
func TestMountsInsideRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a mount namespace")
	}
	// The namespace belongs to this thread alone. The thread is never
	// unlocked, so the runtime discards it when the test goroutine ends.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		t.Skipf("unshare(CLONE_NEWNS): %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}

	fx := newFixture(t)
	volume := filepath.Join(fx.base, "volume")
	mustWrite(t, filepath.Join(volume, "data.txt"), "volume-data")
	mustSymlink(t, fx.secret, filepath.Join(volume, "abs-secret"))
	mustSymlink(t, "/proc/self/root", filepath.Join(fx.root, "pr"))
	mounts := []struct{ source, target, fstype string }{
		{"tmpfs", filepath.Join(fx.root, "tmp"), "tmpfs"},
		{volume, filepath.Join(fx.root, "vol"), ""},
		{"proc", filepath.Join(fx.root, "proc"), "proc"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			t.Fatal(err)
		}
		flags := uintptr(0)
		if m.fstype == "" {
			flags = unix.MS_BIND
		}
		if err := unix.Mount(m.source, m.target, m.fstype, flags, ""); err != nil {
			t.Fatalf("mount %s on %s: %v", m.source, m.target, err)
		}
		defer unix.Unmount(m.target, unix.MNT_DETACH)
	}
	fsys := fx.open(t)

	tests := []struct {
		name      string
		do        func() (string, experimentalsys.Errno)
		want      string
		wantErrno experimentalsys.Errno
	}{
		{name: "write and read tmpfs", do: func() (string, experimentalsys.Errno) {
			return writeThenRead(fsys, "tmp/scratch", "on-tmpfs")
		}, want: "on-tmpfs"},
		{name: "read volume", do: func() (string, experimentalsys.Errno) { return readFile(fsys, "/vol/data.txt") }, want: "volume-data"},
		{name: "write volume", do: func() (string, experimentalsys.Errno) {
			return writeThenRead(fsys, "vol/out.txt", "from-guest")
		}, want: "from-guest"},
		{name: "dotdot out of volume", do: func() (string, experimentalsys.Errno) {
			return readFile(fsys, "vol/../../../secret.txt")
		}, wantErrno: experimentalsys.ENOENT},
		{name: "absolute symlink in volume", do: func() (string, experimentalsys.Errno) { return readFile(fsys, "vol/abs-secret") }, wantErrno: experimentalsys.ENOENT},
		{name: "ordinary proc file", do: func() (string, experimentalsys.Errno) {
			data, errno := readFile(fsys, "/proc/self/status")
			return strings.SplitN(data, "\t", 2)[0], errno
		}, want: "Name:"},
		{name: "proc root magic link", do: func() (string, experimentalsys.Errno) {
			return readFile(fsys, "/proc/self/root"+fx.secret)
		}, wantErrno: experimentalsys.ELOOP},
		{name: "proc cwd magic link", do: func() (string, experimentalsys.Errno) { return readFile(fsys, "/proc/self/cwd/secret.txt") }, wantErrno: experimentalsys.ELOOP},
		{name: "proc fd magic link", do: func() (string, experimentalsys.Errno) { return readFile(fsys, "/proc/thread-self/fd/0") }, wantErrno: experimentalsys.ELOOP},
		{name: "symlink to proc root magic link", do: func() (string, experimentalsys.Errno) {
			return readFile(fsys, "pr"+fx.secret)
		}, wantErrno: experimentalsys.ELOOP},
		{name: "stat through magic link", do: func() (string, experimentalsys.Errno) {
			_, errno := fsys.Stat("/proc/self/root/")
			return "", errno
		}, wantErrno: experimentalsys.ELOOP},
	}
	// No t.Run: subtests run on other goroutines, outside this namespace.
	for _, tc := range tests {
		got, errno := tc.do()
		if strings.Contains(got, secretContent) {
			t.Errorf("%s: read the host secret", tc.name)
		}
		if got != tc.want || errno != tc.wantErrno {
			t.Errorf("%s: got (%q, %v), want (%q, %v)", tc.name, got, errno, tc.want, tc.wantErrno)
		}
	}

	if data, err := os.ReadFile(filepath.Join(volume, "out.txt")); err != nil || string(data) != "from-guest" {
		t.Errorf("write through the volume did not reach its source: %q, %v", data, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(fx.root, "tmp", "scratch"), &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("tmp/scratch is not on the tmpfs: type %#x, %v", st.Type, err)
	}
}

func writeThenRead(fsys experimentalsys.FS, name, content string) (string, experimentalsys.Errno) {
	f, errno := fsys.OpenFile(name, experimentalsys.O_CREAT|experimentalsys.O_TRUNC|experimentalsys.O_WRONLY, 0o644)
	if errno != 0 {
		return "", errno
	}
	_, errno = f.Write([]byte(content))
	if closeErrno := f.Close(); errno == 0 {
		errno = closeErrno
	}
	if errno != 0 {
		return "", errno
	}
	return readFile(fsys, name)
}
