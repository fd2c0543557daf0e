//go:build linux

package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// WASI errno values the fileio guest exits with.
const (
	wasiErrnoNoent = 44
	wasiErrnoRofs  = 69
)

func TestMountsSeenByGuest(t *testing.T) {
	tests := []struct {
		name         string
		rootReadonly bool
		// mounts are made with sources under a host directory: "$HOST"
		// in Source is replaced by it.
		mounts []oci.Mount
		// hostFiles are created under the host directory before the run.
		hostFiles  map[string]string
		args       []string
		wantStatus int
		wantStdout string
		// wantHost are files under the host directory after the run ("" =
		// must not exist).
		wantHost map[string]string
		// wantRootfs are files in the rootfs after the run ("" = must not
		// exist, "<empty>" = empty file).
		wantRootfs map[string]string
	}{
		{
			name:       "read-only bind is readable",
			mounts:     []oci.Mount{{Kind: oci.MountBind, Destination: "/data", Source: "$HOST/vol", ReadOnly: true}},
			hostFiles:  map[string]string{"vol/in.txt": "from the host\n"},
			args:       []string{"cat", "data/in.txt"},
			wantStdout: "from the host\n",
		},
		{
			name:       "read-only bind is not writable",
			mounts:     []oci.Mount{{Kind: oci.MountBind, Destination: "/data", Source: "$HOST/vol", ReadOnly: true}},
			hostFiles:  map[string]string{"vol/in.txt": "from the host\n"},
			args:       []string{"write", "data/out.txt", "x"},
			wantStatus: wasiErrnoRofs,
			wantHost:   map[string]string{"vol/out.txt": ""},
		},
		{
			name:       "read-write bind is writable",
			mounts:     []oci.Mount{{Kind: oci.MountBind, Destination: "/data", Source: "$HOST/vol"}},
			hostFiles:  map[string]string{"vol/in.txt": "x"},
			args:       []string{"write", "data/out.txt", "written by the guest"},
			wantHost:   map[string]string{"vol/out.txt": "written by the guest"},
			wantRootfs: map[string]string{"data/out.txt": ""},
		},
		{
			name:       "nested mount point is created",
			mounts:     []oci.Mount{{Kind: oci.MountBind, Destination: "/a/b/c", Source: "$HOST/vol"}},
			hostFiles:  map[string]string{"vol/in.txt": "deep\n"},
			args:       []string{"cat", "a/b/c/in.txt"},
			wantStdout: "deep\n",
		},
		{
			name:       "tmpfs is writable and not the rootfs",
			mounts:     []oci.Mount{{Kind: oci.MountTmpfs, Destination: "/scratch", Options: []string{"size=1m", "mode=1777"}}},
			args:       []string{"write", "scratch/f.txt", "in memory"},
			wantRootfs: map[string]string{"scratch/f.txt": ""},
		},
		{
			name:       "read-only tmpfs",
			mounts:     []oci.Mount{{Kind: oci.MountTmpfs, Destination: "/scratch", ReadOnly: true}},
			args:       []string{"write", "scratch/f.txt", "x"},
			wantStatus: wasiErrnoRofs,
		},
		{
			name:       "file bind appears as a file",
			mounts:     []oci.Mount{{Kind: oci.MountBind, Destination: "/etc/hosts", Source: "$HOST/hosts", ReadOnly: true}},
			hostFiles:  map[string]string{"hosts": "127.0.0.1 localhost\n"},
			args:       []string{"cat", "etc/hosts"},
			wantStdout: "127.0.0.1 localhost\n",
			// The mount point is an empty file left in the rootfs.
			wantRootfs: map[string]string{"etc/hosts": "<empty>"},
		},
		{
			name:         "read-only rootfs",
			rootReadonly: true,
			args:         []string{"write", "out.txt", "x"},
			wantStatus:   wasiErrnoRofs,
			wantRootfs:   map[string]string{"out.txt": ""},
		},
		{
			name:         "read-only rootfs keeps rw mounts writable",
			rootReadonly: true,
			mounts:       []oci.Mount{{Kind: oci.MountBind, Destination: "/new/data", Source: "$HOST/vol"}},
			hostFiles:    map[string]string{"vol/in.txt": "x"},
			args:         []string{"write", "new/data/out.txt", "ok"},
			wantHost:     map[string]string{"vol/out.txt": "ok"},
		},
		{
			name: "mount inside a mount",
			mounts: []oci.Mount{
				{Kind: oci.MountTmpfs, Destination: "/dev", Options: []string{"mode=755", "size=65536k"}},
				{Kind: oci.MountTmpfs, Destination: "/dev/shm", ReadOnly: true},
			},
			args:       []string{"write", "dev/shm/f", "x"},
			wantStatus: wasiErrnoRofs,
			// Both mount points were made in the first tmpfs, not here.
			wantRootfs: map[string]string{"dev/shm": ""},
		},
		{
			name:         "read-only rootfs with a mount inside a mount",
			rootReadonly: true,
			mounts: []oci.Mount{
				{Kind: oci.MountTmpfs, Destination: "/dev"},
				{Kind: oci.MountBind, Destination: "/dev/vol", Source: "$HOST/vol"},
			},
			hostFiles: map[string]string{"vol/in.txt": "x"},
			args:      []string{"write", "dev/vol/out.txt", "through two mounts"},
			wantHost:  map[string]string{"vol/out.txt": "through two mounts"},
		},
		{
			name:       "missing rootfs file",
			args:       []string{"cat", "app.wasm.txt"},
			wantStatus: wasiErrnoNoent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := t.TempDir()
			for name, content := range tt.hostFiles {
				writeFile(t, filepath.Join(host, name), content)
			}
			rc := runConfig(t, "fileio", tt.args...)
			rc.RootReadonly = tt.rootReadonly
			for _, m := range tt.mounts {
				m.Source = strings.ReplaceAll(m.Source, "$HOST", host)
				rc.Mounts = append(rc.Mounts, m)
			}
			var pid int
			got := runGuest(t, rc, "", testOptions(&pid))
			if got.status != tt.wantStatus || got.stdout != tt.wantStdout {
				t.Errorf("status %d stdout %q, want %d %q (stderr %q)", got.status, got.stdout, tt.wantStatus, tt.wantStdout, got.stderr)
			}
			checkFiles(t, "host", host, tt.wantHost)
			checkFiles(t, "rootfs", rc.Rootfs, tt.wantRootfs)
		})
	}
}

// checkFiles checks the content of files under dir: "" means the file must
// not exist, "<empty>" that it is empty.
func checkFiles(t *testing.T, what, dir string, want map[string]string) {
	t.Helper()
	for name, content := range want {
		if content == "" {
			if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s file %s exists (%v)", what, name, err)
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case err != nil:
			t.Errorf("%s file %s: %v", what, name, err)
		case content == "<empty>" && len(data) == 0:
		case string(data) != content:
			t.Errorf("%s file %s = %q, want %q", what, name, data, content)
		}
	}
}

func TestMountsStayInInstanceNamespace(t *testing.T) {
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "vol", "in.txt"), "x")
	rc := runConfig(t, "fileio", "cat", "data/in.txt")
	// Put the rootfs on a shared mount, as it would be under systemd: an
	// instance that forgot to make its mounts private would then leak
	// them back here.
	shared := t.TempDir()
	if err := unix.Mount(shared, shared, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(shared, unix.MNT_DETACH) })
	if err := unix.Mount("", shared, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	rc.Rootfs = newRootfsIn(t, shared, "fileio")
	rc.RootReadonly = true
	rc.Mounts = []oci.Mount{
		{Kind: oci.MountBind, Destination: "/data", Source: filepath.Join(host, "vol"), ReadOnly: true},
		{Kind: oci.MountTmpfs, Destination: "/tmp"},
	}
	var pid int
	inst, err := Spawn(context.Background(), rc, Stdio{}, testOptions(&pid))
	if err != nil {
		t.Fatal(err)
	}
	// Ready means the mounts are made; the guest has not run yet.
	mine := mountsUnder(t, "/proc/self/mountinfo", rc.Rootfs)
	theirs := mountsUnder(t, fmt.Sprintf("/proc/%d/mountinfo", pid), rc.Rootfs)
	inst.Close()
	waitExit(t, pid)
	if len(mine) != 0 {
		t.Errorf("mounts leaked into the host's namespace: %q", mine)
	}
	// The read-only rootfs is a recursive bind on top of the mounts, which
	// therefore show twice.
	slices.Sort(theirs)
	theirs = slices.Compact(theirs)
	want := []string{rc.Rootfs, rc.Rootfs + "/data", rc.Rootfs + "/tmp"}
	if !slices.Equal(theirs, want) {
		t.Errorf("instance mounts %q, want %q", theirs, want)
	}
}

// mountsUnder lists the mount points at or below dir in a mountinfo file.
func mountsUnder(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	f, err := os.Open(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			found = append(found, fields[4])
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return found
}

func TestMountPointCreationStaysInRootfs(t *testing.T) {
	tests := []struct {
		name string
		// relative makes the rootfs's link climb out with "..", else it is
		// the victim's absolute host path.
		relative bool
		kind     oci.MountKind
		// dangling leaves the link's target missing in the rootfs: then
		// the spawn fails rather than create anything.
		dangling bool
	}{
		{name: "absolute symlink, directory mount", kind: oci.MountTmpfs},
		{name: "relative symlink, directory mount", relative: true, kind: oci.MountTmpfs},
		{name: "absolute symlink, file mount", kind: oci.MountBind},
		{name: "relative symlink, file mount", relative: true, kind: oci.MountBind},
		{name: "dangling absolute symlink", kind: oci.MountTmpfs, dangling: true},
		{name: "dangling relative symlink, file mount", relative: true, kind: oci.MountBind, dangling: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim := t.TempDir()
			rc := runConfig(t, "hello")
			target := victim
			if tt.relative {
				target = strings.Repeat("../", 20) + strings.TrimPrefix(victim, "/")
			}
			if err := os.Symlink(target, filepath.Join(rc.Rootfs, "link")); err != nil {
				t.Fatal(err)
			}
			inRoot := filepath.Join(rc.Rootfs, victim)
			if !tt.dangling {
				if err := os.MkdirAll(inRoot, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			m := oci.Mount{Kind: tt.kind, Destination: "/link/sub"}
			if tt.kind == oci.MountBind {
				m.Source = filepath.Join(t.TempDir(), "src")
				writeFile(t, m.Source, "x")
			}
			rc.Mounts = []oci.Mount{m}
			if tt.dangling {
				spawnFailure(t, rc)
			} else {
				var pid int
				if got := runGuest(t, rc, "", testOptions(&pid)); got.status != 0 {
					t.Fatalf("status %d, stderr %q", got.status, got.stderr)
				}
				// It landed where the link points, read inside the rootfs.
				if _, err := os.Lstat(filepath.Join(inRoot, "sub")); err != nil {
					t.Errorf("mount point not created in the rootfs: %v", err)
				}
			}
			entries, err := os.ReadDir(victim)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("mount point created outside the rootfs: %s holds %v", victim, entries)
			}
		})
	}
}

func TestMountFailures(t *testing.T) {
	tests := []struct {
		name  string
		mount func(t *testing.T, rootfs string) oci.Mount
		want  string
	}{
		{
			name: "bind source missing",
			mount: func(t *testing.T, rootfs string) oci.Mount {
				return oci.Mount{Kind: oci.MountBind, Destination: "/data", Source: filepath.Join(t.TempDir(), "nope")}
			},
			want: "bind mount /data: source",
		},
		{
			name: "file onto directory",
			mount: func(t *testing.T, rootfs string) oci.Mount {
				if err := os.Mkdir(filepath.Join(rootfs, "etc"), 0o755); err != nil {
					t.Fatal(err)
				}
				src := filepath.Join(t.TempDir(), "f")
				writeFile(t, src, "x")
				return oci.Mount{Kind: oci.MountBind, Destination: "/etc", Source: src}
			},
			want: `mount point "/etc" is a directory`,
		},
		{
			name: "directory onto file",
			mount: func(t *testing.T, rootfs string) oci.Mount {
				return oci.Mount{Kind: oci.MountBind, Destination: "/app.wasm", Source: t.TempDir()}
			},
			want: "not a directory",
		},
		{
			name: "unknown kind",
			mount: func(t *testing.T, rootfs string) oci.Mount {
				return oci.Mount{Kind: "overlay", Destination: "/x"}
			},
			want: `unsupported kind "overlay"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := runConfig(t, "hello")
			rc.Mounts = []oci.Mount{tt.mount(t, rc.Rootfs)}
			err := spawnFailure(t, rc)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestMountOptions(t *testing.T) {
	tests := []struct {
		options   []string
		wantFlags uintptr
		wantData  string
	}{
		{nil, 0, ""},
		{[]string{"size=1m", "mode=755"}, 0, "size=1m,mode=755"},
		{[]string{"nosuid", "nodev", "noexec", "rprivate", "rbind"}, 0x2 | 0x4 | 0x8, ""},
		{[]string{"ro", "rw", "size=1m"}, 0, "size=1m"},
		{[]string{"rw", "ro"}, 0x1, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.options, ","), func(t *testing.T) {
			flags, data := mountOptions(tt.options)
			if flags != tt.wantFlags || data != tt.wantData {
				t.Errorf("got %#x %q, want %#x %q", flags, data, tt.wantFlags, tt.wantData)
			}
		})
	}
}

func TestMountNamespaceIsChecked(t *testing.T) {
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		shim string
		ok   bool
	}{
		{shim: own},
		{shim: ""},
		{shim: "mnt:[1]", ok: true},
	}
	for _, tt := range tests {
		if err := checkOwnMountNamespace(tt.shim); (err == nil) != tt.ok {
			t.Errorf("shim namespace %q: check error %v, want passing %v", tt.shim, err, tt.ok)
		}
	}
}
