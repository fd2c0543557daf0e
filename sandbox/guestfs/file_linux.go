//go:build linux

package guestfs

import (
	"io"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// file is an open guest file or directory backed by a raw descriptor. It
// works on the descriptor alone, never on a path: re-opening by name (as
// wazero's osFile does to change O_APPEND or rewind a directory) could land
// on a different object once the guest renamed or replaced it.
//
// Like wazero's own files it is not safe for concurrent use; wazero serialises
// calls per module. It does not embed UnimplementedFile (whose Seek would
// clash with seekMethod's), so a wazero upgrade that grows the interface
// fails to compile here rather than silently answering ENOSYS.
type file struct {
	fd     int
	flag   experimentalsys.Oflag
	closed bool

	// cached holds what cannot change while the descriptor is open.
	cached *identity

	// dir holds entries read from the kernel but not yet returned.
	dir *dirReader

	// seekMethod supplies Seek; see its comment.
	seekMethod[int64]
}

// seekMethod gives file its Seek method. It is generic only because go vet's
// stdmethods check insists that Seek(int64, int) return error, while wazero's
// File interface needs an Errno; vet leaves a type-parameter offset alone.
type seekMethod[Offset ~int64] struct{ f *file }

// Seek implements experimental/sys.File.
func (s seekMethod[Offset]) Seek(offset Offset, whence int) (int64, experimentalsys.Errno) {
	return s.f.seek(int64(offset), whence)
}

// identity is the part of a file's stat that stays fixed while it is open.
type identity struct {
	dev   uint64
	ino   sys.Inode
	isDir bool
}

var _ experimentalsys.PollableFile = (*file)(nil)

func newFile(fd int, flag experimentalsys.Oflag) *file {
	f := &file{fd: fd, flag: flag}
	f.seekMethod = seekMethod[int64]{f: f}
	return f
}

func (f *file) identity() (identity, experimentalsys.Errno) {
	if f.cached == nil {
		if _, errno := f.Stat(); errno != 0 {
			return identity{}, errno
		}
	}
	return *f.cached, 0
}

// Dev implements experimental/sys.File.
func (f *file) Dev() (uint64, experimentalsys.Errno) {
	id, errno := f.identity()
	return id.dev, errno
}

// Ino implements experimental/sys.File.
func (f *file) Ino() (sys.Inode, experimentalsys.Errno) {
	id, errno := f.identity()
	return id.ino, errno
}

// IsDir implements experimental/sys.File.
func (f *file) IsDir() (bool, experimentalsys.Errno) {
	id, errno := f.identity()
	return id.isDir, errno
}

// IsAppend implements experimental/sys.File.
func (f *file) IsAppend() bool {
	return f.flag&experimentalsys.O_APPEND != 0
}

// SetAppend implements experimental/sys.File. Linux changes O_APPEND on an
// open descriptor, so no re-open is needed.
func (f *file) SetAppend(enable bool) experimentalsys.Errno {
	if errno := f.checkFile(); errno != 0 {
		return errno
	}
	return f.setStatusFlag(unix.O_APPEND, experimentalsys.O_APPEND, enable)
}

// setStatusFlag turns the descriptor's status flag bit on or off and keeps
// f.flag, which wazero reads back, in step with it (oflag is the same flag
// in wazero's terms).
func (f *file) setStatusFlag(bit int, oflag experimentalsys.Oflag, enable bool) experimentalsys.Errno {
	flags, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	if enable {
		flags |= bit
	} else {
		flags &^= bit
	}
	if _, err := unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, flags); err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	if enable {
		f.flag |= oflag
	} else {
		f.flag &^= oflag
	}
	return 0
}

// IsNonblock implements experimental/sys.PollableFile.
func (f *file) IsNonblock() bool {
	return f.flag&experimentalsys.O_NONBLOCK != 0
}

// SetNonblock implements experimental/sys.PollableFile.
func (f *file) SetNonblock(enable bool) experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return f.setStatusFlag(unix.O_NONBLOCK, experimentalsys.O_NONBLOCK, enable)
}

// Poll implements experimental/sys.Pollable. As with wazero's osFile only
// readability can be waited for.
func (f *file) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if flag != experimentalsys.POLLIN {
		return false, experimentalsys.ENOTSUP
	}
	if f.closed {
		return false, experimentalsys.EBADF
	}
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeoutMillis))
	if err != nil {
		return false, experimentalsys.UnwrapOSError(err)
	}
	return n > 0, 0
}

// Stat implements experimental/sys.File.
func (f *file) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if f.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return sys.Stat_t{}, experimentalsys.UnwrapOSError(err)
	}
	s := statFromUnix(&st)
	f.cached = &identity{dev: s.Dev, ino: s.Ino, isDir: s.Mode.IsDir()}
	return s, 0
}

// Read implements experimental/sys.File.
func (f *file) Read(buf []byte) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	if f.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := retryEINTR(func() (int, error) { return unix.Read(f.fd, buf) })
	return clampCount(n), f.fileError(err)
}

// Pread implements experimental/sys.File.
func (f *file) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	if f.closed {
		return 0, experimentalsys.EBADF
	}
	n, err := retryEINTR(func() (int, error) { return unix.Pread(f.fd, buf, off) })
	return clampCount(n), f.fileError(err)
}

// Write implements experimental/sys.File.
func (f *file) Write(buf []byte) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	if f.closed {
		return 0, experimentalsys.EBADF
	}
	// A short write on a non-blocking descriptor is the answer; the guest
	// asked not to wait for the rest.
	return f.writeAll(buf, f.IsNonblock(), func(done int) (int, error) { return unix.Write(f.fd, buf[done:]) })
}

// Pwrite implements experimental/sys.File. On a descriptor in append mode
// Linux appends regardless of off, as it does for native programs.
func (f *file) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if len(buf) == 0 {
		return 0, 0
	}
	if f.closed {
		return 0, experimentalsys.EBADF
	}
	return f.writeAll(buf, false, func(done int) (int, error) { return unix.Pwrite(f.fd, buf[done:], off+int64(done)) })
}

// writeAll calls write, which writes what is left of buf after done bytes,
// until all of buf is written or it fails; with oneShort, a short write
// ends it too. It returns how much was written.
func (f *file) writeAll(buf []byte, oneShort bool, write func(done int) (int, error)) (int, experimentalsys.Errno) {
	written := 0
	for written < len(buf) {
		n, err := retryEINTR(func() (int, error) { return write(written) })
		written += clampCount(n)
		if err != nil {
			return written, f.fileError(err)
		}
		if n == 0 {
			return written, experimentalsys.EIO
		}
		if oneShort {
			break
		}
	}
	return written, 0
}

// seek moves the offset. A directory can only be rewound, which restarts
// Readdir.
func (f *file) seek(offset int64, whence int) (int64, experimentalsys.Errno) {
	if f.closed {
		return 0, experimentalsys.EBADF
	}
	if whence < io.SeekStart || whence > io.SeekEnd {
		return 0, experimentalsys.EINVAL
	}
	isDir, errno := f.IsDir()
	if errno != 0 {
		return 0, errno
	}
	if isDir {
		if offset != 0 || whence != io.SeekStart {
			return 0, experimentalsys.EISDIR
		}
		f.dir = nil
	}
	n, err := unix.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, experimentalsys.UnwrapOSError(err)
	}
	return n, 0
}

// Readdir implements experimental/sys.File. "." and ".." are left out:
// wazero adds its own.
func (f *file) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if f.closed {
		return nil, experimentalsys.EBADF
	}
	if isDir, errno := f.IsDir(); errno != 0 {
		return nil, errno
	} else if !isDir {
		return nil, experimentalsys.EBADF
	}
	if f.dir == nil {
		f.dir = &dirReader{fd: f.fd}
	}
	dirents, errno := f.dir.next(n)
	switch errno {
	case experimentalsys.EINVAL, experimentalsys.ENOTDIR:
		errno = experimentalsys.EBADF
	}
	return dirents, errno
}

// Truncate implements experimental/sys.File.
func (f *file) Truncate(size int64) experimentalsys.Errno {
	if size < 0 {
		return experimentalsys.EINVAL
	}
	if f.closed {
		return experimentalsys.EBADF
	}
	return f.fileError(retryEINTR0(func() error { return unix.Ftruncate(f.fd, size) }))
}

// Sync implements experimental/sys.File.
func (f *file) Sync() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return experimentalsys.UnwrapOSError(retryEINTR0(func() error { return unix.Fsync(f.fd) }))
}

// Datasync implements experimental/sys.File.
func (f *file) Datasync() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return experimentalsys.UnwrapOSError(retryEINTR0(func() error { return unix.Fdatasync(f.fd) }))
}

// Utimens implements experimental/sys.File.
func (f *file) Utimens(atim, mtim int64) experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return experimentalsys.UnwrapOSError(utimensFD(f.fd, atim, mtim))
}

// Close implements experimental/sys.File. A second Close is a no-op, so the
// descriptor number, possibly reused by then, is never closed twice.
func (f *file) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	f.dir = nil
	return experimentalsys.UnwrapOSError(unix.Close(f.fd))
}

// checkFile reports, as wazero's osFile does, EBADF for a closed file and
// EISDIR for a directory, to calls that only make sense on other files.
func (f *file) checkFile() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	isDir, errno := f.IsDir()
	if errno != 0 {
		return errno
	}
	if isDir {
		return experimentalsys.EISDIR
	}
	return 0
}

// fileError converts err from a call that needs a non-directory; a directory
// reports EISDIR whatever the kernel said (it says EBADF for write(2)).
func (f *file) fileError(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	if errno := f.checkFile(); errno != 0 {
		return errno
	}
	return experimentalsys.UnwrapOSError(err)
}

// clampCount turns the -1 that system calls return with an error into 0.
func clampCount(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// retryEINTR repeats a call interrupted by a signal; the Go runtime's
// preemption signals can interrupt blocking calls on FIFOs and some network
// filesystems.
func retryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			return n, err
		}
	}
}

func retryEINTR0(call func() error) error {
	_, err := retryEINTR(func() (int, error) { return 0, call() })
	return err
}
