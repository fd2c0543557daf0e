//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// machineInfo describes the host the figures were taken on: they mean
// little without it.
type machineInfo struct {
	Cores         int    `json:"cores"`
	CPUModel      string `json:"cpu_model"`
	MemoryMiB     uint64 `json:"memory_mib"`
	CgroupVersion int    `json:"cgroup_version"`
	Kernel        string `json:"kernel"`
	// LoadAverage is /proc/loadavg's 1-minute figure when the bench began:
	// other work on the machine shows up here.
	LoadAverage string `json:"load_average"`
}

// describeMachine reads machineInfo from the kernel; a field it cannot read
// stays empty rather than stopping the bench.
func describeMachine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), CgroupVersion: 1}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kib, ok := meminfoKiB(data, "MemTotal"); ok {
			m.MemoryMiB = kib / 1024
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		m.CgroupVersion = 2
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		m.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			m.LoadAverage = f[0]
		}
	}
	return m
}

// meminfoKiB returns the value of key in /proc/meminfo content ("Key:  N kB").
func meminfoKiB(content []byte, key string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}

// hostLoad is what the density ramp watches so that it stops before the
// machine, which other people use, runs out of memory or pids.
type hostLoad struct {
	MemAvailableMiB uint64 `json:"mem_available_mib"`
	// Threads is every task the kernel schedules (/proc/loadavg's fourth
	// field); pid numbers are spent per thread, not per process.
	Threads int `json:"threads"`
	// ThreadLimit is the lower of kernel.pid_max and kernel.threads-max.
	ThreadLimit int `json:"thread_limit"`
}

// readHostLoad samples hostLoad.
func readHostLoad() (hostLoad, error) {
	var h hostLoad
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return h, err
	}
	kib, ok := meminfoKiB(meminfo, "MemAvailable")
	if !ok {
		return h, fmt.Errorf("/proc/meminfo has no MemAvailable")
	}
	h.MemAvailableMiB = kib / 1024
	loadavg, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return h, err
	}
	if h.Threads, err = loadavgThreads(loadavg); err != nil {
		return h, err
	}
	h.ThreadLimit = -1
	for _, p := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		data, err := os.ReadFile(p)
		if err != nil {
			return h, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return h, fmt.Errorf("%s: %w", p, err)
		}
		if h.ThreadLimit < 0 || n < h.ThreadLimit {
			h.ThreadLimit = n
		}
	}
	return h, nil
}

// loadavgThreads parses the "running/total" field of /proc/loadavg.
func loadavgThreads(content []byte) (int, error) {
	f := strings.Fields(string(content))
	if len(f) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: %q", content)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg: %q", content)
	}
	return strconv.Atoi(total)
}
