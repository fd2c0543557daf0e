//go:build linux

package sandbox

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const pageSize = 64 << 10

func TestMeteredMemoryReallocate(t *testing.T) {
	tests := []struct {
		name          string
		capacity, max uint64
		// sizes are the sizes asked for, in order.
		sizes []uint64
		// wantNil is the index of the request refused, -1 for none.
		wantNil  int
		wantSize uint64
		wantPeak uint64
		// wantInPlace: the memory never moves (all within capacity).
		wantInPlace bool
	}{
		{name: "grows past its capacity", capacity: pageSize, max: 16 * pageSize,
			sizes: []uint64{pageSize, 3 * pageSize, 7 * pageSize}, wantNil: -1,
			wantSize: 7 * pageSize, wantPeak: 7 * pageSize},
		{name: "capacity from the maximum", capacity: 8 * pageSize, max: 8 * pageSize,
			sizes: []uint64{pageSize, 4 * pageSize, 8 * pageSize}, wantNil: -1,
			wantSize: 8 * pageSize, wantPeak: 8 * pageSize, wantInPlace: true},
		{name: "refused beyond the maximum", capacity: 2 * pageSize, max: 4 * pageSize,
			sizes: []uint64{2 * pageSize, 5 * pageSize}, wantNil: 1,
			wantSize: 2 * pageSize, wantPeak: 2 * pageSize, wantInPlace: true},
		{name: "empty memory", capacity: 0, max: 4 * pageSize,
			sizes: []uint64{0}, wantNil: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meter := newMemoryMeter()
			mem := meter.Allocate(tt.capacity, tt.max)
			var first unsafe.Pointer
			had := 0
			for i, size := range tt.sizes {
				buf := mem.Reallocate(size)
				if i == tt.wantNil {
					if buf != nil {
						t.Fatalf("Reallocate(%d) beyond max %d gave %d bytes", size, tt.max, len(buf))
					}
					continue
				}
				if buf == nil || uint64(len(buf)) != size {
					t.Fatalf("Reallocate(%d) gave %d bytes (nil %v)", size, len(buf), buf == nil)
				}
				// The guest's bytes stay; the new ones are zero.
				for j, b := range buf {
					want := byte(0)
					if j < had {
						want = 0xff
					}
					if b != want {
						t.Fatalf("byte %d of the memory is %d, want %d", j, b, want)
					}
				}
				// The guest writes all over what it has.
				for j := range buf {
					buf[j] = 0xff
				}
				had = len(buf)
				if cap(buf) > 0 {
					if first == nil {
						first = unsafe.Pointer(unsafe.SliceData(buf))
					} else if tt.wantInPlace && unsafe.Pointer(unsafe.SliceData(buf)) != first {
						t.Errorf("Reallocate(%d) moved the memory within its capacity", size)
					}
				}
			}
			if size, peak := meter.read(); size != tt.wantSize || peak != tt.wantPeak {
				t.Errorf("meter reads %d, peak %d; want %d, peak %d", size, peak, tt.wantSize, tt.wantPeak)
			}
			select {
			case <-meter.changed:
			default:
				t.Error("no change signalled after Reallocate")
			}
			mem.Free()
			if size, peak := meter.read(); size != 0 || peak != tt.wantPeak {
				t.Errorf("after Free the meter reads %d, peak %d; want 0, peak %d", size, peak, tt.wantPeak)
			}
		})
	}
}

// memoryRecorder collects what Options.Memory is told.
type memoryRecorder struct {
	mu      sync.Mutex
	reports [][2]uint64
}

func (r *memoryRecorder) memory(size, peak uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, [2]uint64{size, peak})
}

func (r *memoryRecorder) all() [][2]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]uint64(nil), r.reports...)
}

// waitFor waits until a report satisfies ok and returns all reports so far.
func (r *memoryRecorder) waitFor(t *testing.T, what string, ok func(size, peak uint64) bool) [][2]uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reports := r.all()
		for _, rep := range reports {
			if ok(rep[0], rep[1]) {
				return reports
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no memory report %s; reports %v", what, reports)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMemoryReports(t *testing.T) {
	tests := []struct {
		name       string
		limitPages uint32
		// wantPages is the guest's memory once its second memory.grow is
		// done, wantSaid what it says about that grow.
		wantPages uint64
		wantSaid  string
	}{
		{name: "no limit", wantPages: 8, wantSaid: "grown\n"},
		{name: "limit above the guest's needs", limitPages: 16, wantPages: 8, wantSaid: "grown\n"},
		{name: "limit refuses the second grow", limitPages: 6, wantPages: 5, wantSaid: "refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var pid int
			rec := &memoryRecorder{}
			opts := testOptions(&pid)
			opts.MemoryLimitPages = tt.limitPages
			opts.Memory = rec.memory
			gio := newGuestIO(t, "")
			inst, err := Spawn(context.Background(), runConfig(t, "grow"), gio.stdio, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close()
			gio.release()
			started := time.Now()
			if err := inst.Start(); err != nil {
				t.Fatal(err)
			}

			// The first report comes as soon as the memory exists: 1 page,
			// or already the 5 of the first grow.
			first := rec.waitFor(t, "at start", func(size, peak uint64) bool { return size >= pageSize })[0]
			if took := time.Since(started); took > 900*time.Millisecond {
				t.Errorf("first report took %v, want it right after start", took)
			}
			rec.waitFor(t, "of 5 pages", func(size, peak uint64) bool { return size == 5*pageSize && peak >= size })

			deadline := time.Now().Add(5 * time.Second)
			for gio.stdout.String() != tt.wantSaid {
				if time.Now().After(deadline) {
					t.Fatalf("guest said %q, want %q", gio.stdout.String(), tt.wantSaid)
				}
				time.Sleep(10 * time.Millisecond)
			}
			want := tt.wantPages * pageSize
			if want > 5*pageSize {
				rec.waitFor(t, "after the second grow", func(size, peak uint64) bool { return size == want && peak == want })
			} else {
				// A refused grow changes nothing: no report beyond 5 pages
				// a report interval after it.
				time.Sleep(memoryReportInterval + 200*time.Millisecond)
			}

			if err := inst.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitExit(t, pid)
			inst.Close()
			reports := rec.all()
			t.Logf("first report %v, all %v", first, reports)
			var lastPeak uint64
			for i, rep := range reports {
				size, peak := rep[0], rep[1]
				switch {
				case peak < size:
					t.Errorf("report %d: peak %d below size %d", i, peak, size)
				case peak < lastPeak:
					t.Errorf("report %d: peak %d fell from %d", i, peak, lastPeak)
				case size > want:
					t.Errorf("report %d: size %d beyond the guest's %d", i, size, want)
				case i > 0 && rep == reports[i-1]:
					t.Errorf("report %d repeats an unchanged %v", i, rep)
				}
				lastPeak = peak
			}
		})
	}
}

func TestMemoryReportsOnlyChanges(t *testing.T) {
	meter := newMemoryMeter()
	stop := make(chan struct{})
	sent := make(chan [2]uint64, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		meter.report(stop, 20*time.Millisecond, func(size, peak uint64) { sent <- [2]uint64{size, peak} })
	}()
	next := func() ([2]uint64, bool) {
		select {
		case rep := <-sent:
			return rep, true
		case <-time.After(150 * time.Millisecond):
			return [2]uint64{}, false
		}
	}
	if rep, ok := next(); ok {
		t.Fatalf("reported %v before any memory existed", rep)
	}
	mem := meter.Allocate(pageSize, 4*pageSize)
	mem.Reallocate(pageSize)
	if rep, ok := next(); !ok || rep != [2]uint64{pageSize, pageSize} {
		t.Fatalf("first report %v (%v), want one page", rep, ok)
	}
	if rep, ok := next(); ok {
		t.Fatalf("reported %v again without a change", rep)
	}
	mem.Reallocate(3 * pageSize)
	if rep, ok := next(); !ok || rep != [2]uint64{3 * pageSize, 3 * pageSize} {
		t.Fatalf("report after growing %v (%v), want three pages", rep, ok)
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("report did not return when stopped")
	}
}
