//go:build linux

package main

import (
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseStatPPID(t *testing.T) {
	tests := []struct {
		name     string
		stat     string
		wantPPID int
		wantErr  bool
	}{
		{"plain", "42 (containerd-shim) S 7 42 42 0 -1 4194560 100 0 0 0 13 8", 7, false},
		{"command with spaces and parentheses", "43 (a) b (c)) R 1 43 43 0", 1, false},
		{"truncated", "44 (x) S", 0, true},
		{"no command", "45 x S 1", 0, true},
		{"bad ppid", "46 (x) S y", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ppid, err := parseStatPPID([]byte(tc.stat))
			if (err != nil) != tc.wantErr || ppid != tc.wantPPID {
				t.Errorf("parseStatPPID = %d, %v; want %d, error %v", ppid, err, tc.wantPPID, tc.wantErr)
			}
		})
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"187402600 8281571 439\n", 187402600, false},
		{"0 0 0", 0, false},
		{"12 34", 0, true},
		{"x 1 2", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSchedstat([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseSchedstat(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestThreadCPUCountsWork spins this thread and expects its schedstat time
// to reach 50 ms of CPU within 5 s of wall time (the machine may be busy).
func TestThreadCPUCountsWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	before, err := threadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	const want = uint64(50 * time.Millisecond)
	var spent uint64
	for start := time.Now(); time.Since(start) < 5*time.Second && spent < want; {
		for spin := time.Now(); time.Since(spin) < 10*time.Millisecond; {
		}
		after, err := threadCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		spent = after[tid] - before[tid]
	}
	if spent < want {
		t.Errorf("thread %d: %v of CPU counted after 5 s of spinning", tid, time.Duration(spent))
	}
}

func TestFindShimFamily(t *testing.T) {
	const addr = "/tmp/ctrd1/c.sock"
	shimArgs := []string{"shim", "-address", addr}
	procs := map[int]procEntry{
		1:  {pid: 1, ppid: 0, exe: "init", cmdline: []string{"init"}},
		10: {pid: 10, ppid: 1, exe: "wasm-shim", cmdline: shimArgs},
		11: {pid: 11, ppid: 10, exe: "wasm-shim", cmdline: []string{"wasm-shim", "instance"}},
		12: {pid: 12, ppid: 11, exe: "helper", cmdline: []string{"helper"}},
		20: {pid: 20, ppid: 1, exe: "wasm-shim", cmdline: []string{"shim", "-address", "/tmp/other.sock"}},
		21: {pid: 21, ppid: 20, exe: "wasm-shim", cmdline: []string{"wasm-shim", "instance"}},
		30: {pid: 30, ppid: 1, exe: "runc-shim", cmdline: shimArgs},
		31: {pid: 31, ppid: 30, exe: "sleeper", cmdline: []string{"/sleeper"}},
	}
	tests := []struct {
		exe                  string
		wantShims, wantChild []int
	}{
		{"wasm-shim", []int{10}, []int{11, 12}},
		{"runc-shim", []int{30}, []int{31}},
		{"none", nil, nil},
	}
	pids := func(ps []procEntry) []int {
		var out []int
		for _, p := range ps {
			out = append(out, p.pid)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range tests {
		fam := findShimFamily(procs, tc.exe, addr)
		if got := pids(fam.shims); !slices.Equal(got, tc.wantShims) {
			t.Errorf("%s: shims %v, want %v", tc.exe, got, tc.wantShims)
		}
		if got := pids(fam.children); !slices.Equal(got, tc.wantChild) {
			t.Errorf("%s: children %v, want %v", tc.exe, got, tc.wantChild)
		}
		if len(fam.processes) != len(tc.wantShims)+len(tc.wantChild) {
			t.Errorf("%s: %d processes", tc.exe, len(fam.processes))
		}
	}
}

// TestScanProcessesFindsSelf checks the /proc reading against this very
// process, whose parent and executable are known.
func TestScanProcessesFindsSelf(t *testing.T) {
	procs, err := scanProcesses()
	if err != nil {
		t.Fatal(err)
	}
	self, ok := procs[os.Getpid()]
	if !ok {
		t.Fatal("own process not found")
	}
	exe, _ := os.Executable()
	if self.ppid != os.Getppid() || self.exe == "" || len(self.cmdline) == 0 || self.cmdline[0] != os.Args[0] {
		t.Errorf("self = %+v; want ppid %d, exe %s, args %q", self, os.Getppid(), exe, os.Args)
	}
	if pss, err := pssBytes(os.Getpid()); err != nil || pss == 0 {
		t.Errorf("pssBytes(self) = %d, %v", pss, err)
	}
}

func TestMachineParsers(t *testing.T) {
	meminfo := []byte("MemTotal:       24684032 kB\nMemFree:        1000 kB\nMemAvailable:   23864320 kB\n")
	tests := []struct {
		key    string
		want   uint64
		wantOK bool
	}{
		{"MemTotal", 24684032, true},
		{"MemAvailable", 23864320, true},
		{"Mem", 0, false},
		{"SwapTotal", 0, false},
	}
	for _, tc := range tests {
		if got, ok := meminfoKiB(meminfo, tc.key); got != tc.want || ok != tc.wantOK {
			t.Errorf("meminfoKiB(%s) = %d, %v; want %d, %v", tc.key, got, ok, tc.want, tc.wantOK)
		}
	}
	if n, err := loadavgThreads([]byte("0.50 0.40 0.30 3/1234 5678\n")); err != nil || n != 1234 {
		t.Errorf("loadavgThreads = %d, %v; want 1234", n, err)
	}
	if _, err := loadavgThreads([]byte("0.50 0.40\n")); err == nil {
		t.Error("loadavgThreads accepted a short line")
	}
}
