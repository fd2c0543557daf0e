package cgroup

const (
	// wasmPageSize is the size of a wasm linear-memory page.
	wasmPageSize = 64 << 10
	// wasmMaxPages is the most pages a 32-bit linear memory can have (4 GiB).
	wasmMaxPages = 1 << 16
	// wasmHeadroom is the least memory WasmMemoryPages leaves outside the
	// linear memory. Measured on this machine, with the module's linear
	// memory reserved up front (see WasmMemoryPages): an instance that
	// compiled a 59 KB C module holds 9–10 MiB of the cgroup before its guest
	// runs, and the guest of `wasitool alloc 512` then failed cleanly at a
	// cap of limit − 10 MiB (64, 128 and 256 MiB limits) and limit − 12 MiB
	// (1 GiB), and was OOM-killed at limit − 8 MiB and limit − 10 MiB. 24 MiB
	// leaves room for bigger compiled modules and for what the WASI host
	// allocates while the guest runs.
	wasmHeadroom = 24 << 20
)

// WasmMemoryPages returns the cap, in 64 KiB wasm pages, to put on a guest's
// linear memory when the instance process runs under a memory limit of limit
// bytes (0 or less: no limit, and the result is 0, meaning no cap: wazero's
// default of 4 GiB). The cap leaves room under the limit for the instance
// process itself (Go runtime, wazero, the compiled module), so that a guest
// that wants too much sees memory.grow fail (malloc returns NULL) instead of
// the whole process being OOM-killed with no message.
//
// The cap is three quarters of the limit, and never leaves less than 24 MiB
// outside the linear memory unless that would leave the guest under a
// quarter of the limit:
//
//	limit 16 MiB → 4 MiB; 64 MiB → 40 MiB; 128 MiB → 96 MiB; 1 GiB → 768 MiB
//
// The quarter grows with the limit because what the instance holds beside
// the linear memory grows with the module (a 2.6 MB Go module leaves about
// 48 MiB resident after compiling), and modules that big come with bigger
// limits; page tables for the linear memory add 0.2% of it.
//
// The figures hold only if the instance reserves the linear memory at its
// cap up front (wazero's RuntimeConfig.WithMemoryCapacityFromMax(true), or
// an experimental.MemoryAllocator that mmaps the cap and grows in place):
// untouched pages of the reservation cost nothing. With wazero's default
// allocator every memory.grow past the capacity copies the whole memory into
// a new Go slice and leaves the old one to the garbage collector; measured
// under a 64 MiB limit, `alloc 512` was OOM-killed with caps of 24 MiB and
// more, and under 256 MiB even at a 64 MiB cap: no headroom formula saves
// that.
func WasmMemoryPages(limit int64) uint32 {
	if limit <= 0 {
		return 0
	}
	quarter := limit / 4
	linear := limit - max(wasmHeadroom, quarter)
	linear = max(linear, quarter)
	pages := linear / wasmPageSize
	switch {
	case pages >= wasmMaxPages:
		return wasmMaxPages
	case pages < 1:
		// A limit under 256 KiB: one page, so the result is still a cap.
		return 1
	}
	return uint32(pages)
}
