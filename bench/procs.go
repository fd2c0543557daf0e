//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd-shim-wasmedge/containerd-shim-wasmedge/integration/harness"
)

// procEntry is what the bench needs to know of one process.
type procEntry struct {
	pid, ppid int
	// exe is the base name of the executable, without the " (deleted)" the
	// kernel appends when the binary was replaced on disk.
	exe     string
	cmdline []string
}

// scanProcesses reads every process in /proc. Processes that exit while it
// reads, and kernel threads, are left out.
func scanProcesses() (map[int]procEntry, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]procEntry, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		ppid, err := parseStatPPID(stat)
		if err != nil {
			continue
		}
		rawCmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		if len(rawCmdline) == 0 {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		procs[pid] = procEntry{
			pid:     pid,
			ppid:    ppid,
			exe:     filepath.Base(strings.TrimSuffix(exe, " (deleted)")),
			cmdline: strings.Split(strings.TrimRight(string(rawCmdline), "\x00"), "\x00"),
		}
	}
	return procs, nil
}

// parseStatPPID returns the parent pid from /proc/PID/stat. The command
// name (field 2) is in parentheses and may hold spaces and ')', so fields
// are counted from the last ')'.
func parseStatPPID(stat []byte) (int, error) {
	s := string(stat)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("stat %q: no command name", s)
	}
	// After ')': state (field 3), ppid (field 4).
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("stat %q: too few fields", s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("stat ppid: %w", err)
	}
	return ppid, nil
}

// threadCPU returns the CPU time each thread of pid has run, in
// nanoseconds, keyed by thread id. It reads schedstat rather than stat's
// utime and stime, which this kernel counts in 10 ms ticks: too coarse for
// processes that wake for microseconds.
func threadCPU(pid int) (map[int]uint64, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[int]uint64, len(entries))
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited
		}
		ns, err := parseSchedstat(data)
		if err != nil {
			return nil, fmt.Errorf("thread %d of %d: %w", tid, pid, err)
		}
		out[tid] = ns
	}
	return out, nil
}

// parseSchedstat returns the first field of a schedstat file: time spent on
// a CPU, in nanoseconds.
func parseSchedstat(data []byte) (uint64, error) {
	f := strings.Fields(string(data))
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %q: want 3 fields", data)
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// shimFamily is the processes a runtime spends on its containers: its shim
// server processes started by one daemon, and everything below them
// (instance processes, container processes).
type shimFamily struct {
	shims     []procEntry
	children  []procEntry
	processes map[int]procEntry
}

// findShimFamily picks out of procs the shims named shimExe (or
// shimExe-<hash>, as the wasm shim server is) serving the daemon at
// address, and their descendants.
func findShimFamily(procs map[int]procEntry, shimExe, address string) shimFamily {
	fam := shimFamily{processes: map[int]procEntry{}}
	kids := map[int][]int{}
	for _, p := range procs {
		kids[p.ppid] = append(kids[p.ppid], p.pid)
	}
	var queue []int
	for _, p := range procs {
		if (p.exe == shimExe || strings.HasPrefix(p.exe, shimExe+"-")) && harness.HasAddressFlag(p.cmdline, address) {
			fam.shims = append(fam.shims, p)
			fam.processes[p.pid] = p
			queue = append(queue, p.pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			if _, seen := fam.processes[k]; seen {
				continue
			}
			fam.children = append(fam.children, procs[k])
			fam.processes[k] = procs[k]
			queue = append(queue, k)
		}
	}
	return fam
}

// shimFamilyNow scans /proc and returns the current family.
func shimFamilyNow(shimExe, address string) (shimFamily, error) {
	procs, err := scanProcesses()
	if err != nil {
		return shimFamily{}, err
	}
	return findShimFamily(procs, shimExe, address), nil
}

// pssBytes reads the proportional set size of pid from smaps_rollup: shared
// pages (the shim binary's text, mapped by every shim and instance) are
// divided among the processes that map them, so sums over processes are
// honest.
func pssBytes(pid int) (uint64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	kib, ok := meminfoKiB(data, "Pss")
	if !ok {
		return 0, fmt.Errorf("pid %d: no Pss in smaps_rollup", pid)
	}
	return kib * 1024, nil
}

// sumPSS adds up the PSS of procs; processes that vanished count as nothing.
func sumPSS(procs []procEntry) uint64 {
	var total uint64
	for _, p := range procs {
		if v, err := pssBytes(p.pid); err == nil {
			total += v
		}
	}
	return total
}

// waitShimsGone waits until the daemon has no shim of shimExe left (shims
// exit a little after their last task is deleted), so the next measurement
// does not count them.
func waitShimsGone(shimExe, address string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		fam, err := shimFamilyNow(shimExe, address)
		if err != nil {
			return err
		}
		if len(fam.processes) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d %s processes still running after %v", len(fam.processes), shimExe, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
