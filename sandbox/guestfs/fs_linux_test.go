//go:build linux

package guestfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	mustWrite(t, file, "x")
	tests := []struct {
		name    string
		dir     string
		wantErr error
	}{
		{name: "directory", dir: dir},
		{name: "missing", dir: filepath.Join(dir, "missing"), wantErr: errdefs.ErrNotFound},
		{name: "file", dir: file, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := New(tc.dir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("New(%q) = %v, want %v", tc.dir, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fsys.String() != tc.dir {
				t.Errorf("String() = %q, want %q", fsys.String(), tc.dir)
			}
			if err := fsys.Close(); err != nil {
				t.Fatal(err)
			}
			if _, errno := fsys.Stat("."); errno != experimentalsys.EBADF {
				t.Errorf("Stat after Close = %v, want EBADF", errno)
			}
		})
	}
}

// TestDeliberateDifferences covers where FS answers differently from wazero's
// DirFS, each time the way a native Linux program would see it.
func TestDeliberateDifferences(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t)

	t.Run("absolute symlink target allowed", func(t *testing.T) {
		if errno := fsys.Symlink("/data/hello.txt", "abs"); errno != 0 {
			t.Fatalf("Symlink = %v", errno)
		}
		if got, errno := readFile(fsys, "abs"); errno != 0 || got != "in-root-hello" {
			t.Errorf("read via absolute symlink = %q, %v", got, errno)
		}
	})

	f, errno := fsys.OpenFile("data/log", experimentalsys.O_CREAT|experimentalsys.O_RDWR|experimentalsys.O_APPEND, 0o600)
	if errno != 0 {
		t.Fatal(errno)
	}
	defer f.Close()

	t.Run("pread negative offset is EINVAL", func(t *testing.T) {
		if _, errno := f.Pread(make([]byte, 1), -1); errno != experimentalsys.EINVAL {
			t.Errorf("Pread(-1) = %v, want EINVAL", errno)
		}
	})
	t.Run("pwrite in append mode appends", func(t *testing.T) {
		if _, errno := f.Write([]byte("one")); errno != 0 {
			t.Fatal(errno)
		}
		if _, errno := f.Pwrite([]byte("two"), 0); errno != 0 {
			t.Fatalf("Pwrite = %v", errno)
		}
		if got, _ := readFile(fsys, "data/log"); got != "onetwo" {
			t.Errorf("content %q, want %q", got, "onetwo")
		}
	})
	t.Run("append mode follows the descriptor across a rename", func(t *testing.T) {
		if errno := fsys.Rename("data/log", "data/log2"); errno != 0 {
			t.Fatal(errno)
		}
		if errno := f.SetAppend(false); errno != 0 {
			t.Fatalf("SetAppend after rename = %v", errno)
		}
		if _, errno := f.Pwrite([]byte("ONE"), 0); errno != 0 {
			t.Fatal(errno)
		}
		if got, _ := readFile(fsys, "data/log2"); got != "ONEtwo" {
			t.Errorf("content %q, want %q", got, "ONEtwo")
		}
	})
}

func TestReaddir(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t)
	const count = 300 // several getdents buffers with these names
	if errno := fsys.Mkdir("many", 0o755); errno != 0 {
		t.Fatal(errno)
	}
	dir, errno := fsys.OpenFile("many", experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	defer dir.Close()
	// Created after the directory was opened: wazero expects them visible.
	want := map[string]bool{}
	for i := range count {
		name := fmt.Sprintf("entry-%03d-%s", i, strings.Repeat("x", 40))
		want[name] = true
		mustWrite(t, filepath.Join(fx.root, "many", name), "")
	}

	for _, chunk := range []int{1, 7, 64, -1} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			if _, errno := dir.Seek(0, io.SeekStart); errno != 0 {
				t.Fatal(errno)
			}
			seen := map[string]bool{}
			for {
				dirents, errno := dir.Readdir(chunk)
				if errno != 0 {
					t.Fatal(errno)
				}
				if chunk > 0 && len(dirents) > chunk {
					t.Fatalf("Readdir(%d) returned %d entries", chunk, len(dirents))
				}
				for _, d := range dirents {
					if d.Name == "." || d.Name == ".." {
						t.Fatalf("Readdir returned %q; wazero adds dot entries itself", d.Name)
					}
					if seen[d.Name] {
						t.Fatalf("duplicate entry %q", d.Name)
					}
					if d.Type != 0 || d.Ino == 0 {
						t.Errorf("entry %q: type %v ino %d, want regular file with an inode", d.Name, d.Type, d.Ino)
					}
					seen[d.Name] = true
				}
				if chunk <= 0 || len(dirents) < chunk {
					break
				}
			}
			if len(seen) != len(want) {
				t.Errorf("saw %d entries, want %d", len(seen), len(want))
			}
		})
	}

	t.Run("dir removed while reading", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(fx.root, "many")); err != nil {
			t.Fatal(err)
		}
		if _, errno := dir.Seek(0, io.SeekStart); errno != 0 {
			t.Fatal(errno)
		}
		dirents, errno := dir.Readdir(-1)
		if (errno != 0 && errno != experimentalsys.ENOENT) || len(dirents) != 0 {
			t.Errorf("Readdir of removed dir = %d entries, %v", len(dirents), errno)
		}
	})

	t.Run("seek within a directory", func(t *testing.T) {
		if _, errno := dir.Seek(1, io.SeekStart); errno != experimentalsys.EISDIR {
			t.Errorf("Seek(1) on a directory = %v, want EISDIR", errno)
		}
	})
}

// TestNonblockAndPoll uses a FIFO inside the root, the one kind of file where
// blocking matters.
func TestNonblockAndPoll(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t)
	fifo := filepath.Join(fx.root, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f, errno := fsys.OpenFile("fifo", experimentalsys.O_RDONLY|experimentalsys.O_NONBLOCK, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	defer f.Close()
	pf := f.(experimentalsys.PollableFile)
	if !pf.IsNonblock() {
		t.Fatal("IsNonblock = false for a file opened O_NONBLOCK")
	}
	writer, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()

	buf := make([]byte, 8)
	if _, errno := f.Read(buf); errno != experimentalsys.EAGAIN {
		t.Errorf("Read of empty FIFO = %v, want EAGAIN", errno)
	}
	if ready, errno := pf.Poll(experimentalsys.POLLIN, 0); errno != 0 || ready {
		t.Errorf("Poll of empty FIFO = %v, %v", ready, errno)
	}
	if _, errno := pf.Poll(experimentalsys.POLLOUT, 0); errno != experimentalsys.ENOTSUP {
		t.Errorf("Poll(POLLOUT) = %v, want ENOTSUP", errno)
	}
	if _, err := writer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if ready, errno := pf.Poll(experimentalsys.POLLIN, 1000); errno != 0 || !ready {
		t.Errorf("Poll of FIFO with data = %v, %v", ready, errno)
	}
	if n, errno := f.Read(buf); errno != 0 || string(buf[:n]) != "ping" {
		t.Errorf("Read = %q, %v", buf[:n], errno)
	}

	if errno := pf.SetNonblock(false); errno != 0 || pf.IsNonblock() {
		t.Fatalf("SetNonblock(false) = %v, IsNonblock %v", errno, pf.IsNonblock())
	}
	flags, err := unix.FcntlInt(uintptr(f.(*file).fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK != 0 {
		t.Errorf("descriptor flags %#x, %v: O_NONBLOCK still set", flags, err)
	}
}
