//go:build linux

package main

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// Image references of the two images the bench builds and imports.
const (
	wasmRef   = "docker.io/library/wasmedge-shim-bench:latest"
	nativeRef = "docker.io/library/runc-bench:latest"
)

// runcRuntime is the runtime the wasm shim is compared with.
const runcRuntime = "io.containerd.runc.v2"

// nativeHelloSource is the runc side's short-lived task: the native
// counterpart of hello.wasm, one line to stdout and exit 0.
const nativeHelloSource = `package main

import "os"

func main() { os.Stdout.WriteString("hello from native\n") }
`

// nativeSleeperSource is the runc side's idle container. It sleeps in a loop
// because a goroutine blocked forever on nothing is a fatal deadlock in Go.
const nativeSleeperSource = `package main

import "time"

func main() {
	for {
		time.Sleep(time.Hour)
	}
}
`

// runtimeProfile is one side of the comparison: which runtime and image a
// container gets, and the commands that make it exit at once or idle.
type runtimeProfile struct {
	// name labels the side in the results: "wasm" or "runc".
	name    string
	runtime string
	// shimExe is the base name of the runtime's shim server binary,
	// which identifies its processes.
	shimExe string
	ref     string
	image   client.Image
	// ctrFlags select the runtime and platform for `ctr run`.
	ctrFlags []string
	hello    []string
	sleeper  []string
	// metricsDir is where the runtime's shims serve their metrics; empty
	// for runc, whose shim has none.
	metricsDir string
}

// prepareProfiles builds both images (the native programs with
// harness.BuildStaticGo), imports them into d and returns the wasm and runc
// profiles.
func prepareProfiles(tb *benchTB, d *harness.Daemon, c *client.Client) (wasm, runc runtimeProfile, err error) {
	dir := tb.TempDir()
	wasmTar := harness.BuildImage(tb, dir, harness.ImageSpec{
		Ref:      wasmRef,
		Platform: harness.WasmPlatform,
		Files: map[string][]byte{
			"/hello.wasm":    harness.WasmModule(tb, "hello.wasm"),
			"/wasitool.wasm": harness.WasmModule(tb, "wasitool.wasm"),
		},
		Entrypoint: []string{"/hello.wasm"},
	})
	nativeTar := harness.BuildImage(tb, dir, harness.ImageSpec{
		Ref:      nativeRef,
		Platform: harness.NativePlatform,
		Files: map[string][]byte{
			"/hello":   harness.BuildStaticGo(tb, nativeHelloSource),
			"/sleeper": harness.BuildStaticGo(tb, nativeSleeperSource),
		},
		Entrypoint: []string{"/hello"},
	})
	d.ImportImage(tb, wasmTar, wasmRef)
	d.ImportImage(tb, nativeTar, nativeRef)

	ctx := tb.Context()
	wasmImage, err := platformImage(ctx, c, d, wasmRef, harness.WasmPlatform)
	if err != nil {
		return wasm, runc, err
	}
	nativeImage, err := platformImage(ctx, c, d, nativeRef, harness.NativePlatform)
	if err != nil {
		return wasm, runc, err
	}
	wasm = runtimeProfile{
		name:     "wasm",
		runtime:  harness.RuntimeName,
		shimExe:  harness.ServerBinaryName,
		ref:      wasmRef,
		image:    wasmImage,
		ctrFlags: []string{"--platform", "wasi/wasm", "--runtime", harness.RuntimeName},
		hello:    []string{"/hello.wasm"},
		sleeper:  []string{"/wasitool.wasm", "sleep", "100000"},
	}
	runc = runtimeProfile{
		name:     "runc",
		runtime:  runcRuntime,
		shimExe:  "containerd-shim-runc-v2",
		ref:      nativeRef,
		image:    nativeImage,
		ctrFlags: []string{"--runtime", runcRuntime},
		hello:    []string{"/hello"},
		sleeper:  []string{"/sleeper"},
	}
	return wasm, runc, nil
}

// platformImage returns the stored image ref bound to platform, so that the
// client reads that platform's manifest whatever the host's platform is.
func platformImage(ctx context.Context, c *client.Client, d *harness.Daemon, ref string, platform ocispec.Platform) (client.Image, error) {
	img, err := c.ImageService().Get(namespaced(ctx, d), ref)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return client.NewImageWithPlatform(c, img, platforms.Only(platform)), nil
}
