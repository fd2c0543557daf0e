//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkSpawnToReady measures Spawn of a small module with a warm
// compilation cache, until the guest is ready; rss-KiB is the idle instance's
// resident memory while it waits for Start.
func BenchmarkSpawnToReady(b *testing.B) {
	benchmarkInstance(b, func(b *testing.B, inst *Instance) {
		b.StopTimer()
		b.ReportMetric(float64(rssKiB(b, inst.Pid())), "rss-KiB")
		inst.Close()
		waitExit(b, inst.Pid())
		b.StartTimer()
	}, true)
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
	}, false)
}

func benchmarkInstance(b *testing.B, then func(*testing.B, *Instance), timeSpawn bool) {
	var pid int
	opts := testOptions(&pid)
	opts.CacheDir = b.TempDir()
	rc := runConfig(b, "hello")
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

// rssKiB reads a process's resident set size.
func rssKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib); err == nil {
				return kib
			}
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}
