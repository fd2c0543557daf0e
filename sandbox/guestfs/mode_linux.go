//go:build linux

package guestfs

import (
	iofs "io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// openFlags converts wazero's open flags to open(2) flags.
func openFlags(oflag experimentalsys.Oflag) int {
	var flags int
	switch oflag & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		flags = unix.O_RDWR
	case experimentalsys.O_WRONLY:
		flags = unix.O_WRONLY
	default:
		flags = unix.O_RDONLY
	}
	for _, m := range [...]struct {
		wazero experimentalsys.Oflag
		linux  int
	}{
		{experimentalsys.O_APPEND, unix.O_APPEND},
		{experimentalsys.O_CREAT, unix.O_CREAT},
		{experimentalsys.O_DIRECTORY, unix.O_DIRECTORY},
		{experimentalsys.O_DSYNC, unix.O_DSYNC},
		{experimentalsys.O_EXCL, unix.O_EXCL},
		{experimentalsys.O_NOFOLLOW, unix.O_NOFOLLOW},
		{experimentalsys.O_NONBLOCK, unix.O_NONBLOCK},
		{experimentalsys.O_RSYNC, unix.O_RSYNC},
		{experimentalsys.O_SYNC, unix.O_SYNC},
		{experimentalsys.O_TRUNC, unix.O_TRUNC},
	} {
		if oflag&m.wazero != 0 {
			flags |= m.linux
		}
	}
	return flags
}

// fileMode converts permission and special bits of an fs.FileMode to a
// st_mode value; the type bits are not wanted by mkdir, chmod or open.
func fileMode(perm iofs.FileMode) uint32 {
	mode := uint32(perm.Perm())
	if perm&iofs.ModeSetuid != 0 {
		mode |= unix.S_ISUID
	}
	if perm&iofs.ModeSetgid != 0 {
		mode |= unix.S_ISGID
	}
	if perm&iofs.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	return mode
}

// modeFromUnix converts st_mode to fs.FileMode the way package os does, so
// the guest sees what wazero's DirFS would have shown.
func modeFromUnix(m uint32) iofs.FileMode {
	mode := iofs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= iofs.ModeDevice
	case unix.S_IFCHR:
		mode |= iofs.ModeDevice | iofs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= iofs.ModeDir
	case unix.S_IFIFO:
		mode |= iofs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= iofs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= iofs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= iofs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= iofs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= iofs.ModeSticky
	}
	return mode
}

// typeFromDirent converts a getdents d_type to the type bits of fs.FileMode.
// ok is false for DT_UNKNOWN, which some filesystems report.
func typeFromDirent(t uint8) (mode iofs.FileMode, ok bool) {
	switch t {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return iofs.ModeDir, true
	case unix.DT_LNK:
		return iofs.ModeSymlink, true
	case unix.DT_FIFO:
		return iofs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return iofs.ModeSocket, true
	case unix.DT_CHR:
		return iofs.ModeDevice | iofs.ModeCharDevice, true
	case unix.DT_BLK:
		return iofs.ModeDevice, true
	}
	return 0, false
}

// statFromUnix fills wazero's Stat_t from fstat(2).
func statFromUnix(st *unix.Stat_t) sys.Stat_t {
	return sys.Stat_t{
		Dev:   uint64(st.Dev),
		Ino:   st.Ino,
		Mode:  modeFromUnix(st.Mode),
		Nlink: uint64(st.Nlink),
		Size:  st.Size,
		Atim:  st.Atim.Nano(),
		Mtim:  st.Mtim.Nano(),
		Ctim:  st.Ctim.Nano(),
	}
}

// utimensFD sets the times of the object fd refers to (any descriptor, O_PATH
// included); UTIME_OMIT keeps a time.
func utimensFD(fd int, atim, mtim int64) error {
	if atim == experimentalsys.UTIME_OMIT && mtim == experimentalsys.UTIME_OMIT {
		return nil
	}
	ts := []unix.Timespec{timespec(atim), timespec(mtim)}
	return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
}

func timespec(nanos int64) unix.Timespec {
	if nanos == experimentalsys.UTIME_OMIT {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(nanos)
}
