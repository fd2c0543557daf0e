//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// onlyCacheEntry returns the one entry of a compilation cache.
func onlyCacheEntry(t *testing.T, dir string) string {
	t.Helper()
	entries := cacheEntries(t, dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %v, want one entry", entries)
	}
	return entries[0]
}

// startedRecorder collects what Options.Started is told.
type startedRecorder struct {
	mu    sync.Mutex
	times []time.Time
	seen  chan struct{}
}

func newStartedRecorder() *startedRecorder {
	return &startedRecorder{seen: make(chan struct{}, 16)}
}

func (r *startedRecorder) started(at time.Time) {
	r.mu.Lock()
	r.times = append(r.times, at)
	r.mu.Unlock()
	r.seen <- struct{}{}
}

func (r *startedRecorder) calls() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times...)
}

func TestReadyReport(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	rc := runConfig(t, "hello")
	// The steps share the cache directory and run in order.
	steps := []struct {
		name     string
		cacheDir string
		// prepare runs before the spawn.
		prepare func(t *testing.T)
		wantHit bool
	}{
		{name: "no cache", wantHit: false},
		{name: "first use of the cache", cacheDir: cacheDir, wantHit: false},
		{name: "second use", cacheDir: cacheDir, wantHit: true},
		{name: "third use", cacheDir: cacheDir, wantHit: true},
		{name: "entry of another wazero version", cacheDir: cacheDir, wantHit: false, prepare: func(t *testing.T) {
			// A version longer than the header: stale for any wazero, which
			// replaces the entry.
			stale := append([]byte("WAZEVO\xff"), make([]byte, 64)...)
			if err := os.WriteFile(onlyCacheEntry(t, cacheDir), stale, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "entry replaced by the last compilation", cacheDir: cacheDir, wantHit: true},
		{name: "broken entry", cacheDir: cacheDir, wantHit: false, prepare: func(t *testing.T) {
			// This wazero's header, the code cut off: compiling with the
			// cache fails, and the instance compiles without it.
			entry := onlyCacheEntry(t, cacheDir)
			data, err := os.ReadFile(entry)
			if err != nil {
				t.Fatal(err)
			}
			header := len("WAZEVO") + 1 + int(data[len("WAZEVO")]) + 4
			if err := os.WriteFile(entry, data[:header+3], 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "another module in a used cache", cacheDir: cacheDir, wantHit: false, prepare: func(t *testing.T) {
			rc = runConfig(t, "exit7")
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) {
			if step.prepare != nil {
				step.prepare(t)
			}
			var pid int
			opts := testOptions(&pid)
			opts.CacheDir = step.cacheDir
			inst, err := Spawn(context.Background(), rc, Stdio{}, opts)
			if err != nil {
				t.Fatalf("Spawn: %v", err)
			}
			report := inst.Report()
			inst.Close()
			if status := waitExit(t, pid); status != 0 {
				t.Errorf("instance closed before start exited %d, want 0", status)
			}
			t.Logf("report %+v", report)
			if report.CacheHit != step.wantHit {
				t.Errorf("cache hit %v, want %v", report.CacheHit, step.wantHit)
			}
			if report.ModuleRead <= 0 || report.Compile <= 0 || report.Instantiate <= 0 {
				t.Errorf("phases not all measured: %+v", report)
			}
			if total := report.ModuleRead + report.Compile + report.Instantiate; total > 10*time.Second {
				t.Errorf("phases add up to %v: not durations of this spawn", total)
			}
		}) {
			return
		}
	}
}

func TestRunEvents(t *testing.T) {
	tests := []struct {
		name   string
		module string
		// killBeforeStart kills the instance instead of starting it;
		// killWhenStarted kills it once it reported its start.
		killBeforeStart, killWhenStarted bool
		wantStatus                       int
		wantStarted, wantTrapped         bool
	}{
		{name: "runs to the end", module: "hello", wantStatus: 0, wantStarted: true},
		{name: "trap", module: "trap", wantStatus: TrapExitStatus, wantStarted: true, wantTrapped: true},
		{name: "proc_exit with a trap's status", module: "exit134", wantStatus: TrapExitStatus, wantStarted: true},
		{name: "killed while running", module: "spin", killWhenStarted: true, wantStatus: 137, wantStarted: true},
		{name: "killed before start", module: "spin", killBeforeStart: true, wantStatus: 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newStartedRecorder()
			var pid int
			opts := testOptions(&pid)
			opts.Started = rec.started
			inst, err := Spawn(context.Background(), runConfig(t, tt.module), Stdio{}, opts)
			if err != nil {
				t.Fatalf("Spawn: %v", err)
			}
			defer inst.Close()
			if _, ok := inst.StartedAt(); ok {
				t.Error("StartedAt set before Start")
			}
			before := time.Now()
			if tt.killBeforeStart {
				if err := inst.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			} else if err := inst.Start(); err != nil {
				t.Fatal(err)
			}
			if tt.killWhenStarted {
				select {
				case <-rec.seen:
				case <-time.After(10 * time.Second):
					t.Fatal("no start reported")
				}
				if err := inst.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			status := waitExit(t, pid)
			after := time.Now()
			if err := inst.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d", status, tt.wantStatus)
			}
			if got := inst.Trapped(); got != tt.wantTrapped {
				t.Errorf("Trapped() = %v, want %v", got, tt.wantTrapped)
			}
			at, started := inst.StartedAt()
			if started != tt.wantStarted {
				t.Fatalf("StartedAt() reports %v, want %v", started, tt.wantStarted)
			}
			calls := rec.calls()
			if !tt.wantStarted {
				if len(calls) != 0 {
					t.Errorf("Started called %d times for an instance that never started", len(calls))
				}
				return
			}
			if at.Before(before) || at.After(after) {
				t.Errorf("started at %v, not between Start (%v) and the exit (%v)", at, before, after)
			}
			if len(calls) != 1 || !calls[0].Equal(at) {
				t.Errorf("Started told %v, want once %v", calls, at)
			}
		})
	}
}

// TestRunEventsProtocol plays the instance's side of the status pipe with a
// script, so the exact values travel.
func TestRunEventsProtocol(t *testing.T) {
	script := `read config <&3
echo '{"report":{"moduleRead":5,"compile":6,"instantiate":7,"cacheHit":true}}' >&4
head -c1 <&3 >/dev/null
echo '{"startedAt":1700000000123456789}' >&4
printf '{"trap":true}' >&4
exit 134
`
	exe := filepath.Join(t.TempDir(), "instance.sh")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := newStartedRecorder()
	var pid int
	opts := testOptions(&pid)
	opts.Exe = exe
	opts.Started = rec.started
	inst, err := Spawn(context.Background(), runConfig(t, "hello"), Stdio{}, opts)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	if got, want := inst.Report(), (Report{ModuleRead: 5, Compile: 6, Instantiate: 7, CacheHit: true}); got != want {
		t.Errorf("Report() = %+v, want %+v", got, want)
	}
	if err := inst.Start(); err != nil {
		t.Fatal(err)
	}
	if status := waitExit(t, pid); status != TrapExitStatus {
		t.Errorf("status %d", status)
	}
	if err := inst.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	want := time.Unix(0, 1700000000123456789)
	if at, ok := inst.StartedAt(); !ok || !at.Equal(want) {
		t.Errorf("StartedAt() = %v, %v; want %v", at, ok, want)
	}
	if !inst.Trapped() {
		t.Error("a trap report without a newline before end of file was lost")
	}
	if calls := rec.calls(); len(calls) != 1 || !calls[0].Equal(want) {
		t.Errorf("Started told %v", calls)
	}
}
