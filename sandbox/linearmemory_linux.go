//go:build linux

package sandbox

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryReportInterval is how often at most the instance reports its
// guest's linear memory (only when it changed).
const memoryReportInterval = time.Second

// memoryMeter is the wazero memory allocator of an instance's guest: it
// backs the linear memory as wazero itself would, and keeps its size and
// peak where the reporting goroutine can read them without stopping the
// guest. An instance runs one guest, with at most one memory; the meter
// measures the last one allocated.
//
// The memory it backs may move when it grows, so it cannot back a shared
// memory; the runtime does not enable threads, so no guest has one.
type memoryMeter struct {
	// size and peak are the linear memory's length in bytes, now and at
	// its largest.
	size, peak atomic.Uint64
	// changed holds a signal when the memory grew since the reporter last
	// looked.
	changed chan struct{}
}

func newMemoryMeter() *memoryMeter {
	return &memoryMeter{changed: make(chan struct{}, 1)}
}

// withMemoryMeter makes the modules instantiated with the returned context
// have their memory backed by m.
func withMemoryMeter(ctx context.Context, m *memoryMeter) context.Context {
	return experimental.WithMemoryAllocator(ctx, m)
}

// Allocate implements experimental.MemoryAllocator. capacity is the room
// reserved up front: wazero passes the maximum when the memory is capped
// (RuntimeConfig.WithMemoryCapacityFromMax), so that growing never copies
// the memory, which would need it twice over.
func (m *memoryMeter) Allocate(capacity, maximum uint64) experimental.LinearMemory {
	return &meteredMemory{meter: m, buffer: make([]byte, 0, min(capacity, maximum)), maximum: maximum}
}

// record notes a new size of the linear memory.
func (m *memoryMeter) record(size uint64) {
	m.size.Store(size)
	for {
		peak := m.peak.Load()
		if size <= peak || m.peak.CompareAndSwap(peak, size) {
			break
		}
	}
	select {
	case m.changed <- struct{}{}:
	default: // a signal is pending already
	}
}

// read returns the linear memory's size now and at its peak.
func (m *memoryMeter) read() (size, peak uint64) {
	// Loaded in this order, the peak is never below the size.
	size = m.size.Load()
	return size, max(size, m.peak.Load())
}

// report sends the meter's reading whenever it changed — the first time as
// soon as the guest's memory exists — at most once an interval, until stop
// is closed. It waits for the allocator's signal rather than polling, so an
// idle guest costs nothing; a guest without memory has nothing to report.
func (m *memoryMeter) report(stop <-chan struct{}, interval time.Duration, send func(size, peak uint64)) {
	var sentSize, sentPeak uint64
	sent := false
	for {
		select {
		case <-stop:
			return
		case <-m.changed:
		}
		if size, peak := m.read(); !sent || size != sentSize || peak != sentPeak {
			send(size, peak)
			sentSize, sentPeak, sent = size, peak, true
		}
		// However often the guest grows, one report an interval; a change
		// meanwhile is still signalled when this wait ends.
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

// meteredMemory is one linear memory backed by a memoryMeter.
type meteredMemory struct {
	meter   *memoryMeter
	buffer  []byte
	maximum uint64
}

// Reallocate implements experimental.LinearMemory: it grows the memory to
// size bytes, in place while the reserved capacity lasts, and fails (nil)
// beyond the maximum.
func (l *meteredMemory) Reallocate(size uint64) []byte {
	if size > l.maximum {
		return nil
	}
	if have := uint64(len(l.buffer)); size > uint64(cap(l.buffer)) {
		// Grown the way append grows a slice, amortising the copies.
		l.buffer = append(l.buffer, make([]byte, size-have)...)
	} else {
		// Bytes past the old length were never handed out: still zero.
		l.buffer = l.buffer[:size]
	}
	l.meter.record(size)
	return l.buffer
}

// Free implements experimental.LinearMemory.
func (l *meteredMemory) Free() {
	l.buffer = nil
	l.meter.size.Store(0)
}
