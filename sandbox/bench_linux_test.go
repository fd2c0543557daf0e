//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/oci"
)

// BenchmarkSpawnToReady measures Spawn of a small module with a warm
// compilation cache, until the guest is ready, sharing the shim's
// namespaces, in new ones (as a CRI pod's container but for the network),
// and joining a network namespace (as a CRI container joins its pod's);
// rss-KiB and pss-KiB are the idle instance's memory while it waits for
// Start. SANDBOX_INSTANCE_EXE names another instance binary to measure (see
// instanceExe).
func BenchmarkSpawnToReady(b *testing.B) {
	var holder int
	cases := []struct {
		name string
		nss  func() []oci.Namespace
	}{
		{"shared", func() []oci.Namespace { return nil }},
		{"new-namespaces", func() []oci.Namespace {
			var nss []oci.Namespace
			for _, t := range []oci.NamespaceType{oci.NamespaceNetwork, oci.NamespaceIPC, oci.NamespaceUTS, oci.NamespacePID, oci.NamespaceMount, oci.NamespaceCgroup} {
				nss = append(nss, oci.Namespace{Type: t})
			}
			return nss
		}},
		{"join-network", func() []oci.Namespace {
			return []oci.Namespace{
				{Type: oci.NamespaceNetwork, Path: fmt.Sprintf("/proc/%d/ns/net", holder)},
				{Type: oci.NamespaceIPC}, {Type: oci.NamespaceUTS}, {Type: oci.NamespacePID}, {Type: oci.NamespaceMount},
			}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.name != "shared" && !builtWithCgo {
				b.Skip("needs the cgo build")
			}
			if c.name == "join-network" && holder == 0 {
				cmd := exec.Command("unshare", "--net", "sleep", "1000")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() {
					cmd.Process.Kill()
					cmd.Wait()
					holder = 0
				}()
				holder = cmd.Process.Pid
				// Let unshare enter its namespace before it is joined.
				time.Sleep(50 * time.Millisecond)
			}
			benchmarkInstance(b, func(b *testing.B, inst *Instance) {
				b.StopTimer()
				rss, pss := memoryKiB(b, inst.Pid())
				b.ReportMetric(float64(rss), "rss-KiB")
				b.ReportMetric(float64(pss), "pss-KiB")
				inst.Close()
				waitExit(b, inst.Pid())
				b.StartTimer()
			}, true, c.nss())
		})
	}
}

// BenchmarkStartToExit measures Start until the reaped exit of a small
// module's guest.
func BenchmarkStartToExit(b *testing.B) {
	benchmarkInstance(b, func(b *testing.B, inst *Instance) {
		b.StartTimer()
		if err := inst.Start(); err != nil {
			b.Fatal(err)
		}
		if status := waitExit(b, inst.Pid()); status != 0 {
			b.Fatalf("status %d", status)
		}
		b.StopTimer()
		inst.Close()
	}, false, nil)
}

func benchmarkInstance(b *testing.B, then func(*testing.B, *Instance), timeSpawn bool, nss []oci.Namespace) {
	var pid int
	opts := testOptions(&pid)
	opts.CacheDir = b.TempDir()
	rc := runConfig(b, "hello")
	rc.Namespaces = nss
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	stdio := Stdio{Stdout: devnull, Stderr: devnull}
	// Warm the cache.
	if inst, err := Spawn(context.Background(), rc, stdio, opts); err != nil {
		b.Fatal(err)
	} else {
		inst.Close()
		waitExit(b, inst.Pid())
	}
	b.ResetTimer()
	for range b.N {
		if !timeSpawn {
			b.StopTimer()
		}
		inst, err := Spawn(context.Background(), rc, stdio, opts)
		if err != nil {
			b.Fatal(err)
		}
		then(b, inst)
	}
}

// memoryKiB reads a process's resident and proportional set sizes.
func memoryKiB(b *testing.B, pid int) (rss, pss int) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		b.Fatal(err)
	}
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		field, rest, _ := strings.Cut(line, ":")
		var kib int
		if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib); err != nil {
			continue
		}
		switch field {
		case "Rss":
			rss = kib
			found++
		case "Pss":
			pss = kib
			found++
		}
	}
	if found != 2 {
		b.Fatalf("no Rss and Pss for %d", pid)
	}
	return rss, pss
}
