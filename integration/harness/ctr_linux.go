//go:build linux

package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/platforms"
)

// CtrCommand returns an unstarted ctr command of the daemon's version with
// `--address Address --namespace Namespace` before args, for callers that
// need stdin, streaming output or a process they can signal. Its environment
// drops CONTAINERD_* variables so they cannot redirect it.
func (d *Daemon) CtrCommand(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--address", d.Address, "--namespace", d.Namespace}, args...)
	cmd := exec.CommandContext(ctx, d.CtrBinary, full...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// cgroupV1Warning marks the line every 2.x ctr call prints on a cgroup v1
// host; Ctr drops it so tests can compare stderr exactly.
const cgroupV1Warning = `msg="DEPRECATION: The support for cgroup v1 is deprecated`

// withoutCgroupV1Warning removes cgroupV1Warning lines from ctr's stderr.
func withoutCgroupV1Warning(stderr string) string {
	if !strings.Contains(stderr, cgroupV1Warning) {
		return stderr
	}
	lines := strings.SplitAfter(stderr, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, cgroupV1Warning) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// Ctr runs ctr with args (see CtrCommand) bounded by CtrTimeout and returns
// its output, minus 2.x's cgroup v1 deprecation warning on stderr. err is the
// exec error: an *exec.ExitError carries the exit status, and a timeout shows
// as a killed process.
func (d *Daemon) Ctr(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d.CtrTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := d.CtrCommand(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Logf("ctr %s: timed out after %v", strings.Join(args, " "), d.CtrTimeout)
	}
	return out.String(), withoutCgroupV1Warning(errOut.String()), err
}

// ImportImage imports an OCI layout tarball (BuildImage) into the daemon's
// namespace with `ctr images import --platform <os>/<arch>` (the platform of
// the image's manifest, read from the tarball) and fails the test unless the
// image is then in the store and unpacked into overlayfs for that platform.
//
// Platforms, as measured on both versions: without a platform flag both ctr
// versions filter a wasi/wasm image out ("image might be filtered out").
// `--platform wasi/wasm` imports and unpacks on 1.6; on 2.4 it goes through
// the transfer service, which needs a wasi/wasm unpack_config entry (the
// harness's 2.4 config has one; a stock 2.4 fails "no unpack platforms
// defined", while `--local --platform wasi/wasm` or `--all-platforms` work
// there without it). `--all-platforms` works on both but 2.4 then defers the
// unpack to `ctr run`.
//
// Running: for a single-platform image the stored image is the manifest
// itself, so `ctr run REF ID` finds it on both versions without --platform;
// an index with several platforms needs `ctr run --platform wasi/wasm`, which
// is harmless otherwise, so tests should pass it:
//
//	ctr run --rm --platform wasi/wasm --runtime io.containerd.wasmedge.v1 REF ID [ARGS...]
func (d *Daemon) ImportImage(t testing.TB, tarball, ref string) {
	t.Helper()
	platform, err := archivePlatform(tarball, ref)
	if err != nil {
		t.Fatalf("ImportImage %s: %v", ref, err)
	}
	args := []string{"images", "import", "--platform", platform, tarball}
	if stdout, stderr, err := d.Ctr(t, args...); err != nil {
		t.Fatalf("ctr %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout, stderr)
	}
	p, err := platforms.Parse(platform)
	if err != nil {
		t.Fatalf("ImportImage %s: %v", ref, err)
	}
	c := d.Client(t)
	ctx := d.Context(t)
	stored, err := c.ImageService().Get(ctx, ref)
	if err != nil {
		t.Fatalf("ImportImage: %s not in the image store after import: %v", ref, err)
	}
	unpacked, err := client.NewImageWithPlatform(c, stored, platforms.Only(p)).IsUnpacked(ctx, "overlayfs")
	if err != nil || !unpacked {
		t.Fatalf("ImportImage: %s (%s) not unpacked into overlayfs: %v", ref, platform, err)
	}
}
