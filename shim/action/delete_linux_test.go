//go:build linux

package action

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// The address must be the one containerd's own library derives, so that
// the scheme stays what operators see for every shim.
func TestSocketAddressMatchesContainerd(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	want, err := shim.CreateSocketAddress(ctx, "/run/containerd/s", "/run/containerd/containerd.sock", "pod1@wasmedge", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := socketAddress("/run/containerd/s", "/run/containerd/containerd.sock", "k8s.io", "pod1@wasmedge"); got != want {
		t.Fatalf("socketAddress = %q, containerd says %q", got, want)
	}
}

func TestSocketLifecycle(t *testing.T) {
	address := unixScheme + filepath.Join(t.TempDir(), "socks", "s1")
	l, err := listen(address)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(socketPath(address)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket file %v, %v", st, err)
	}
	if _, err := listen(address); !addressInUse(err) {
		t.Fatalf("second listen: %v, want address in use", err)
	}
	if !canConnect(address) {
		t.Fatal("cannot connect to a listening socket")
	}
	l.Close()
	if err := removeSocket(address); err != nil {
		t.Fatal(err)
	}
	if canConnect(address) {
		t.Fatal("connected to a removed socket")
	}
	if err := removeSocket(address); err != nil {
		t.Fatalf("removing a missing socket: %v", err)
	}
}

func TestUnmountAll(t *testing.T) {
	requireRoot(t)
	target := filepath.Join(t.TempDir(), "rootfs")
	inner := filepath.Join(target, "dev")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", inner, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	// A sibling whose name starts like the target's must stay.
	sibling := target + "2"
	if err := os.Mkdir(sibling, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sibling, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sibling, unix.MNT_DETACH) })

	for i := range 2 { // idempotent
		if err := UnmountAll(target); err != nil {
			t.Fatalf("UnmountAll #%d: %v", i+1, err)
		}
	}
	for _, dir := range []string{target, inner} {
		if mounted, _ := mountinfo.Mounted(dir); mounted {
			t.Errorf("%s still mounted", dir)
		}
	}
	if mounted, _ := mountinfo.Mounted(sibling); !mounted {
		t.Errorf("sibling %s was unmounted", sibling)
	}
	if err := UnmountAll(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("missing target: %v", err)
	}
}

// v1CgroupDir makes a cgroup in this machine's v1 pids hierarchy, or skips.
func v1CgroupDir(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	dir := fmt.Sprintf("/sys/fs/cgroup/pids/action-test-%d", os.Getpid())
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no cgroup v1 pids hierarchy: %v", err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(filepath.Join(dir, "child")); _ = unix.Rmdir(dir) })
	return dir
}

func TestDeleteRemovesRecordedCgroup(t *testing.T) {
	dir := v1CgroupDir(t)
	if err := os.Mkdir(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "task1")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteCgroupDirs(bundle, []string{dir}); err != nil {
		t.Fatal(err)
	}
	t.Chdir(bundle)
	var out, warnings bytes.Buffer
	if err := Delete(Flags{ID: "task1", Action: "delete"}, &out, &warnings); err != nil {
		t.Fatal(err)
	}
	if warnings.Len() > 0 {
		t.Errorf("warnings: %s", warnings.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there: %v", dir, err)
	}
	var res taskv3.DeleteResponse
	if err := proto.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.ExitStatus != 137 || res.ExitedAt == nil {
		t.Errorf("reply %+v, want exit status 137 and a time", &res)
	}
}

func TestCleanupRefusesWhatIsNotACgroup(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	plain := filepath.Join(t.TempDir(), "precious")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, listed := range []string{plain, "relative/dir", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/pids/../x"} {
		if err := WriteCgroupDirs(bundle, []string{listed}); err != nil {
			t.Fatal(err)
		}
		errs := Cleanup(bundle)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a cgroup directory") {
			t.Errorf("%s: errors %v, want one refusal", listed, errs)
		}
	}
	if _, err := os.Stat(plain); err != nil {
		t.Errorf("%s: %v", plain, err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err != nil {
		t.Errorf("the pids hierarchy: %v", err)
	}
}

func TestCleanupOfAnEmptyBundle(t *testing.T) {
	if errs := Cleanup(t.TempDir()); len(errs) != 0 {
		t.Fatalf("errors %v for a bundle with nothing to clean", errs)
	}
}

func TestCleanupRemovesOnlyADeadSocket(t *testing.T) {
	for _, tc := range []struct {
		alive bool
		// record is the file that names the socket: containerd 1.x's
		// address, written by the start action, or 2.x's bootstrap.json.
		record string
	}{
		{true, "address"}, {false, "address"}, {true, "bootstrap.json"}, {false, "bootstrap.json"},
	} {
		alive := tc.alive
		t.Run(fmt.Sprintf("alive=%v/%s", alive, tc.record), func(t *testing.T) {
			bundle := t.TempDir()
			address := unixScheme + filepath.Join(t.TempDir(), "s")
			l, err := listen(address)
			if err != nil {
				t.Fatal(err)
			}
			if alive {
				defer l.Close()
			} else {
				// As a shim killed with SIGKILL leaves it.
				l.SetUnlinkOnClose(false)
				l.Close()
			}
			record := []byte(address)
			if tc.record == "bootstrap.json" {
				record = []byte(`{"version":3,"address":"` + address + `","protocol":"ttrpc"}`)
			}
			if err := writeFileAtomic(filepath.Join(bundle, tc.record), record); err != nil {
				t.Fatal(err)
			}
			if errs := Cleanup(bundle); len(errs) != 0 {
				t.Fatal(errs)
			}
			_, err = os.Stat(socketPath(address))
			if exists := err == nil; exists != alive {
				t.Errorf("socket exists %v after cleanup, want %v", exists, alive)
			}
		})
	}
}
