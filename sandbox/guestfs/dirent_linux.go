//go:build linux

package guestfs

import (
	"bytes"
	"encoding/binary"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// direntBufferSize is the getdents64 buffer: large enough for ~100 typical
// entries per system call.
const direntBufferSize = 8192

// Offsets inside struct linux_dirent64.
const (
	direntInoOffset    = 0
	direntReclenOffset = 16
	direntTypeOffset   = 18
	direntNameOffset   = 19
)

// dirReader reads a directory descriptor with getdents64, keeping entries
// the caller did not ask for yet. It reads the descriptor directly rather
// than through os.File, whose Readdir stats entries by path name.
type dirReader struct {
	fd      int
	buf     []byte
	pending []experimentalsys.Dirent
}

// next returns up to n entries (all remaining when n <= 0), "." and ".."
// excluded. Fewer than n means the end of the directory.
func (d *dirReader) next(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	for n <= 0 || len(d.pending) < n {
		more, errno := d.fill()
		if errno != 0 {
			return nil, errno
		}
		if !more {
			break
		}
	}
	count := len(d.pending)
	if n > 0 && n < count {
		count = n
	}
	out := d.pending[:count:count]
	d.pending = d.pending[count:]
	return out, 0
}

// fill reads one batch from the kernel; more is false at the end.
func (d *dirReader) fill() (more bool, errno experimentalsys.Errno) {
	if d.buf == nil {
		d.buf = make([]byte, direntBufferSize)
	}
	n, err := retryEINTR(func() (int, error) { return unix.Getdents(d.fd, d.buf) })
	if err != nil {
		return false, experimentalsys.UnwrapOSError(err)
	}
	if n <= 0 {
		return false, 0
	}
	for rec := d.buf[:n]; len(rec) > direntNameOffset; {
		reclen := int(binary.NativeEndian.Uint16(rec[direntReclenOffset:]))
		if reclen <= direntNameOffset || reclen > len(rec) {
			return false, experimentalsys.EIO
		}
		name := rec[direntNameOffset:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		ino := binary.NativeEndian.Uint64(rec[direntInoOffset:])
		dtype := rec[direntTypeOffset]
		rec = rec[reclen:]

		if string(name) == "." || string(name) == ".." {
			continue
		}
		dirent := experimentalsys.Dirent{Name: string(name), Ino: ino}
		if mode, ok := typeFromDirent(dtype); ok {
			dirent.Type = mode
		} else {
			// The name has no slash and is not followed, so this stat
			// stays inside the directory.
			var st unix.Stat_t
			if err := unix.Fstatat(d.fd, dirent.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
				dirent.Type = modeFromUnix(st.Mode).Type()
			}
		}
		d.pending = append(d.pending, dirent)
	}
	return true, 0
}
