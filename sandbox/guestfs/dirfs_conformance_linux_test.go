//go:build linux

package guestfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	wazerosysfs "github.com/tetratelabs/wazero/experimental/sysfs"
)

// TestMatchesWazeroDirFS runs the same operations on wazero's own DirFS and
// on FS over identical trees and requires identical answers, so mounting FS
// instead of a directory changes no WASI behaviour apart from confinement.
// Each step sees the state the previous steps left.
func TestMatchesWazeroDirFS(t *testing.T) {
	populate := func(dir string) {
		mustWrite(t, filepath.Join(dir, "file"), "hello world")
		mustWrite(t, filepath.Join(dir, "dir", "inner"), "inner")
		mustWrite(t, filepath.Join(dir, "full", "x"), "x")
		if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustSymlink(t, "file", filepath.Join(dir, "link-file"))
		mustSymlink(t, "dir", filepath.Join(dir, "link-dir"))
		mustSymlink(t, "nowhere", filepath.Join(dir, "dangling"))
	}
	wazeroDir, oursDir := t.TempDir(), t.TempDir()
	populate(wazeroDir)
	populate(oursDir)
	ours, err := New(oursDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	impls := []struct {
		name string
		fs   experimentalsys.FS
	}{{"wazero DirFS", wazerosysfs.DirFS(wazeroDir)}, {"guestfs", ours}}

	steps := []struct {
		name string
		do   func(experimentalsys.FS) string
		// want, when set, pins the answer so the test also fails if both
		// implementations drift the same way.
		want string
	}{
		{name: "stat file", do: statOf("file"), want: "-rw-r--r-- size=11 nlink=1"},
		{name: "stat dir", do: statOf("dir")},
		{name: "stat root", do: statOf(".")},
		{name: "stat empty name", do: statOf("")},
		{name: "stat link to file", do: statOf("link-file"), want: "-rw-r--r-- size=11 nlink=1"},
		{name: "stat link to dir", do: statOf("link-dir")},
		{name: "stat dangling", do: statOf("dangling"), want: "no such file or directory"},
		{name: "stat missing", do: statOf("missing")},
		{name: "stat file trailing slash", do: statOf("file/"), want: "not a directory or a symbolic link to a directory"},
		{name: "lstat link to file", do: lstatOf("link-file"), want: "Lrwxrwxrwx size=4 nlink=1"},
		{name: "lstat link to dir", do: lstatOf("link-dir")},
		{name: "lstat dangling", do: lstatOf("dangling")},
		{name: "lstat link to dir trailing slash", do: lstatOf("link-dir/")},
		{name: "lstat missing", do: lstatOf("missing")},
		{name: "readlink", do: readlinkOf("link-file"), want: "file"},
		{name: "readlink of file", do: readlinkOf("file"), want: "invalid argument"},
		{name: "readlink missing", do: readlinkOf("missing")},
		{name: "read file", do: contentOf("file"), want: "hello world"},
		{name: "read via link", do: contentOf("link-file")},
		{name: "read dir", do: contentOf("dir"), want: "is a directory"},
		{name: "open missing", do: openWith("missing", experimentalsys.O_RDONLY, 0)},
		{name: "open file as directory", do: openWith("file", experimentalsys.O_DIRECTORY, 0), want: "not a directory or a symbolic link to a directory"},
		{name: "open dir for writing", do: openWith("dir", experimentalsys.O_WRONLY, 0), want: "is a directory"},
		{name: "open link nofollow", do: openWith("link-file", experimentalsys.O_NOFOLLOW, 0), want: "too many levels of symbolic links"},
		{name: "open dangling", do: openWith("dangling", experimentalsys.O_RDONLY, 0)},
		{name: "create exclusive", do: openWith("new", experimentalsys.O_CREAT|experimentalsys.O_EXCL|experimentalsys.O_RDWR, 0o640), want: "ok"},
		{name: "create exclusive again", do: openWith("new", experimentalsys.O_CREAT|experimentalsys.O_EXCL|experimentalsys.O_RDWR, 0o640), want: "file exists"},
		{name: "stat created", do: statOf("new"), want: "-rw-r----- size=0 nlink=1"},
		{name: "create through dangling link", do: openWith("dangling", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o600), want: "ok"},
		{name: "stat dangling target", do: statOf("nowhere"), want: "-rw------- size=0 nlink=1"},
		{name: "truncate on open", do: func(fsys experimentalsys.FS) string {
			out := openWith("file", experimentalsys.O_RDWR|experimentalsys.O_TRUNC, 0)(fsys)
			return out + " " + statOf("file")(fsys)
		}, want: "ok -rw-r--r-- size=0 nlink=1"},
		{name: "readdir root", do: listing("."), want: "dangling:L,dir:d,empty:d,file:-,full:d,link-dir:L,link-file:L,new:-,nowhere:-"},
		{name: "readdir via link", do: listing("link-dir"), want: "inner:-"},
		{name: "readdir file", do: listing("file"), want: "bad file descriptor"},
		{name: "readdir in pieces and rewind", do: readdirPieces("full"), want: "1:x 0: all-after-rewind:x"},
		{name: "mkdir", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("made", 0o750) }), want: "ok"},
		{name: "stat made", do: statOf("made")},
		{name: "mkdir exists", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("made", 0o750) }), want: "file exists"},
		{name: "mkdir over file", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("file", 0o750) })},
		{name: "mkdir missing parent", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("missing/x", 0o750) }), want: "no such file or directory"},
		{name: "mkdir under file", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("file/x", 0o750) }), want: "no such file or directory"},
		{name: "mkdir trailing slash", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir("made2/", 0o750) }), want: "ok"},
		{name: "mkdir root", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Mkdir(".", 0o750) })},
		{name: "rmdir", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rmdir("made2") }), want: "ok"},
		{name: "rmdir missing", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rmdir("made2") })},
		{name: "rmdir not empty", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rmdir("dir") }), want: "directory not empty"},
		{name: "rmdir file", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rmdir("file") }), want: "not a directory or a symbolic link to a directory"},
		{name: "rmdir link to dir", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rmdir("link-dir") })},
		{name: "unlink missing", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Unlink("missing") })},
		{name: "unlink dir", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Unlink("dir") }), want: "is a directory"},
		{name: "unlink file trailing slash", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Unlink("new/") })},
		{name: "unlink link to dir", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Unlink("link-dir") }), want: "ok"},
		{name: "link dir still there", do: statOf("dir/inner")},
		{name: "unlink file", do: errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Unlink("new") }), want: "ok"},
		{name: "rename missing", do: renameOf("missing", "file")},
		{name: "rename file", do: renameOf("nowhere", "renamed"), want: "ok"},
		{name: "rename dir over file", do: renameOf("empty", "renamed"), want: "not a directory or a symbolic link to a directory"},
		{name: "rename file over dir", do: renameOf("renamed", "empty"), want: "is a directory"},
		{name: "rename dir over non-empty dir", do: renameOf("empty", "full"), want: "directory not empty"},
		{name: "rename dir over empty dir", do: renameOf("made", "empty"), want: "ok"},
		{name: "rename file to itself", do: renameOf("renamed", "renamed"), want: "ok"},
		{name: "rename dir to itself", do: renameOf("empty", "empty"), want: "ok"},
		{name: "link missing", do: linkOf("missing", "")},
		{name: "link over root", do: linkOf("file", ""), want: "file exists"},
		{name: "link over dot", do: linkOf("file", ".")},
		{name: "link over slash", do: linkOf("file", "/")},
		{name: "link over itself", do: linkOf("file", "file")},
		{name: "link", do: linkOf("file", "hard"), want: "ok"},
		{name: "stat linked", do: statOf("file"), want: "-rw-r--r-- size=0 nlink=2"},
		{name: "link dir", do: linkOf("dir", "hard-dir"), want: "operation not permitted"},
		{name: "symlink", do: symlinkOf("file", "sym"), want: "ok"},
		{name: "symlink exists", do: symlinkOf("file", "sym"), want: "file exists"},
		{name: "symlink dangling", do: symlinkOf("not-yet", "sym2"), want: "ok"},
		{name: "symlink in missing dir", do: symlinkOf("file", "missing/sym")},
		{name: "readlink new symlink", do: readlinkOf("sym2"), want: "not-yet"},
		{name: "chmod", do: chmodOf("file", 0o604), want: "ok -rw----r-- size=0 nlink=2"},
		{name: "chmod via link", do: chmodOf("link-file", 0o644)},
		{name: "chmod dir", do: chmodOf("dir", 0o700)},
		{name: "chmod missing", do: chmodOf("missing", 0o700)},
		{name: "utimens", do: utimensOf("file", 1e9+1000, 2e9+2000), want: "ok atim=1000001000 mtim=2000002000"},
		{name: "utimens omit atime", do: utimensOf("file", experimentalsys.UTIME_OMIT, 3e9), want: "ok atim=1000001000 mtim=3000000000"},
		{name: "utimens omit mtime", do: utimensOf("file", 4e9, experimentalsys.UTIME_OMIT), want: "ok atim=4000000000 mtim=3000000000"},
		{name: "utimens omit both", do: utimensOf("file", experimentalsys.UTIME_OMIT, experimentalsys.UTIME_OMIT)},
		{name: "utimens via link", do: utimensOf("link-file", 5e9, 6e9)},
		{name: "utimens dir", do: utimensOf("dir", 5e9, 6e9)},
		{name: "utimens missing", do: utimensOf("missing", 5e9, 6e9), want: "no such file or directory"},
		{name: "file operations", do: fileOps},
		{name: "append mode", do: appendOps},
		{name: "directory file operations", do: dirOps},
		{name: "closed file operations", do: closedOps},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			var got []string
			for _, impl := range impls {
				got = append(got, step.do(impl.fs))
			}
			if got[0] != got[1] {
				t.Errorf("%s: %q\n%s: %q", impls[0].name, got[0], impls[1].name, got[1])
			}
			if step.want != "" && got[1] != step.want {
				t.Errorf("got %q, want %q", got[1], step.want)
			}
		})
	}
}

func describeErrno(errno experimentalsys.Errno) string {
	if errno == 0 {
		return "ok"
	}
	return errno.Error()
}

func errnoOf(op func(experimentalsys.FS) experimentalsys.Errno) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string { return describeErrno(op(fsys)) }
}

func describeStat(mode os.FileMode, size int64, nlink uint64) string {
	if mode.IsDir() {
		// Directory sizes and link counts depend on the filesystem's history.
		return mode.String()
	}
	return fmt.Sprintf("%v size=%d nlink=%d", mode, size, nlink)
}

func statOf(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		st, errno := fsys.Stat(name)
		if errno != 0 {
			return describeErrno(errno)
		}
		return describeStat(st.Mode, st.Size, st.Nlink)
	}
}

func lstatOf(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		st, errno := fsys.Lstat(name)
		if errno != 0 {
			return describeErrno(errno)
		}
		return describeStat(st.Mode, st.Size, st.Nlink)
	}
}

func readlinkOf(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		target, errno := fsys.Readlink(name)
		if errno != 0 {
			return describeErrno(errno)
		}
		return target
	}
}

func contentOf(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		data, errno := readFile(fsys, name)
		if errno != 0 {
			return describeErrno(errno)
		}
		return data
	}
}

func openWith(name string, flag experimentalsys.Oflag, perm os.FileMode) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		f, errno := fsys.OpenFile(name, flag, perm)
		if errno == 0 {
			errno = f.Close()
		}
		return describeErrno(errno)
	}
}

func renameOf(from, to string) func(experimentalsys.FS) string {
	return errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Rename(from, to) })
}

func linkOf(from, to string) func(experimentalsys.FS) string {
	return errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Link(from, to) })
}

func symlinkOf(target, name string) func(experimentalsys.FS) string {
	return errnoOf(func(fsys experimentalsys.FS) experimentalsys.Errno { return fsys.Symlink(target, name) })
}

func chmodOf(name string, perm os.FileMode) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		if errno := fsys.Chmod(name, perm); errno != 0 {
			return describeErrno(errno)
		}
		return "ok " + statOf(name)(fsys)
	}
}

func utimensOf(name string, atim, mtim int64) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		if errno := fsys.Utimens(name, atim, mtim); errno != 0 {
			return describeErrno(errno)
		}
		st, errno := fsys.Stat(name)
		if errno != 0 {
			return describeErrno(errno)
		}
		return fmt.Sprintf("ok atim=%d mtim=%d", st.Atim, st.Mtim)
	}
}

// listing returns a directory's entries, sorted, with their types.
func listing(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		f, errno := fsys.OpenFile(name, experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			return describeErrno(errno)
		}
		defer f.Close()
		dirents, errno := f.Readdir(-1)
		if errno != 0 {
			return describeErrno(errno)
		}
		return formatDirents(dirents)
	}
}

func formatDirents(dirents []experimentalsys.Dirent) string {
	var names []string
	for _, d := range dirents {
		kind := d.Type.String()[:1]
		names = append(names, d.Name+":"+kind)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// readdirPieces reads a one-entry directory one entry at a time, then
// rewinds and reads it again, as wazero's fd_readdir does.
func readdirPieces(name string) func(experimentalsys.FS) string {
	return func(fsys experimentalsys.FS) string {
		f, errno := fsys.OpenFile(name, experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			return describeErrno(errno)
		}
		defer f.Close()
		var out []string
		for range 2 {
			d, errno := f.Readdir(1)
			if errno != 0 {
				return describeErrno(errno)
			}
			out = append(out, fmt.Sprintf("%d:%s", len(d), formatNames(d)))
		}
		if _, errno := f.Seek(0, io.SeekStart); errno != 0 {
			return describeErrno(errno)
		}
		d, errno := f.Readdir(-1)
		if errno != 0 {
			return describeErrno(errno)
		}
		out = append(out, "all-after-rewind:"+formatNames(d))
		return strings.Join(out, " ")
	}
}

func formatNames(dirents []experimentalsys.Dirent) string {
	var names []string
	for _, d := range dirents {
		names = append(names, d.Name)
	}
	return strings.Join(names, ",")
}

// fileOps exercises an open regular file: read, pread, seek, write, pwrite,
// truncate and the errors for bad arguments.
func fileOps(fsys experimentalsys.FS) string {
	f, errno := fsys.OpenFile("ops", experimentalsys.O_CREAT|experimentalsys.O_RDWR, 0o600)
	if errno != 0 {
		return describeErrno(errno)
	}
	defer f.Close()
	var log []string
	record := func(what string, v any, errno experimentalsys.Errno) {
		log = append(log, fmt.Sprintf("%s=%v/%s", what, v, describeErrno(errno)))
	}
	n, errno := f.Write([]byte("0123456789"))
	record("write", n, errno)
	off, errno := f.Seek(2, io.SeekStart)
	record("seek-start", off, errno)
	buf := make([]byte, 3)
	n, errno = f.Read(buf)
	record("read", string(buf[:n]), errno)
	off, errno = f.Seek(0, io.SeekCurrent)
	record("tell", off, errno)
	off, errno = f.Seek(-2, io.SeekEnd)
	record("seek-end", off, errno)
	_, errno = f.Seek(0, io.SeekEnd+1)
	record("seek-bad-whence", "", errno)
	_, errno = f.Seek(-1, io.SeekStart)
	record("seek-negative", "", errno)
	n, errno = f.Pread(buf, 7)
	record("pread", string(buf[:n]), errno)
	n, errno = f.Pread(buf, 100)
	record("pread-eof", n, errno)
	n, errno = f.Pwrite([]byte("ab"), 1)
	record("pwrite", n, errno)
	n, errno = f.Read(nil)
	record("read-empty", n, errno)
	record("truncate", "", f.Truncate(4))
	record("truncate-negative", "", f.Truncate(-1))
	st, errno := f.Stat()
	record("size", st.Size, errno)
	_, _ = f.Seek(0, io.SeekStart)
	data, errno := readAll(f)
	record("content", data, errno)
	isDir, errno := f.IsDir()
	record("isdir", isDir, errno)
	ino, errno := f.Ino()
	record("ino-matches-stat", ino == st.Ino, errno)
	dev, errno := f.Dev()
	record("dev-matches-stat", dev == st.Dev, errno)
	record("utimens", "", f.Utimens(8e9, 9e9))
	st, errno = f.Stat()
	record("times", fmt.Sprint(st.Atim, st.Mtim), errno)
	record("sync", "", f.Sync())
	record("datasync", "", f.Datasync())
	_, errno = f.Readdir(-1)
	record("readdir", "", errno)

	ro, errno := fsys.OpenFile("ops", experimentalsys.O_RDONLY, 0)
	if errno != 0 {
		return describeErrno(errno)
	}
	defer ro.Close()
	_, errno = ro.Write([]byte("x"))
	record("write-readonly", "", errno)
	record("truncate-readonly", "", ro.Truncate(0))

	wo, errno := fsys.OpenFile("ops", experimentalsys.O_WRONLY, 0)
	if errno != 0 {
		return describeErrno(errno)
	}
	defer wo.Close()
	_, errno = wo.Read(buf)
	record("read-writeonly", "", errno)
	return strings.Join(log, " ")
}

// appendOps toggles append mode on an open file.
func appendOps(fsys experimentalsys.FS) string {
	f, errno := fsys.OpenFile("appended", experimentalsys.O_CREAT|experimentalsys.O_WRONLY|experimentalsys.O_APPEND, 0o600)
	if errno != 0 {
		return describeErrno(errno)
	}
	defer f.Close()
	var log []string
	_, errno = f.Write([]byte("aaa"))
	log = append(log, fmt.Sprintf("append=%v/%s", f.IsAppend(), describeErrno(errno)))
	_, _ = f.Seek(0, io.SeekStart)
	_, errno = f.Write([]byte("bb"))
	log = append(log, "write-after-seek/"+describeErrno(errno), contentOf("appended")(fsys))
	errno = f.SetAppend(false)
	log = append(log, fmt.Sprintf("set-append-false=%v/%s", f.IsAppend(), describeErrno(errno)))
	_, _ = f.Seek(0, io.SeekStart)
	_, errno = f.Write([]byte("c"))
	log = append(log, "overwrite/"+describeErrno(errno), contentOf("appended")(fsys))
	errno = f.SetAppend(true)
	log = append(log, fmt.Sprintf("set-append-true=%v/%s", f.IsAppend(), describeErrno(errno)))
	_, _ = f.Seek(0, io.SeekStart)
	_, errno = f.Write([]byte("d"))
	log = append(log, "append-again/"+describeErrno(errno), contentOf("appended")(fsys))
	return strings.Join(log, " ")
}

// dirOps exercises the file calls that a directory refuses.
func dirOps(fsys experimentalsys.FS) string {
	d, errno := fsys.OpenFile("dir", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		return describeErrno(errno)
	}
	defer d.Close()
	var log []string
	buf := make([]byte, 4)
	_, errno = d.Read(buf)
	log = append(log, "read/"+describeErrno(errno))
	_, errno = d.Pread(buf, 0)
	log = append(log, "pread/"+describeErrno(errno))
	_, errno = d.Write(buf)
	log = append(log, "write/"+describeErrno(errno))
	_, errno = d.Pwrite(buf, 0)
	log = append(log, "pwrite/"+describeErrno(errno))
	log = append(log, "truncate/"+describeErrno(d.Truncate(0)))
	isDir, errno := d.IsDir()
	log = append(log, fmt.Sprintf("isdir=%v/%s", isDir, describeErrno(errno)))
	log = append(log, "sync/"+describeErrno(d.Sync()))
	log = append(log, "utimens/"+describeErrno(d.Utimens(1e9, 1e9)))
	return strings.Join(log, " ")
}

// closedOps checks every call on a closed file reports EBADF, and that a
// second Close is harmless.
func closedOps(fsys experimentalsys.FS) string {
	f, errno := fsys.OpenFile("file", experimentalsys.O_RDWR, 0)
	if errno != 0 {
		return describeErrno(errno)
	}
	var log []string
	log = append(log, "close/"+describeErrno(f.Close()))
	buf := make([]byte, 4)
	_, errno = f.Read(buf)
	log = append(log, "read/"+describeErrno(errno))
	_, errno = f.Write(buf)
	log = append(log, "write/"+describeErrno(errno))
	_, errno = f.Seek(0, io.SeekStart)
	log = append(log, "seek/"+describeErrno(errno))
	_, errno = f.Stat()
	log = append(log, "stat/"+describeErrno(errno))
	log = append(log, "truncate/"+describeErrno(f.Truncate(0)))
	log = append(log, "utimens/"+describeErrno(f.Utimens(1, 1)))
	_, errno = f.Readdir(1)
	log = append(log, "readdir/"+describeErrno(errno))
	log = append(log, "close-again/"+describeErrno(f.Close()))
	return strings.Join(log, " ")
}
