//go:build linux

package integration

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/platforms"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// nativeRef is a linux image holding a static program, run under the wasm
// runtime: the shim hands it to runc.
const nativeRef = "docker.io/library/wasmedge-shim-native:latest"

// nativeProgram prints its arguments and sleeps for "sleep" or exits with
// "exit=N".
const nativeProgram = `package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	fmt.Println("native", strings.Join(os.Args[1:], " "))
	for _, a := range os.Args[1:] {
		if a == "sleep" {
			time.Sleep(time.Hour)
		}
		if v, ok := strings.CutPrefix(a, "exit="); ok {
			n, _ := strconv.Atoi(v)
			os.Exit(n)
		}
	}
}
`

var (
	nativeOnce   sync.Once
	nativeBinary []byte
)

func importNativeImage(t *testing.T, d *harness.Daemon) client.Image {
	t.Helper()
	nativeOnce.Do(func() { nativeBinary = harness.BuildStaticGo(t, nativeProgram) })
	if nativeBinary == nil {
		t.Fatal("building the native program failed")
	}
	tarball := harness.BuildNativeImage(t, t.TempDir(), nativeRef, map[string][]byte{"/native": nativeBinary}, []string{"/native"})
	d.ImportImage(t, tarball, nativeRef)
	c := d.Client(t)
	img, err := c.ImageService().Get(d.Context(t), nativeRef)
	if err != nil {
		t.Fatal(err)
	}
	return client.NewImageWithPlatform(c, img, platforms.Only(harness.NativePlatform))
}

// TestNativeContainers runs Linux executables under the wasm runtime (pod
// sandboxes, sidecars): the shim delegates them to runc's shim, with the
// same output, exit codes and events, also beside wasm containers of the
// same pod.
func TestNativeContainers(t *testing.T) {
	for _, version := range versions {
		t.Run("containerd-"+version, func(t *testing.T) {
			d := harness.StartDaemon(t, version)
			importTestImage(t, d)
			native := importNativeImage(t, d)
			c := d.Client(t)

			t.Run("run", func(t *testing.T) {
				out, _, status := runTask(t, d, c, uniqueID("native"), native, oci.WithProcessArgs("/native", "hello", "exit=5"))
				if out != "native hello exit=5\n" || status != 5 {
					t.Errorf("native container: status %d, stdout %q", status, out)
				}
				d.AssertClean(t)
			})

			t.Run("mixed-pod", func(t *testing.T) {
				pod := oci.WithAnnotations(map[string]string{"io.kubernetes.cri.sandbox-id": uniqueID("pod")})
				sidecar := startTask(t, d, c, uniqueID("side"), native, nil, pod, oci.WithProcessArgs("/native", "sleep"))
				app := startTask(t, d, c, uniqueID("app"), wasmImage(t, d, c), nil, pod, oci.WithProcessArgs("/wasitool.wasm", "echo", "wasm beside native"))
				if status := app.wait(30 * time.Second); status != 0 {
					t.Errorf("wasm app status %d: %s", status, app.stderr.String())
				}
				app.finish()
				if got := app.stdout.String(); got != "wasm beside native\n" {
					t.Errorf("wasm app stdout %q", got)
				}
				if st, err := sidecar.task.Status(sidecar.ctx); err != nil || st.Status != client.Running {
					t.Fatalf("sidecar: %v %v", st.Status, err)
				}
				pids, err := sidecar.task.Pids(sidecar.ctx)
				if err != nil || len(pids) == 0 {
					t.Errorf("sidecar pids %v %v", pids, err)
				}
				// SIGKILL: as pid 1 of its pid namespace the program would
				// ignore an unhandled SIGTERM.
				if err := sidecar.task.Kill(sidecar.ctx, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if status := sidecar.wait(10 * time.Second); status != 137 {
					t.Errorf("sidecar exit status %d, want 137", status)
				}
				sidecar.finish()
				if !strings.HasPrefix(sidecar.stdout.String(), "native sleep") {
					t.Errorf("sidecar stdout %q", sidecar.stdout.String())
				}
				d.AssertClean(t)
			})
		})
	}
}
