//go:build linux

package metrics

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestReadProcessUsageSelf(t *testing.T) {
	before, err := readProcessUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.residentBytes < 1<<20 || before.residentBytes > 1<<32 {
		t.Errorf("resident %d bytes: not a plausible Go test process", before.residentBytes)
	}
	if !before.hasPSS || before.pssBytes == 0 || before.pssBytes > before.residentBytes {
		t.Errorf("pss %d (present %v), resident %d: want 0 < pss <= rss", before.pssBytes, before.hasPSS, before.residentBytes)
	}

	// Touch 64 MiB and burn CPU: both must show. The memory is mapped
	// afresh, not from the Go heap, which may reuse pages already resident.
	const grow = 64 << 20
	ballast, err := syscall.Mmap(-1, 0, grow, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(ballast)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	// Burn 0.3 s of CPU as getrusage counts it, an independent source.
	startCPU := rusageSeconds(t)
	for x := 0; rusageSeconds(t)-startCPU < 0.3; x++ {
		for i := 0; i < 100000; i++ {
			x ^= i
		}
	}
	burnt := rusageSeconds(t) - startCPU
	after, err := readProcessUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.residentBytes < before.residentBytes+grow*3/4 {
		t.Errorf("resident grew from %d to %d after touching %d bytes", before.residentBytes, after.residentBytes, grow)
	}
	// /proc counts in 10 ms ticks; allow a few either way.
	if d := after.cpuSeconds - before.cpuSeconds; d < burnt-0.05 || d > burnt+0.1 {
		t.Errorf("cpu grew by %.2fs in /proc, by %.2fs according to getrusage", d, burnt)
	}
}

// rusageSeconds is the process's user and system time from getrusage.
func rusageSeconds(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func TestReadProcessUsageGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	// Reaped: the pid names nothing (or, rarely, a newcomer; then skip).
	if _, err := readProcessUsage(cmd.Process.Pid); !errors.Is(err, errdefs.ErrNotFound) {
		if _, statErr := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid)); statErr == nil {
			t.Skip("pid reused already")
		}
		t.Errorf("error %v, want ErrNotFound", err)
	}
}

func TestCPUSeconds(t *testing.T) {
	// Fields after the command: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	tail := " S 1 1 1 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 100 1000 10"
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{"plain", "42 (shim)" + tail, 4.0, false},
		{"name with spaces and parentheses", "42 (a) b (c))" + tail, 4.0, false},
		{"truncated", "42 (shim) S 1 1", 0, true},
		{"no name", "42 shim S", 0, true},
		{"not a number", "42 (shim) S 1 1 1 0 -1 4194560 100 0 0 0 x 150", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cpuSeconds([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %g, want %g", got, tt.want)
			}
		})
	}
}

func TestKibiField(t *testing.T) {
	status := "Name:\tshim\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t7\n"
	tests := []struct {
		name, content, key string
		want               uint64
		wantFound, wantErr bool
	}{
		{"present", status, "VmRSS:", 1234 * 1024, true, false},
		{"absent (zombie)", "Name:\tz\nState:\tZ (zombie)\n", "VmRSS:", 0, false, false},
		{"a shorter key does not match a longer name", status, "VmRS:", 0, false, false},
		{"Pss: is not Pss_Anon:", "Pss_Anon:   100 kB\nPss:   200 kB\n", "Pss:", 200 * 1024, true, false},
		{"malformed", "VmRSS:\t12 MB\n", "VmRSS:", 0, false, true},
		{"smaps_rollup", "00400000-7fff [rollup]\nRss:   5000 kB\nPss:   2500 kB\n", "Pss:", 2500 * 1024, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := kibiField([]byte(tt.content), tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want || found != tt.wantFound {
				t.Errorf("got %d (found %v), want %d (%v)", got, found, tt.want, tt.wantFound)
			}
		})
	}
}
