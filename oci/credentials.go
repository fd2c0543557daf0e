package oci

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capabilityNumbers are the capabilities Linux knows, by their spec names;
// the number is the bit in a capability mask.
var capabilityNumbers = map[string]uint{
	"CAP_CHOWN":              0,
	"CAP_DAC_OVERRIDE":       1,
	"CAP_DAC_READ_SEARCH":    2,
	"CAP_FOWNER":             3,
	"CAP_FSETID":             4,
	"CAP_KILL":               5,
	"CAP_SETGID":             6,
	"CAP_SETUID":             7,
	"CAP_SETPCAP":            8,
	"CAP_LINUX_IMMUTABLE":    9,
	"CAP_NET_BIND_SERVICE":   10,
	"CAP_NET_BROADCAST":      11,
	"CAP_NET_ADMIN":          12,
	"CAP_NET_RAW":            13,
	"CAP_IPC_LOCK":           14,
	"CAP_IPC_OWNER":          15,
	"CAP_SYS_MODULE":         16,
	"CAP_SYS_RAWIO":          17,
	"CAP_SYS_CHROOT":         18,
	"CAP_SYS_PTRACE":         19,
	"CAP_SYS_PACCT":          20,
	"CAP_SYS_ADMIN":          21,
	"CAP_SYS_BOOT":           22,
	"CAP_SYS_NICE":           23,
	"CAP_SYS_RESOURCE":       24,
	"CAP_SYS_TIME":           25,
	"CAP_SYS_TTY_CONFIG":     26,
	"CAP_MKNOD":              27,
	"CAP_LEASE":              28,
	"CAP_AUDIT_WRITE":        29,
	"CAP_AUDIT_CONTROL":      30,
	"CAP_SETFCAP":            31,
	"CAP_MAC_OVERRIDE":       32,
	"CAP_MAC_ADMIN":          33,
	"CAP_SYSLOG":             34,
	"CAP_WAKE_ALARM":         35,
	"CAP_BLOCK_SUSPEND":      36,
	"CAP_AUDIT_READ":         37,
	"CAP_PERFMON":            38,
	"CAP_BPF":                39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// CapabilityMask turns capability names ("CAP_NET_RAW") into a mask. An
// unknown name is an error rather than dropped: a capability the container
// asked for must not vanish without a word.
func CapabilityMask(names []string) (uint64, error) {
	var mask uint64
	for _, name := range names {
		n, ok := capabilityNumbers[name]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q: %w", name, errdefs.ErrInvalidArgument)
		}
		mask |= 1 << n
	}
	return mask, nil
}

// capabilities converts process.capabilities; nil stays nil.
func capabilities(c *specs.LinuxCapabilities) (*Capabilities, error) {
	if c == nil {
		return nil, nil
	}
	var out Capabilities
	for _, set := range []struct {
		name  string
		names []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &out.Bounding},
		{"effective", c.Effective, &out.Effective},
		{"permitted", c.Permitted, &out.Permitted},
		{"inheritable", c.Inheritable, &out.Inheritable},
		{"ambient", c.Ambient, &out.Ambient},
	} {
		mask, err := CapabilityMask(set.names)
		if err != nil {
			return nil, fmt.Errorf("process.capabilities.%s: %w", set.name, err)
		}
		*set.mask = mask
	}
	// The kernel refuses these with a bare EPERM at Create; say which.
	if extra := out.Effective &^ out.Permitted; extra != 0 {
		return nil, fmt.Errorf("process.capabilities: %s effective but not permitted: %w", capabilityNames(extra), errdefs.ErrInvalidArgument)
	}
	if extra := out.Ambient &^ (out.Permitted & out.Inheritable); extra != 0 {
		return nil, fmt.Errorf("process.capabilities: %s ambient but not both permitted and inheritable: %w", capabilityNames(extra), errdefs.ErrInvalidArgument)
	}
	return &out, nil
}

// capabilityNames lists the names of the capabilities in mask, for errors.
func capabilityNames(mask uint64) []string {
	var names []string
	for name, n := range capabilityNumbers {
		if mask&(1<<n) != 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// rlimitTypes are the resource limits of setrlimit(2).
var rlimitTypes = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
	"RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
	"RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// rlimits checks and converts process.rlimits.
func rlimits(limits []specs.POSIXRlimit) ([]Rlimit, error) {
	var out []Rlimit
	for _, l := range limits {
		switch {
		case !slices.Contains(rlimitTypes, l.Type):
			return nil, fmt.Errorf("process.rlimits: unknown type %q: %w", l.Type, errdefs.ErrInvalidArgument)
		case slices.ContainsFunc(out, func(r Rlimit) bool { return r.Type == l.Type }):
			return nil, fmt.Errorf("process.rlimits: %s given twice: %w", l.Type, errdefs.ErrInvalidArgument)
		case l.Soft > l.Hard:
			return nil, fmt.Errorf("process.rlimits: %s soft limit %d above its hard limit %d: %w", l.Type, l.Soft, l.Hard, errdefs.ErrInvalidArgument)
		}
		out = append(out, Rlimit{Type: l.Type, Soft: l.Soft, Hard: l.Hard})
	}
	return out, nil
}

// oomScoreAdj checks process.oomScoreAdj against the kernel's range.
func oomScoreAdj(adj *int) (*int, error) {
	if adj == nil {
		return nil, nil
	}
	if *adj < -1000 || *adj > 1000 {
		return nil, fmt.Errorf("process.oomScoreAdj %d is outside [-1000, 1000]: %w", *adj, errdefs.ErrInvalidArgument)
	}
	v := *adj
	return &v, nil
}

// userOf converts process.user (the Windows-only username is not used).
func userOf(u specs.User) User {
	out := User{UID: u.UID, GID: u.GID, AdditionalGids: slices.Clone(u.AdditionalGids)}
	if u.Umask != nil {
		umask := *u.Umask
		out.Umask = &umask
	}
	return out
}
