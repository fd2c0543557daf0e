//go:build linux

package guestfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// TestEscapeRoutes tries every way out of the root through the FS API. A
// confined route either fails or lands on a file inside the root (the
// "mirror" planted at the secret's host path inside the root, or in-root
// /etc/passwd); none may return, change, link or place anything beside the
// host secret.
func TestEscapeRoutes(t *testing.T) {
	fx := newFixture(t)
	fx.mirror(t)
	r := fx.root
	mustSymlink(t, fx.secret, filepath.Join(r, "abs-secret"))
	mustSymlink(t, "/etc", filepath.Join(r, "etc-link"))
	mustSymlink(t, "../../..", filepath.Join(r, "data", "up"))
	mustSymlink(t, "c2", filepath.Join(r, "c1"))
	mustSymlink(t, "data/c3", filepath.Join(r, "c2"))
	mustSymlink(t, "../../../secret.txt", filepath.Join(r, "data", "c3"))
	if err := os.MkdirAll(filepath.Join(r, "data", "deep", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "data/deep/dir", filepath.Join(r, "dl"))
	mustSymlink(t, "/proc/self/root", filepath.Join(r, "pr"))
	mustSymlink(t, "/usr", filepath.Join(r, "host-usr"))
	mustSymlink(t, fx.base, filepath.Join(r, "base-link"))
	mustSymlink(t, filepath.Join(fx.base, "created.txt"), filepath.Join(r, "dangling"))

	secretInfo, err := os.Stat(fx.secret)
	if err != nil {
		t.Fatal(err)
	}
	mirrorIno := inode(t, filepath.Join(r, fx.secret))
	rootIno := inode(t, r)
	fsys := fx.open(t)

	read := func(name string) func() (string, experimentalsys.Errno) {
		return func() (string, experimentalsys.Errno) { return readFile(fsys, name) }
	}
	// then runs an operation and, when it succeeds, reads name back.
	then := func(op func() experimentalsys.Errno, name string) func() (string, experimentalsys.Errno) {
		return func() (string, experimentalsys.Errno) {
			if errno := op(); errno != 0 {
				return "", errno
			}
			return readFile(fsys, name)
		}
	}
	// thenDir runs an operation and, when it succeeds, reports whether name
	// is now a directory.
	thenDir := func(op func() experimentalsys.Errno, name string) func() (string, experimentalsys.Errno) {
		return func() (string, experimentalsys.Errno) {
			if errno := op(); errno != 0 {
				return "", errno
			}
			st, errno := fsys.Stat(name)
			if errno == 0 && st.Mode.IsDir() {
				return "dir", 0
			}
			return "not a dir", errno
		}
	}
	isMirror := func(stat func(string) (sys.Stat_t, experimentalsys.Errno), name string) func() (string, experimentalsys.Errno) {
		return func() (string, experimentalsys.Errno) {
			st, errno := stat(name)
			if errno != 0 {
				return "", errno
			}
			if st.Ino == mirrorIno {
				return "mirror", 0
			}
			return "other", 0
		}
	}

	tests := []struct {
		name      string
		do        func() (string, experimentalsys.Errno)
		want      string
		wantErrno experimentalsys.Errno
	}{
		{name: "dotdot", do: read("../secret.txt"), wantErrno: experimentalsys.ENOENT},
		{name: "rooted dotdot", do: read("/../../secret.txt"), wantErrno: experimentalsys.ENOENT},
		{name: "dotdot chain to host path", do: read(strings.Repeat("../", 10) + fx.secret[1:]), want: "in-root-mirror"},
		{name: "absolute host path", do: read(fx.secret), want: "in-root-mirror"},
		{name: "absolute symlink to secret", do: read("abs-secret"), want: "in-root-mirror"},
		{name: "absolute symlink to /etc", do: read("etc-link/passwd"), want: "in-root-passwd"},
		{name: "relative symlink climbing out", do: read("data/up/secret.txt"), wantErrno: experimentalsys.ENOENT},
		{name: "relative symlink climbing out then in", do: read("data/up/etc/passwd"), want: "in-root-passwd"},
		{name: "symlink chain", do: read("c1"), wantErrno: experimentalsys.ENOENT},
		{name: "symlink to dir then dotdot", do: read("dl/../../../../../secret.txt"), wantErrno: experimentalsys.ENOENT},
		{name: "symlink to dir then dotdot stays physical", do: read("dl/../../hello.txt"), want: "in-root-hello"},
		{name: "symlink to /proc/self/root", do: read("pr" + fx.secret), wantErrno: experimentalsys.ENOENT},
		{name: "/proc/self/root path", do: read("/proc/self/root" + fx.secret), wantErrno: experimentalsys.ENOENT},
		{name: "guest absolute symlink", do: then(func() experimentalsys.Errno { return fsys.Symlink(fx.secret, "g-abs") }, "g-abs"), want: "in-root-mirror"},
		{name: "guest relative symlink out", do: then(func() experimentalsys.Errno { return fsys.Symlink("../../../../..", "g-up") }, "g-up/secret.txt"), wantErrno: experimentalsys.ENOENT},
		{name: "guest relative symlink out then host path", do: read("g-up" + fx.secret), want: "in-root-mirror"},
		{name: "guest symlink into /proc", do: then(func() experimentalsys.Errno { return fsys.Symlink("/proc/self/root/", "g-proc") }, "g-proc"+fx.secret), wantErrno: experimentalsys.ENOENT},
		{name: "hardlink dotdot", do: then(func() experimentalsys.Errno { return fsys.Link("../secret.txt", "hl") }, "hl"), wantErrno: experimentalsys.ENOENT},
		{name: "hardlink host path", do: then(func() experimentalsys.Errno { return fsys.Link(fx.secret, "hl2") }, "hl2"), want: "in-root-mirror"},
		{name: "hardlink of absolute symlink", do: then(func() experimentalsys.Errno { return fsys.Link("abs-secret", "hl3") }, "hl3"), want: "in-root-mirror"},
		{name: "hardlink host dir via trailing slash", do: then(func() experimentalsys.Errno { return fsys.Link("host-usr/", "hl4") }, "hl4"), wantErrno: experimentalsys.ENOENT},
		{name: "hardlink in-root dir via trailing slash", do: then(func() experimentalsys.Errno { return fsys.Link("etc-link/", "hl5") }, "hl5"), wantErrno: experimentalsys.EPERM},
		{name: "hardlink to dotdot target", do: then(func() experimentalsys.Errno { return fsys.Link("data/hello.txt", "../hl6") }, "hl6"), want: "in-root-hello"},
		{name: "rename out by dotdot", do: then(func() experimentalsys.Errno { return fsys.Rename("data/victim.txt", "../victim.txt") }, "victim.txt"), want: "victim"},
		{name: "rename to host path", do: then(func() experimentalsys.Errno { return fsys.Rename("victim.txt", filepath.Join(fx.base, "moved.txt")) }, filepath.Join(fx.base, "moved.txt")), want: "victim"},
		{name: "rename through absolute dir symlink", do: then(func() experimentalsys.Errno {
			return fsys.Rename(filepath.Join(fx.base, "moved.txt"), "base-link/moved2.txt")
		}, filepath.Join(fx.base, "moved2.txt")), want: "victim"},
		{name: "mkdir by dotdot", do: thenDir(func() experimentalsys.Errno { return fsys.Mkdir("../escaped", 0o755) }, "escaped"), want: "dir"},
		{name: "mkdir through absolute dir symlink", do: thenDir(func() experimentalsys.Errno { return fsys.Mkdir("base-link/escaped2", 0o755) }, filepath.Join(fx.base, "escaped2")), want: "dir"},
		{name: "create through dangling absolute symlink", do: func() (string, experimentalsys.Errno) {
			f, errno := fsys.OpenFile("dangling", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
			if errno != 0 {
				return "", errno
			}
			_, errno = f.Write([]byte("created"))
			_ = f.Close()
			if errno != 0 {
				return "", errno
			}
			return readFile(fsys, filepath.Join(fx.base, "created.txt"))
		}, want: "created"},
		{name: "stat through absolute symlink", do: isMirror(fsys.Stat, "abs-secret"), want: "mirror"},
		{name: "stat dotdot chain", do: isMirror(fsys.Stat, "data/up"+fx.secret), want: "mirror"},
		{name: "lstat dotdot is root", do: func() (string, experimentalsys.Errno) {
			st, errno := fsys.Lstat("..")
			if st.Ino != rootIno {
				return "not root", errno
			}
			return "root", errno
		}, want: "root"},
		{name: "chmod through absolute symlink", do: func() (string, experimentalsys.Errno) {
			if errno := fsys.Chmod("abs-secret", 0o600); errno != 0 {
				return "", errno
			}
			st, errno := fsys.Stat(fx.secret)
			return st.Mode.String(), errno
		}, want: "-rw-------"},
		{name: "chmod dotdot", do: func() (string, experimentalsys.Errno) {
			if errno := fsys.Chmod("..", 0o750); errno != 0 {
				return "", errno
			}
			st, errno := fsys.Stat(".")
			return st.Mode.String(), errno
		}, want: "drwxr-x---"},
		{name: "utimens through absolute symlink", do: func() (string, experimentalsys.Errno) {
			if errno := fsys.Utimens("abs-secret", 7e9, 9e9); errno != 0 {
				return "", errno
			}
			st, errno := fsys.Stat("abs-secret")
			if st.Mtim != 9e9 || st.Atim != 7e9 {
				return "times not set", errno
			}
			return "set", errno
		}, want: "set"},
		{name: "readlink returns the stored text", do: func() (string, experimentalsys.Errno) { return fsys.Readlink("abs-secret") }, want: fx.secret},
		{name: "rmdir dotdot", do: func() (string, experimentalsys.Errno) { return "", fsys.Rmdir("..") }, wantErrno: experimentalsys.ENOTEMPTY},
		{name: "rmdir root by dotdot name", do: func() (string, experimentalsys.Errno) { return "", fsys.Rmdir("../root") }, wantErrno: experimentalsys.ENOENT},
		{name: "unlink dotdot", do: func() (string, experimentalsys.Errno) { return "", fsys.Unlink("../secret.txt") }, wantErrno: experimentalsys.ENOENT},
		{name: "unlink host path", do: then(func() experimentalsys.Errno { return fsys.Unlink(fx.secret) }, fx.secret), wantErrno: experimentalsys.ENOENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errno := tc.do()
			if strings.Contains(got, secretContent) {
				t.Fatalf("read the host secret: %q", got)
			}
			if errno != tc.wantErrno || got != tc.want {
				t.Errorf("got (%q, %v), want (%q, %v)", got, errno, tc.want, tc.wantErrno)
			}
		})
	}
	fx.checkSecretIntact(t, secretInfo.Mode(), secretInfo.ModTime().UnixNano())
}

// TestOpenInRoot checks the exported resolver used for module lookup.
func TestOpenInRoot(t *testing.T) {
	fx := newFixture(t)
	fx.mirror(t)
	mustSymlink(t, fx.secret, filepath.Join(fx.root, "abs-secret"))
	mustSymlink(t, "/proc/self/root", filepath.Join(fx.root, "pr"))
	root, err := os.Open(fx.root)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{name: "relative", path: "data/hello.txt", want: "in-root-hello"},
		{name: "absolute", path: "/data/hello.txt", want: "in-root-hello"},
		{name: "host path", path: fx.secret, want: "in-root-mirror"},
		{name: "dotdot", path: "../secret.txt", wantErr: os.ErrNotExist},
		{name: "absolute symlink", path: "/abs-secret", want: "in-root-mirror"},
		{name: "magic link", path: "/proc/self/root" + fx.secret, wantErr: os.ErrNotExist},
		{name: "symlink to magic link", path: "pr" + fx.secret, wantErr: os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenInRoot(root, tc.path, unix.O_RDONLY, 0)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("OpenInRoot(%q) = %v, want %v", tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data := make([]byte, 64)
			n, _ := f.Read(data)
			if string(data[:n]) != tc.want {
				t.Errorf("read %q, want %q", data[:n], tc.want)
			}
		})
	}

	t.Run("closed root", func(t *testing.T) {
		closed, err := os.Open(fx.root)
		if err != nil {
			t.Fatal(err)
		}
		_ = closed.Close()
		if _, err := OpenInRoot(closed, "data/hello.txt", unix.O_RDONLY, 0); err == nil {
			t.Fatal("OpenInRoot on a closed root succeeded")
		}
	})
}

func inode(t *testing.T, name string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
