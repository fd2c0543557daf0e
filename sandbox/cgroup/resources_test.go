package cgroup

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const mib = 1 << 20

func TestForCreate(t *testing.T) {
	if got := forCreate(nil); got == nil || got.Memory != nil || len(got.Devices) != 0 {
		t.Fatalf("forCreate(nil) = %+v, want empty resources without device rules", got)
	}

	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	in := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{denyAll},
		Memory: &specs.LinuxMemory{
			Limit: ptr[int64](64 * mib), Swap: ptr[int64](96 * mib), Reservation: ptr[int64](32 * mib),
			Kernel: ptr[int64](mib), KernelTCP: ptr[int64](mib), Swappiness: ptr[uint64](10),
		},
		Pids: &specs.LinuxPids{Limit: ptr[int64](10)},
	}
	got := forCreate(in)
	if len(got.Devices) != 1+len(runcDevices) || !reflect.DeepEqual(got.Devices[0], denyAll) ||
		!reflect.DeepEqual(got.Devices[1:], runcDevices) {
		t.Errorf("devices = %+v, want the spec's rule then runc's", got.Devices)
	}
	m := got.Memory
	if m.Limit != nil || m.Swap != nil || m.Kernel != nil || m.KernelTCP != nil {
		t.Errorf("memory = %+v: limits and kernel memory should be left out", m)
	}
	if deref(m.Reservation) != 32*mib || m.Swappiness == nil || *m.Swappiness != 10 {
		t.Errorf("memory = %+v: reservation and swappiness should stay", m)
	}
	if got.Pids != in.Pids {
		t.Errorf("pids not passed on")
	}
	// The caller's spec is not modified.
	if deref(in.Memory.Limit) != 64*mib || len(in.Devices) != 1 {
		t.Errorf("forCreate modified its input: %+v", in)
	}
}

func TestCompleteDeviceRules(t *testing.T) {
	in := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](136), Access: "rwm"},
		{Allow: true, Type: "b", Major: ptr[int64](8), Minor: ptr[int64](0), Access: "r"},
	}
	want := []specs.LinuxDeviceCgroup{
		{Allow: false, Type: "a", Major: ptr[int64](-1), Minor: ptr[int64](-1), Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](136), Minor: ptr[int64](-1), Access: "rwm"},
		{Allow: true, Type: "b", Major: ptr[int64](8), Minor: ptr[int64](0), Access: "r"},
	}
	if got := completeDeviceRules(in); !reflect.DeepEqual(got, want) {
		t.Errorf("completeDeviceRules = %+v, want %+v", got, want)
	}
	if in[0].Type != "" || in[0].Major != nil {
		t.Errorf("completeDeviceRules modified its input")
	}
}

func TestForUpdate(t *testing.T) {
	in := &specs.LinuxResources{
		Devices:        []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:         &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Reservation: ptr[int64](mib), Swappiness: ptr[uint64](1)},
		CPU:            &specs.LinuxCPU{Shares: ptr[uint64](512)},
		Pids:           &specs.LinuxPids{Limit: ptr[int64](5)},
		BlockIO:        &specs.LinuxBlockIO{Weight: ptr[uint16](100), LeafWeight: ptr[uint16](10)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}},
		Network:        &specs.LinuxNetwork{ClassID: ptr[uint32](1)},
		Unified:        map[string]string{"memory.high": "1"},
	}
	want := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Reservation: ptr[int64](mib)},
		CPU:     in.CPU,
		Pids:    in.Pids,
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)},
		Unified: in.Unified,
	}
	if got := forUpdate(in); !reflect.DeepEqual(got, want) {
		t.Errorf("forUpdate = %+v, want %+v", got, want)
	}
	if got := forUpdate(nil); !reflect.DeepEqual(got, &specs.LinuxResources{}) {
		t.Errorf("forUpdate(nil) = %+v, want empty", got)
	}
}

func TestV1MemoryLimitWrites(t *testing.T) {
	const unlimited = 9223372036854771712
	limit := func(v string) fileWrite { return fileWrite{file: "memory.limit_in_bytes", value: v} }
	swap := func(v string) fileWrite {
		return fileWrite{file: "memory.memsw.limit_in_bytes", value: v, optional: true}
	}
	tests := []struct {
		name        string
		limit, swap *int64
		current     uint64
		want        []fileWrite
	}{
		{name: "nothing", current: unlimited},
		{name: "zeros leave as is", limit: ptr[int64](0), swap: ptr[int64](0), current: unlimited},
		{name: "limit only", limit: ptr[int64](64 * mib), current: unlimited, want: []fileWrite{limit("67108864")}},
		{name: "swap only", swap: ptr[int64](64 * mib), current: unlimited, want: []fileWrite{swap("67108864")}},
		{name: "first limits", limit: ptr[int64](64 * mib), swap: ptr[int64](96 * mib), current: unlimited,
			want: []fileWrite{limit("67108864"), swap("100663296")}},
		{name: "raise both", limit: ptr[int64](128 * mib), swap: ptr[int64](128 * mib), current: 64 * mib,
			want: []fileWrite{swap("134217728"), limit("134217728")}},
		{name: "lower both", limit: ptr[int64](32 * mib), swap: ptr[int64](32 * mib), current: 64 * mib,
			want: []fileWrite{limit("33554432"), swap("33554432")}},
		{name: "lift limit lifts swap", limit: ptr[int64](-1), current: 64 * mib,
			want: []fileWrite{swap("-1"), limit("-1")}},
		{name: "lift both", limit: ptr[int64](-1), swap: ptr[int64](-1), current: 64 * mib,
			want: []fileWrite{swap("-1"), limit("-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v1MemoryLimitWrites(tt.limit, tt.swap, tt.current)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestV1CPUWrites(t *testing.T) {
	tests := []struct {
		cpu  *specs.LinuxCPU
		want []fileWrite
	}{
		{nil, nil},
		{&specs.LinuxCPU{Shares: ptr[uint64](2)}, nil},
		{&specs.LinuxCPU{Burst: ptr[uint64](5000), Idle: ptr[int64](1)},
			[]fileWrite{{file: "cpu.cfs_burst_us", value: "5000"}, {file: "cpu.idle", value: "1"}}},
	}
	for _, tt := range tests {
		if got := v1CPUWrites(tt.cpu); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("v1CPUWrites(%+v) = %+v, want %+v", tt.cpu, got, tt.want)
		}
	}
}

func TestPidsUnlimited(t *testing.T) {
	tests := []struct {
		pids *specs.LinuxPids
		want bool
	}{
		{nil, false},
		{&specs.LinuxPids{}, false},
		{&specs.LinuxPids{Limit: ptr[int64](10)}, false},
		{&specs.LinuxPids{Limit: ptr[int64](0)}, true},
		{&specs.LinuxPids{Limit: ptr[int64](-1)}, true},
	}
	for _, tt := range tests {
		if got := pidsUnlimited(tt.pids); got != tt.want {
			t.Errorf("pidsUnlimited(%+v) = %v, want %v", tt.pids, got, tt.want)
		}
	}
}
