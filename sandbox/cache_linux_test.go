//go:build linux

package sandbox

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCompilationCache(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	var pid int
	opts := testOptions(&pid)
	opts.CacheDir = cacheDir
	rc := runConfig(t, "hello")

	if got := runGuest(t, rc, "", opts); got.status != 0 || got.stdout != "hello, world\n" {
		t.Fatalf("first run: %+v", got)
	}
	entries := cacheEntries(t, cacheDir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries after the first run, want 1: %v", len(entries), entries)
	}
	entry := entries[0]
	inode := inodeOf(t, entry)

	// The second spawn must read the entry and write nothing.
	events := watch(t, filepath.Dir(entry), unix.IN_OPEN|unix.IN_CREATE|unix.IN_MOVED_TO)
	if got := runGuest(t, rc, "", opts); got.status != 0 || got.stdout != "hello, world\n" {
		t.Fatalf("second run: %+v", got)
	}
	seen := events()
	if !seen[unix.IN_OPEN][filepath.Base(entry)] {
		t.Errorf("second spawn did not open the cache entry (events %v)", seen)
	}
	if len(seen[unix.IN_CREATE]) != 0 || len(seen[unix.IN_MOVED_TO]) != 0 {
		t.Errorf("second spawn wrote to the cache (events %v)", seen)
	}
	if inodeOf(t, entry) != inode {
		t.Error("cache entry was replaced")
	}

	// A corrupt entry costs a compilation, not the container. Keep the
	// header (magic, wazero version, function count) so wazero does not just
	// discard the entry as stale, and cut the code off.
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	header := len("WAZEVO") + 1 + int(data[len("WAZEVO")]) + 4
	if err := os.WriteFile(entry, data[:header+3], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runGuest(t, rc, "", opts); got.status != 0 || got.stdout != "hello, world\n" {
		t.Fatalf("run with a corrupt cache entry: %+v", got)
	}
}

func TestUnusableCacheDirIsIgnored(t *testing.T) {
	// A file where the directory should be: the cache cannot be created.
	cacheDir := filepath.Join(t.TempDir(), "cache")
	writeFile(t, cacheDir, "not a directory")
	var pid int
	opts := testOptions(&pid)
	opts.CacheDir = cacheDir
	if got := runGuest(t, runConfig(t, "hello"), "", opts); got.status != 0 || got.stdout != "hello, world\n" {
		t.Fatalf("run: %+v", got)
	}
}

// cacheEntries lists the files wazero wrote under dir.
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func inodeOf(t *testing.T, name string) uint64 {
	t.Helper()
	info, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

// watch starts an inotify watch on dir; the returned function collects the
// events so far, as names seen per event bit.
func watch(t *testing.T, dir string, mask uint32) func() map[uint32]map[string]bool {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		t.Fatal(err)
	}
	return func() map[uint32]map[string]bool {
		seen := map[uint32]map[string]bool{}
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				return seen
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				var ev unix.InotifyEvent
				binary.Read(bytes.NewReader(buf[off:off+unix.SizeofInotifyEvent]), binary.NativeEndian, &ev)
				name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				for bit := uint32(1); bit != 0 && bit <= unix.IN_MOVED_TO<<8; bit <<= 1 {
					if ev.Mask&bit != 0 {
						if seen[bit] == nil {
							seen[bit] = map[string]bool{}
						}
						seen[bit][strings.TrimRight(string(name), "\x00")] = true
					}
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}
