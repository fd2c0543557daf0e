package cgroup

import "testing"

func TestWasmMemoryPages(t *testing.T) {
	tests := []struct {
		limit int64
		want  uint32
	}{
		{limit: 0, want: 0},
		{limit: -1, want: 0},
		{limit: 100 << 10, want: 1},          // under 256 KiB: one page
		{limit: 16 * mib, want: 4 * 16},      // a quarter
		{limit: 32 * mib, want: 8 * 16},      // 32 − 24 = a quarter
		{limit: 64 * mib, want: 40 * 16},     // limit − 24 MiB
		{limit: 96 * mib, want: 72 * 16},     // limit − 24 MiB = three quarters
		{limit: 128 * mib, want: 96 * 16},    // three quarters
		{limit: 1 << 30, want: 768 * 16},     // three quarters
		{limit: 5 << 30, want: 3840 * 16},    // three quarters
		{limit: 8 << 30, want: wasmMaxPages}, // beyond what wasm32 can address
	}
	for _, tt := range tests {
		if got := WasmMemoryPages(tt.limit); got != tt.want {
			t.Errorf("WasmMemoryPages(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// TestWasmMemoryPagesShape checks, over a range of limits, that the cap
// never grows when the limit shrinks and always leaves the documented
// headroom.
func TestWasmMemoryPagesShape(t *testing.T) {
	var previous uint32
	for limit := int64(256 << 10); limit <= 6<<30; limit += 3 * mib / 2 {
		pages := WasmMemoryPages(limit)
		if pages < previous {
			t.Fatalf("WasmMemoryPages(%d) = %d, below %d for a smaller limit", limit, pages, previous)
		}
		previous = pages
		linear := int64(pages) * wasmPageSize
		if pages == wasmMaxPages {
			continue
		}
		if headroom := limit - linear; headroom < min(wasmHeadroom, limit*3/4) || headroom < limit/4 {
			t.Fatalf("WasmMemoryPages(%d) leaves %d bytes", limit, headroom)
		}
	}
}
